//! `#[proto2ffi::service]`: validates a service trait and emits its C ABI.

use crate::args::{self, Arg};
use proc_macro2::{Literal, Span, TokenStream};
use proto2ffi_core::symbols::{self, LibraryFn};
use proto2ffi_core::MethodKind;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, ItemTrait, Pat, PathArguments, ReturnType, TraitItem,
    TraitItemFn, Type,
};

const SERVICE_ARGS: &[&str] = &[
    "prefix",
    "name",
    "fingerprint",
    "max_request_bytes",
    "max_response_bytes",
    "rate_per_second",
    "burst",
    "crate",
    "implementation",
];

const METHOD_ARGS: &[&str] = &[
    "name",
    "max_request_bytes",
    "max_response_bytes",
    "rate_per_second",
    "burst",
    "key",
    "key_rate_per_second",
    "key_burst",
    "key_capacity",
    "request_shape",
];

#[derive(Default)]
struct Common {
    name: Option<String>,
    max_request: u64,
    max_response: u64,
    rate: Option<f64>,
    burst: Option<(u64, Span)>,
}

impl Common {
    /// Takes the argument if it is one of the shared ones.
    fn take(&mut self, arg: &Arg) -> syn::Result<bool> {
        match arg.key.as_str() {
            "name" => self.name = Some(args::string(arg)?),
            "max_request_bytes" => self.max_request = nonzero(arg)?,
            "max_response_bytes" => self.max_response = nonzero(arg)?,
            "rate_per_second" => self.rate = Some(args::positive(arg)?),
            "burst" => self.burst = Some((nonzero(arg)?, arg.key_span)),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn rate_tokens(&self, krate: &syn::Path) -> syn::Result<TokenStream> {
        rate_tokens(krate, self.rate, self.burst, "rate_per_second")
    }
}

fn nonzero(arg: &Arg) -> syn::Result<u64> {
    let v = args::integer(arg)?;
    if v == 0 {
        return Err(syn::Error::new(
            arg.value.span(),
            format!("proto2ffi: `{}` must be greater than zero", arg.key),
        ));
    }
    Ok(v)
}

fn rate_tokens(
    krate: &syn::Path,
    rate: Option<f64>,
    burst: Option<(u64, Span)>,
    rate_key: &str,
) -> syn::Result<TokenStream> {
    match (rate, burst) {
        (None, None) => Ok(quote!(::core::option::Option::None)),
        (None, Some((_, span))) => Err(syn::Error::new(
            span,
            format!("proto2ffi: a burst needs a rate: add `{rate_key} = ...`"),
        )),
        (Some(r), b) => {
            let burst = b.map_or_else(|| r.ceil().max(1.0) as u64, |(b, _)| b);
            if burst > u64::from(u32::MAX) {
                return Err(syn::Error::new(
                    b.map_or_else(Span::call_site, |(_, s)| s),
                    "proto2ffi: burst is too large",
                ));
            }
            let r = Literal::f64_suffixed(r);
            let b = Literal::u32_suffixed(burst as u32);
            Ok(quote!(::core::option::Option::Some(
                #krate::RateLimit { per_second: #r, burst: #b }
            )))
        }
    }
}

struct Method {
    ident: Ident,
    name: String,
    symbol: String,
    request: Type,
    response: Type,
    common: Common,
    key: Option<Ident>,
    key_rate: Option<f64>,
    key_burst: Option<(u64, Span)>,
    key_capacity: Option<u64>,
    key_span: Span,
    request_shape: Option<syn::Path>,
    /// Read off the signature: `fn m(&self, request: &Req, response: &mut
    /// Resp)` is fixed-layout, an `async fn` is started with `{symbol}` (=
    /// `{method}_start`), a `StreamSink<Item>` argument streams responses,
    /// a `RequestStream<Req>` one streams requests (`request` is `Req`).
    kind: MethodKind,
    /// The `Item` of `StreamSink<Item>`: `Some` exactly when
    /// `kind.streams_responses()`.
    stream_item: Option<Type>,
    /// The declared return type (`Result<Resp, E>`).
    output: Type,
}

fn err(span: Span, msg: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(span, format!("proto2ffi: {msg}"))
}

/// Expands the attribute.
pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut item: ItemTrait = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("proto2ffi: #[proto2ffi::service] goes on a trait ({e})"),
        )
    })?;

    let mut common = Common::default();
    let mut prefix = (args::default_prefix(), Span::call_site());
    let mut fingerprint = None;
    let mut krate: syn::Path = syn::parse_quote!(::proto2ffi);
    let mut implementation = None;
    for arg in args::parse(attr)? {
        if common.take(&arg)? {
            continue;
        }
        match arg.key.as_str() {
            "prefix" => prefix = (args::string(&arg)?, arg.value.span()),
            "fingerprint" => fingerprint = Some(args::integer(&arg)?),
            "crate" => krate = args::path(&arg)?,
            "implementation" => implementation = Some(args::ty(&arg)?),
            _ => return Err(args::unknown(&arg, SERVICE_ARGS)),
        }
    }
    args::check_prefix(&prefix.0, prefix.1)?;
    let (prefix, _) = prefix;

    validate_trait(&item)?;
    let trait_ident = item.ident.clone();
    let service_name = common
        .name
        .clone()
        .unwrap_or_else(|| trait_ident.to_string());
    symbols::validate_service(&trait_ident.to_string()).map_err(|e| err(trait_ident.span(), e))?;

    let mut methods = Vec::new();
    for trait_item in &mut item.items {
        match trait_item {
            TraitItem::Fn(f) => methods.push(parse_method(f, &prefix, &trait_ident)?),
            other => {
                return Err(err(
                    other.span(),
                    "a service trait may only contain methods of the form \
                     `fn name(&self, request: Request) -> Result<Response, Status>`",
                ))
            }
        }
    }
    if methods.is_empty() {
        return Err(err(
            trait_ident.span(),
            "a service needs at least one method",
        ));
    }
    if let Some((symbol, _, second)) = symbols::find_duplicate(
        methods
            .iter()
            .map(|m| (m.symbol.clone(), m.ident.to_string()))
            .collect::<Vec<_>>()
            .iter()
            .map(|(s, i)| (s.clone(), i.as_str())),
    ) {
        let m = methods.iter().rev().find(|m| m.ident == second).unwrap();
        return Err(err(
            m.ident.span(),
            format!("two methods map to the same C symbol `{symbol}`; rename one"),
        ));
    }

    let fingerprint = fingerprint.unwrap_or_else(|| {
        let sigs: Vec<(String, String, String)> = methods
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    match m.kind {
                        MethodKind::Fixed => format!("&{}", m.request.to_token_stream()),
                        MethodKind::ClientStream | MethodKind::Bidi => {
                            format!("stream {}", m.request.to_token_stream())
                        }
                        MethodKind::AsyncUnary | MethodKind::ServerStream => {
                            format!("async {}", m.request.to_token_stream())
                        }
                        MethodKind::Unary => m.request.to_token_stream().to_string(),
                    },
                    match &m.stream_item {
                        Some(item) => format!("stream {}", item.to_token_stream()),
                        None => m.response.to_token_stream().to_string(),
                    },
                )
            })
            .collect();
        proto2ffi_core::fingerprint::trait_fingerprint(
            &service_name,
            sigs.iter()
                .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())),
        )
    });

    emit(
        &item,
        &krate,
        &Names {
            prefix: &prefix,
            service: &service_name,
            fingerprint,
        },
        &common,
        &methods,
        implementation.as_ref(),
    )
}

