//! The Dart library class (bindings, opening checks, metrics, health,
//! shutdown) and one client class per service.

use crate::model::Library;
use crate::schema::dart_names as names;
use proto2ffi_core::symbols::{self, LibraryFn};
use proto2ffi_core::{MethodKind, ABI_VERSION};
use std::fmt::Write as _;

/// How the client reaches message classes.
pub(super) enum Messages<'a> {
    /// Our generated classes (`readFrom`/`writeTo`).
    Generated(&'a super::messages::MessageFile<'a>),
    /// `package:protobuf` classes (`fromBuffer`/`writeToBuffer`), by proto full name.
    Protobuf(&'a dyn Fn(&str) -> String),
}

impl Messages<'_> {
    /// The class, through an import prefix (message names such as
    /// `Duration` must not shadow `dart:core` in the client).
    fn class(&self, full: &str) -> String {
        match self {
            Messages::Generated(m) => m.qualified(full),
            Messages::Protobuf(f) => format!("$m.{}", f(full)),
        }
    }
    fn encode(&self, var: &str) -> String {
        match self {
            Messages::Generated(_) => format!("{var}.writeTo"),
            Messages::Protobuf(_) => format!("(w) => w.writeRaw({var}.writeToBuffer())"),
        }
    }
    /// `void Function(ProtoWriter) Function(Req)`: the encoder of a streamed
    /// request.
    fn encode_item(&self) -> String {
        match self {
            Messages::Generated(_) => "(r, w) => r.writeTo(w)".to_string(),
            Messages::Protobuf(_) => "(r, w) => w.writeRaw(r.writeToBuffer())".to_string(),
        }
    }
    fn decode(&self, class: &str) -> String {
        match self {
            Messages::Generated(_) => format!("{class}.readFrom"),
            Messages::Protobuf(_) => format!("(r) => {class}.fromBuffer(r.readRemaining())"),
        }
    }
}

/// `UpperCamel` of the prefix: `users` → `Users`.
pub(super) fn library_class(prefix: &str) -> String {
    format!("{}Library", names::type_part(prefix))
}

/// The client file body (after imports).
pub(super) fn render(
    library: &Library,
    native_name: &str,
    asset: &str,
    messages: &Messages<'_>,
) -> String {
    let lib = library_class(&library.prefix);
    let mut out = String::new();
    library_class_decl(&mut out, library, native_name, asset);
    for m in library.fixed.messages.iter().filter(|m| m.pool_size > 0) {
        pool_class(&mut out, &lib, m);
    }
    for s in &library.services {
        service_client(&mut out, library, &lib, s, messages);
    }
    for s in &library.hosts {
        host_service(&mut out, library, &lib, s, messages);
    }
    out
}

