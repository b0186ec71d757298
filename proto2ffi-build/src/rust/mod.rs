//! Rust output: one `#[proto2ffi::service]` trait per proto service, written
//! next to the prost messages of its package by a prost `ServiceGenerator`.

pub mod fixed;
pub mod packages;
pub mod shape;

use crate::model::{Library, Method, MethodConfig, Service};
use std::fmt::Write as _;

/// The `ServiceGenerator` handed to prost-build.
pub struct ServiceTraits {
    library: Library,
    /// Request shapes already written, by (package, message): services of
    /// one package share a module, so a request type used by two of them
    /// gets one static.
    shapes: std::collections::BTreeSet<(String, String)>,
    /// Each message's shape row, computed once.
    shape_rows: crate::rust::shape::Shapes,
    /// Message shapes already written, by package (one module each).
    message_shapes: std::collections::HashMap<String, std::collections::HashSet<String>>,
    /// Implementing Rust types named with `Builder::implementation`, by
    /// service full name.
    implementations: std::collections::BTreeMap<String, String>,
}

impl ServiceTraits {
    /// A generator for a checked model.
    pub fn new(
        library: Library,
        implementations: std::collections::BTreeMap<String, String>,
    ) -> ServiceTraits {
        ServiceTraits {
            library,
            shapes: std::collections::BTreeSet::new(),
            shape_rows: crate::rust::shape::Shapes::default(),
            message_shapes: std::collections::HashMap::new(),
            implementations,
        }
    }
}

fn float(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

fn method_args(m: &Method) -> String {
    let c: &MethodConfig = &m.config;
    let mut args = vec![format!("name = {:?}", m.name)];
    if c.max_request_bytes != 0 {
        args.push(format!("max_request_bytes = {}", c.max_request_bytes));
    }
    if c.max_response_bytes != 0 {
        args.push(format!("max_response_bytes = {}", c.max_response_bytes));
    }
    if let Some(r) = c.rate_per_second {
        args.push(format!("rate_per_second = {}", float(r)));
        if let Some(b) = c.burst {
            args.push(format!("burst = {b}"));
        }
    }
    if let (Some(k), Some(r)) = (&c.key, c.key_rate_per_second) {
        args.push(format!(
            "key = {:?}",
            heck::ToSnakeCase::to_snake_case(k.as_str())
        ));
        args.push(format!("key_rate_per_second = {}", float(r)));
        if let Some(b) = c.key_burst {
            args.push(format!("key_burst = {b}"));
        }
        if let Some(cap) = c.key_capacity {
            args.push(format!("key_capacity = {cap}"));
        }
    }
    args.join(", ")
}

fn service_args(library: &Library, s: &Service, implementation: Option<&String>) -> String {
    let mut args = vec![
        format!("prefix = {:?}", library.prefix),
        format!("name = {:?}", s.full_name),
        format!("fingerprint = {:#018x}", s.fingerprint),
    ];
    if let Some(path) = implementation {
        args.push(format!("implementation = {:?}", path.trim()));
    }
    if s.config.max_request_bytes != 0 {
        args.push(format!(
            "max_request_bytes = {}",
            s.config.max_request_bytes
        ));
    }
    if s.config.max_response_bytes != 0 {
        args.push(format!(
            "max_response_bytes = {}",
            s.config.max_response_bytes
        ));
    }
    if let Some(r) = s.config.rate_per_second {
        args.push(format!("rate_per_second = {}", float(r)));
        if let Some(b) = s.config.burst {
            args.push(format!("burst = {b}"));
        }
    }
    args.join(", ")
}

impl prost_build::ServiceGenerator for ServiceTraits {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        let full_name = if service.package.is_empty() {
            service.proto_name.clone()
        } else {
            format!("{}.{}", service.package, service.proto_name)
        };
        if let Some(host) = self.library.hosts.iter().find(|h| h.full_name == full_name) {
            host_client(&self.library.prefix, host, &service, buf);
            return;
        }
        let Some(model) = self.library.service(&full_name) else {
            // A service of an imported file that proto2ffi does not export.
            return;
        };
        // The request shapes for the decode budget (one per request type).
        for m in model.methods.iter().filter(|m| !m.kind.is_fixed()) {
            let Some(desc) = self.library.pool.get_message_by_name(&m.input) else {
                continue;
            };
            if desc.full_name() == "google.protobuf.Empty"
                || !self
                    .shapes
                    .insert((service.package.clone(), desc.full_name().to_string()))
            {
                continue;
            }
            let emitted = self
                .message_shapes
                .entry(service.package.clone())
                .or_default();
            buf.push_str(&self.shape_rows.render(&desc, &self.library.pool, emitted));
        }
        service.comments.append_with_indent(0, buf);
        if !service.comments.leading.is_empty() {
            buf.push_str("///\n");
        }
        let _ = writeln!(
            buf,
            "/// Implement this trait and register it with [`register_{}`]; \
             each method is exported as a C function (see the generated header).",
            proto2ffi_core::symbols::snake(&service.name)
        );
        let _ = writeln!(
            buf,
            "#[::proto2ffi::service({})]",
            service_args(&self.library, model, self.implementations.get(&full_name))
        );
        let _ = writeln!(buf, "pub trait {} {{", service.name);
        for (method, m) in service.methods.iter().zip(&model.methods) {
            method.comments.append_with_indent(1, buf);
            let mut args = method_args(m);
            if m.kind.is_fixed() {
                let _ = writeln!(buf, "    #[proto2ffi({args})]");
                let path = |name: &str| {
                    crate::rust::fixed::fixed_path(&self.library.fixed, name, &service.package, 0)
                };
                let _ = writeln!(
                    buf,
                    "    fn {}(&self, request: &{}, response: &mut {}) -> ::core::result::Result<(), ::proto2ffi::Status>;",
                    m.rust_name,
                    path(&m.input),
                    path(&m.output)
                );
                continue;
            }
            if m.input != "google.protobuf.Empty" {
                let _ = write!(
                    args,
                    ", request_shape = {}",
                    crate::rust::shape::static_name(&m.input)
                );
            }
            let _ = writeln!(buf, "    #[proto2ffi({args})]");
            if m.kind.streams_requests() {
                let _ = if m.kind.streams_responses() {
                    writeln!(
                        buf,
                        "    async fn {}(&self, requests: ::proto2ffi::RequestStream<{}>, sink: ::proto2ffi::StreamSink<{}>) -> ::core::result::Result<(), ::proto2ffi::Status>;",
                        m.rust_name, method.input_type, method.output_type
                    )
                } else {
                    writeln!(
                        buf,
                        "    async fn {}(&self, requests: ::proto2ffi::RequestStream<{}>) -> ::core::result::Result<{}, ::proto2ffi::Status>;",
                        m.rust_name, method.input_type, method.output_type
                    )
                };
                continue;
            }
            if m.kind.streams_responses() {
                let _ = writeln!(
                    buf,
                    "    async fn {}(&self, request: {}, sink: ::proto2ffi::StreamSink<{}>) -> ::core::result::Result<(), ::proto2ffi::Status>;",
                    m.rust_name, method.input_type, method.output_type
                );
                continue;
            }
            let _ = writeln!(
                buf,
                "    {}fn {}(&self, request: {}) -> ::core::result::Result<{}, ::proto2ffi::Status>;",
                if m.kind.is_async() { "async " } else { "" },
                m.rust_name,
                method.input_type,
                method.output_type
            );
        }
        buf.push_str("}\n");
    }

    fn finalize_package(&mut self, package: &str, buf: &mut String) {
        buf.push_str(&crate::rust::fixed::module(
            &self.library.fixed,
            &self.library.pool,
            &self.library.docs,
            package,
        ));
    }
}

