//! The schema model every output is written from: services, methods, their
//! options, symbols, fingerprints and doc comments, checked for everything
//! that would break a build later (streaming RPCs, symbol clashes, bad
//! rate-limit keys).

pub use crate::schema::options::rust_ident;
use crate::schema::options::{
    f64_field, option_message, string_field, u32_field, u64_field, Locations,
};
use crate::schema::{fingerprint, resolver};
use crate::Error;
use prost_reflect::{DescriptorPool, FileDescriptor, Kind, MessageDescriptor, Value};
use proto2ffi_core::{symbols, MethodKind};
use std::collections::HashMap;

/// Limits and rate limits of one method (`None` / `0`: inherit).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MethodConfig {
    /// Request byte limit.
    pub max_request_bytes: u64,
    /// Response byte limit.
    pub max_response_bytes: u64,
    /// Method rate limit.
    pub rate_per_second: Option<f64>,
    /// Burst of the method rate limit.
    pub burst: Option<u32>,
    /// Request field used as per-client key.
    pub key: Option<String>,
    /// Per-key rate.
    pub key_rate_per_second: Option<f64>,
    /// Per-key burst.
    pub key_burst: Option<u32>,
    /// Keys tracked at once.
    pub key_capacity: Option<u64>,
    /// A short call the Dart client binds as a leaf call (`isLeaf: true`).
    pub leaf: bool,
    /// `(proto2ffi.method) = { async: true }`: an `async fn` handler.
    pub is_async: bool,
}

/// Service-wide limits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceConfig {
    /// Request byte limit.
    pub max_request_bytes: u64,
    /// Response byte limit.
    pub max_response_bytes: u64,
    /// Service-wide rate.
    pub rate_per_second: Option<f64>,
    /// Its burst.
    pub burst: Option<u32>,
}

/// One unary RPC.
#[derive(Clone, Debug)]
pub struct Method {
    /// Proto name, e.g. `GetUser`.
    pub name: String,
    /// Rust method identifier, e.g. `get_user` or `r#type`.
    pub rust_name: String,
    /// Exported C symbol.
    pub symbol: String,
    /// Request message full name.
    pub input: String,
    /// Response message full name.
    pub output: String,
    /// Doc comment from the proto.
    pub doc: String,
    /// Limits.
    pub config: MethodConfig,
    /// `file:line:col` of the declaration.
    pub location: String,
    /// How its requests and responses flow, and so its entry points: for
    /// an async or streaming kind `symbol` is its `*_start` function.
    pub kind: MethodKind,
    /// A sync protobuf method's start function (`{symbol}_start`): its
    /// handler run on the library's worker threads, completed through a
    /// callback. `None` for async methods (`symbol` is their start
    /// function) and fixed-layout ones.
    pub start_symbol: Option<String>,
}

/// One service.
#[derive(Clone, Debug)]
pub struct Service {
    /// Proto name, e.g. `UserService`.
    pub name: String,
    /// Full name, e.g. `user.v1.UserService`.
    pub full_name: String,
    /// Proto package.
    pub package: String,
    /// File it is declared in.
    pub file: String,
    /// Doc comment.
    pub doc: String,
    /// Schema fingerprint.
    pub fingerprint: u64,
    /// Exported fingerprint symbol.
    pub fingerprint_symbol: String,
    /// Service-wide limits.
    pub config: ServiceConfig,
    /// `file:line:col` of the declaration.
    pub location: String,
    /// Methods in declaration order.
    pub methods: Vec<Method>,
    /// For a service the host implements (`implemented_by: HOST`): the
    /// exported `*_host_bind` symbol. `None` for the library's services.
    pub host_bind: Option<String>,
}

/// Everything generated for one library.
#[derive(Clone, Debug)]
pub struct Library {
    /// Symbol prefix.
    pub prefix: String,
    /// Services of the user's files the library implements, in file then
    /// declaration order.
    pub services: Vec<Service>,
    /// Services the host implements (`implemented_by: HOST`), which Rust
    /// calls through a generated client; same order.
    pub hosts: Vec<Service>,
    /// The user's files (not bundled ones), in compile order.
    pub files: Vec<String>,
    /// All descriptors (user files, imports, well-known types).
    pub pool: DescriptorPool,
    /// Doc comments by element full name (messages, fields, enums, values).
    pub docs: HashMap<String, String>,
    /// Fixed-layout messages, dependencies first.
    pub fixed: crate::fixed::FixedSet,
}

