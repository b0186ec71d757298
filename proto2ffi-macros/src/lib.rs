//! Procedural macros of proto2ffi.
//!
//! - [`macro@service`] turns a service trait into `extern "C"` entry points,
//!   a registration function and static service/method definitions;
//! - [`library!`] emits the library-wide exports (free, ABI version, init,
//!   metrics, health, shutdown) once per library.
//!
//! Symbol names come from `proto2ffi_core::symbols`, the same functions the
//! header and Dart writers use. Use these macros through the `proto2ffi` crate.

#![forbid(unsafe_code)]

mod args;
mod library;
mod service;

use proc_macro::TokenStream;

/// Exposes a service trait through the C ABI. See the `proto2ffi` crate docs.
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: proc_macro2::TokenStream = item.into();
    match service::expand(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        // Keep the trait (minus our helper attributes) next to the error so
        // that code using it does not drown the real error in follow-ups.
        Err(e) => {
            let mut out = e.into_compile_error();
            out.extend(service::strip_helper_attributes(item));
            out.into()
        }
    }
}

/// Emits the library-wide exports once per library. See the `proto2ffi` crate docs.
#[proc_macro]
pub fn library(input: TokenStream) -> TokenStream {
    library::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