/// The library class: opening, the ABI check, the call state and the
/// library-wide functions, then the code asset's symbols.
fn library_class_decl(out: &mut String, library: &Library, native_name: &str, asset: &str) {
    let p = &library.prefix;
    let lib = library_class(p);
    let sym = |f: LibraryFn| symbols::library_symbol(p, f);
    let _ = writeln!(
        out,
        r#"/// The native library `{native_name}` (symbol prefix `{p}_`).
///
/// Open it once per isolate and share it between service clients.
final class {lib} {{
  /// Base name of the native library file.
  static const String libraryName = '{native_name}';

  /// The C ABI version this client was generated for.
  static const int abiVersion = {ABI_VERSION};

  /// The path it was opened from (null: the platform default or the
  /// bundled code asset).
  final String? path;

  /// Where its functions are found: the library opened by path, or the
  /// code asset the build hook bundled.
  final Proto2ffiSymbols symbols;

  /// What error messages call the library.
  final String describe;

  /// Call state (request buffer, out struct) of this isolate.
  final Proto2ffiCaller caller;

  /// Async RPCs and server streams of this isolate: completed by the
  /// library's threads through a port (bound on first use).
  late final Proto2ffiAsync asyncCalls = Proto2ffiAsync(symbols, caller, describe,
      cancel: '{cancel}', streamNext: '{stream_next}', streamSendItems: '{stream_send_items}',
      streamCloseSend: '{stream_close_send}', open: '{dart_open}', close: '{dart_close}',
      callback: '{dart_callback}', take: '{dart_take}');

  {lib}._(this.path, this.symbols, this.describe)
      // The free function is short and never calls into Dart: a leaf call.
      : caller = Proto2ffiCaller(
            symbols
                .lookup<NativeFunction<Void Function(Pointer<Proto2ffiBuffer>)>>('{free}')
                .asFunction<void Function(Pointer<Proto2ffiBuffer>)>(isLeaf: true),
            detach: symbols
                .lookup<NativeFunction<Pointer<Void> Function(Pointer<Proto2ffiBuffer>)>>('{detach}')
                .asFunction<Pointer<Void> Function(Pointer<Proto2ffiBuffer>)>(isLeaf: true),
            release: symbols.lookup<NativeFinalizerFunction>('{release}'));

  /// Opens the library from [path], or from the platform default: the
  /// process itself on iOS (static linking), `lib{native_name}.dylib` on
  /// macOS, `{native_name}.dll` on Windows, `lib{native_name}.so` elsewhere.
  /// For the library a build hook bundled, use [{lib}.bundled].
  /// Throws [Proto2ffiLoadError] when its ABI version differs.
  factory {lib}.open([String? path]) {{
    final symbols = Proto2ffiDylibSymbols(proto2ffiOpenLibrary(path, libraryName));
    return _checked(path, symbols, path ?? libraryName);
  }}

  /// The code asset `{asset}` that the package's build hook
  /// (`hook/build.dart`) builds with cargo and bundles with the app: no
  /// path, no per-platform loading. Its functions resolve through `@Native`
  /// declarations; without a native-assets build (plain `dart` before 3.10,
  /// or a host that loaded the library itself) they resolve in the process,
  /// as with `LD_PRELOAD` or a statically linked library.
  /// Throws [Proto2ffiLoadError] when the library is missing or its ABI
  /// version differs.
  factory {lib}.bundled() =>
      _checked(null, const _{lib}Asset(), 'the code asset {asset}');

  static {lib} _checked(String? path, Proto2ffiSymbols symbols, String describe) {{
    final int version;
    try {{
      version = symbols
          .lookup<NativeFunction<Uint32 Function()>>('{abi}')
          .asFunction<int Function()>()();
    }} on ArgumentError catch (e) {{
      throw Proto2ffiLoadError('$describe does not export {abi}: '
          'it is not a proto2ffi library with the prefix "{p}", or it is not loaded ($e).');
    }}
    if (version != abiVersion) {{
      throw Proto2ffiLoadError('$describe speaks C ABI version $version but this '
          'client was generated for version $abiVersion: rebuild the library and regenerate '
          'the Dart client with the same proto2ffi version.');
    }}
    return {lib}._(path, symbols, describe);
  }}

  /// Looks up a method entry point; with [leaf], bound as a leaf call
  /// (`isLeaf: true`: no safepoint transition; for methods the schema marks
  /// `(proto2ffi.method) = {{ leaf: true }}` — short, never calling into Dart).
  Proto2ffiMethod method(String symbol, {{bool leaf = false}}) {{
    try {{
      // `isLeaf` must be a constant.
      return leaf
          ? symbols.lookup<NativeFunction<Proto2ffiMethodNative>>(symbol).asFunction<Proto2ffiMethod>(isLeaf: true)
          : symbols.lookup<NativeFunction<Proto2ffiMethodNative>>(symbol).asFunction<Proto2ffiMethod>();
    }} on ArgumentError {{
      throw Proto2ffiLoadError('$describe does not export $symbol: the library '
          'was built from another schema or prefix; rebuild it and regenerate this client.');
    }}
  }}

  /// Checks a service's schema fingerprint.
  void checkFingerprint(String service, String symbol, int expected) {{
    final int actual;
    try {{
      actual = symbols.lookup<NativeFunction<Uint64 Function()>>(symbol).asFunction<int Function()>()();
    }} on ArgumentError {{
      throw Proto2ffiLoadError('$describe does not serve $service '
          '(no $symbol): rebuild the library from the same .proto files as this client.');
    }}
    if (actual != expected) {{
      throw Proto2ffiLoadError('$describe serves a different schema of $service '
          '(fingerprint 0x${{protoHex64(actual)}}, this client expects '
          '0x${{protoHex64(expected)}}): rebuild the library and regenerate '
          'the Dart client from the same .proto files.');
    }}
  }}

  int Function(Pointer<Proto2ffiBuffer>) _out(String symbol) => symbols.lookup<NativeFunction<Int32 Function(Pointer<Proto2ffiBuffer>)>>(symbol).asFunction<int Function(Pointer<Proto2ffiBuffer>)>();

  /// Runs the library's init function now (it otherwise runs on the first call).
  void init() => caller.callOut(_out('{init}'));

  /// Metrics, decoded.
  Proto2ffiMetrics metrics() => Proto2ffiMetrics.fromBuffer(caller.callOut(_out('{metrics}')));

  /// Metrics in the Prometheus text exposition format.
  String metricsText() => utf8.decode(caller.callOut(_out('{metrics_text}')));

  /// Health, decoded.
  Proto2ffiHealth health() => Proto2ffiHealth.fromBuffer(caller.callOut(_out('{health}')));

  late final Proto2ffiLogs _logs =
      Proto2ffiLogs(symbols, caller, '{set_log_sink}', '{set_log_filter}', '{log_record_free}');

  /// The library's log records (Rust `tracing` and `log`), delivered while
  /// the stream has a listener: print them, or send them to a crash
  /// reporter. Nothing is recorded while nobody listens.
  Stream<Proto2ffiLogRecord> get logs => _logs.stream;

  /// Sets which records [logs] delivers (`info` by default;
  /// `warn,my_crate=debug`). Throws [Proto2ffiException] for a bad filter.
  void setLogFilter(String filter) => _logs.setFilter(filter);

  late final Pointer<Void> Function(int, int) _alloc = symbols.lookup<NativeFunction<Pointer<Void> Function(Size, Size)>>('{alloc}').asFunction<Pointer<Void> Function(int, int)>(isLeaf: true);
  late final void Function(Pointer<Void>, int, int) _dealloc = symbols.lookup<NativeFunction<Void Function(Pointer<Void>, Size, Size)>>('{dealloc}').asFunction<void Function(Pointer<Void>, int, int)>(isLeaf: true);

  /// [size] zeroed bytes aligned to [align] (a power of two up to 4096)
  /// from the library's allocator, for fixed-layout structs and the arrays
  /// they reference. Release with [dealloc] and the same size and align.
  Pointer<Void> alloc(int size, int align) {{
    final p = _alloc(size, align);
    if (p == nullptr) {{
      throw ArgumentError('alloc($size, $align): size must be positive and align a power of '
          'two up to 4096 (or memory is exhausted)');
    }}
    return p;
  }}

  /// Releases memory from [alloc].
  void dealloc(Pointer<NativeType> pointer, int size, int align) =>
      _dealloc(pointer.cast(), size, align);

  /// Throws [Proto2ffiLoadError] unless [symbol] is exported.
  void requireSymbol(String symbol) {{
    if (!symbols.providesSymbol(symbol)) {{
      throw Proto2ffiLoadError('$describe does not export $symbol: the library '
          'was built from another schema or prefix; rebuild it and regenerate this client.');
    }}
  }}

  /// Checks a fixed-layout message: this Dart struct's size and the
  /// library's layout fingerprint against what the client was generated for.
  void checkLayout(String message, String symbol, int expected, int dartSize, int size) {{
    if (dartSize != size) {{
      throw Proto2ffiLoadError('the Dart struct of $message is $dartSize bytes on this ABI, '
          'the layout is $size: regenerate the Dart client');
    }}
    requireSymbol(symbol);
    final actual = symbols.lookup<NativeFunction<Uint64 Function()>>(symbol).asFunction<int Function()>()();
    if (actual != expected) {{
      throw Proto2ffiLoadError('$describe lays out $message differently '
          '(layout 0x${{protoHex64(actual)}}, this client expects 0x${{protoHex64(expected)}}): '
          'rebuild the library and regenerate the Dart client from the same .proto files.');
    }}
  }}

  /// Stops admitting calls and waits up to [timeout] for calls in flight;
  /// returns whether all drained.
  bool shutdown(Duration timeout) =>
      symbols.lookup<NativeFunction<Int32 Function(Uint32)>>('{shutdown}').asFunction<int Function(int)>()(
          timeout.inMilliseconds.clamp(0, 0xffffffff)) ==
      0;
}}
"#,
        free = sym(LibraryFn::Free),
        detach = sym(LibraryFn::BufferDetach),
        release = sym(LibraryFn::BufferRelease),
        abi = sym(LibraryFn::AbiVersion),
        init = sym(LibraryFn::Init),
        metrics = sym(LibraryFn::Metrics),
        metrics_text = sym(LibraryFn::MetricsText),
        health = sym(LibraryFn::Health),
        shutdown = sym(LibraryFn::Shutdown),
        set_log_sink = sym(LibraryFn::SetLogSink),
        set_log_filter = sym(LibraryFn::SetLogFilter),
        log_record_free = sym(LibraryFn::LogRecordFree),
        alloc = sym(LibraryFn::Alloc),
        dealloc = sym(LibraryFn::Dealloc),
        cancel = sym(LibraryFn::Cancel),
        stream_next = sym(LibraryFn::StreamNext),
        stream_send_items = sym(LibraryFn::StreamSendItems),
        stream_close_send = sym(LibraryFn::StreamCloseSend),
        dart_open = sym(LibraryFn::DartOpen),
        dart_close = sym(LibraryFn::DartClose),
        dart_callback = sym(LibraryFn::DartCallback),
        dart_take = sym(LibraryFn::DartTake),
        asset = asset,
    );

    asset_symbols(out, library, &lib, asset);
}