impl Library {
    /// Every symbol the library exports: the library-wide functions, then
    /// each fixed-layout message's layout and pool functions, then each
    /// service's fingerprint and methods.
    pub fn exported_symbols(&self) -> Vec<String> {
        symbols::LibraryFn::ALL
            .iter()
            .map(|f| symbols::library_symbol(&self.prefix, *f))
            .chain(
                symbol_origins(&self.services, &self.hosts, &self.fixed)
                    .into_iter()
                    .map(|(symbol, _)| symbol),
            )
            .collect()
    }

    /// A service by full name.
    pub fn service(&self, full_name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.full_name == full_name)
    }
}

/// Defaults applied to methods whose options leave a value unset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MethodDefaults {
    /// Request byte limit.
    pub max_request_bytes: u64,
    /// Response byte limit.
    pub max_response_bytes: u64,
    /// Method rate limit and burst.
    pub rate: Option<(f64, u32)>,
}

/// Builds and checks the model of the user's files.
pub fn build(
    pool: &DescriptorPool,
    files: &[String],
    prefix: &str,
    defaults: &MethodDefaults,
    warnings: &mut Vec<String>,
) -> Result<Library, Error> {
    symbols::validate_prefix(prefix).map_err(Error::new)?;
    let fixed = crate::fixed::collect(pool, prefix)?;
    let mut services = Vec::new();
    let mut hosts = Vec::new();
    let mut docs = HashMap::new();
    for file_name in files {
        let file = pool
            .get_file_by_name(file_name)
            .ok_or_else(|| Error::new(format!("{file_name}: not compiled")))?;
        let locations = Locations::new(&file);
        collect_docs(&file, &locations, &mut docs);
        check_reserved_options(&file, pool, &locations, warnings);
        for (s_index, service) in file.services().enumerate() {
            let s_path = vec![6, s_index as i32];
            let (line, col) = locations.position(&s_path);
            symbols::validate_service(service.name())
                .map_err(|e| Error::at(file_name, line, col, e))?;
            let mut config = ServiceConfig::default();
            let mut implemented_by_host = false;
            if let Some(o) = option_message(&service.options(), pool, "proto2ffi.service") {
                config = ServiceConfig {
                    max_request_bytes: u64_field(&o, "max_request_bytes"),
                    max_response_bytes: u64_field(&o, "max_response_bytes"),
                    rate_per_second: f64_field(&o, "rate_per_second"),
                    burst: u32_field(&o, "burst"),
                };
                implemented_by_host = matches!(
                    o.get_field_by_name("implemented_by").as_deref(),
                    Some(Value::EnumNumber(1))
                );
            }
            if implemented_by_host {
                hosts.push(host_service(
                    &service, file_name, &locations, &s_path, prefix, config, defaults,
                )?);
                continue;
            }
            check_rate(
                file_name,
                line,
                col,
                config.rate_per_second,
                config.burst,
                "service",
            )?;
            let mut methods = Vec::new();
            for (m_index, method) in service.methods().enumerate() {
                let m_path = vec![6, s_index as i32, 2, m_index as i32];
                let (line, col) = locations.position(&m_path);
                let mut config = MethodConfig {
                    max_request_bytes: defaults.max_request_bytes,
                    max_response_bytes: defaults.max_response_bytes,
                    rate_per_second: defaults.rate.map(|r| r.0),
                    burst: defaults.rate.map(|r| r.1),
                    ..MethodConfig::default()
                };
                if let Some(o) = option_message(&method.options(), pool, "proto2ffi.method") {
                    let or = |v: u64, d: u64| if v == 0 { d } else { v };
                    config.max_request_bytes =
                        or(u64_field(&o, "max_request_bytes"), config.max_request_bytes);
                    config.max_response_bytes = or(
                        u64_field(&o, "max_response_bytes"),
                        config.max_response_bytes,
                    );
                    if let Some(r) = f64_field(&o, "rate_per_second") {
                        config.rate_per_second = Some(r);
                        config.burst = u32_field(&o, "burst");
                    } else if let Some(b) = u32_field(&o, "burst") {
                        config.burst = Some(b);
                    }
                    config.key = string_field(&o, "rate_limit_key");
                    config.key_rate_per_second = f64_field(&o, "key_rate_per_second");
                    config.key_burst = u32_field(&o, "key_burst");
                    let cap = u64_field(&o, "key_capacity");
                    config.key_capacity = (cap != 0).then_some(cap);
                    config.leaf = matches!(
                        o.get_field_by_name("leaf").as_deref(),
                        Some(Value::Bool(true))
                    );
                    config.is_async = matches!(
                        o.get_field_by_name("async").as_deref(),
                        Some(Value::Bool(true))
                    );
                }
                let server_streaming = method.is_server_streaming();
                let client_streaming = method.is_client_streaming();
                let asynchronous = config.is_async || server_streaming || client_streaming;
                if asynchronous && config.leaf {
                    return Err(Error::at(
                        file_name,
                        line,
                        col,
                        format!(
                            "rpc `{}` is async{}, so it cannot be a leaf call (a leaf call is a \
                             short synchronous call); remove `leaf: true`",
                            method.name(),
                            if server_streaming || client_streaming {
                                " (it streams)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
                check_rate(
                    file_name,
                    line,
                    col,
                    config.rate_per_second,
                    config.burst,
                    "method",
                )?;
                check_key(file_name, line, col, &config, &method.input())?;
                let is_fixed = check_fixed(
                    file_name,
                    line,
                    col,
                    &fixed,
                    &config,
                    &method,
                    service.name(),
                )?;
                if is_fixed && asynchronous {
                    return Err(Error::at(
                        file_name,
                        line,
                        col,
                        format!(
                            "rpc `{}` passes fixed-layout messages, which are synchronous \
                             pointer calls; it cannot be async or streaming. Use protobuf \
                             messages for it, or make it a plain unary RPC",
                            method.name()
                        ),
                    ));
                }
                let kind =
                    MethodKind::of(is_fixed, asynchronous, client_streaming, server_streaming)
                        .expect("a fixed-layout method that is async was refused above");
                let snake = symbols::snake(method.name());
                let mut symbol = symbols::method_symbol(prefix, service.name(), method.name());
                if kind.is_async() {
                    symbol = symbols::start_symbol(&symbol);
                }
                let start_symbol =
                    (!kind.is_async() && kind.has_start()).then(|| symbols::start_symbol(&symbol));
                methods.push(Method {
                    name: method.name().to_string(),
                    rust_name: rust_ident(&snake),
                    symbol,
                    start_symbol,
                    input: method.input().full_name().to_string(),
                    output: method.output().full_name().to_string(),
                    doc: locations.doc(&m_path),
                    config,
                    location: format!("{file_name}:{line}:{col}"),
                    kind,
                });
            }
            services.push(Service {
                name: service.name().to_string(),
                full_name: service.full_name().to_string(),
                package: service.package_name().to_string(),
                file: file_name.clone(),
                doc: locations.doc(&s_path),
                fingerprint: fingerprint::service_fingerprint(&service),
                fingerprint_symbol: symbols::fingerprint_symbol(prefix, service.name()),
                config,
                location: format!("{file_name}:{line}:{col}"),
                methods,
                host_bind: None,
            });
        }
    }
    check_symbols(&services, &hosts, &fixed)?;
    Ok(Library {
        prefix: prefix.to_string(),
        services,
        hosts,
        files: files.to_vec(),
        pool: pool.clone(),
        docs,
        fixed,
    })
}

/// A service the host implements: unary protobuf RPCs with byte limits
/// only (Rust is the caller; rate limits guard the library, not the host).
fn host_service(
    service: &prost_reflect::ServiceDescriptor,
    file_name: &str,
    locations: &Locations,
    s_path: &[i32],
    prefix: &str,
    config: ServiceConfig,
    defaults: &MethodDefaults,
) -> Result<Service, Error> {
    let (line, col) = locations.position(s_path);
    if config.rate_per_second.is_some() || config.burst.is_some() {
        return Err(Error::at(
            file_name,
            line,
            col,
            format!(
                "service `{}` is implemented by the host, so it takes no rate limit (rate \
                 limits protect the library from its callers); remove rate_per_second and burst",
                service.name()
            ),
        ));
    }
    let mut methods = Vec::new();
    for (m_index, method) in service.methods().enumerate() {
        let mut m_path = s_path.to_vec();
        m_path.extend([2, m_index as i32]);
        let (line, col) = locations.position(&m_path);
        let refuse = |why: &str| {
            Err(Error::at(
                file_name,
                line,
                col,
                format!(
                    "rpc `{}` of service `{}`, which the host implements, {why}",
                    method.name(),
                    service.name()
                ),
            ))
        };
        if method.is_server_streaming() || method.is_client_streaming() {
            return refuse("streams: host methods are unary (one request, one response)");
        }
        for m in [method.input(), method.output()] {
            if crate::fixed::is_fixed(&m, service.parent_pool()) {
                return refuse(&format!(
                    "passes the fixed-layout message `{}`: host methods take protobuf messages",
                    m.full_name()
                ));
            }
        }
        let mut config = MethodConfig {
            max_request_bytes: defaults.max_request_bytes,
            max_response_bytes: defaults.max_response_bytes,
            ..MethodConfig::default()
        };
        if let Some(o) =
            option_message(&method.options(), service.parent_pool(), "proto2ffi.method")
        {
            for field in [
                "rate_per_second",
                "burst",
                "rate_limit_key",
                "key_rate_per_second",
                "key_burst",
                "key_capacity",
                "leaf",
                "async",
            ] {
                let f = prost_reflect::ReflectMessage::descriptor(&o)
                    .get_field_by_name(field)
                    .expect("option field");
                if o.has_field(&f) {
                    return refuse(&format!(
                        "sets `{field}`, which host methods do not take (they are always \
                         async on the Rust side and have byte limits only)"
                    ));
                }
            }
            let or = |v: u64, d: u64| if v == 0 { d } else { v };
            config.max_request_bytes =
                or(u64_field(&o, "max_request_bytes"), config.max_request_bytes);
            config.max_response_bytes = or(
                u64_field(&o, "max_response_bytes"),
                config.max_response_bytes,
            );
        }
        let snake = symbols::snake(method.name());
        methods.push(Method {
            name: method.name().to_string(),
            rust_name: rust_ident(&snake),
            symbol: String::new(),
            start_symbol: None,
            input: method.input().full_name().to_string(),
            output: method.output().full_name().to_string(),
            doc: locations.doc(&m_path),
            config,
            location: format!("{file_name}:{line}:{col}"),
            kind: MethodKind::AsyncUnary,
        });
    }
    Ok(Service {
        name: service.name().to_string(),
        full_name: service.full_name().to_string(),
        package: service.package_name().to_string(),
        file: file_name.to_string(),
        doc: locations.doc(s_path),
        fingerprint: fingerprint::service_fingerprint(service),
        fingerprint_symbol: symbols::fingerprint_symbol(prefix, service.name()),
        config,
        location: format!("{file_name}:{line}:{col}"),
        methods,
        host_bind: Some(symbols::host_bind_symbol(prefix, service.name())),
    })
}

/// Whether a method is fixed-layout (both messages fixed); a method mixing
/// the two kinds, or a fixed one with a per-client limit, is refused.
fn check_fixed(
    file: &str,
    line: usize,
    col: usize,
    fixed: &crate::fixed::FixedSet,
    config: &MethodConfig,
    method: &prost_reflect::MethodDescriptor,
    service: &str,
) -> Result<bool, Error> {
    let (input, output) = (method.input(), method.output());
    let (i, o) = (
        fixed.contains(input.full_name()),
        fixed.contains(output.full_name()),
    );
    if i != o {
        let (fixed_one, other) = if i {
            (&input, &output)
        } else {
            (&output, &input)
        };
        return Err(Error::at(
            file,
            line,
            col,
            format!(
                "rpc `{}` of service `{service}` mixes a fixed-layout message (`{}`) with a protobuf message (`{}`); a call passes either two structs or two encoded messages. Make `{}` fixed-layout too (`option (proto2ffi.fixed) = true;`), or use a protobuf message on both sides",
                method.name(),
                fixed_one.full_name(),
                other.full_name(),
                other.full_name()
            ),
        ));
    }
    if i && config.key.is_some() {
        return Err(Error::at(
            file,
            line,
            col,
            format!(
                "rpc `{}` of service `{service}` takes a fixed-layout request, which has no per-client rate limit (rate_limit_key); use a method or service rate limit",
                method.name()
            ),
        ));
    }
    Ok(i)
}

fn check_rate(
    file: &str,
    line: usize,
    col: usize,
    rate: Option<f64>,
    burst: Option<u32>,
    what: &str,
) -> Result<(), Error> {
    if let Some(r) = rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::at(
                file,
                line,
                col,
                format!("{what} rate_per_second must be > 0"),
            ));
        }
        if let Err(e) = proto2ffi_core::rate::validate_per_second(r) {
            return Err(Error::at(file, line, col, format!("{what} {e}")));
        }
    } else if burst.is_some() {
        return Err(Error::at(
            file,
            line,
            col,
            format!("{what} option sets `burst` without `rate_per_second`; add a rate"),
        ));
    }
    Ok(())
}

fn check_key(
    file: &str,
    line: usize,
    col: usize,
    config: &MethodConfig,
    input: &MessageDescriptor,
) -> Result<(), Error> {
    match (&config.key, config.key_rate_per_second) {
        (None, None) => Ok(()),
        (Some(_), None) | (None, Some(_)) => Err(Error::at(
            file,
            line,
            col,
            "a per-client rate limit needs both `rate_limit_key` and `key_rate_per_second`",
        )),
        (Some(key), Some(_)) => {
            let field = input.get_field_by_name(key).ok_or_else(|| {
                Error::at(
                    file,
                    line,
                    col,
                    format!(
                        "rate_limit_key `{key}` is not a field of {}; name one of: {}",
                        input.full_name(),
                        input
                            .fields()
                            .map(|f| f.name().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            let ok_kind = matches!(
                field.kind(),
                Kind::String
                    | Kind::Bytes
                    | Kind::Uint32
                    | Kind::Uint64
                    | Kind::Int32
                    | Kind::Int64
                    | Kind::Bool
            );
            if field.is_list() || field.is_map() || !ok_kind {
                return Err(Error::at(
                    file,
                    line,
                    col,
                    format!(
                        "rate_limit_key `{key}` must be a singular string, bytes, bool or \
                         32/64-bit integer field"
                    ),
                ));
            }
            Ok(())
        }
    }
}

/// The symbols of fixed-layout messages and services, each with where it
/// comes from (for error messages).
fn symbol_origins(
    services: &[Service],
    hosts: &[Service],
    fixed: &crate::fixed::FixedSet,
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = Vec::new();
    for m in &fixed.messages {
        let origin = format!("{}: message {}", m.location, m.full_name);
        all.push((m.layout_symbol.clone(), origin.clone()));
        for (_, symbol) in &m.pool_symbols {
            all.push((symbol.clone(), origin.clone()));
        }
    }
    for s in services {
        all.push((
            s.fingerprint_symbol.clone(),
            format!("{}: service {}", s.location, s.full_name),
        ));
        for m in &s.methods {
            let origin = format!("{}: rpc {}.{}", m.location, s.full_name, m.name);
            all.push((m.symbol.clone(), origin.clone()));
            all.extend(m.start_symbol.clone().map(|t| (t, origin)));
        }
    }
    for s in hosts {
        let origin = format!("{}: host service {}", s.location, s.full_name);
        all.push((s.fingerprint_symbol.clone(), origin.clone()));
        all.extend(s.host_bind.clone().map(|b| (b, origin)));
    }
    all
}

fn check_symbols(
    services: &[Service],
    hosts: &[Service],
    fixed: &crate::fixed::FixedSet,
) -> Result<(), Error> {
    let all = symbol_origins(services, hosts, fixed);
    if let Some((symbol, first, second)) =
        symbols::find_duplicate(all.iter().map(|(s, o)| (s.clone(), o.as_str())))
    {
        return Err(Error::new(format!(
            "{second} exports the C symbol `{symbol}`, which {first} already exports; rename one \
             of them (symbols are prefix_service_method, prefix_service_method_start for a \
             protobuf method's start function, and prefix_proto2ffi_layout_message and \
             prefix_proto2ffi_pool_message_* for fixed-layout messages, in snake case) or build \
             them into libraries with different prefixes"
        )));
    }
    // Dart client method names: a synchronous RPC `Get` gives `get` and
    // `getAsync`, which an RPC named `GetAsync` would collide with.
    for s in services {
        let mut seen: Vec<(String, &str)> = Vec::new();
        for m in &s.methods {
            let base = crate::schema::dart_names::method(&m.name);
            let mut dart = vec![base.clone()];
            if m.kind == MethodKind::Unary {
                dart.push(format!("{base}Async"));
            }
            for name in dart {
                if let Some((_, other)) = seen.iter().find(|(n, _)| *n == name) {
                    return Err(Error::new(format!(
                        "{}: rpc `{}` of service `{}` and rpc `{other}` both give the Dart \
                         client method `{name}` (a synchronous RPC also gets an `…Async` \
                         variant); rename one of them",
                        m.location, m.name, s.full_name
                    )));
                }
                seen.push((name, &m.name));
            }
        }
    }
    Ok(())
}

fn collect_docs(file: &FileDescriptor, loc: &Locations, docs: &mut HashMap<String, String>) {
    fn message(
        m: &MessageDescriptor,
        path: Vec<i32>,
        loc: &Locations,
        docs: &mut HashMap<String, String>,
    ) {
        docs.insert(m.full_name().to_string(), loc.doc(&path));
        for (i, f) in m.fields().enumerate() {
            let mut p = path.clone();
            p.extend([2, i as i32]);
            docs.insert(f.full_name().to_string(), loc.doc(&p));
        }
        for (i, n) in m.child_messages().enumerate() {
            let mut p = path.clone();
            p.extend([3, i as i32]);
            message(&n, p, loc, docs);
        }
        for (i, e) in m.child_enums().enumerate() {
            let mut p = path.clone();
            p.extend([4, i as i32]);
            enumeration(&e, p, loc, docs);
        }
    }
    fn enumeration(
        e: &prost_reflect::EnumDescriptor,
        path: Vec<i32>,
        loc: &Locations,
        docs: &mut HashMap<String, String>,
    ) {
        docs.insert(e.full_name().to_string(), loc.doc(&path));
        for (i, v) in e.values().enumerate() {
            let mut p = path.clone();
            p.extend([2, i as i32]);
            docs.insert(v.full_name().to_string(), loc.doc(&p));
        }
    }
    for (i, m) in file.messages().enumerate() {
        message(&m, vec![4, i as i32], loc, docs);
    }
    for (i, e) in file.enums().enumerate() {
        enumeration(&e, vec![5, i as i32], loc, docs);
    }
}

fn check_reserved_options(
    file: &FileDescriptor,
    pool: &DescriptorPool,
    loc: &Locations,
    warnings: &mut Vec<String>,
) {
    fn walk(
        m: &MessageDescriptor,
        path: Vec<i32>,
        pool: &DescriptorPool,
        file: &str,
        loc: &Locations,
        warnings: &mut Vec<String>,
    ) {
        let fixed = crate::fixed::is_fixed(m, pool);
        for (i, f) in m.fields().enumerate() {
            if !fixed && !f.is_list() && crate::fixed::field_bound(&f, pool, "max_count") != 0 {
                let mut p = path.clone();
                p.extend([2, i as i32]);
                let (l, c) = loc.position(&p);
                warnings.push(format!(
                    "{file}:{l}:{c}: max_count on {} has no effect: it bounds the elements of a repeated field",
                    f.full_name()
                ));
            }
        }
        for (i, n) in m.child_messages().enumerate() {
            let mut p = path.clone();
            p.extend([3, i as i32]);
            walk(&n, p, pool, file, loc, warnings);
        }
    }
    if resolver::is_bundled(file.name()) {
        return;
    }
    for (i, m) in file.messages().enumerate() {
        walk(&m, vec![4, i as i32], pool, file.name(), loc, warnings);
    }
}
