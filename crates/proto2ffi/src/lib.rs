//! proto2ffi: make a Rust library callable from Dart/Flutter (and any
//! language with a C FFI) through `.proto` contracts.
//!
//! This facade is the one crate a library depends on. It re-exports the
//! runtime ([`Buffer`], [`Status`], [`Code`], limits, rate limits, [`Pool`],
//! [`metrics`], [`health`], [`admission`]) and the macros:
//!
//! - `#[proto2ffi::service]` on a trait whose methods look like
//!   `fn get_user(&self, request: GetUserRequest) -> Result<GetUserResponse, Status>`
//!   emits one `extern "C"` entry point per method, a `register_<trait>`
//!   function and a `<TRAIT>_DEF` static holding its limits and metrics;
//! - `proto2ffi::library!(prefix = "...", init = ...)`, once at the crate
//!   root, emits the library-wide exports (`free`, `abi_version`, `init`,
//!   `metrics`, `metrics_text`, `health`, `shutdown`);
//! - [`include_proto!`] brings in what `proto2ffi-build` generated.
//!
//! ```ignore
//! proto2ffi::include_proto!("user.v1");
//! proto2ffi::library!(init = || register_user_service(MyUsers::default()));
//! ```
//!
//! Service attribute arguments: `prefix`, `name`, `fingerprint`,
//! `max_request_bytes`, `max_response_bytes`, `rate_per_second`, `burst`,
//! `crate`. Method arguments, in `#[proto2ffi(...)]`: `name`,
//! `max_request_bytes`, `max_response_bytes`, `rate_per_second`, `burst`,
//! `key` (a request field), `key_rate_per_second`, `key_burst`,
//! `key_capacity`. See the README for the C ABI and the guard's order.

/// The prost version generated code uses (so users need no direct dependency).
pub use prost;
/// Well-known types (`Timestamp`, `Duration`, `Any`…) for generated code.
pub use prost_types;
pub use proto2ffi_macros::{library, service};
pub use proto2ffi_runtime::*;

/// Includes the Rust code `proto2ffi-build` generated for a proto package
/// (messages and service traits), e.g. `proto2ffi::include_proto!("user.v1")`.
#[macro_export]
macro_rules! include_proto {
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
    };
}