/// The client class of one service: its fields, its constructor (the
/// fingerprint and layout checks) and one method per RPC.
fn service_client(
    out: &mut String,
    library: &Library,
    lib: &str,
    s: &crate::model::Service,
    messages: &Messages<'_>,
) {
    let client = format!("{}Client", names::type_part(&s.name));
    if !s.doc.is_empty() {
        names::doc(out, &s.doc, "");
        out.push_str("///\n");
    }
    let _ = writeln!(
        out,
        "/// Client of `{}`. Methods throw [Proto2ffiException] on a non-OK status.\nfinal class {client} {{\n  /// Schema fingerprint this client was generated from.\n  static const int fingerprint = {:#018x};\n\n  /// The library serving this service.\n  final {lib} library;\n",
        s.full_name, s.fingerprint
    );
    let fixed_type = |full: &str| format!("$f.{}", library.fixed.get(full).unwrap().name);
    let fixed_sig = |m: &crate::model::Method, native: bool| {
        format!(
            "{} Function(Pointer<{}>, Pointer<{}>, Pointer<Proto2ffiBuffer>)",
            if native { "Int32" } else { "int" },
            fixed_type(&m.input),
            fixed_type(&m.output)
        )
    };
    if s.methods.iter().any(|m| m.kind.is_fixed()) {
        out.push_str("  /// The error out struct of fixed-layout calls (this isolate's caller's).\n  final Pointer<Proto2ffiBuffer> _error;\n");
    }
    for m in &s.methods {
        let ty = match m.kind {
            MethodKind::Fixed => fixed_sig(m, false),
            MethodKind::ClientStream | MethodKind::Bidi => "Proto2ffiStreamingStart".into(),
            MethodKind::AsyncUnary | MethodKind::ServerStream => "Proto2ffiStart".into(),
            MethodKind::Unary => "Proto2ffiMethod".into(),
        };
        let _ = writeln!(out, "  final {ty} _{};", names::method(&m.name));
        if let Some(start) = &m.start_symbol {
            // Bound on first use; `_xAsync` cannot clash, since an RPC
            // named `XAsync` next to `X` is refused.
            let _ = writeln!(
                out,
                "  late final Proto2ffiStart _{}Async = library.asyncCalls.bind({});",
                names::method(&m.name),
                names::string_literal(start)
            );
        }
    }
    // Fixed-layout messages the service passes, nested ones included.
    let mut layouts: Vec<&crate::fixed::FixedMessage> = Vec::new();
    for m in s.methods.iter().filter(|m| m.kind.is_fixed()) {
        let mut stack = vec![m.input.clone(), m.output.clone()];
        while let Some(n) = stack.pop() {
            let fm = library.fixed.get(&n).unwrap();
            if layouts.iter().any(|l| l.full_name == fm.full_name) {
                continue;
            }
            layouts.push(fm);
            for f in &fm.fields {
                if let crate::fixed::Elem::Message(inner) = &f.elem {
                    stack.push(inner.clone());
                }
            }
        }
    }
    let mut checks = String::new();
    for l in &layouts {
        let _ = write!(
            checks,
            "\n    library.checkLayout({}, {}, $f.{}.layoutFingerprint, sizeOf<$f.{}>(), {});",
            names::string_literal(&l.full_name),
            names::string_literal(&l.layout_symbol),
            l.name,
            l.name,
            l.size
        );
    }
    let _ = writeln!(
        out,
        "\n  /// A client over an opened library; checks the schema fingerprint{}.\n  {client}(this.library)\n      : {} {{\n    library.checkFingerprint({}, {}, fingerprint);{checks}\n  }}\n",
        if layouts.is_empty() { "" } else { " and the fixed-layout structs" },
        s.methods
            .iter()
            .filter(|m| m.kind.is_fixed())
            .take(1)
            .map(|_| "_error = library.caller.fixedError".to_string())
            .chain(s.methods.iter().map(|m| match m.kind {
                MethodKind::Fixed => format!(
                    "_{} = (library..requireSymbol({sym})).symbols.lookup<NativeFunction<{}>>({sym}).asFunction<{}>({})",
                    names::method(&m.name),
                    fixed_sig(m, true),
                    fixed_sig(m, false),
                    if m.config.leaf { "isLeaf: true" } else { "" },
                    sym = names::string_literal(&m.symbol),
                ),
                MethodKind::ClientStream | MethodKind::Bidi => format!(
                    "_{} = library.asyncCalls.bindStreaming({})",
                    names::method(&m.name),
                    names::string_literal(&m.symbol),
                ),
                MethodKind::AsyncUnary | MethodKind::ServerStream => format!(
                    "_{} = library.asyncCalls.bind({})",
                    names::method(&m.name),
                    names::string_literal(&m.symbol),
                ),
                MethodKind::Unary => format!(
                    "_{} = library.method({}{})",
                    names::method(&m.name),
                    names::string_literal(&m.symbol),
                    if m.config.leaf { ", leaf: true" } else { "" }
                ),
            }))
            .collect::<Vec<_>>()
            .join(",\n        "),
        names::string_literal(&s.full_name),
        names::string_literal(&s.fingerprint_symbol),
    );
    let _ = writeln!(
        out,
        "  /// Opens the library (see [{lib}.open]) and checks ABI and schema.\n  factory {client}.open([String? path]) => {client}({lib}.open(path));\n\n  /// Binds the code asset the build hook bundled (see [{lib}.bundled])\n  /// and checks ABI and schema.\n  factory {client}.bundled() => {client}({lib}.bundled());\n"
    );
    for m in &s.methods {
        client_method(out, library, s, m, messages);
    }
    out.push_str("}\n\n");
}

