//! The runtime every proto2ffi library links: it owns what happens on each
//! call that crosses the C ABI.
//!
//! Read bottom-up:
//!
//! - [`clock`], [`thread`] (all per-thread state in one thread-local),
//!   [`mod@panic`] (payload text, the reports' [`frames`]), [`Buffer`] and its pool ([`buffer`]),
//!   [`Status`] and [`Code`] (`google.rpc.Status` payload);
//! - [`limits`], [`shape`] (the decode budget's pre-pass), [`rate`] (GCRA
//!   limiters, bounded keyed limiter) and
//!   [`admission`] (in-flight tracking, graceful shutdown, with the
//!   asymmetric [`fence`]);
//! - [`metrics`] (per-method counters) and [`library`]: a [`Library`] owns
//!   its registry, init, admission, limits and health flags, so two
//!   libraries in one artifact never share state;
//! - the call guard ([`guard`]): admission, size limit, rate limits, decode,
//!   keyed limit, `catch_unwind`, response limit, metrics — in that order
//!   (requests decoded from [`request_buf`], which lends large `bytes`
//!   fields instead of copying them twice);
//!   a lean inlined path for the common call, and a cold out-of-line one
//!   for timed and traced calls;
//! - reports ([`health`], [`exposition`]), logs the host can see ([`log`])
//!   and the library-wide C exports ([`exports`]);
//! - fixed-layout messages ([`fixed`]: checks on foreign structs, array
//!   references, the allocator) and their pointer-in, pointer-out guard
//!   ([`fixed_call`]), and the schema-declared pools of their structs
//!   ([`fixed_pool`]);
//! - async calls and streams ([`calls`]: ids, completion exactly once,
//!   cancellation, deadlines, [`CallContext`]; [`start`]: their guard;
//!   [`stream`]: [`StreamSink`] and pull delivery; [`inbound`]: streamed
//!   requests and [`RequestStream`]; [`executor`]:
//!   where futures run; [`dart`]: completion by posting to Dart ports);
//! - [`Pool`], a typed object pool for users' hot paths.
//!
//! Users reach it through the `proto2ffi` facade; the items under
//! [`__private`] exist for generated code only.

#![warn(missing_docs)]

pub mod admission;
pub mod buffer;
pub mod calls;
pub mod clock;
pub mod dart;
mod deadlines;
pub mod executor;
pub mod exports;
pub mod exposition;
pub mod fence;
pub mod fixed;
pub mod fixed_call;
pub mod fixed_pool;
pub mod frames;
pub mod guard;
pub mod health;
pub mod host;
pub mod inbound;
pub mod library;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod panic;
pub mod pool;
pub mod proto;
pub mod rate;
pub mod request_buf;
pub mod shape;
pub mod start;
pub mod status;
pub mod stream;
mod switches;
pub mod thread;
mod workers;

pub use buffer::Buffer;
pub use calls::CallContext;
pub use executor::Executor;
pub use fixed_pool::{FixedPool, PoolSlot};
pub use host::HostCall;
pub use inbound::RequestStream;
pub use library::{Library, MethodDef, ServiceDef};
pub use limits::Limits;
pub use pool::{LocalPool, LocalPooled, Pool, Pooled};
pub use proto2ffi_core::{Code, ABI_VERSION};
pub use rate::{RateKey, RateLimit};
pub use status::Status;
pub use stream::StreamSink;
/// Re-exported so users log through the same `tracing` the runtime uses.
pub use tracing;
/// Re-exported for the derives on generated fixed-layout structs.
pub use zerocopy;

/// Items used by code that `#[proto2ffi::service]` and `proto2ffi::library!`
/// generate. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::calls::CallbackFn;
    pub use crate::exports::{self, IntoInitResult};
    pub use crate::fixed_call::fixed;
    pub use crate::guard::unary;
    pub use crate::host::{HostFn, HostMethodDef, HostServiceDef};
    pub use crate::metrics::MethodMetrics;
    pub use crate::rate::KeyedRateLimiter;
    pub use crate::start::{
        start_bidi, start_blocking, start_client_stream, start_stream, start_unary,
    };
    pub use prost;

    /// What a crate without `proto2ffi::library!` resolves
    /// `__proto2ffi_library` to: generated code names it through a glob
    /// import that the real module (emitted by `library!` at the crate root)
    /// shadows, so a missing `library!` is reported by [`assert_library`]'s
    /// bound instead of an unresolved path.
    pub mod fallback {
        /// Stand-in for the module `proto2ffi::library!` emits.
        pub mod __proto2ffi_library {
            /// Not a library: using it fails [`super::super::IsLibrary`].
            pub static MARKER: super::super::NoLibrary = super::super::NoLibrary;
            /// Stand-in, never called (the crate fails to compile first).
            pub static LIBRARY: crate::Library = crate::Library::new("", || Ok(()), false);
            /// Empty: no prefix check is made against a missing library.
            pub const PREFIX: &str = "";
        }
    }

    /// The marker of a crate without `proto2ffi::library!`.
    pub struct NoLibrary;

    /// The marker `proto2ffi::library!` emits.
    pub struct HasLibrary;

    /// Implemented only by the marker `proto2ffi::library!` emits.
    #[diagnostic::on_unimplemented(
        message = "this crate has services but no `proto2ffi::library!(...)`",
        label = "needs `proto2ffi::library!` at the crate root",
        note = "add it once, at the crate root: `proto2ffi::library!(prefix = \"my_lib\", init = || register_my_service(MyImpl));` (it exports the library-wide functions and registers your implementations)"
    )]
    pub trait IsLibrary {}
    impl IsLibrary for HasLibrary {}

    /// Compiles only when `marker` comes from `proto2ffi::library!`.
    pub const fn assert_library<L: IsLibrary>(_marker: &L) {}

    /// `Some((rate, capacity))` when `rate` is set (const-evaluable).
    pub const fn keyed(
        rate: Option<crate::RateLimit>,
        capacity: usize,
    ) -> Option<(crate::RateLimit, usize)> {
        match rate {
            Some(r) => Some((r, capacity)),
            None => None,
        }
    }

    /// Whether `a` ends with `b`, usable in `const` (module-path checks).
    pub const fn str_ends_with(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if b.len() > a.len() {
            return false;
        }
        let offset = a.len() - b.len();
        let mut i = 0;
        while i < b.len() {
            if a[offset + i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    /// Byte-wise string equality usable in `const` (prefix checks).
    pub const fn str_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}