/// How a service is named across the boundary.
struct Names<'a> {
    /// The symbol prefix.
    prefix: &'a str,
    /// The proto full name (or the trait's).
    service: &'a str,
    /// The schema fingerprint.
    fingerprint: u64,
}

fn validate_trait(item: &ItemTrait) -> syn::Result<()> {
    if !item.generics.params.is_empty() {
        return Err(err(
            item.generics.span(),
            "a service trait cannot be generic: the C ABI needs one concrete type per method",
        ));
    }
    if let Some(w) = &item.generics.where_clause {
        return Err(err(w.span(), "a service trait cannot have a where clause"));
    }
    if let Some(u) = &item.unsafety {
        return Err(err(u.span(), "a service trait cannot be `unsafe`"));
    }
    if let Some(a) = &item.auto_token {
        return Err(err(a.span(), "a service trait cannot be an auto trait"));
    }
    Ok(())
}

fn parse_method(f: &mut TraitItemFn, prefix: &str, trait_ident: &Ident) -> syn::Result<Method> {
    let sig = &f.sig;
    let ident = sig.ident.clone();
    let asynchronous = sig.asyncness.is_some();
    if let Some(u) = &sig.unsafety {
        return Err(err(u.span(), format!("`{ident}` cannot be `unsafe`")));
    }
    if let Some(a) = &sig.abi {
        return Err(err(a.span(), format!("`{ident}` cannot declare an ABI")));
    }
    if let Some(c) = &sig.constness {
        return Err(err(c.span(), format!("`{ident}` cannot be `const`")));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(err(
            sig.generics.span(),
            format!("`{ident}` cannot be generic: each method needs one concrete request and response type"),
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(err(v.span(), format!("`{ident}` cannot be variadic")));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) => {
            if r.mutability.is_some() {
                return Err(err(
                    r.span(),
                    format!(
                        "`{ident}` takes `&mut self`; take `&self` instead: calls arrive \
                         concurrently from many threads, so keep mutable state behind a lock \
                         or atomics"
                    ),
                ));
            }
            if r.reference.is_none() || r.colon_token.is_some() {
                return Err(err(
                    r.span(),
                    format!(
                        "`{ident}` must take `&self` (the registered implementation is shared)"
                    ),
                ));
            }
        }
        _ => {
            return Err(err(
                sig.ident.span(),
                format!(
                    "`{ident}` needs a `&self` receiver: write \
                     `fn {ident}(&self, request: Request) -> Result<Response, Status>`"
                ),
            ))
        }
    }
    let rest: Vec<&FnArg> = inputs.collect();
    let request_stream = match rest.first() {
        Some(FnArg::Typed(t)) => first_type_arg(&t.ty, "RequestStream").cloned(),
        _ => None,
    };
    if let Some(request) = request_stream {
        let rest: Vec<FnArg> = rest.into_iter().cloned().collect();
        return parse_streamed_requests(f, prefix, trait_ident, &rest, request);
    }
    let stream_item = match rest.get(1) {
        Some(FnArg::Typed(t)) => sink_item(&t.ty),
        _ => None,
    };
    if stream_item.is_some() && !asynchronous {
        return Err(err(
            sig.ident.span(),
            format!(
                "`{ident}` takes a `StreamSink`, so it streams: make it \
                 `async fn {ident}(&self, request: Req, sink: StreamSink<Item>) -> Result<(), Status>`"
            ),
        ));
    }
    let fixed = !asynchronous && rest.len() == 2 && is_fixed_signature(rest[0], rest[1]);
    if asynchronous && rest.len() == 2 && is_fixed_signature(rest[0], rest[1]) {
        return Err(err(
            sig.asyncness.span(),
            format!(
                "`{ident}` is fixed-layout (`&Req, &mut Resp`), which is synchronous: remove \
                 `async`, or take the request by value for an async method"
            ),
        ));
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => (**ty).clone(),
        ReturnType::Default => syn::parse_quote!(()),
    };
    if stream_item.is_some() {
        if !matches!(&sig.output, ReturnType::Type(_, ty) if result_ok_is_unit(ty)) {
            return Err(err(
                match &sig.output {
                    ReturnType::Type(_, ty) => ty.span(),
                    ReturnType::Default => sig.ident.span(),
                },
                format!(
                    "`{ident}` streams its items through the sink, so it returns \
                     `Result<(), Status>` (the stream's final status)"
                ),
            ));
        }
        let request = match rest[0] {
            FnArg::Typed(t) if !matches!(&*t.ty, Type::Reference(_)) => (*t.ty).clone(),
            other => {
                return Err(err(
                    other.span(),
                    format!("`{ident}` must take its request by value (`request: Req`)"),
                ))
            }
        };
        if let Some(extra) = rest.get(2) {
            return Err(err(
                extra.span(),
                format!("`{ident}` takes a request and a sink, nothing more"),
            ));
        }
        return finish_method(
            f,
            prefix,
            trait_ident,
            ident,
            request,
            syn::parse_quote!(()),
            MethodKind::ServerStream,
            stream_item,
            output,
        );
    }
    let (request, response) = if fixed {
        let (FnArg::Typed(a), FnArg::Typed(b)) = (rest[0], rest[1]) else {
            unreachable!("checked by is_fixed_signature")
        };
        let (Type::Reference(a), Type::Reference(b)) = (&*a.ty, &*b.ty) else {
            unreachable!("checked by is_fixed_signature")
        };
        match &sig.output {
            ReturnType::Type(_, ty) if result_ok_is_unit(ty) => {}
            other => {
                let span = match other {
                    ReturnType::Type(_, ty) => ty.span(),
                    ReturnType::Default => sig.ident.span(),
                };
                return Err(err(
                    span,
                    format!(
                        "`{ident}` takes a request struct and writes a response struct, so it \
                         returns `Result<(), Status>`"
                    ),
                ));
            }
        }
        ((*a.elem).clone(), (*b.elem).clone())
    } else {
        let request = match (rest.first(), rest.get(1)) {
            (Some(FnArg::Typed(t)), None) => {
                if !matches!(*t.pat, Pat::Ident(_) | Pat::Wild(_)) {
                    return Err(err(t.pat.span(), "use a plain name for the request argument"));
                }
                match &*t.ty {
                    Type::Reference(r) => {
                        return Err(err(
                            r.span(),
                            format!(
                                "`{ident}` must take its request by value (`request: {}`): \
                                 the message is decoded for this call and handed over (a \
                                 fixed-layout method takes `request: &Req, response: &mut Resp`)",
                                r.elem.to_token_stream()
                            ),
                        ))
                    }
                    Type::ImplTrait(i) => {
                        return Err(err(i.span(), "the request must be a concrete message type"))
                    }
                    t => t.clone(),
                }
            }
            (None, _) => {
                return Err(err(
                    sig.paren_token.span.join(),
                    format!("`{ident}` takes no request: add one argument, e.g. `request: MyRequest` (use an empty message if nothing is needed)"),
                ))
            }
            (Some(_), Some(extra)) => {
                return Err(err(
                    extra.span(),
                    format!("`{ident}` takes more than one argument; a method takes exactly one request message (or, fixed-layout, `request: &Req, response: &mut Resp`)"),
                ))
            }
            (Some(other), None) => return Err(err(other.span(), "unexpected receiver")),
        };
        let response = match &sig.output {
            ReturnType::Type(_, ty) => result_ok_type(ty).ok_or_else(|| {
                err(
                    ty.span(),
                    format!(
                        "`{ident}` must return `Result<Response, Status>` (any error type that \
                         converts into `proto2ffi::Status` works)"
                    ),
                )
            })?,
            ReturnType::Default => {
                return Err(err(
                    sig.ident.span(),
                    format!("`{ident}` returns nothing; return `Result<Response, Status>`"),
                ))
            }
        };
        (request, response)
    };

    finish_method(
        f,
        prefix,
        trait_ident,
        ident,
        request,
        response,
        MethodKind::of(fixed, asynchronous, false, false)
            .expect("an async fixed-layout method was refused above"),
        None,
        output,
    )
}

/// `async fn m(&self, requests: RequestStream<Req>) -> Result<Resp, E>`
/// (client streaming) or `async fn m(&self, requests: RequestStream<Req>,
/// sink: StreamSink<Item>) -> Result<(), E>` (bidi).
fn parse_streamed_requests(
    f: &mut TraitItemFn,
    prefix: &str,
    trait_ident: &Ident,
    rest: &[FnArg],
    request: Type,
) -> syn::Result<Method> {
    let sig = &f.sig;
    let ident = sig.ident.clone();
    if sig.asyncness.is_none() {
        return Err(err(
            sig.ident.span(),
            format!(
                "`{ident}` takes a `RequestStream`, so its requests are streamed: make it \
                 `async fn {ident}(&self, requests: RequestStream<Req>) -> Result<Resp, Status>`"
            ),
        ));
    }
    let stream_item = match rest.get(1) {
        None => None,
        Some(FnArg::Typed(t)) => Some(sink_item(&t.ty).ok_or_else(|| {
            err(
                t.ty.span(),
                format!(
                    "`{ident}` takes a request stream, then optionally a \
                     `StreamSink<Item>` for its responses (bidirectional), nothing else"
                ),
            )
        })?),
        Some(other) => return Err(err(other.span(), "unexpected receiver")),
    };
    if let Some(extra) = rest.get(2) {
        return Err(err(
            extra.span(),
            format!("`{ident}` takes a request stream and a sink, nothing more"),
        ));
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => (**ty).clone(),
        ReturnType::Default => syn::parse_quote!(()),
    };
    let span = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => sig.ident.span(),
    };
    let response = if stream_item.is_some() {
        if !matches!(&sig.output, ReturnType::Type(_, ty) if result_ok_is_unit(ty)) {
            return Err(err(
                span,
                format!(
                    "`{ident}` streams its responses through the sink, so it returns \
                     `Result<(), Status>` (the stream's final status)"
                ),
            ));
        }
        syn::parse_quote!(())
    } else {
        match &sig.output {
            ReturnType::Type(_, ty) => result_ok_type(ty),
            ReturnType::Default => None,
        }
        .ok_or_else(|| {
            err(
                span,
                format!(
                    "`{ident}` must return `Result<Response, Status>`: the one response to \
                     its stream of requests"
                ),
            )
        })?
    };
    finish_method(
        f,
        prefix,
        trait_ident,
        ident,
        request,
        response,
        if stream_item.is_some() {
            MethodKind::Bidi
        } else {
            MethodKind::ClientStream
        },
        stream_item,
        output,
    )
}