/// One RPC's methods on its service's client: by pointer for a
/// fixed-layout method, a `Stream` or `Future` for streaming and async
/// ones, and for a sync one the call and its `…Async` variant.
fn client_method(
    out: &mut String,
    library: &Library,
    s: &crate::model::Service,
    m: &crate::model::Method,
    messages: &Messages<'_>,
) {
    let fixed_type = |full: &str| format!("$f.{}", library.fixed.get(full).unwrap().name);
    let name = names::method(&m.name);
    if m.kind.is_fixed() {
        let (req, resp) = (fixed_type(&m.input), fixed_type(&m.output));
        if !m.doc.is_empty() {
            names::doc(out, &m.doc, "  ");
            out.push_str("  ///\n");
        }
        let _ = writeln!(
            out,
            "  /// `{}.{}` (C symbol `{}`), fixed-layout: the library reads\n  /// [request] and writes [response] in place (separate structs). Throws\n  /// [Proto2ffiException] on a non-OK status.\n  void {name}(Pointer<{req}> request, Pointer<{resp}> response) {{\n    final code = _{name}(request, response, _error);\n    if (code != 0) library.caller.checkFixed(code);\n  }}\n",
            s.full_name, m.name, m.symbol
        );
        let _ = writeln!(
            out,
            "  /// [{name}] with structs allocated (zeroed) and freed here: [fill] writes\n  /// the request, [read] reads the response and its result is returned.\n  R {name}With<R>(void Function({req} request) fill, R Function({resp} response) read) {{\n    final requestSize = ({req}.layoutSize + 7) & ~7;\n    final size = requestSize + {resp}.layoutSize;\n    final block = library.alloc(size, 8);\n    try {{\n      final request = block.cast<{req}>();\n      final response = Pointer<{resp}>.fromAddress(block.address + requestSize);\n      fill(request.ref);\n      {name}(request, response);\n      return read(response.ref);\n    }} finally {{\n      library.dealloc(block, size, 8);\n    }}\n  }}\n"
        );
        return;
    }
    let req = messages.class(&m.input);
    let resp = messages.class(&m.output);
    if !m.doc.is_empty() {
        names::doc(out, &m.doc, "  ");
        out.push_str("  ///\n");
    }
    if m.kind.streams_requests() {
        let (ret, how, what) = if m.kind.streams_responses() {
            (
                format!("Stream<{resp}>"),
                "bidi",
                "bidirectional: the call starts when the returned stream is\n  /// listened to; each item of [requests] is sent as it comes (the\n  /// subscription to [requests] is paused while the library's window is\n  /// full), and the end of [requests] ends the Rust handler's requests.\n  /// Responses as for a server stream: pausing applies backpressure,\n  /// cancelling cancels the call, and an error ([Proto2ffiException])\n  /// ends the stream unless the status is OK.",
            )
        } else {
            (
                format!("Future<{resp}>"),
                "clientStream",
                "client-streaming: each item of [requests] is sent as it comes\n  /// (the subscription to [requests] is paused while the library's window\n  /// is full), and the end of [requests] ends the Rust handler's requests.\n  /// Throws [Proto2ffiException] on a non-OK status, a refused request's\n  /// included; an error in [requests] cancels the call and is rethrown.",
            )
        };
        let _ = writeln!(
            out,
            "  /// `{}.{}` (C symbol `{}`), {what}\n  /// [cancel] ends the call with `cancelled`; [timeout] is its deadline\n  /// (`deadlineExceeded`), visible to the Rust handler.\n  {ret} {name}(Stream<{req}> requests, {{Proto2ffiCancelToken? cancel, Duration? timeout}}) =>\n      library.asyncCalls.{how}(_{name}, requests, {}, {}, cancel: cancel, timeout: timeout);\n",
            s.full_name,
            m.name,
            m.symbol,
            messages.encode_item(),
            messages.decode(&resp)
        );
        return;
    }
    if m.kind.is_async() {
        let (ret, how, what) = if m.kind.streams_responses() {
            (
                format!("Stream<{resp}>"),
                "stream",
                "server-streaming: the call starts when the stream is listened to;\n  /// pausing the subscription pauses the Rust producer, cancelling it\n  /// cancels the Rust stream. The stream ends with an error\n  /// ([Proto2ffiException]) unless the status is OK.",
            )
        } else {
            (
                format!("Future<{resp}>"),
                "unary",
                "async: completed from a thread of the library through this\n  /// isolate's port. Throws [Proto2ffiException] on a non-OK status.",
            )
        };
        let _ = writeln!(
            out,
            "  /// `{}.{}` (C symbol `{}`), {what}\n  /// [cancel] ends the call with `cancelled`; [timeout] is its deadline\n  /// (`deadlineExceeded`), visible to the Rust handler.\n  {ret} {name}({req} request, {{Proto2ffiCancelToken? cancel, Duration? timeout}}) =>\n      library.asyncCalls.{how}(_{name}, {}, {}, cancel: cancel, timeout: timeout);\n",
            s.full_name,
            m.name,
            m.symbol,
            messages.encode("request"),
            messages.decode(&resp)
        );
        return;
    }
    // This package's messages encode through their interface (no
    // closure allocated per call); protoc_plugin's through a closure.
    let call = match messages {
        Messages::Generated(_) => {
            format!("callMessage(_{name}, request, {})", messages.decode(&resp))
        }
        Messages::Protobuf(_) => format!(
            "call(_{name}, {}, {})",
            messages.encode("request"),
            messages.decode(&resp)
        ),
    };
    let _ = writeln!(
        out,
        "  /// `{}.{}` (C symbol `{}`).\n  {resp} {name}({req} request) =>\n      library.caller.{call};\n",
        s.full_name,
        m.name,
        m.symbol,
    );
    let _ = writeln!(
        out,
        "  /// [{name}] awaited (C symbol `{}`): the handler runs on one of the\n  /// library's worker threads, so the calling isolate never blocks and\n  /// concurrent calls run in parallel. [cancel] ends the call with\n  /// `cancelled`; [timeout] is its deadline (`deadlineExceeded`). A handler\n  /// already running finishes, its response dropped.\n  Future<{resp}> {name}Async({req} request, {{Proto2ffiCancelToken? cancel, Duration? timeout}}) =>\n      library.asyncCalls.unary(_{name}Async, {}, {}, cancel: cancel, timeout: timeout);\n",
        m.start_symbol.as_deref().expect("a sync protobuf method has a start function"),
        messages.encode("request"),
        messages.decode(&resp)
    );
}

