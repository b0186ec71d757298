//! The one source of truth shared by every part of proto2ffi.
//!
//! The runtime, the `#[proto2ffi::service]` macro, the C header writer and the
//! Dart writer all ask this crate — and only this crate — for:
//!
//! - [`ABI_VERSION`]: the version of the C ABI a library speaks;
//! - [`Code`]: the gRPC canonical status codes and their names;
//! - [`symbols`]: how every exported symbol is named, and the library-wide
//!   functions every proto2ffi library exports;
//! - [`MethodKind`]: the kinds of method (unary, fixed-layout, async,
//!   streams) and which entry points each exports;
//! - [`fingerprint`]: the stable 64-bit hash that identifies a service schema;
//! - [`rate`]: the range of rates a rate limit accepts;
//! - [`c_structs`]: the layouts of the structs C sees besides fixed-layout
//!   messages (buffer, log record, array reference) on every target ABI.
//!
//! It has no knowledge of prost, syn or the runtime so that a proc-macro and a
//! build script can both depend on it cheaply.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod c_structs;
pub mod code;
pub mod fingerprint;
mod method_kind;
pub mod rate;
pub mod symbols;

pub use code::Code;
pub use fingerprint::{fnv1a64, Fingerprinter};
pub use method_kind::MethodKind;

/// Version of the C ABI described in the guide (`docs/src/c-abi.md`).
///
/// Bumped whenever the layout of the buffer, the signature of an entry point,
/// the error payload or the meaning of a library-wide export changes. Generated
/// clients refuse to talk to a library whose version differs.
pub const ABI_VERSION: u32 = 1;
