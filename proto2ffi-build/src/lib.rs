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
//!
//! The source is in layers, each importing only from those below it
//! (`tests/layers.rs` checks): `schema` (descriptors, bundled protos,
//! fingerprints, comments and options, Dart names) → [`fixed`] (the
//! fixed-layout model) → [`model`] (the library) → the generators
//! [`rust`], [`c_header`] and [`dart`], peers → the writer and the
//! [`Builder`] that runs them.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

// Layers, bottom to top (tests/layers.rs keeps them so): the schema as
// read, the fixed-layout model, the library model, the three generators,
// and the builder that runs them and writes their files.
mod error;
mod schema;

pub mod fixed;

pub mod model;

pub mod c_header;
pub mod dart;
pub mod rust;

mod builder;
mod write;

pub use builder::{compile_protos, configure, Builder, Generated};
pub use error::Error;
pub use model::{Library, Method, MethodConfig, Service};
pub use proto2ffi_core::MethodKind;
pub use rust::{packages, shape};
pub use schema::fingerprint;
pub use schema::resolver::{
    descriptor_set, HEALTH_PROTO, METRICS_PROTO, OPTIONS_PROTO, STATUS_PROTO,
};
