//! Procedural macros of proto2ffi.
//!
//! - [`macro@service`] turns a service trait into `extern "C"` entry points,
//!   a registration function and static service/method definitions;
//! - [`library!`] emits the library-wide exports (free, ABI version, init,
//!   metrics, health, shutdown) once per library.
//!
//! Symbol names come from `proto2ffi_core::symbols`, the same functions the
//! header and Dart writers use. Use these macros through the `proto2ffi` crate.

mod args;
mod library;
mod service;

use proc_macro::TokenStream;

/// Exposes a service trait through the C ABI. See the `proto2ffi` crate docs.
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    service::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Emits the library-wide exports once per library. See the `proto2ffi` crate docs.
#[proc_macro]
pub fn library(input: TokenStream) -> TokenStream {
    library::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
