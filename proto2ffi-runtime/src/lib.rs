//! The runtime every proto2ffi library links: it owns what happens on each
//! call that crosses the C ABI. Users reach it through the `proto2ffi`
//! facade, which re-exports this crate's public items.
//!
//! # Layers
//!
//! The source is in folders, one per layer, each importing only from the
//! layers listed before it (a test, `tests/layers.rs`, keeps it so):
//!
//! 1. `sys`: clocks, the asymmetric fence, thread shards and the one
//!    container of per-thread entries (`PerShard`), the thread block,
//!    flags;
//! 2. `abi`: the library-owned buffer C sees, and its pools;
//! 3. `error`: `Status` and its payload, panic capture;
//! 4. `policy` (byte limits, decode budget, admission, rate limits, the
//!    request buffer) and `observe` (metrics, logs), peers;
//! 5. `library`: the per-library aggregate, its definitions, executor,
//!    worker threads, deadline timer, pool registry and tables of calls in
//!    flight (whose entries the call layer defines);
//! 6. `call`: the guard of protobuf calls (each step one function, which
//!    every kind of call composes), async calls, streams, Dart ports, host
//!    services;
//! 7. `fixed`: fixed-layout messages, whose guard shares the call layer's
//!    steps;
//! 8. `report`: the metrics and health messages;
//! 9. `exports`: the bodies of the library-wide `extern "C"` functions.
//!
//! # Public API
//!
//! What a user implementing services needs ([`Status`], [`Code`],
//! [`CallContext`], [`StreamSink`], [`RequestStream`], [`HostCall`],
//! [`RateLimit`], [`Limits`], [`fixed`]) and what a host embedding the
//! library uses ([`Library`], [`Executor`], [`Buffer`], [`buffer`],
//! [`log`], [`proto`]). Everything generated code needs is under
//! [`__private`], which is not a stable API.

#![warn(missing_docs, unreachable_pub)]
// Every `unsafe` block of the library says why it is sound; tests are exempt.
#![cfg_attr(not(test), warn(clippy::undocumented_unsafe_blocks))]
#![deny(unsafe_op_in_unsafe_fn)]

mod sys;

mod abi;
mod error;

mod observe;
mod policy;

mod library;

mod call;
pub mod fixed;

mod report;

mod exports;

pub use abi::buffer::Buffer;
pub use call::calls::CallContext;
pub use call::host::HostCall;
pub use call::inbound::RequestStream;
pub use call::stream::StreamSink;
pub use error::config::ConfigError;
pub use error::status::Status;
pub use fixed::pool::{FixedPool, PoolSlot};
pub use library::def::Library;
pub use library::executor::Executor;
pub use library::pools::FixedPoolStats;
pub use policy::limits::Limits;
pub use policy::rate::{RateKey, RateLimit};
pub use proto2ffi_core::{Code, ABI_VERSION};
/// Re-exported so users log through the same `tracing` the runtime uses.
pub use tracing;
/// Re-exported for the derives on generated fixed-layout structs.
pub use zerocopy;

/// The response buffers' pools: how many idle buffers the library keeps
/// and how large, shared and per thread (see the guide's "Pools" page).
pub mod buffer {
    pub use crate::abi::buffer::{
        configure_pool, configure_thread_slot, take, DEFAULT_POOL_MAX_CAPACITY, DEFAULT_POOL_SLOTS,
        DEFAULT_THREAD_SLOT_MAX_CAPACITY,
    };
}

/// The record a library's log sink receives (`{prefix}_proto2ffi_set_log_sink`),
/// for a Rust host reading the records it is handed.
pub mod log {
    pub use crate::observe::log::{LogFn, LogRecord};
}

/// The messages the library-wide `metrics` and `health` exports encode
/// (`proto2ffi/v1/metrics.proto`), for a Rust host decoding them.
pub mod proto {
    pub use crate::report::proto::*;
}

/// Items used by code that `#[proto2ffi::service]` and `proto2ffi::library!`
/// generate. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::call::calls::CallbackFn;
    pub use crate::call::guard::unary;
    pub use crate::call::host::{HostFn, HostMethodDef, HostServiceDef};
    pub use crate::call::start::{
        start_bidi, start_blocking, start_client_stream, start_stream, start_unary,
    };
    pub use crate::exports::IntoInitResult;
    pub use crate::fixed::call::fixed;
    pub use crate::library::def::{MethodDef, ServiceDef};
    pub use crate::observe::log::{LogFn, LogRecord};
    pub use crate::observe::metrics::MethodMetrics;
    pub use crate::policy::rate::{KeyedRateLimiter, DEFAULT_KEY_CAPACITY};
    pub use prost;

    /// The bodies of the library-wide exports `proto2ffi::library!` emits.
    pub mod exports {
        pub use crate::exports::*;
    }

    /// The checks the generated fixed-layout structs call.
    pub mod fixed_check {
        pub use crate::fixed::layout::check::*;
    }

    /// The decode budget's shapes, emitted by `proto2ffi-build` per request
    /// type.
    pub mod shape {
        pub use crate::policy::shape::*;
    }

    // Internals the benchmarks, fuzz targets and ABI tests reach, each
    // under its module's name: no stable API, not for users.
    #[allow(missing_docs)]
    pub mod admission {
        pub use crate::policy::admission::*;
    }
    #[allow(missing_docs)]
    pub mod shard {
        pub use crate::sys::shard::*;
    }
    #[allow(missing_docs)]
    pub mod clock {
        pub use crate::sys::clock::*;
    }
    #[allow(missing_docs)]
    pub mod fence {
        pub use crate::sys::fence::*;
    }
    #[allow(missing_docs)]
    pub mod fixed_pool {
        pub use crate::fixed::pool::*;
    }
    #[allow(missing_docs)]
    pub mod metrics {
        pub use crate::observe::metrics::*;
    }
    #[allow(missing_docs)]
    pub mod panic {
        pub use crate::error::panic::*;
    }
    #[allow(missing_docs)]
    pub mod rate {
        pub use crate::policy::rate::*;
    }
    #[allow(missing_docs)]
    pub mod request_buf {
        pub use crate::policy::request_buf::*;
    }
    #[allow(missing_docs)]
    pub mod thread {
        pub use crate::sys::thread::*;
    }
    #[allow(missing_docs)]
    pub mod buffer {
        pub use crate::abi::buffer::*;
    }

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
