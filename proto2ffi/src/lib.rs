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
//!   a method may be `async fn` (entry point `<symbol>_start`, completed
//!   through a callback, cancellable, with a deadline — see
//!   [`CallContext`]), a server stream
//!   (`async fn watch(&self, request: Req, sink: StreamSink<Item>) -> Result<(), Status>`),
//!   a client stream (`async fn upload(&self, requests: RequestStream<Req>) -> Result<Resp, Status>`)
//!   or both ways (`async fn chat(&self, requests: RequestStream<Req>, sink: StreamSink<Item>) -> Result<(), Status>`);
//! - `proto2ffi::library!(prefix = "...", init = ...)`, once at the crate
//!   root, emits the library-wide exports (`free`, `abi_version`, `init`,
//!   `metrics`, `metrics_text`, `health`, `shutdown`);
//! - [`include_protos!`] brings in every package `proto2ffi-build`
//!   generated, nested as modules (`a::v1`, `b::rpc`) so packages that refer
//!   to each other resolve; [`include_proto!`] brings in one package;
//! - [`this_library!`] is this crate's [`Library`]: health flag and check,
//!   library-wide limits, shutdown, panic-message exposure.
//!
//! ```ignore
//! proto2ffi::include_proto!("user.v1");
//! proto2ffi::library!(init = || register_user_service(MyUsers::default()));
//! ```
//!
//! `init` takes a function or closure returning `()` or `Result<(), E>` with
//! `E: Into<Status>`; a closure without a return type, such as
//! `|| { register_a(A)?; register_b(B)?; Ok(()) }`, is read as returning
//! `Result<(), Status>`.
//!
//! Service attribute arguments: `prefix`, `name`, `fingerprint`,
//! `max_request_bytes`, `max_response_bytes`, `rate_per_second`, `burst`,
//! `crate`, `implementation` (the implementing type, a path or a string such
//! as `"&'static crate::Store"`: entry points then call it directly, without
//! a trait object, and `register_*` takes exactly that type; build scripts
//! set it with `proto2ffi_build::Builder::implementation`). Method arguments, in `#[proto2ffi(...)]`: `name`,
//! `max_request_bytes`, `max_response_bytes`, `rate_per_second`, `burst`,
//! `key` (a request field), `key_rate_per_second`, `key_burst`,
//! `key_capacity`. See the README for the C ABI and the guard's order.

/// The prost version generated code uses (so users need no direct dependency).
pub use prost;
/// Well-known types (`Timestamp`, `Duration`, `Any`…) for generated code.
pub use prost_types;
pub use proto2ffi_macros::{library, service};
/// The `tracing` the runtime logs through: records your handlers emit with
/// `proto2ffi::tracing::info!(..)` (or your own `tracing`/`log` dependency)
/// reach the host's log sink with the call's span fields.
pub use proto2ffi_runtime::tracing;
pub use proto2ffi_runtime::*;

/// Includes the Rust code `proto2ffi-build` generated for one proto package
/// (messages and service traits), e.g. `proto2ffi::include_proto!("user.v1")`.
///
/// A package whose messages refer to another package (`a.v1` using
/// `b.rpc.Status`) needs the packages nested as modules: use
/// [`include_protos!`] instead (the build fails with a message saying so).
#[macro_export]
macro_rules! include_proto {
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".proto2ffi.rs"));
    };
}

/// Includes every package `proto2ffi-build` generated, each in its module
/// tree: `package a.v1;` becomes `a::v1`, so prost's `super::` paths
/// between packages resolve. Use it whenever more than one package is
/// compiled:
///
/// ```ignore
/// proto2ffi::include_protos!();
/// use a::v1::{GetThingRequest, ThingService};
/// ```
#[macro_export]
macro_rules! include_protos {
    () => {
        include!(concat!(env!("OUT_DIR"), "/_proto2ffi_packages.rs"));
    };
}

/// This crate's [`Library`] (the one `proto2ffi::library!` declared): set
/// the health flag or check, library-wide limits, panic-message exposure, or
/// shut down from Rust.
///
/// ```ignore
/// proto2ffi::this_library!().set_health_check(|| db.ping().map_err(|e| e.to_string()));
/// ```
#[macro_export]
#[allow(clippy::crate_in_macro_def)] // the caller's crate is the point
macro_rules! this_library {
    () => {
        &crate::__proto2ffi_library::LIBRARY
    };
}
