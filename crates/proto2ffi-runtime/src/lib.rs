//! The runtime every proto2ffi library links: it owns what happens on each
//! call that crosses the C ABI.
//!
//! - [`Buffer`] and the response buffer pool ([`buffer`]);
//! - [`Status`] and [`Code`] (gRPC canonical codes, `google.rpc.Status` payload);
//! - the call guard ([`guard`]): admission, rate limit, size limit, decode,
//!   `catch_unwind`, encode, response limit, metrics — in that order;
//! - [`limits`] and [`rate`] (GCRA limiters, bounded keyed limiter);
//! - [`metrics`] (sharded atomics, encoded and Prometheus exports) and [`health`];
//! - [`admission`] (in-flight tracking and graceful shutdown);
//! - [`Pool`], a typed object pool for users' hot paths.
//!
//! Users reach it through the `proto2ffi` facade; the items under
//! [`__private`] exist for generated code only.

#![warn(missing_docs)]

pub mod admission;
pub mod buffer;
pub mod clock;
pub mod guard;
pub mod health;
pub mod library;
pub mod limits;
pub mod metrics;
pub mod pool;
pub mod proto;
pub mod rate;
pub mod registry;
pub mod status;

pub use buffer::Buffer;
pub use limits::Limits;
pub use pool::{LocalPool, LocalPooled, Pool, Pooled};
pub use proto2ffi_core::{Code, ABI_VERSION};
pub use rate::{RateKey, RateLimit};
pub use registry::{MethodDef, ServiceDef};
pub use status::Status;

/// Items used by code that `#[proto2ffi::service]` and `proto2ffi::library!`
/// generate. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::guard::unary;
    pub use crate::library::{ensure_init, IntoInitResult};
    pub use crate::rate::KeyedRateLimiter;
    pub use crate::registry::register_service;
    pub use prost;

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