/// The method's options (from `#[proto2ffi(...)]`, removed from the
/// output) and names.
#[allow(clippy::too_many_arguments)]
fn finish_method(
    f: &mut TraitItemFn,
    prefix: &str,
    trait_ident: &Ident,
    ident: Ident,
    request: Type,
    response: Type,
    kind: MethodKind,
    stream_item: Option<Type>,
    output: Type,
) -> syn::Result<Method> {
    debug_assert_eq!(stream_item.is_some(), kind.streams_responses());
    let mut common = Common::default();
    let (mut key, mut key_rate, mut key_burst, mut key_capacity) = (None, None, None, None);
    let mut request_shape = None;
    let mut key_span = Span::call_site();
    let mut kept = Vec::new();
    for attr in f.attrs.drain(..) {
        if !attr.path().is_ident("proto2ffi") {
            kept.push(attr);
            continue;
        }
        let list = attr.meta.require_list()?;
        for arg in args::parse(list.tokens.clone())? {
            if common.take(&arg)? {
                continue;
            }
            match arg.key.as_str() {
                "key" => {
                    key_span = arg.value.span();
                    key = Some(syn::parse_str::<Ident>(&args::string(&arg)?).map_err(|_| {
                        err(
                            arg.value.span(),
                            "`key` names a field of the request, e.g. `key = \"client_id\"`",
                        )
                    })?);
                }
                "key_rate_per_second" => key_rate = Some(args::positive(&arg)?),
                "key_burst" => key_burst = Some((nonzero(&arg)?, arg.key_span)),
                "key_capacity" => key_capacity = Some(nonzero(&arg)?),
                // The request's `proto2ffi::__private::shape::Shape` static (emitted by
                // proto2ffi-build) for the decode budget.
                "request_shape" => request_shape = Some(args::path(&arg)?),
                _ => return Err(args::unknown(&arg, METHOD_ARGS)),
            }
        }
    }
    f.attrs = kept;
    if key.is_some() != key_rate.is_some() {
        return Err(err(
            key_span,
            "a keyed rate limit needs both `key = \"field\"` and `key_rate_per_second = ...`",
        ));
    }
    let name = common
        .name
        .clone()
        .unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_string());
    // The proto name when given (generated code), else the Rust name.
    let mut symbol = symbols::method_symbol(prefix, &trait_ident.to_string(), &name);
    if kind.is_async() {
        symbol = symbols::start_symbol(&symbol);
    }
    Ok(Method {
        ident,
        name,
        symbol,
        request,
        response,
        common,
        key,
        key_rate,
        key_burst,
        key_capacity,
        key_span,
        request_shape,
        kind,
        stream_item,
        output,
    })
}