/// A service the app implements: an abstract interface class with one
/// `Future` method per RPC, and a `bind…` extension on the library class
/// that binds an implementation (decoding requests, encoding answers).
fn host_service(
    out: &mut String,
    library: &Library,
    lib: &str,
    s: &crate::model::Service,
    messages: &Messages<'_>,
) {
    let sym = |f: LibraryFn| symbols::library_symbol(&library.prefix, f);
    let class = names::type_part(&s.name);
    if !s.doc.is_empty() {
        names::doc(out, &s.doc, "");
        out.push_str("///\n");
    }
    let _ = writeln!(
        out,
        "/// `{full}`, implemented by this app and called by the Rust library:\n/// bind an \
         implementation with [{lib}.bind{class}]. Throw a [Proto2ffiException]\n/// to fail a \
         call with its code; any other exception fails it with `UNKNOWN`.\nabstract interface \
         class {class} {{",
        full = s.full_name
    );
    for (i, m) in s.methods.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !m.doc.is_empty() {
            names::doc(out, &m.doc, "  ");
            out.push_str("  ///\n");
        }
        let _ = writeln!(
            out,
            "  /// `{}.{}`; [call] says when Rust gave up on it.\n  Future<{}> {}({} request, \
             Proto2ffiHostCall call);",
            s.full_name,
            m.name,
            messages.class(&m.output),
            names::method(&m.name),
            messages.class(&m.input),
        );
    }
    out.push_str("}\n\n");
    let mut cases = String::new();
    for (i, m) in s.methods.iter().enumerate() {
        let _ = write!(
            cases,
            "\n        case {i}:\n          final response = await implementation.{}(({})(ProtoReader(request)), call);\n          final w = ProtoWriter();\n          ({})(w);\n          return w.buffer;",
            names::method(&m.name),
            messages.decode(&messages.class(&m.input)),
            messages.encode("response"),
        );
    }
    let _ = writeln!(
        out,
        r#"/// Binds [{class}] implementations to [{lib}].
extension {class}Binding on {lib} {{
  /// Binds [implementation] as the app's `{full}`: Rust's calls of it run
  /// on this isolate until [Proto2ffiHostBinding.unbind] (or this isolate
  /// exits). A new binding replaces the previous one, whose pending calls
  /// fail with `UNAVAILABLE`. Checks the schema fingerprint.
  Proto2ffiHostBinding bind{class}({class} implementation) {{
    checkFingerprint({full_lit}, {fp}, {fingerprint:#018x});
    return Proto2ffiHostBinding.bind(symbols, caller, describe, {full_lit},
        (method, request, call) async {{
      switch (method) {{{cases}
        default:
          throw Proto2ffiException(StatusCode.unimplemented, '{full} has no method $method');
      }}
    }},
        bind: {bind},
        complete: '{complete}',
        unbind: '{unbind}',
        finalize: '{finalize}',
        open: '{open}',
        close: '{close}',
        callback: '{callback}',
        initApi: '{init_api}');
  }}
}}
"#,
        full = s.full_name,
        full_lit = names::string_literal(&s.full_name),
        fp = names::string_literal(&s.fingerprint_symbol),
        fingerprint = s.fingerprint,
        bind = names::string_literal(s.host_bind.as_deref().expect("a host service")),
        complete = sym(LibraryFn::HostComplete),
        unbind = sym(LibraryFn::HostUnbind),
        finalize = sym(LibraryFn::HostFinalize),
        open = sym(LibraryFn::DartOpen),
        close = sym(LibraryFn::DartClose),
        callback = sym(LibraryFn::DartHostCallback),
        init_api = sym(LibraryFn::DartInitApi),
    );
}

/// `{Name}Pool` and `Pooled{Name}` for a fixed-layout message with
/// `pool_size`: leaf-call bindings of the pool exports, and a handle that a
/// `NativeFinalizer` returns to the pool when a program forgets it.
fn pool_class(out: &mut String, lib: &str, m: &crate::fixed::FixedMessage) {
    use symbols::PoolFn;
    let sym = |f: PoolFn| {
        let s = &m
            .pool_symbols
            .iter()
            .find(|(g, _)| *g == f)
            .expect("pool symbol")
            .1;
        names::string_literal(s)
    };
    let (acquire, release, finalize) = (
        sym(PoolFn::Acquire),
        sym(PoolFn::Release),
        sym(PoolFn::Finalize),
    );
    let name = &m.name;
    let t = format!("$f.{name}");
    let full = names::string_literal(&m.full_name);
    let _ = writeln!(
        out,
        r#"/// The pool of `{full_name}` (`pool_size = {size}`): zeroed structs the
/// library lends, at stable addresses, to fill and pass to fixed-layout
/// methods. [acquire]/[release] are two leaf calls; [acquireOwned] adds a
/// handle that returns the struct by itself if the program forgets it.
final class {name}Pool {{
  /// Objects the pool holds; it never grows.
  static const int capacity = {size};

  /// The library that owns the pool.
  final {lib} library;
  final Pointer<{t}> Function() _acquire;
  final int Function(Pointer<{t}>) _release;
  final NativeFinalizer _finalizer;

  /// Binds the pool of an opened library and checks the struct's layout.
  {name}Pool(this.library)
      : _acquire = (library..requireSymbol({acquire})).symbols.lookup<NativeFunction<Pointer<{t}> Function()>>({acquire}).asFunction<Pointer<{t}> Function()>(isLeaf: true),
        _release = (library..requireSymbol({release})).symbols.lookup<NativeFunction<Int32 Function(Pointer<{t}>)>>({release}).asFunction<int Function(Pointer<{t}>)>(isLeaf: true),
        _finalizer = NativeFinalizer(
            (library..requireSymbol({finalize})).symbols.lookup<NativeFinalizerFunction>({finalize})) {{
    library.checkLayout({full}, {layout}, {t}.layoutFingerprint, sizeOf<{t}>(), {t}.layoutSize);
  }}

  /// Lends a zeroed struct until [release]. Throws [Proto2ffiPoolExhausted]
  /// when all [capacity] are in use.
  @pragma('vm:prefer-inline')
  Pointer<{t}> acquire() {{
    final p = _acquire();
    if (p == nullptr) _exhausted();
    return p;
  }}

  /// Returns [object] to the pool; do not use it afterwards. Throws
  /// [Proto2ffiException] (`INVALID_ARGUMENT`) when it is not from this pool
  /// or was released already; nothing changes then.
  @pragma('vm:prefer-inline')
  void release(Pointer<{t}> object) {{
    final code = _release(object);
    if (code != 0) _refused(code, object);
  }}

  // The error paths stay out of line, so that [acquire] and [release]
  // inline into their callers as two leaf calls and a test each. (The test
  // is `p == nullptr`: `p.address == 0` measured ~5 ns more per acquire on
  // the ia32 VM, benches/dart/fixed_bench.dart.)
  @pragma('vm:never-inline')
  static Never _exhausted() => throw Proto2ffiPoolExhausted({full}, capacity);

  @pragma('vm:never-inline')
  static Never _refused(int code, Pointer<{t}> object) => throw Proto2ffiException(
      StatusCode.fromValue(code),
      code == StatusCode.invalidArgument.value
          ? '{full_name}: 0x${{object.address.toRadixString(16)}} is not lent out by this '
              'pool (from another pool, or released twice)'
          : '{full_name}: release failed');

  /// Lends a struct owned by the returned handle: [Pooled{name}.release]
  /// returns it, and so does a `NativeFinalizer` if the handle is garbage
  /// collected first.
  Pooled{name} acquireOwned() => Pooled{name}._(this, acquire());
}}

/// A `{full_name}` lent by [{name}Pool.acquireOwned].
final class Pooled{name} implements Finalizable {{
  final {name}Pool _pool;
  Pointer<{t}> _pointer;

  Pooled{name}._(this._pool, this._pointer) {{
    _pool._finalizer.attach(this, _pointer.cast(), detach: this, externalSize: {t}.layoutSize);
  }}

  /// Whether [release] ran.
  bool get isReleased => _pointer == nullptr;

  /// The struct's address, valid until [release].
  Pointer<{t}> get pointer {{
    if (_pointer == nullptr) throw StateError('{full_name}: used after release');
    return _pointer;
  }}

  /// The struct, read and written in place.
  {t} get ref => pointer.ref;

  /// Returns the struct to the pool now (once; later calls throw).
  void release() {{
    final p = pointer;
    _pool._finalizer.detach(this);
    _pointer = nullptr;
    _pool.release(p);
  }}
}}
"#,
        full_name = m.full_name,
        size = m.pool_size,
        layout = names::string_literal(&m.layout_symbol),
    );
}

/// The symbol table of the code asset: one `@Native` declaration per
/// exported function (with a placeholder signature: only its address is
/// taken, then cast to the real one where it is bound).
fn asset_symbols(out: &mut String, library: &Library, lib: &str, asset: &str) {
    let exported = library.exported_symbols();
    let asset_literal = names::string_literal(asset);
    let _ = writeln!(
        out,
        "/// The functions of the code asset {asset_literal}, resolved by the Dart\n/// runtime through `@Native` (see [{lib}.bundled]).\nfinal class _{lib}Asset implements Proto2ffiSymbols {{\n  const _{lib}Asset();\n\n  @override\n  Pointer<T> lookup<T extends NativeType>(String symbol) {{\n    final Pointer<NativeFunction<Void Function()>> address = switch (symbol) {{"
    );
    for (i, symbol) in exported.iter().enumerate() {
        let _ = writeln!(
            out,
            "      {} => Native.addressOf<NativeFunction<Void Function()>>(_asset{i}),",
            names::string_literal(symbol)
        );
    }
    let _ = writeln!(
        out,
        "      _ => throw ArgumentError.value(symbol, 'symbol', 'not a function of {}'),\n    }};\n    return address.cast<T>();\n  }}\n\n  @override\n  bool providesSymbol(String symbol) {{\n    try {{\n      lookup<Void>(symbol);\n      return true;\n    }} on ArgumentError {{\n      return false;\n    }}\n  }}\n}}\n",
        asset.replace('\'', "\\'")
    );
    for (i, symbol) in exported.iter().enumerate() {
        let _ = writeln!(
            out,
            "@Native<Void Function()>(symbol: {}, assetId: {asset_literal})\nexternal void _asset{i}();\n",
            names::string_literal(symbol)
        );
    }
}