/// The Rust client of a service the host implements: a `Copy` handle with
/// an async, a timed and a blocking method per RPC, the statics the runtime
/// keeps its calls and metrics in, and the bind and fingerprint exports.
fn host_client(prefix: &str, s: &Service, service: &prost_build::Service, buf: &mut String) {
    let snake = proto2ffi_core::symbols::snake(&s.name);
    let upper = snake.to_uppercase();
    let client = format!("{}Client", service.name);
    let def = format!("__PROTO2FFI_HOST_{upper}");
    let n = s.methods.len();
    let bind = s.host_bind.as_deref().expect("a host service");
    let fn_name = crate::schema::options::rust_ident(&snake);
    let limits = |c: u64, r: u64| format!("::proto2ffi::Limits::new({c}, {r})");
    service.comments.append_with_indent(0, buf);
    if !service.comments.leading.is_empty() {
        buf.push_str("///\n");
    }
    let _ = writeln!(
        buf,
        "/// Implemented by the host (`implemented_by: HOST`): Rust calls it through this \
         handle, from any thread or async handler, once the host bound an implementation \
         with `{bind}` (Dart: the generated `bind{name}`). Get it with [`{fn_name}`]; it is \
         `Copy`.\n#[derive(Clone, Copy, Debug)]\npub struct {client} {{\n    \
         service: &'static ::proto2ffi::__private::HostServiceDef,\n}}\n",
        name = service.name,
    );
    let _ = writeln!(
        buf,
        "/// The host's implementation of `{full}` (see [`{client}`]).\npub fn {fn_name}() -> \
         {client} {{\n    {client} {{ service: &{def} }}\n}}\n",
        full = s.full_name
    );
    let _ = writeln!(
        buf,
        "impl {client} {{\n    /// Whether the host has bound an implementation now.\n    \
         pub fn is_bound(&self) -> bool {{\n        self.service.is_bound()\n    }}"
    );
    for (i, (method, m)) in service.methods.iter().zip(&s.methods).enumerate() {
        let (req, resp) = (&method.input_type, &method.output_type);
        let name = &m.rust_name;
        let plain = name.trim_start_matches("r#").trim_end_matches('_');
        buf.push('\n');
        method.comments.append_with_indent(1, buf);
        if !method.comments.leading.is_empty() {
            buf.push_str("    ///\n");
        }
        let _ = writeln!(
            buf,
            "    /// The host's answer, or `UNAVAILABLE` when no implementation is bound, \
             `DEADLINE_EXCEEDED` after 30 s (or the current async call's deadline, if \
             sooner), or the status the host failed the call with. Dropping the future \
             cancels the call (the host is told).\n    pub fn {name}(&self, request: {req}) \
             -> ::proto2ffi::HostCall<{resp}> {{\n        self.service.call({i}, &request, \
             ::core::option::Option::None)\n    }}\n\n    /// `Self::{name}` with a \
             deadline of `timeout` (capped by the current async call's).\n    pub fn \
             {plain}_with_timeout(&self, request: {req}, timeout: ::core::time::Duration) -> \
             ::proto2ffi::HostCall<{resp}> {{\n        self.service.call({i}, &request, \
             ::core::option::Option::Some(timeout))\n    }}\n\n    /// `Self::{name}`, \
             waiting on this thread at most `timeout`. Fails at once with \
             `FAILED_PRECONDITION` on a thread that runs the host's implementation (it \
             would wait for itself). Do not call it on an async executor's thread.\n    \
             pub fn {plain}_blocking(&self, request: {req}, timeout: ::core::time::Duration) \
             -> ::core::result::Result<{resp}, ::proto2ffi::Status> {{\n        \
             self.service.call_blocking({i}, &request, timeout)\n    }}"
        );
    }
    buf.push_str("}\n\n");
    let methods: Vec<String> = s
        .methods
        .iter()
        .enumerate()
        .map(|(i, m)| {
            format!(
                "::proto2ffi::__private::HostMethodDef::new({:?}, {}, &{def}_METRICS[{i}])",
                m.name,
                limits(m.config.max_request_bytes, m.config.max_response_bytes)
            )
        })
        .collect();
    let _ = writeln!(
        buf,
        "#[doc(hidden)]\nstatic {def}_METRICS: [::proto2ffi::__private::MethodMetrics; {n}] = \
         [const {{ ::proto2ffi::__private::MethodMetrics::new() }}; {n}];\n#[doc(hidden)]\n\
         static {def}_METHODS: [::proto2ffi::__private::HostMethodDef; {n}] = [{}];",
        methods.join(", ")
    );
    // The library through the same shadowing as `#[proto2ffi::service]`:
    // without `proto2ffi::library!` the fallback resolves and
    // `assert_library` says what is missing.
    let in_library = |inner: &str| {
        format!(
            "{{\n    #[allow(unused_imports)]\n    use ::proto2ffi::__private::fallback::\
             __proto2ffi_library;\n    {{\n        #[allow(unused_imports)]\n        use \
             crate::*;\n        {inner}\n    }}\n}}"
        )
    };
    let _ = writeln!(
        buf,
        "#[doc(hidden)]\nstatic {def}: ::proto2ffi::__private::HostServiceDef = \
         ::proto2ffi::__private::HostServiceDef::new({:?}, {}, {bind:?}, {}, &{def}_METHODS);",
        s.full_name,
        in_library("&__proto2ffi_library::LIBRARY"),
        limits(s.config.max_request_bytes, s.config.max_response_bytes),
    );
    let prefix_msg = format!(
        "proto2ffi: the library was built with prefix \"{prefix}\" by proto2ffi-build, but \
         proto2ffi::library! has another; use the same prefix in both"
    );
    let _ = writeln!(
        buf,
        "const _: () = {};",
        in_library(&format!(
            "::proto2ffi::__private::assert_library(&__proto2ffi_library::MARKER);\n        \
             let prefix = __proto2ffi_library::PREFIX;\n        if !prefix.is_empty() && \
             !::proto2ffi::__private::str_eq(prefix, {prefix:?}) {{\n            \
             ::core::panic!({prefix_msg:?});\n        }}"
        ))
    );
    let _ = writeln!(
        buf,
        "/// `{fp}`: the schema fingerprint of `{full}`.\n#[unsafe(no_mangle)]\npub extern \
         \"C\" fn {fp}() -> u64 {{\n    {:#018x}\n}}\n",
        s.fingerprint,
        fp = s.fingerprint_symbol,
        full = s.full_name
    );
    let _ = writeln!(
        buf,
        "/// `{bind}`: {}\n///\n/// # Safety\n/// `callback` is NULL or callable with \
         `context` from any thread until `host_unbind` of the returned binding returns.\n\
         #[unsafe(no_mangle)]\npub unsafe extern \"C\" fn {bind}(callback: \
         ::core::option::Option<::proto2ffi::__private::HostFn>, context: *mut \
         ::core::ffi::c_void) -> u64 {{\n    // SAFETY: forwarded contract.\n    unsafe {{ \
         ::proto2ffi::__private::exports::host_bind(&{def}, callback, context) }}\n}}",
        proto2ffi_core::symbols::host_bind_doc(&s.full_name)
    );
}

#[cfg(test)]
mod tests {
    use super::float;

    #[test]
    fn floats_are_rust_literals() {
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(2.5), "2.5");
        assert_eq!(float(1e-7), "1e-7");
    }
}