/// `StreamSink<Item>` (any path ending in `StreamSink`) → `Item`.
fn sink_item(ty: &Type) -> Option<Type> {
    first_type_arg(ty, "StreamSink").cloned()
}

/// `request: &Req, response: &mut Resp` with plain names.
fn is_fixed_signature(a: &FnArg, b: &FnArg) -> bool {
    let (FnArg::Typed(a), FnArg::Typed(b)) = (a, b) else {
        return false;
    };
    let plain = |p: &Pat| matches!(p, Pat::Ident(_) | Pat::Wild(_));
    matches!((&*a.ty, &*b.ty), (Type::Reference(x), Type::Reference(y))
        if x.mutability.is_none() && y.mutability.is_some())
        && plain(&a.pat)
        && plain(&b.pat)
}

/// The first type argument of a path type whose last segment is `name`
/// (`Result<T, E>` → `T`, `proto2ffi::StreamSink<T>` → `T`).
fn first_type_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}

/// `Result<(), E>`.
fn result_ok_is_unit(ty: &Type) -> bool {
    matches!(first_type_arg(ty, "Result"), Some(Type::Tuple(t)) if t.elems.is_empty())
}

/// `Result<T, E>` / `Result<T>` (any path ending in `Result`) → `T`.
fn result_ok_type(ty: &Type) -> Option<Type> {
    match first_type_arg(ty, "Result")? {
        Type::Reference(_) => None,
        t => Some(t.clone()),
    }
}

