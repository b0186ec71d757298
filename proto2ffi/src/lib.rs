//! proto2ffi: make a Rust library callable from Dart/Flutter (and any
//! language with a C FFI) through `.proto` contracts.
//!
//! A service, its `extern "C"` entry point, and a call through it the way
//! a foreign caller makes one: request bytes in, a library-owned buffer
//! out, freed by the library (with `.proto` files, `proto2ffi-build`
//! writes the messages and the trait, plus the C header and Dart client;
//! see the README's Quickstart and the guide under `docs/`):
//!
//! ```
//! use proto2ffi::{prost::Message, Buffer, Code, Status};
//!
//! #[derive(Clone, PartialEq, proto2ffi::prost::Message)]
//! #[prost(prost_path = "::proto2ffi::prost")]
//! pub struct EchoRequest {
//!     #[prost(string, tag = "1")]
//!     pub text: String,
//! }
//!
//! #[derive(Clone, PartialEq, proto2ffi::prost::Message)]
//! #[prost(prost_path = "::proto2ffi::prost")]
//! pub struct EchoResponse {
//!     #[prost(string, tag = "1")]
//!     pub text: String,
//! }
//!
//! #[proto2ffi::service(prefix = "echo", max_request_bytes = 1024)]
//! pub trait Echo {
//!     fn echo(&self, request: EchoRequest) -> Result<EchoResponse, Status>;
//! }
//!
//! struct Twice;
//!
//! impl Echo for Twice {
//!     fn echo(&self, request: EchoRequest) -> Result<EchoResponse, Status> {
//!         if request.text.is_empty() {
//!             return Err(Status::invalid_argument("text is empty"));
//!         }
//!         Ok(EchoResponse { text: request.text.repeat(2) })
//!     }
//! }
//!
//! proto2ffi::library!(prefix = "echo", init = || register_echo(Twice));
//!
//! # fn main() {
//! // What a C, Dart or Python host does with `echo_echo_echo`.
//! let request = EchoRequest { text: "hi".into() }.encode_to_vec();
//! let mut out = Buffer::empty();
//! // SAFETY: `request` is readable for its length; `out` is writable.
//! let code = unsafe { echo_echo_echo(request.as_ptr(), request.len(), &mut out) };
//! assert_eq!(code, Code::Ok as i32);
//! // SAFETY: `out` holds `len` initialised bytes until it is freed.
//! let bytes = unsafe { std::slice::from_raw_parts(out.data, out.len) };
//! assert_eq!(EchoResponse::decode(bytes).unwrap().text, "hihi");
//! // SAFETY: a buffer the library returned, freed once.
//! unsafe { echo_proto2ffi_free(&mut out) };
//!
//! // An error is a code and an encoded `google.rpc.Status`; a request over
//! // the limit is refused before any handler runs.
//! let empty = EchoRequest::default().encode_to_vec();
//! let code = unsafe { echo_echo_echo(empty.as_ptr(), empty.len(), &mut out) };
//! assert_eq!(code, Code::InvalidArgument as i32);
//! unsafe { echo_proto2ffi_free(&mut out) };
//! let big = vec![0u8; 2048];
//! let code = unsafe { echo_echo_echo(big.as_ptr(), big.len(), &mut out) };
//! assert_eq!(code, Code::ResourceExhausted as i32);
//! unsafe { echo_proto2ffi_free(&mut out) };
//! # }
//! ```
//!
//! This facade is the one crate a library depends on. It re-exports the
//! runtime's public API: for services [`Status`], [`Code`], [`CallContext`],
//! [`StreamSink`], [`RequestStream`], [`HostCall`], [`Limits`],
//! [`RateLimit`] and the [`fixed`] layout types; for hosts [`Library`]
//! (health, limits, shutdown, metrics sampling), [`Executor`], [`Buffer`]
//! and the [`buffer`] pools, the [`log`] record and the [`proto`] messages
//! of the metrics and health exports; and the macros:
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
//! `key_capacity`. The guide (`docs/src`: the C ABI, how a call works) has the guard's order.

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

/// The user guide's pages (`docs/src`), so that `cargo test --doc` compiles
/// and runs every Rust block in them (`cargo xtask docs` checks that the
/// ignored ones say where they are checked instead).
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../../docs/src/async-and-streams.md")]
    mod async_and_streams {}
    #[doc = include_str!("../../docs/src/build.md")]
    mod build {}
    #[doc = include_str!("../../docs/src/c-abi.md")]
    mod c_abi {}
    #[doc = include_str!("../../docs/src/comparison.md")]
    mod comparison {}
    #[doc = include_str!("../../docs/src/dart-client.md")]
    mod dart_client {}
    #[doc = include_str!("../../docs/src/fixed-layout.md")]
    mod fixed_layout {}
    #[doc = include_str!("../../docs/src/flutter.md")]
    mod flutter {}
    #[doc = include_str!("../../docs/src/fork.md")]
    mod fork {}
    #[doc = include_str!("../../docs/src/health.md")]
    mod health {}
    #[doc = include_str!("../../docs/src/host-services.md")]
    mod host_services {}
    #[doc = include_str!("../../docs/src/how-a-call-works.md")]
    mod how_a_call_works {}
    #[doc = include_str!("../../docs/src/introduction.md")]
    mod introduction {}
    #[doc = include_str!("../../docs/src/limits.md")]
    mod limits {}
    #[doc = include_str!("../../docs/src/logs.md")]
    mod logs {}
    #[doc = include_str!("../../docs/src/metrics.md")]
    mod metrics {}
    #[doc = include_str!("../../docs/src/one-library-one-state.md")]
    mod one_library_one_state {}
    #[doc = include_str!("../../docs/src/options-proto.md")]
    mod options_proto {}
    #[doc = include_str!("../../docs/src/performance.md")]
    mod performance {}
    #[doc = include_str!("../../docs/src/pools.md")]
    mod pools {}
    #[doc = include_str!("../../docs/src/production.md")]
    mod production {}
    #[doc = include_str!("../../docs/src/rate-limits.md")]
    mod rate_limits {}
    #[doc = include_str!("../../docs/src/shutdown.md")]
    mod shutdown {}
    #[doc = include_str!("../../docs/src/simd.md")]
    mod simd {}
    #[doc = include_str!("../../docs/src/testing.md")]
    mod testing {}
    #[doc = include_str!("../../docs/src/troubleshooting.md")]
    mod troubleshooting {}
}
