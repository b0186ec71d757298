//! Build-time code generation for proto2ffi, with no `protoc` anywhere.
//!
//! In `build.rs`:
//!
//! ```no_run
//! fn main() -> Result<(), proto2ffi_build::Error> {
//!     proto2ffi_build::configure()
//!         .prefix("user")
//!         .c_header("include/user.h")
//!         .compile_protos(&["proto/user.proto"], &["proto"])
//! }
//! ```
//!
//! This crate owns the path `.proto` → descriptors ([`protox`]) → a schema
//! [`model`] (services, methods, options, fingerprints, comments) → outputs:
//! prost messages plus one `#[proto2ffi::service]` trait per service
//! ([`rust`]), a C header ([`c_header`]) and a Dart package ([`dart`]).
//! Fixed-layout messages ([`fixed`]) get `repr(C)` structs in all three. Symbol
//! names and fingerprints come from `proto2ffi-core`, like the macro's.

#![warn(missing_docs)]

mod builder;
pub mod c_header;
pub mod dart;
mod error;
pub mod fingerprint;
pub mod fixed;
pub mod model;
pub mod packages;
mod resolver;
pub mod rust;
pub mod shape;
mod write;

pub use builder::{compile_protos, configure, descriptor_set, Builder, Generated};
pub use error::Error;
pub use model::{Library, Method, MethodConfig, Service};
pub use proto2ffi_core::MethodKind;

/// The bundled `proto2ffi/options.proto` (importable without include paths).
pub const OPTIONS_PROTO: &str = include_str!("../proto/proto2ffi/options.proto");
/// The bundled `proto2ffi/v1/metrics.proto`.
pub const METRICS_PROTO: &str = include_str!("../proto/proto2ffi/v1/metrics.proto");
/// The bundled `proto2ffi/v1/health.proto`.
pub const HEALTH_PROTO: &str = include_str!("../proto/proto2ffi/v1/health.proto");
/// The bundled `proto2ffi/v1/status.proto`.
pub const STATUS_PROTO: &str = include_str!("../proto/proto2ffi/v1/status.proto");