fn emit(
    item: &ItemTrait,
    krate: &syn::Path,
    names: &Names,
    common: &Common,
    methods: &[Method],
    implementation: Option<&Type>,
) -> syn::Result<TokenStream> {
    let (prefix, service_name, fingerprint) = (names.prefix, names.service, names.fingerprint);
    let vis = &item.vis;
    let trait_ident = &item.ident;
    let any_async = methods.iter().any(|m| m.kind.is_async());
    let erased = format_ident!("__Proto2ffi{}Dyn", trait_ident);
    // A trait with async methods is not dyn-compatible (their futures are
    // `impl Future` types): the registered implementation is stored behind
    // a companion trait that boxes those futures.
    // With `implementation = Type` the entry points call that type's
    // methods directly (static dispatch: the handler can be inlined into
    // the guard); otherwise any registered implementation, behind a trait
    // object.
    let impl_ty = match (implementation, any_async) {
        (Some(path), _) => quote!(#path),
        (None, true) => quote!(dyn #erased),
        (None, false) => quote!((dyn #trait_ident + ::core::marker::Send + ::core::marker::Sync)),
    };
    let item = &desugar_async(item);
    let erased_trait = if any_async {
        erased_trait(item, &erased, krate, methods)
    } else {
        TokenStream::new()
    };
    let snake = symbols::snake(&trait_ident.to_string());
    let upper = snake.to_uppercase();
    let def = format_ident!("{}_DEF", upper);
    let methods_static = format_ident!("__PROTO2FFI_{}_METHODS", upper);
    // The counters live in their own all-zero static: it goes to `.bss`,
    // costing no file size (in the definitions' `.data` they were 16 KiB a
    // method).
    let metrics_static = format_ident!("__PROTO2FFI_{}_METRICS", upper);
    let slot = format_ident!("__PROTO2FFI_{}_IMPL", upper);
    let register = format_ident!("register_{}", snake);
    // The registered implementation: the named type itself, or a boxed
    // trait object.
    let (slot_ty, slot_get, register_arg, stored) = match implementation {
        Some(path) => (
            quote!(#path),
            quote!(#slot.get()),
            quote!(#path),
            quote!(implementation),
        ),
        None => (
            quote!(::std::boxed::Box<#impl_ty>),
            quote!(#slot.get().map(|i| &**i)),
            quote!(impl #trait_ident + ::core::marker::Send + ::core::marker::Sync + 'static),
            quote!(::std::boxed::Box::new(implementation)),
        ),
    };
    let fingerprint_fn = format_ident!("{}", symbols::fingerprint_symbol(prefix, &snake));
    let service_rate = common.rate_tokens(krate)?;
    let (svc_req, svc_resp) = (common.max_request as usize, common.max_response as usize);
    let n = methods.len();
    let prefix_msg = format!(
        "proto2ffi: the prefix of #[proto2ffi::service] on `{trait_ident}` (\"{prefix}\") differs \
         from the prefix given to proto2ffi::library!; use the same `prefix = \"...\"` in both"
    );
    let fp = Literal::u64_suffixed(fingerprint);
    // The crate's `__proto2ffi_library` (from `proto2ffi::library!` at the
    // crate root) through a glob import in an inner block, which shadows the
    // runtime's fallback imported in the outer block: without `library!` the
    // path still resolves, and `assert_library` then says what is missing
    // instead of rustc's "could not find `__proto2ffi_library`".
    let in_library = |inner: TokenStream| {
        quote! {{
            #[allow(unused_imports)]
            use #krate::__private::fallback::__proto2ffi_library;
            {
                #[allow(unused_imports)]
                use crate::*;
                #inner
            }
        }}
    };
    let library_ref = in_library(quote!(&__proto2ffi_library::LIBRARY));
    let library_check = in_library(quote! {
        #krate::__private::assert_library(&__proto2ffi_library::MARKER);
        let prefix = __proto2ffi_library::PREFIX;
        if !prefix.is_empty() && !#krate::__private::str_eq(prefix, #prefix) {
            ::core::panic!(#prefix_msg);
        }
    });

    let cx = ServiceCtx {
        krate,
        def: &def,
        methods_static: &methods_static,
        slot_get: &slot_get,
        impl_ty: &impl_ty,
        service_name,
        prefix,
        any_async,
    };
    let mut defs = Vec::new();
    let mut entries = Vec::new();
    for (i, m) in methods.iter().enumerate() {
        defs.push(method_def(m, i, krate, &metrics_static)?);
        entries.extend(method_entries(m, i, &cx)?);
    }

    let def_doc = format!(
        " Static definition of `{service_name}`: limits, rate limits and metrics, adjustable \
         at run time (e.g. `{def}.limits.set_max_request_bytes(..)`)."
    );
    let named = implementation.map_or(String::new(), |ty| {
        format!(
            " The entry points call `{}` directly (named with `implementation`), so it is \
             the only type accepted.",
            quote!(#ty)
                .to_string()
                .replace(" :: ", "::")
                .replace("& ", "&")
                .replace(" < ", "<")
                .replace(" >", ">")
        )
    });
    let register_doc = format!(
        " Registers the implementation of `{trait_ident}` that serves its C entry points. \
         Call it once, typically from the init function given to `proto2ffi::library!`; \
         a second call returns `ALREADY_EXISTS`.{named}"
    );
    // The named implementation must implement the trait (said at its path).
    let implements = implementation.map(|path| {
        quote_spanned! {path.span()=>
            const _: () = {
                fn implements<T: #trait_ident + ::core::marker::Send + ::core::marker::Sync + 'static>() {}
                let _ = implements::<#path>;
            };
        }
    });
    let already = format!("an implementation of {service_name} is already registered");
    let fp_doc =
        format!(" Schema fingerprint of `{service_name}` (`uint64_t {fingerprint_fn}(void)`).");

    Ok(quote! {
        #item

        #erased_trait

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #methods_static: [#krate::__private::MethodDef; #n] = [#(#defs),*];

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #metrics_static: [#krate::__private::MethodMetrics; #n] =
            [const { #krate::__private::MethodMetrics::new() }; #n];

        #[doc = #def_doc]
        #vis static #def: #krate::__private::ServiceDef = #krate::__private::ServiceDef::new(
            #service_name,
            #fp,
            #library_ref,
            #krate::Limits::new(#svc_req, #svc_resp),
            #service_rate,
            &#methods_static,
        );

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #slot: ::std::sync::OnceLock<#slot_ty> =
            ::std::sync::OnceLock::new();

        #[doc = #register_doc]
        #vis fn #register(
            implementation: #register_arg,
        ) -> ::core::result::Result<(), #krate::Status> {
            #def.prepare();
            #slot
                .set(#stored)
                .map_err(|_| #krate::Status::already_exists(#already))?;
            #def.register();
            ::core::result::Result::Ok(())
        }

        #[doc = #fp_doc]
        #[unsafe(no_mangle)]
        pub extern "C" fn #fingerprint_fn() -> u64 {
            #fp
        }

        const _: () = #library_check;

        #implements

        #(#entries)*
    })
}

/// The trait as users implement it: each `async fn m(..) -> R;` becomes
/// `fn m(..) -> impl Future<Output = R> + Send;` (implementations may still
/// write `async fn`), so the futures can run on a multi-thread executor.
fn desugar_async(item: &ItemTrait) -> ItemTrait {
    let mut item = item.clone();
    for trait_item in &mut item.items {
        let TraitItem::Fn(f) = trait_item else {
            continue;
        };
        if f.sig.asyncness.take().is_none() {
            continue;
        }
        let output = match &f.sig.output {
            ReturnType::Type(_, ty) => quote!(#ty),
            ReturnType::Default => quote!(()),
        };
        f.sig.output = syn::parse_quote! {
            -> impl ::core::future::Future<Output = #output> + ::core::marker::Send
        };
        if let Some(body) = f.default.take() {
            f.default = Some(syn::parse_quote!({ async move #body }));
        }
    }
    item
}

/// The dyn-compatible companion of a trait with async methods: the same
/// methods, async ones returning boxed futures, implemented for every
/// implementation of the trait.
fn erased_trait(
    item: &ItemTrait,
    erased: &Ident,
    krate: &syn::Path,
    methods: &[Method],
) -> TokenStream {
    let trait_ident = &item.ident;
    let vis = &item.vis;
    let mut decls = Vec::new();
    let mut impls = Vec::new();
    for m in methods {
        let ident = &m.ident;
        let erased_ident = erased_method(ident);
        let (req, out) = (&m.request, &m.output);
        let boxed = quote! {
            ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = #out> + ::core::marker::Send + 'a>>
        };
        if m.kind.streams_requests() {
            let (params, args) = match &m.stream_item {
                Some(item) => (
                    quote!(requests: #krate::RequestStream<#req>, sink: #krate::StreamSink<#item>),
                    quote!(requests, sink),
                ),
                None => (
                    quote!(requests: #krate::RequestStream<#req>),
                    quote!(requests),
                ),
            };
            decls.push(quote! {
                fn #erased_ident<'a>(&'a self, #params) -> #boxed;
            });
            impls.push(quote! {
                fn #erased_ident<'a>(&'a self, #params) -> #boxed {
                    ::std::boxed::Box::pin(<T as #trait_ident>::#ident(self, #args))
                }
            });
        } else if let Some(item) = &m.stream_item {
            decls.push(quote! {
                fn #erased_ident<'a>(&'a self, request: #req, sink: #krate::StreamSink<#item>)
                    -> ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = #out> + ::core::marker::Send + 'a>>;
            });
            impls.push(quote! {
                fn #erased_ident<'a>(&'a self, request: #req, sink: #krate::StreamSink<#item>)
                    -> ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = #out> + ::core::marker::Send + 'a>> {
                    ::std::boxed::Box::pin(<T as #trait_ident>::#ident(self, request, sink))
                }
            });
        } else if m.kind.is_async() {
            decls.push(quote! {
                fn #erased_ident<'a>(&'a self, request: #req)
                    -> ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = #out> + ::core::marker::Send + 'a>>;
            });
            impls.push(quote! {
                fn #erased_ident<'a>(&'a self, request: #req)
                    -> ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = #out> + ::core::marker::Send + 'a>> {
                    ::std::boxed::Box::pin(<T as #trait_ident>::#ident(self, request))
                }
            });
        } else if m.kind.is_fixed() {
            let resp = &m.response;
            decls.push(quote! {
                fn #erased_ident(&self, request: &#req, response: &mut #resp) -> #out;
            });
            impls.push(quote! {
                fn #erased_ident(&self, request: &#req, response: &mut #resp) -> #out {
                    <T as #trait_ident>::#ident(self, request, response)
                }
            });
        } else {
            decls.push(quote! {
                fn #erased_ident(&self, request: #req) -> #out;
            });
            impls.push(quote! {
                fn #erased_ident(&self, request: #req) -> #out {
                    <T as #trait_ident>::#ident(self, request)
                }
            });
        }
    }
    let doc = format!(" `{trait_ident}` with boxed futures, for the registered implementation.");
    quote! {
        #[doc = #doc]
        #[doc(hidden)]
        #vis trait #erased: ::core::marker::Send + ::core::marker::Sync {
            #(#decls)*
        }

        impl<T: #trait_ident + ::core::marker::Send + ::core::marker::Sync> #erased for T {
            #(#impls)*
        }
    }
}

/// A method's name in the companion trait: distinct, so that calling
/// `self.method()` in an implementation is never ambiguous.
fn erased_method(ident: &Ident) -> Ident {
    format_ident!("__proto2ffi_{}", ident.to_string().trim_start_matches("r#"))
}

/// What every entry point of one service is emitted against.
#[derive(Clone, Copy)]
struct ServiceCtx<'a> {
    krate: &'a syn::Path,
    /// The service's `…_DEF` static.
    def: &'a Ident,
    /// The static array of its method definitions.
    methods_static: &'a Ident,
    /// The registered implementation, if any (`Option<&'static Impl>`).
    slot_get: &'a TokenStream,
    /// The type entry points call the implementation through.
    impl_ty: &'a TokenStream,
    service_name: &'a str,
    prefix: &'a str,
    /// Whether the trait has async methods (then the implementation is
    /// reached through the companion trait's boxed futures).
    any_async: bool,
}

/// Method `i`'s definition in the service's static array: its name,
/// symbol, limits, rates and counters.
fn method_def(
    m: &Method,
    i: usize,
    krate: &syn::Path,
    metrics_static: &Ident,
) -> syn::Result<TokenStream> {
    let name = &m.name;
    let symbol = &m.symbol;
    let (req_max, resp_max) = (
        m.common.max_request as usize,
        m.common.max_response as usize,
    );
    let rate = m.common.rate_tokens(krate)?;
    let keyed = match (&m.key, m.key_rate) {
        (Some(_), Some(r)) => {
            let rate = rate_tokens(krate, Some(r), m.key_burst, "key_rate_per_second")?;
            let cap = match m.key_capacity {
                Some(c) => {
                    let c = c as usize;
                    quote!(#c)
                }
                None => quote!(#krate::__private::DEFAULT_KEY_CAPACITY),
            };
            quote!(#krate::__private::keyed(#rate, #cap))
        }
        _ => quote!(::core::option::Option::None),
    };
    let shape = m
        .request_shape
        .as_ref()
        .map(|p| quote!(.with_request_shape(&#p)));
    let fixed_sizes = m.kind.is_fixed().then(|| {
        let (req, resp) = (&m.request, &m.response);
        quote!(.with_fixed_sizes(
            ::core::mem::size_of::<#req>(),
            ::core::mem::size_of::<#resp>()
        ))
    });
    Ok(quote! {
        #krate::__private::MethodDef::new(
            #name,
            #symbol,
            #krate::Limits::new(#req_max, #resp_max),
            #rate,
            #keyed,
            &#metrics_static[#i],
        )#shape #fixed_sizes
    })
}

/// Method `i`'s `extern "C"` entry points: the struct-pointer call of a
/// fixed-layout method, the start function of an async or streaming one,
/// and for a sync protobuf method both its call and its start function.
fn method_entries(m: &Method, i: usize, cx: &ServiceCtx<'_>) -> syn::Result<Vec<TokenStream>> {
    let ServiceCtx {
        krate,
        def,
        methods_static,
        slot_get,
        impl_ty,
        service_name,
        prefix,
        any_async,
    } = *cx;
    let (name, symbol) = (&m.name, &m.symbol);
    let ident = &m.ident;
    let req = &m.request;
    let key_fn = match &m.key {
        Some(field) => quote_spanned! {m.key_span=>
            |request: &#req, limiter: &#krate::__private::KeyedRateLimiter, now: u64| {
                limiter.check(&request.#field, now)
            }
        },
        None => quote! {
            |_: &#req, _: &#krate::__private::KeyedRateLimiter, _: u64| ::core::result::Result::Ok(())
        },
    };
    let sym_ident = format_ident!("{}", symbol);
    let resolve = quote! {
        || {
            if let ::core::option::Option::Some(i) = #slot_get {
                return ::core::option::Option::Some(i);
            }
            let _ = #def.library.ensure_init();
            #slot_get
        }
    };
    if m.kind.is_fixed() {
        let resp = &m.response;
        if m.key.is_some() {
            return Err(err(
                m.key_span,
                "a fixed-layout method has no per-client rate limit (`key`)",
            ));
        }
        let doc = format!(
            " C entry point of `{service_name}.{name}` (fixed-layout): `int32_t \
             {symbol}(const Req *request, Resp *response, {prefix}_buffer *error)`.\n\n \
             # Safety\n `request` and `response` are NULL or point at valid, separate \
             structs nothing else accesses during the call (array references inside them \
             at storage as `ArrayRef` requires); `error` is NULL or points at a writable \
             buffer struct."
        );
        let call = if any_async {
            erased_method(ident)
        } else {
            ident.clone()
        };
        let handler = quote_spanned! {req.span()=>
            |implementation: &'static #impl_ty, request: &#req, response: &mut #resp| {
                implementation.#call(request, response)
            }
        };
        return Ok(vec![quote! {
            #[doc = #doc]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn #sym_ident(
                request: *const #req,
                response: *mut #resp,
                error: *mut #krate::Buffer,
            ) -> i32 {
                // SAFETY: the caller upholds the contract documented
                // above, which is exactly `fixed`'s.
                unsafe {
                    #krate::__private::fixed(
                        &#def,
                        &#methods_static[#i],
                        || #slot_get,
                        #resolve,
                        #handler,
                        request,
                        response,
                        error,
                    )
                }
            }
        }]);
    }
    if m.kind.is_async() {
        return Ok(vec![start_entry(m, i, cx, &resolve, &key_fn)]);
    }
    let doc = format!(
        " C entry point of `{service_name}.{name}`: `int32_t {symbol}(const uint8_t *request, \
         size_t request_len, {prefix}_buffer *out)`.\n\n # Safety\n `request` is NULL (only \
         with `request_len == 0`) or points at `request_len` readable bytes; `out` points at \
         a writable buffer struct."
    );
    let call = if any_async {
        erased_method(ident)
    } else {
        ident.clone()
    };
    let handler = quote_spanned! {req.span()=>
        |implementation: &'static #impl_ty, request: #req| {
            implementation.#call(request)
        }
    };
    // The same handler awaited by its caller: `{symbol}_start`, run on
    // the library's worker threads.
    Ok(vec![
        start_entry(m, i, cx, &resolve, &key_fn),
        quote! {
            #[doc = #doc]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn #sym_ident(
                request: *const u8,
                request_len: usize,
                out: *mut #krate::Buffer,
            ) -> i32 {
                // SAFETY: the caller upholds the contract documented above,
                // which is exactly `unary`'s.
                unsafe {
                    #krate::__private::unary(
                        &#def,
                        &#methods_static[#i],
                        #resolve,
                        #key_fn,
                        #handler,
                        request,
                        request_len,
                        out,
                    )
                }
            }
        },
    ])
}

/// The `*_start` entry point of an async or streaming method: with the
/// request (async, server-streaming) or without (client-streaming, bidi:
/// the caller sends requests with `stream_send`).
fn start_entry(
    m: &Method,
    index: usize,
    cx: &ServiceCtx<'_>,
    resolve: &TokenStream,
    key_fn: &TokenStream,
) -> TokenStream {
    let ServiceCtx {
        krate,
        def,
        methods_static,
        impl_ty,
        service_name,
        prefix,
        any_async,
        ..
    } = *cx;
    let (req, name) = (&m.request, &m.name);
    // An async method's symbol is its start function; a sync method's
    // start function is named after its own entry point.
    let symbol = &if m.kind.is_async() {
        m.symbol.clone()
    } else {
        symbols::start_symbol(&m.symbol)
    };
    let sym_ident = format_ident!("{}", symbol);
    let ident = &if any_async {
        erased_method(&m.ident)
    } else {
        m.ident.clone()
    };
    let cb = symbols::callback_type(prefix);
    let implementation = quote!(implementation: &'static #impl_ty);
    let requests = quote!(requests: #krate::RequestStream<#req>);
    let sink = |item: &Type| quote!(sink: #krate::StreamSink<#item>);
    // What the start function is, the handler's arguments and how it calls
    // the trait method.
    let item = || {
        let item = m.stream_item.as_ref();
        item.expect("a kind that streams responses has an item type")
    };
    let (kind, start, args, call) = match m.kind {
        MethodKind::Unary => (
            "sync, run on the library's worker threads",
            quote!(start_blocking),
            quote!(request: #req),
            quote!(request),
        ),
        MethodKind::AsyncUnary => (
            "async",
            quote!(start_unary),
            quote!(request: #req),
            quote!(request),
        ),
        MethodKind::ServerStream => {
            let sink = sink(item());
            (
                "server-streaming",
                quote!(start_stream),
                quote!(request: #req, #sink),
                quote!(request, sink),
            )
        }
        MethodKind::ClientStream => (
            "client-streaming",
            quote!(start_client_stream),
            requests,
            quote!(requests),
        ),
        MethodKind::Bidi => {
            let sink = sink(item());
            (
                "bidirectional",
                quote!(start_bidi),
                quote!(#requests, #sink),
                quote!(requests, sink),
            )
        }
        MethodKind::Fixed => unreachable!("a fixed-layout method has no start function"),
    };
    let handler = quote_spanned! {req.span()=>
        |#implementation, #args| implementation.#ident(#call)
    };
    let (doc, params, forwarded) = if m.kind.streams_requests() {
        (
            format!(
                " Starts `{service_name}.{name}` ({kind}): `uint64_t {symbol}(uint32_t timeout_ms, \
                 {cb} callback, void *context)`; returns the call id (0 when `callback` is NULL). \
                 Send the requests with `{send}` and end them with `{close}`. The callback runs \
                 exactly once with the final status.\n\n # Safety\n `callback` may be called with \
                 `context` from any thread until its final call.",
                send = symbols::library_symbol(prefix, LibraryFn::StreamSend),
                close = symbols::library_symbol(prefix, LibraryFn::StreamCloseSend),
            ),
            quote!(),
            quote!(),
        )
    } else {
        (
            format!(
                " Starts `{service_name}.{name}` ({kind}): `uint64_t {symbol}(const uint8_t *request, \
                 size_t request_len, uint32_t timeout_ms, {cb} callback, void *context)`; returns the \
                 call id (0 when `callback` is NULL). The callback runs exactly once with the final \
                 status.\n\n # Safety\n `request` is NULL (only with `request_len == 0`) or points at \
                 `request_len` readable bytes; `callback` may be called with `context` from any \
                 thread until its final call."
            ),
            quote!(request: *const u8, request_len: usize,),
            quote!(request, request_len,),
        )
    };
    quote! {
        #[doc = #doc]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #sym_ident(
            #params
            timeout_ms: u32,
            callback: ::core::option::Option<#krate::__private::CallbackFn>,
            context: *mut ::core::ffi::c_void,
        ) -> u64 {
            // SAFETY: the caller upholds the contract documented above,
            // which is exactly the start function's.
            unsafe {
                #krate::__private::#start(
                    &#def,
                    &#methods_static[#index],
                    #resolve,
                    #key_fn,
                    #handler,
                    #forwarded
                    timeout_ms,
                    callback,
                    context,
                )
            }
        }
    }
}

/// The item with `#[proto2ffi(...)]` method attributes removed (for error output).
pub fn strip_helper_attributes(item: TokenStream) -> TokenStream {
    match syn::parse2::<ItemTrait>(item.clone()) {
        Ok(mut t) => {
            for i in &mut t.items {
                if let TraitItem::Fn(f) = i {
                    f.attrs.retain(|a| !a.path().is_ident("proto2ffi"));
                }
            }
            t.into_token_stream()
        }
        Err(_) => item,
    }
}
