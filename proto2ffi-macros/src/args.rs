//! Parsing of `key = value` macro arguments with spanned errors.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, Meta, Token};

/// One `key = value` pair.
pub struct Arg {
    pub key: String,
    pub key_span: Span,
    pub value: Expr,
}

/// Parses `a = 1, b = "x"`.
pub fn parse(tokens: TokenStream) -> syn::Result<Vec<Arg>> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens)?;
    metas
        .into_iter()
        .map(|meta| match meta {
            Meta::NameValue(nv) => Ok(Arg {
                key: nv
                    .path
                    .get_ident()
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| quote::quote!(#nv.path).to_string()),
                key_span: nv.path.span(),
                value: nv.value,
            }),
            other => Err(syn::Error::new(
                other.span(),
                "proto2ffi: expected `key = value` (for example `max_request_bytes = 65536`)",
            )),
        })
        .collect()
}

/// Rejects a key not in `allowed`.
pub fn unknown(arg: &Arg, allowed: &[&str]) -> syn::Error {
    syn::Error::new(
        arg.key_span,
        format!(
            "proto2ffi: unknown argument `{}`; expected one of: {}",
            arg.key,
            allowed.join(", ")
        ),
    )
}

/// A string literal value.
pub fn string(arg: &Arg) -> syn::Result<String> {
    match &arg.value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value()),
        other => Err(syn::Error::new(
            other.span(),
            format!("proto2ffi: `{}` takes a string literal", arg.key),
        )),
    }
}

/// A non-negative integer literal value.
pub fn integer(arg: &Arg) -> syn::Result<u64> {
    match &arg.value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<u64>(),
        other => Err(syn::Error::new(
            other.span(),
            format!("proto2ffi: `{}` takes a non-negative integer", arg.key),
        )),
    }
}

/// A positive number (integer or float literal).
pub fn positive(arg: &Arg) -> syn::Result<f64> {
    let v = match &arg.value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<f64>()?,
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => f.base10_parse::<f64>()?,
        other => {
            return Err(syn::Error::new(
                other.span(),
                format!("proto2ffi: `{}` takes a number", arg.key),
            ))
        }
    };
    if !(v.is_finite() && v > 0.0) {
        return Err(syn::Error::new(
            arg.value.span(),
            format!("proto2ffi: `{}` must be greater than zero", arg.key),
        ));
    }
    if arg.key.contains("rate") {
        proto2ffi_core::rate::validate_per_second(v).map_err(|e| {
            syn::Error::new(arg.value.span(), format!("proto2ffi: `{}`: {e}", arg.key))
        })?;
    }
    Ok(v)
}

/// A path value, given as a path or a string literal.
pub fn path(arg: &Arg) -> syn::Result<syn::Path> {
    match &arg.value {
        Expr::Path(p) => Ok(p.path.clone()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => s.parse(),
        other => Err(syn::Error::new(
            other.span(),
            format!("proto2ffi: `{}` takes a path", arg.key),
        )),
    }
}

/// A type, written as a path (`crate::Sim`) or a string literal
/// (`"&'static crate::Store"`).
pub fn ty(arg: &Arg) -> syn::Result<syn::Type> {
    match &arg.value {
        Expr::Path(p) => Ok(syn::Type::Path(syn::TypePath {
            qself: p.qself.clone(),
            path: p.path.clone(),
        })),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => s.parse(),
        other => Err(syn::Error::new(
            other.span(),
            format!("proto2ffi: `{}` takes a type", arg.key),
        )),
    }
}

/// The default symbol prefix: the crate being compiled, in snake case.
pub fn default_prefix() -> String {
    // The package name, as proto2ffi-build uses, so both sides agree.
    let name = std::env::var("CARGO_PKG_NAME")
        .or_else(|_| std::env::var("CARGO_CRATE_NAME"))
        .unwrap_or_else(|_| "proto2ffi_lib".to_string());
    proto2ffi_core::symbols::default_prefix(&name)
}

/// Validates a prefix, with the error on `span`.
pub fn check_prefix(prefix: &str, span: Span) -> syn::Result<()> {
    proto2ffi_core::symbols::validate_prefix(prefix)
        .map_err(|e| syn::Error::new(span, format!("proto2ffi: {e}")))
}
