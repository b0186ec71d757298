//! Fixed-layout messages: `repr(C)` structs Rust, C and Dart read in place.
//!
//! Public: [`ArrayRef`] (a variable-length array a struct points at), the
//! [`FixedMessage`] trait every generated struct implements, and
//! [`alloc`]/[`dealloc`] for memory a struct's arrays may point into.
//! Inside the crate: the checks on foreign structs and the allocator
//! (`layout`), the pointer-in, pointer-out call guard (`call`) and the
//! schema-declared pools of structs (`pool`). Built on every layer up to
//! `call`, whose guard steps it shares.

pub(crate) mod call;
pub(crate) mod layout;
pub(crate) mod pool;

pub use layout::{alloc, dealloc, ArrayRef, FixedMessage, MAX_ALIGN};
