// The proto2ffi Dart runtime: protobuf wire reader/writer, the native buffer
// struct, native memory, and the call helper every generated client uses.
// Only `dart:` libraries are imported.

import 'dart:async';
import 'dart:collection' show UnmodifiableListView, UnmodifiableMapView;
import 'dart:convert' show utf8;
import 'dart:ffi';
import 'dart:io' show Platform;
import 'dart:isolate';
import 'dart:typed_data';

/// `{ uint8_t *data; size_t len; size_t capacity; }`: bytes owned by the library.
final class Proto2ffiBuffer extends Struct {
  external Pointer<Uint8> data;
  @Size()
  external int len;
  @Size()
  external int capacity;
}

/// A large array of a fixed-layout message: the address, length and
/// capacity (in elements) of storage the caller owns (the C
/// `<prefix>_array_ref`; 16 bytes on every target).
final class Proto2ffiArrayRef extends Struct {
  /// Address of the first element (0 when empty).
  @Uint64()
  external int data;

  /// Elements in use.
  @Uint32()
  external int len;

  /// Elements the storage holds.
  @Uint32()
  external int capacity;
}

/// Signature of every unary entry point.
typedef Proto2ffiMethodNative = Int32 Function(
    Pointer<Uint8> request, Size requestLen, Pointer<Proto2ffiBuffer> out);

/// Dart view of [Proto2ffiMethodNative].
typedef Proto2ffiMethod = int Function(
    Pointer<Uint8> request, int requestLen, Pointer<Proto2ffiBuffer> out);

/// Thrown when a library cannot be used: wrong ABI version or schema.
final class Proto2ffiLoadError implements Exception {
  /// What disagrees and how to fix it.
  final String message;

  /// A load error.
  const Proto2ffiLoadError(this.message);

  @override
  String toString() => 'Proto2ffiLoadError: $message';
}

/// Thrown when bytes are not a valid protobuf message.
final class ProtoDecodeError implements Exception {
  /// What was wrong.
  final String message;

  /// A decode error.
  const ProtoDecodeError(this.message);

  @override
  String toString() => 'ProtoDecodeError: $message';
}

/// What every generated message class implements: enough to encode it, name
/// its type (for [Any]) and decode another of the same class.
abstract interface class ProtoMessage {
  /// The proto full name, e.g. `acme.user.v1.User`.
  String get qualifiedMessageName;

  /// Appends this message's fields to [w].
  void writeTo(ProtoWriter w);

  /// Encodes this message.
  Uint8List writeToBuffer();

  /// A new message of this class: this one with [bytes] merged in, by
  /// protobuf's merge rules (set scalars replace, repeated fields append,
  /// messages merge). `m.mergeFromBuffer(other.writeToBuffer())` is the
  /// immutable counterpart of `protoc_plugin`'s `mergeFromMessage`.
  ProtoMessage mergeFromBuffer(List<int> bytes);
}

/// `google.protobuf.Any`: a message of any type, with the URL of its type.
///
/// The one Any class of a generated package: error details
/// ([Proto2ffiException.details]) and fields of type `google.protobuf.Any`
/// both use it. Pack with [Any.pack], test with [canUnpackInto], read with
/// [unpackInto], as with `protoc_plugin`'s Any.
final class Any implements ProtoMessage {
  /// Type URL, e.g. `type.googleapis.com/acme.user.v1.ErrorInfo`.
  final String typeUrl;

  /// The encoded message (unmodifiable).
  final Uint8List value;

  /// An Any; [value] is copied.
  Any({this.typeUrl = '', List<int>? value}) : value = protoFrozenBytes(value);

  const Any._(this.typeUrl, this.value);

  /// [message] packed under `<typeUrlPrefix>/<its full name>`; the prefix
  /// defaults to `type.googleapis.com`, the one the Rust side writes.
  static Any pack(ProtoMessage message,
          {String typeUrlPrefix = 'type.googleapis.com'}) =>
      Any._('${typeUrlPrefix.endsWith('/') ? typeUrlPrefix.substring(0, typeUrlPrefix.length - 1) : typeUrlPrefix}/${message.qualifiedMessageName}',
          message.writeToBuffer().asUnmodifiableView());

  /// The full name of the packed type: the URL after its last `/`.
  String get typeName => typeUrl.substring(typeUrl.lastIndexOf('/') + 1);

  /// Whether this Any holds a message of [instance]'s type.
  bool canUnpackInto(ProtoMessage instance) => typeName == instance.qualifiedMessageName;

  /// The packed message, merged into [instance] (usually an empty one:
  /// `any.unpackInto(ErrorInfo())`). Throws [ProtoDecodeError] when this Any
  /// holds another type or its bytes do not decode.
  T unpackInto<T extends ProtoMessage>(T instance) {
    if (!canUnpackInto(instance)) {
      throw ProtoDecodeError(
          'the Any holds $typeName, not ${instance.qualifiedMessageName}');
    }
    return instance.mergeFromBuffer(value) as T;
  }

  @override
  String get qualifiedMessageName => 'google.protobuf.Any';

  /// Decodes `bytes`; throws [ProtoDecodeError] when they are not a valid Any.
  static Any fromBuffer(List<int> bytes) =>
      readFrom(ProtoReader(bytes is Uint8List ? bytes : Uint8List.fromList(bytes)));

  /// Reads an Any from [r] until its end.
  static Any readFrom(ProtoReader r) {
    var url = '';
    Uint8List value = protoEmptyBytes;
    while (!r.isAtEnd) {
      final t = r.readTag();
      switch (t >>> 3) {
        case 1:
          r.expectWireType(t, 2);
          url = r.readString();
        case 2:
          r.expectWireType(t, 2);
          value = r.readBytes();
        default:
          r.skipField(t);
      }
    }
    return Any._(url, value);
  }

  @override
  void writeTo(ProtoWriter w) {
    if (typeUrl.isNotEmpty) {
      w.writeTag(1, 2);
      w.writeString(typeUrl);
    }
    if (value.isNotEmpty) {
      w.writeTag(2, 2);
      w.writeBytes(value);
    }
  }

  @override
  Uint8List writeToBuffer() {
    final w = ProtoWriter();
    writeTo(w);
    return w.toBytes();
  }

  @override
  Any mergeFromBuffer(List<int> bytes) =>
      readFrom(ProtoReader(protoConcat(writeToBuffer(), bytes)));

  /// A copy with the given fields replaced.
  Any copyWith({String? typeUrl, List<int>? value}) =>
      Any(typeUrl: typeUrl ?? this.typeUrl, value: value ?? this.value);

  @override
  bool operator ==(Object other) =>
      identical(this, other) ||
      (other is Any && typeUrl == other.typeUrl && protoListEquals(value, other.value));

  @override
  int get hashCode => Object.hash(typeUrl, protoListHash(value));

  @override
  String toString() => 'Any($typeUrl, ${value.length} bytes)';
}

/// A failed call: the status code and message the library returned.
final class Proto2ffiException implements Exception {
  /// The canonical status code.
  final StatusCode code;

  /// The library's message.
  final String message;

  /// `google.rpc.Status.details`.
  final List<Any> details;

  /// An exception.
  Proto2ffiException(this.code, this.message, [List<Any> details = const []])
      : details = List.unmodifiable(details);

  /// Decodes a `google.rpc.Status` payload.
  factory Proto2ffiException.fromStatus(int code, Uint8List payload) {
    var message = '';
    final details = <Any>[];
    var decodedCode = code;
    try {
      final r = ProtoReader(payload);
      while (!r.isAtEnd) {
        final tag = r.readTag();
        switch (tag >>> 3) {
          case 1:
            decodedCode = r.readInt32();
          case 2:
            message = r.readString();
          case 3:
            details.add(Any.readFrom(r.readMessageReader()));
          default:
            r.skipField(tag);
        }
      }
    } on ProtoDecodeError catch (e) {
      message = 'undecodable error payload ($e)';
    }
    return Proto2ffiException(
        StatusCode.fromValue(decodedCode == 0 ? code : decodedCode), message, details);
  }

  @override
  String toString() => 'Proto2ffiException(${code.name}): $message';
}

/// A schema-declared pool (`pool_size`) had no free object: every one is
/// lent out. The pool never grows; release objects or raise `pool_size`.
final class Proto2ffiPoolExhausted implements Exception {
  /// The message's proto full name.
  final String message;

  /// Objects the pool holds.
  final int capacity;

  /// An exception.
  Proto2ffiPoolExhausted(this.message, this.capacity);

  @override
  String toString() => 'Proto2ffiPoolExhausted: all $capacity objects of the $message pool are '
      'in use (release some, or raise its pool_size)';
}

/// Native memory from the C allocator (no `package:ffi`).
final class NativeMemory {
  NativeMemory._();

  static final DynamicLibrary _c = Platform.isWindows
      ? DynamicLibrary.open('ole32.dll')
      : DynamicLibrary.process();

  static final Pointer<Void> Function(int) _alloc = Platform.isWindows
      ? _c.lookupFunction<Pointer<Void> Function(Size), Pointer<Void> Function(int)>(
          'CoTaskMemAlloc')
      : _c.lookupFunction<Pointer<Void> Function(Size), Pointer<Void> Function(int)>(
          'malloc');

  static final void Function(Pointer<Void>) _release = Platform.isWindows
      ? _c.lookupFunction<Void Function(Pointer<Void>), void Function(Pointer<Void>)>(
          'CoTaskMemFree')
      : _c.lookupFunction<Void Function(Pointer<Void>), void Function(Pointer<Void>)>(
          'free');

  /// Allocates `bytes` bytes; throws when the allocator fails.
  static Pointer<Uint8> allocate(int bytes) {
    final p = _alloc(bytes < 1 ? 1 : bytes);
    if (p == nullptr) {
      throw StateError('native allocation of $bytes bytes failed');
    }
    return p.cast<Uint8>();
  }

  /// Releases memory from [allocate].
  static void release(Pointer<NativeType> p) => _release(p.cast<Void>());
}

/// Per-isolate call state for one library: a reusable request buffer in
/// native memory, the `out` struct and a reusable writer. A call copies the
/// encoded request once (Dart heap → native) and allocates no native memory
/// in steady state; the response is decoded straight from the library's
/// buffer, which is freed in `finally` on every path. (Encoding straight
/// into native memory measured slower on the VM here: the writer's stores
/// become polymorphic between heap and external byte lists.)
final class Proto2ffiCaller {
  /// The library's `free`.
  final void Function(Pointer<Proto2ffiBuffer>) free;
  // The library's `buffer_detach` and `buffer_release`: a large response
  // is lent to the decoded message instead of copied (see [_finish]).
  final Pointer<Void> Function(Pointer<Proto2ffiBuffer>)? _detach;
  final Pointer<NativeFinalizerFunction>? _release;
  final Pointer<Proto2ffiBuffer> _out;
  Pointer<Uint8> _request;
  int _capacity;
  // A view of all of `_request` (made once per size, not per call).
  Uint8List _requestView;
  final ProtoWriter _writer = ProtoWriter();

  /// A caller around a library's free function, and its `buffer_detach`
  /// and `buffer_release` when large responses may be lent.
  factory Proto2ffiCaller(void Function(Pointer<Proto2ffiBuffer>) free,
      {Pointer<Void> Function(Pointer<Proto2ffiBuffer>)? detach,
      Pointer<NativeFinalizerFunction>? release}) {
    final request = NativeMemory.allocate(256);
    return Proto2ffiCaller._(
        free, detach, release, request, request.asTypedList(256));
  }

  Proto2ffiCaller._(
      this.free, this._detach, this._release, this._request, this._requestView)
      : _out = NativeMemory.allocate(sizeOf<Proto2ffiBuffer>()).cast(),
        _capacity = _requestView.length;

  /// Responses from this many bytes up are lent (see [_finish]).
  static const int _lendFrom = 16 * 1024;

  Uint8List _viewOut() {
    final out = _out.ref;
    final len = out.len;
    if (len == 0 || out.data == nullptr) return Uint8List(0);
    return out.data.asTypedList(len);
  }

  /// Makes the native request buffer hold at least [n] bytes.
  void _reserve(int n) {
    if (n <= _capacity) return;
    var c = _capacity;
    while (c < n) {
      c *= 2;
    }
    final next = NativeMemory.allocate(c);
    NativeMemory.release(_request);
    _request = next;
    _capacity = c;
    _requestView = next.asTypedList(c);
  }

  /// Copies the first [n] bytes of [bytes] into the native request buffer
  /// (growing it when needed); returns the request pointer to pass (NULL
  /// for an empty request).
  Pointer<Uint8> _copyIn(Uint8List bytes, int n) {
    if (n == 0) return nullptr;
    _reserve(n);
    _requestView.setRange(0, n, bytes);
    return _request;
  }

  /// [_copyIn] of all of [bytes], with the out struct cleared.
  Pointer<Uint8> _stage(Uint8List bytes) {
    _out.ref
      ..data = nullptr
      ..len = 0
      ..capacity = 0;
    return _copyIn(bytes, bytes.length);
  }

  /// [_copyIn] of what [_writer] holds (no view of it is made; large
  /// values it keeps by reference are copied once, straight from the
  /// message).
  Pointer<Uint8> _stageWriter() {
    final w = _writer;
    final n = w.length;
    if (n == 0) return nullptr;
    _reserve(n);
    w._copyTo(_requestView, 0);
    return _request;
  }

  /// The out struct for a fixed-layout call's error argument (the library
  /// zeroes it on entry and fills it only on failure).
  Pointer<Proto2ffiBuffer> get fixedError => _out;

  /// Throws [Proto2ffiException] for a non-zero [code] of a fixed-layout
  /// call (its error payload is in [fixedError]).
  void checkFixed(int code) {
    if (code == 0) return;
    try {
      throw Proto2ffiException.fromStatus(code, Uint8List.fromList(_viewOut()));
    } finally {
      free(_out);
    }
  }

  /// Calls [method] with the message [encode] writes; decodes the response
  /// with [decode] or throws [Proto2ffiException].
  T call<T>(Proto2ffiMethod method, void Function(ProtoWriter) encode,
      T Function(ProtoReader) decode) {
    encode(_writer..clear());
    return _finish(method, decode);
  }

  /// [call] for a message of this package's generated classes: encoded
  /// through its interface (no closure per call).
  T callMessage<T>(Proto2ffiMethod method, ProtoMessage request, T Function(ProtoReader) decode) {
    request.writeTo(_writer..clear());
    return _finish(method, decode);
  }

  // The library writes `*out` on entry (an empty buffer) before anything
  // else, so it is not cleared here.
  //
  // A large successful response is lent rather than copied: the library
  // detaches its buffer (zeroing `*out`), a view of it carries a finalizer
  // that releases it, and the decoder hands out its large `bytes` values
  // as unmodifiable views of that view ([ProtoReader.readBytes]), which
  // keep it alive. The library's memory is released once no decoded value
  // refers to it; nothing writes to it meanwhile.
  T _finish<T>(Proto2ffiMethod method, T Function(ProtoReader) decode) {
    final code = method(_stageWriter(), _writer.length, _out);
    final detach = _detach;
    final release = _release;
    if (code == 0 && detach != null && release != null) {
      final out = _out.ref;
      final len = out.len;
      if (len >= _lendFrom) {
        final data = out.data;
        final handle = detach(_out);
        final lent = data.asTypedList(len, finalizer: release, token: handle);
        return decode(ProtoReader._(lent, 0, len, true));
      }
    }
    try {
      final out = _viewOut();
      if (code != 0) {
        throw Proto2ffiException.fromStatus(code, out);
      }
      return decode(ProtoReader(out));
    } finally {
      free(_out);
    }
  }

  /// Calls [method] with encoded [request]; returns the status code and a
  /// copy of the bytes written to `*out` (used by worker isolates).
  (int, Uint8List) callBytes(Proto2ffiMethod method, Uint8List request) {
    final code = method(_stage(request), request.length, _out);
    try {
      return (code, Uint8List.fromList(_viewOut()));
    } finally {
      free(_out);
    }
  }

  /// Calls a library-wide `int32_t f(buffer *out)` and returns a copy of `*out`.
  Uint8List callOut(int Function(Pointer<Proto2ffiBuffer>) f) {
    _out.ref
      ..data = nullptr
      ..len = 0
      ..capacity = 0;
    final code = f(_out);
    try {
      final bytes = _viewOut();
      if (code != 0) {
        throw Proto2ffiException.fromStatus(code, bytes);
      }
      return Uint8List.fromList(bytes);
    } finally {
      free(_out);
    }
  }
}

/// `<prefix>_log_record`: one log record owned by the library until freed.
final class Proto2ffiLogRecordNative extends Struct {
  @Int32()
  external int level;
  @Uint32()
  external int reserved;
  @Uint64()
  external int timestampMs;
  external Pointer<Uint8> target;
  external Pointer<Uint8> message;
  external Pointer<Uint8> fields;
}

/// Severity of a [Proto2ffiLogRecord] (the numbers of the C ABI).
enum Proto2ffiLogLevel {
  error(1),
  warn(2),
  info(3),
  debug(4),
  trace(5);

  const Proto2ffiLogLevel(this.value);

  /// The C ABI number.
  final int value;

  /// The level of a C ABI number (unknown numbers read as trace).
  static Proto2ffiLogLevel of(int value) =>
      Proto2ffiLogLevel.values.firstWhere((l) => l.value == value, orElse: () => trace);
}

/// A log record of the native library: from `tracing`/`log` in Rust, with
/// the call's `service`, `method` and `call` first in [fields].
final class Proto2ffiLogRecord {
  /// Severity.
  final Proto2ffiLogLevel level;

  /// When it was logged.
  final DateTime time;

  /// The Rust module path (or target) that logged it.
  final String target;

  /// The message.
  final String message;

  /// Structured fields, in order (`incident`, `location`, `client`, …).
  final Map<String, String> fields;

  /// A record.
  const Proto2ffiLogRecord(this.level, this.time, this.target, this.message, this.fields);

  @override
  String toString() {
    final f = fields.entries.map((e) => '${e.key}=${e.value}').join(' ');
    return '${time.toIso8601String()} ${level.name.toUpperCase()} $target: $message'
        '${f.isEmpty ? '' : ' {$f}'}';
  }
}

String _cString(Pointer<Uint8> p) {
  if (p == nullptr) return '';
  var n = 0;
  while (p[n] != 0) {
    n++;
  }
  return utf8.decode(p.asTypedList(n), allowMalformed: true);
}

/// Parses `key=value key2=value2` (values run to the next ` key=`).
Map<String, String> _fields(String text) {
  final out = <String, String>{};
  final keys = RegExp(r'(?:^| )([A-Za-z_][A-Za-z0-9_.]*)=');
  final matches = keys.allMatches(text).toList();
  for (var i = 0; i < matches.length; i++) {
    final m = matches[i];
    final end = i + 1 < matches.length ? matches[i + 1].start : text.length;
    out[m.group(1)!] = text.substring(m.end, end);
  }
  return out;
}

typedef _LogFnNative = Void Function(Pointer<Void>, Pointer<Proto2ffiLogRecordNative>);

/// The log stream of one library in this isolate: while it has a listener,
/// the library delivers records to a [NativeCallable.listener] (from its own
/// thread, never blocking it) and this isolate frees each record after
/// reading it. Cancelling the last subscription removes the sink.
final class Proto2ffiLogs {
  final int Function(Pointer<NativeFunction<_LogFnNative>>, Pointer<Void>) _setSink;
  final Proto2ffiMethod _setFilter;
  final void Function(Pointer<Proto2ffiLogRecordNative>) _free;
  final Proto2ffiCaller _caller;
  NativeCallable<_LogFnNative>? _callable;
  late final StreamController<Proto2ffiLogRecord> _controller =
      StreamController<Proto2ffiLogRecord>.broadcast(onListen: _start, onCancel: _stop);

  /// The log functions of [dylib] (symbols from the shared model).
  Proto2ffiLogs(Proto2ffiSymbols dylib, this._caller, String setSink, String setFilter, String free)
      : _setSink = dylib.lookup<NativeFunction<Int32 Function(Pointer<NativeFunction<_LogFnNative>>, Pointer<Void>)>>(setSink).asFunction<int Function(Pointer<NativeFunction<_LogFnNative>>, Pointer<Void>)>(),
        _setFilter = dylib.lookup<NativeFunction<Proto2ffiMethodNative>>(setFilter).asFunction<Proto2ffiMethod>(),
        _free = dylib.lookup<NativeFunction<Void Function(Pointer<Proto2ffiLogRecordNative>)>>(free).asFunction<void Function(Pointer<Proto2ffiLogRecordNative>)>();

  /// The records, as a broadcast stream.
  Stream<Proto2ffiLogRecord> get stream => _controller.stream;

  void _start() {
    final callable = NativeCallable<_LogFnNative>.listener(_receive);
    callable.keepIsolateAlive = false;
    _callable = callable;
    _setSink(callable.nativeFunction, nullptr);
  }

  void _stop() {
    // Returns only once the library will never call the old sink again
    // (it waits for a record being handed over), so closing the callable
    // right after is safe. Records posted to it before are dropped.
    _setSink(nullptr, nullptr);
    _callable?.close();
    _callable = null;
  }

  void _receive(Pointer<Void> _, Pointer<Proto2ffiLogRecordNative> record) {
    try {
      final r = record.ref;
      _controller.add(Proto2ffiLogRecord(
        Proto2ffiLogLevel.of(r.level),
        DateTime.fromMillisecondsSinceEpoch(r.timestampMs),
        _cString(r.target),
        _cString(r.message),
        _fields(_cString(r.fields)),
      ));
    } finally {
      _free(record);
    }
  }

  /// Sets which records are delivered (`info`, `warn,my_crate=debug`).
  /// Throws [Proto2ffiException] (invalidArgument) for a bad filter.
  void setFilter(String filter) {
    final bytes = Uint8List.fromList(utf8.encode(filter));
    final (code, out) = _caller.callBytes(_setFilter, bytes);
    if (code != 0) throw Proto2ffiException.fromStatus(code, out);
  }
}

/// Where a library's exported functions are found: a [DynamicLibrary]
/// opened by path ([Proto2ffiDylibSymbols]), or the code asset a build hook
/// bundled, resolved through `@Native` declarations (the generated client's
/// `bundled()` constructors).
abstract interface class Proto2ffiSymbols {
  /// The address of [symbol]; throws [ArgumentError] when it is not exported.
  Pointer<T> lookup<T extends NativeType>(String symbol);

  /// Whether [symbol] is exported.
  bool providesSymbol(String symbol);
}

/// The symbols of a [DynamicLibrary].
final class Proto2ffiDylibSymbols implements Proto2ffiSymbols {
  /// The library.
  final DynamicLibrary dylib;

  /// The symbols of [dylib].
  const Proto2ffiDylibSymbols(this.dylib);

  @override
  Pointer<T> lookup<T extends NativeType>(String symbol) => dylib.lookup<T>(symbol);

  @override
  bool providesSymbol(String symbol) => dylib.providesSymbol(symbol);
}

/// Opens a native library: [path] when given, else the platform default for
/// [name] — the process itself on iOS (static linking), `lib<name>.dylib` on
/// macOS, `<name>.dll` on Windows, `lib<name>.so` elsewhere.
DynamicLibrary proto2ffiOpenLibrary(String? path, String name) {
  try {
    return path != null
        ? DynamicLibrary.open(path)
        : Platform.isIOS
            ? DynamicLibrary.process()
            : Platform.isMacOS
                ? DynamicLibrary.open('lib$name.dylib')
                : Platform.isWindows
                    ? DynamicLibrary.open('$name.dll')
                    : DynamicLibrary.open('lib$name.so');
  } on ArgumentError catch (e) {
    throw Proto2ffiLoadError(path != null
        ? 'cannot load the native library $path: $e. Check that the file exists, is readable '
            'and was built for this platform and architecture.'
        : 'cannot load the native library $name from the platform default location: $e. '
            'Pass its path to open(), or put it where the platform loader finds it.');
  }
}

/// One call Rust made into a host implementation (see
/// [Proto2ffiHostBinding]): its id and a token cancelled when Rust gives
/// up on it (its future was dropped, its deadline passed, or the library
/// shut down). An implementation may stop early then: its answer would be
/// refused anyway.
final class Proto2ffiHostCall {
  /// The id the library gave the call.
  final int callId;

  /// Cancelled when Rust no longer waits for the answer.
  final Proto2ffiCancelToken cancelToken = Proto2ffiCancelToken();

  Proto2ffiHostCall._(this.callId);

  /// Whether Rust gave up on this call.
  bool get isCancelled => cancelToken.isCancelled;
}

/// `int32_t (*)(void *context, uint64_t call_id, int32_t method, const
/// uint8_t *request, size_t request_len)`: a host implementation's callback.
typedef Proto2ffiHostFnNative = Int32 Function(Pointer<Void>, Uint64, Int32, Pointer<Uint8>, Size);

/// Runs one host method: [method] is its index in the service, [request]
/// its encoded request; completes with the encoded response.
typedef Proto2ffiHostDispatch = Future<Uint8List> Function(
    int method, Uint8List request, Proto2ffiHostCall call);

/// A host implementation bound to the library, serving Rust's calls on the
/// isolate that bound it.
///
/// The library posts each request from the calling Rust thread to a port of
/// this isolate (`NativeApi.postCObject`, as async completions are); the
/// implementation runs here, and its answer goes back through the leaf call
/// `host_complete`. An exception becomes the call's status: a
/// [Proto2ffiException] keeps its code and message, anything else is
/// `UNKNOWN` with only the exception's type (its text may hold what the
/// app would not log).
///
/// [unbind] ends it: calls Rust still waits for complete with
/// `UNAVAILABLE`, and no request reaches this isolate after. The binding
/// serves until then even if the app drops this object. If the isolate
/// exits while bound, the library finds out (a post fails, or this object's
/// finalizer runs), unbinds, and fails those calls with
/// `UNAVAILABLE`: nothing calls into a dead isolate. (While calls wait, the
/// library pings the binding every 200 ms, so an exited isolate is noticed
/// within that even if no other call comes.) Like a receive port, a binding
/// keeps its isolate alive until [unbind].
final class Proto2ffiHostBinding implements Finalizable {
  final String _service;
  final Proto2ffiCaller _caller;
  final Proto2ffiHostDispatch _dispatch;
  final int Function(int, int, Pointer<Uint8>, int) _complete;
  final int Function(int) _unbind;
  final void Function(Pointer<Void>) _close;
  final NativeFinalizer _unbinder;
  final NativeFinalizer _closer;
  final Map<int, Proto2ffiHostCall> _calls = {};
  late final RawReceivePort _port;
  late final Pointer<Void> _context;
  int _binding = 0;

  Proto2ffiHostBinding._(Proto2ffiSymbols symbols, this._caller, this._service, this._dispatch,
      {required String complete,
      required String unbind,
      required String finalize,
      required String close})
      : _complete = symbols
            .lookup<NativeFunction<Int32 Function(Uint64, Int32, Pointer<Uint8>, Size)>>(complete)
            // A leaf call: completing wakes a Rust task or thread and never
            // calls into Dart.
            .asFunction<int Function(int, int, Pointer<Uint8>, int)>(isLeaf: true),
        // Not a leaf call: it waits for callbacks in progress.
        _unbind = symbols
            .lookup<NativeFunction<Int32 Function(Uint64)>>(unbind)
            .asFunction<int Function(int)>(),
        _close = symbols
            .lookup<NativeFunction<Void Function(Pointer<Void>)>>(close)
            .asFunction<void Function(Pointer<Void>)>(),
        _unbinder = NativeFinalizer(
            symbols.lookup<NativeFunction<Void Function(Pointer<Void>)>>(finalize).cast()),
        _closer = NativeFinalizer(
            symbols.lookup<NativeFunction<Void Function(Pointer<Void>)>>(close).cast());

  /// Binds [dispatch] as the host implementation of [service] (used by the
  /// generated `bind…` methods). Throws [Proto2ffiLoadError] when the
  /// library refuses it.
  factory Proto2ffiHostBinding.bind(Proto2ffiSymbols symbols, Proto2ffiCaller caller,
      String describe, String service, Proto2ffiHostDispatch dispatch,
      {required String bind,
      required String complete,
      required String unbind,
      required String finalize,
      required String open,
      required String close,
      required String callback,
      required String initApi}) {
    // So that the library can tell which isolate a thread runs: a blocking
    // call from this isolate into its own implementation fails at once.
    symbols
        .lookup<NativeFunction<Int32 Function(Pointer<Void>)>>(initApi)
        .asFunction<int Function(Pointer<Void>)>()(NativeApi.initializeApiDLData);
    final binding = Proto2ffiHostBinding._(symbols, caller, service, dispatch,
        complete: complete, unbind: unbind, finalize: finalize, close: close);
    final openContext = symbols
        .lookup<NativeFunction<Pointer<Void> Function(Pointer<Void>, Int64)>>(open)
        .asFunction<Pointer<Void> Function(Pointer<Void>, int)>();
    final bindFn = symbols
        .lookup<NativeFunction<Uint64 Function(Pointer<NativeFunction<Proto2ffiHostFnNative>>, Pointer<Void>)>>(bind)
        .asFunction<int Function(Pointer<NativeFunction<Proto2ffiHostFnNative>>, Pointer<Void>)>();
    // Like any receive port, it keeps the isolate alive until [unbind].
    binding._port = RawReceivePort(binding._onRequest, 'proto2ffi host $service');
    final context = openContext(NativeApi.postCObject.cast(), binding._port.sendPort.nativePort);
    if (context == nullptr) {
      binding._port.close();
      throw Proto2ffiLoadError('$describe could not open a context for the host of $service');
    }
    binding._context = context;
    binding._closer.attach(binding, context, detach: binding._closer);
    final id = bindFn(symbols.lookup<NativeFunction<Proto2ffiHostFnNative>>(callback), context);
    if (id == 0) {
      binding._closer.detach(binding._closer);
      binding._close(context);
      binding._port.close();
      throw Proto2ffiLoadError('$describe refused the host implementation of $service');
    }
    binding._binding = id;
    binding._unbinder.attach(binding, Pointer<Void>.fromAddress(id), detach: binding);
    _live.add(binding);
    return binding;
  }

  /// Bindings of this isolate until unbound: one the app dropped still
  /// serves (only [unbind] or the isolate's exit ends it).
  static final Set<Proto2ffiHostBinding> _live = {};

  /// Whether this binding still serves calls (not unbound).
  bool get isBound => _binding != 0;

  /// Calls being served now.
  int get pendingCalls => _calls.length;

  /// Stops serving: calls Rust still waits for complete with `UNAVAILABLE`
  /// and their [Proto2ffiHostCall.cancelToken]s are cancelled. Idempotent.
  void unbind() {
    final id = _binding;
    if (id == 0) return;
    _binding = 0;
    _live.remove(this);
    _unbinder.detach(this);
    _unbind(id);
    _closer.detach(_closer);
    _close(_context);
    _port.close();
    final calls = List.of(_calls.values);
    _calls.clear();
    for (final c in calls) {
      c.cancelToken.cancel();
    }
  }

  void _onRequest(Object? message) {
    final bytes = message as Uint8List;
    final data = ByteData.sublistView(bytes);
    final callId = data.getUint64(0, Endian.little);
    final method = data.getInt32(8, Endian.little);
    if (method == _proto2ffiHostCancelled) {
      _calls.remove(callId)?.cancelToken.cancel();
      return;
    }
    // A ping (the post succeeding was the answer), or unbound meanwhile.
    if (method < 0 || _binding == 0) return;
    final call = Proto2ffiHostCall._(callId);
    _calls[callId] = call;
    final request = Uint8List.sublistView(bytes, 12);
    Future<Uint8List>.sync(() => _dispatch(method, request, call)).then((response) {
      _finish(call, 0, response);
    }, onError: (Object e, StackTrace _) {
      if (e is Proto2ffiException) {
        _finish(call, e.code.value == 0 ? StatusCode.unknown.value : e.code.value,
            Uint8List.fromList(utf8.encode(e.message)));
      } else {
        _finish(call, StatusCode.unknown.value,
            Uint8List.fromList(utf8.encode('the host implementation of $_service threw ${e.runtimeType}')));
      }
    });
  }

  void _finish(Proto2ffiHostCall call, int status, Uint8List bytes) {
    if (_calls.remove(call.callId) == null || _binding == 0) return;
    // NOT_FOUND (Rust gave up meanwhile) needs nothing more; the library
    // already failed a too-large answer with RESOURCE_EXHAUSTED.
    _complete(call.callId, status, _caller._stage(bytes), bytes.length);
  }
}

/// The method a host callback gets for a cancelled call.
const int _proto2ffiHostCancelled = -1;

/// `void (*)(void *context, uint64_t call_id, int32_t status, const uint8_t
/// *data, size_t len)`: the completion callback of `*_start` functions.
typedef Proto2ffiCallbackNative = Void Function(Pointer<Void>, Uint64, Int32, Pointer<Uint8>, Size);

/// `uint64_t start(const uint8_t *request, size_t request_len, uint32_t
/// timeout_ms, callback, void *context)`: starts an async or
/// server-streaming call and returns its id.
typedef Proto2ffiStartNative = Uint64 Function(
    Pointer<Uint8>, Size, Uint32, Pointer<NativeFunction<Proto2ffiCallbackNative>>, Pointer<Void>);

/// Dart form of [Proto2ffiStartNative].
typedef Proto2ffiStart = int Function(
    Pointer<Uint8>, int, int, Pointer<NativeFunction<Proto2ffiCallbackNative>>, Pointer<Void>);

/// `uint64_t start(uint32_t timeout_ms, callback, void *context)`: starts a
/// client-streaming or bidirectional call (its requests follow with
/// `stream_send`) and returns its id.
typedef Proto2ffiStreamingStartNative = Uint64 Function(
    Uint32, Pointer<NativeFunction<Proto2ffiCallbackNative>>, Pointer<Void>);

/// Dart form of [Proto2ffiStreamingStartNative].
typedef Proto2ffiStreamingStart = int Function(
    int, Pointer<NativeFunction<Proto2ffiCallbackNative>>, Pointer<Void>);

/// Cancels the async calls and streams it is passed to (the `CancelToken`
/// convention): each ends at once with [StatusCode.cancelled], and its Rust
/// future is dropped at its next `.await`. A call started with a token that
/// is already cancelled fails without reaching the library.
final class Proto2ffiCancelToken {
  bool _cancelled = false;
  final Set<void Function()> _listeners = {};

  /// Whether [cancel] was called.
  bool get isCancelled => _cancelled;

  /// Cancels every call this token was passed to (idempotent).
  void cancel() {
    if (_cancelled) return;
    _cancelled = true;
    final listeners = List.of(_listeners);
    _listeners.clear();
    for (final l in listeners) {
      l();
    }
  }
}

sealed class _AsyncCall {
  void Function()? unlink;

  /// The requests of a client or bidi stream going out.
  _Sender? sender;
}

/// Sends a Dart stream of requests into a client or bidi call. Items are
/// encoded as they come into a batch of framed requests, sent with one
/// `stream_send_items` when it holds [_maxItems] items or [_maxBytes]
/// bytes, and otherwise at the next turn of the event loop (a stream that
/// delivers its items in one burst of microtasks crosses once per batch,
/// not once per item). The library checks and decodes each item. When its
/// window is full, the rest of the batch is kept and the subscription
/// paused (backpressure on the Dart producer) until the library's
/// `STREAM_WRITABLE` event; when the requests end, what is batched is sent
/// and `stream_close_send` ends the Rust handler's request stream. A
/// refused item ends the call (its final event carries the status), which
/// stops the sending.
final class _Sender {
  /// Half the library's window: the batch fits with room to spare.
  static const int _maxItems = _proto2ffiStreamWindow ~/ 2;
  static const int _maxBytes = 64 * 1024;

  final Proto2ffiAsync _calls;
  final int _id;
  final void Function(Object?, ProtoWriter) _encode;
  StreamSubscription<Object?>? _subscription;
  final ProtoWriter _batch = ProtoWriter();
  int _count = 0;
  bool _flushScheduled = false;
  Uint8List? _waiting;
  // Whether this sender paused the subscription: pauses nest, so it
  // pauses once however often the window fills before it resumes.
  bool _paused = false;
  bool _ended = false;
  bool _stopped = false;

  _Sender(this._calls, this._id, this._encode);

  void listen<Q>(Stream<Q> requests, void Function(Object, StackTrace) onError) {
    _subscription = requests.listen((item) {
      if (_stopped) return;
      // Framed in place: the length prefix is fixed up after the item.
      final start = _batch.beginLength();
      _encode(item, _batch);
      _batch.endLength(start);
      _count++;
      if (_count >= _maxItems || _batch.length >= _maxBytes) {
        _flush();
      } else if (!_flushScheduled) {
        _flushScheduled = true;
        Timer.run(_flushLater);
      }
    }, onError: (Object e, StackTrace s) {
      stop();
      onError(e, s);
    }, onDone: () {
      _ended = true;
      _subscription = null;
      _flush();
      if (_waiting == null) _close();
    }, cancelOnError: true);
  }

  void _flushLater() {
    _flushScheduled = false;
    _flush();
  }

  /// Sends the batch, unless the window is full (it goes after
  /// `STREAM_WRITABLE`).
  void _flush() {
    if (_count == 0 || _stopped || _waiting != null) return;
    final bytes = _batch.buffer;
    _batch.clear();
    _count = 0;
    _offer(bytes);
  }

  /// Sends framed [bytes]; keeps a copy of what did not fit and pauses
  /// when the window is full.
  void _offer(Uint8List bytes) {
    if (_stopped) return;
    final (code, taken) = _calls._sendItems(_id, bytes);
    if (code == _proto2ffiStreamWritable) {
      _waiting = Uint8List.fromList(Uint8List.sublistView(bytes, taken));
      if (!_paused) {
        _paused = true;
        _subscription?.pause();
      }
    } else if (code != 0) {
      // Refused (the call ended with this status) or already over: the
      // final event reports it.
      stop();
    }
  }

  /// The library has room again.
  void writable() {
    final waiting = _waiting;
    if (waiting == null || _stopped) return;
    _waiting = null;
    _offer(waiting);
    if (_waiting != null || _stopped) return;
    _flush();
    if (_waiting != null || _stopped) return;
    if (_ended) {
      _close();
    } else if (_paused) {
      _paused = false;
      _subscription?.resume();
    }
  }

  void _close() {
    if (_stopped) return;
    _stopped = true;
    _calls._closeSend(_id);
  }

  /// Stops reading the requests (the call is over).
  void stop() {
    _stopped = true;
    _waiting = null;
    _subscription?.cancel();
    _subscription = null;
  }
}

final class _UnaryCall<T> extends _AsyncCall {
  final Completer<T> completer;
  final T Function(ProtoReader) decode;
  _UnaryCall(this.completer, this.decode);
}

final class _StreamCall<T> extends _AsyncCall {
  final StreamController<T> controller;
  final T Function(ProtoReader) decode;
  bool ready = false;
  _StreamCall(this.controller, this.decode);
}

/// Async calls and server streams of one library in this isolate.
///
/// Completion does not hop through a helper isolate: the library posts each
/// event from its own thread straight to one `RawReceivePort` of this
/// isolate (`NativeApi.postCObject`, registered once with the library's
/// `dart_open`), as a `Uint8List`: call id (8 bytes), status (4), data.
/// A server stream's event only says items wait: they are then taken in one
/// batch with `stream_next` — unless the listener paused the subscription,
/// in which case nothing is taken, the library's bounded queue fills and
/// the Rust producer waits (backpressure) until the listener resumes.
/// Cancelling the subscription cancels the Rust stream.
///
/// When this isolate exits with calls in flight, the port closes; the
/// library's next post fails, and it cancels the call: nothing runs on for
/// a dead isolate and no callback reaches it.
final class Proto2ffiAsync implements Finalizable {
  final Proto2ffiSymbols _dylib;
  final Proto2ffiCaller _caller;
  final String _describe;
  final int Function(int) _cancel;
  final int Function(int, int, Pointer<Proto2ffiBuffer>) _next;
  final Pointer<NativeFunction<Proto2ffiCallbackNative>> _callback;
  final Pointer<Void> Function(Pointer<Void>, int) _open;
  final int Function(int, Pointer<Proto2ffiBuffer>) _takeInline;
  final int Function(int, Pointer<Uint8>, int, Pointer<Size>) _sendItemsFn;
  final Pointer<Size> _taken = NativeMemory.allocate(sizeOf<Size>()).cast();
  final int Function(int) _closeSend;
  final Pointer<Proto2ffiBuffer> _out = NativeMemory.allocate(sizeOf<Proto2ffiBuffer>()).cast();
  final Map<int, _AsyncCall> _calls = {};
  late final RawReceivePort _port = RawReceivePort(_onEvent, 'proto2ffi async')
    ..keepIsolateAlive = false;
  Pointer<Void>? _contextPointer;

  /// Closes this isolate's completion context when this object is
  /// collected (at the latest after the isolate exits), so that contexts
  /// of exited isolates do not pile up in the library.
  final NativeFinalizer _closer;

  /// Binds the library-wide exports (`cancel`, `stream_next`,
  /// `stream_send_items`, `stream_close_send`, `dart_open`, `dart_close`,
  /// `dart_callback`, `dart_take`) of [dylib].
  Proto2ffiAsync(this._dylib, this._caller, this._describe,
      {required String cancel,
      required String streamNext,
      required String streamSendItems,
      required String streamCloseSend,
      required String open,
      required String close,
      required String callback,
      required String take})
      // Not a leaf call: cancelling completes the call, which posts to a
      // port from inside the call.
      : _cancel = _dylib.lookup<NativeFunction<Int32 Function(Uint64)>>(cancel).asFunction<int Function(int)>(),
        _closer = NativeFinalizer(
            _dylib.lookup<NativeFunction<Void Function(Pointer<Void>)>>(close).cast()),
        _next = _dylib.lookup<NativeFunction<Int32 Function(Uint64, Uint32, Pointer<Proto2ffiBuffer>)>>(streamNext).asFunction<int Function(int, int, Pointer<Proto2ffiBuffer>)>(),
        _open = _dylib.lookup<NativeFunction<Pointer<Void> Function(Pointer<Void>, Int64)>>(open).asFunction<Pointer<Void> Function(Pointer<Void>, int)>(),
        _takeInline = _dylib.lookup<NativeFunction<Int32 Function(Uint64, Pointer<Proto2ffiBuffer>)>>(take).asFunction<int Function(int, Pointer<Proto2ffiBuffer>)>(isLeaf: true),
        // Not leaf calls: a refused item completes its call, which posts.
        _sendItemsFn = _dylib.lookup<NativeFunction<Int32 Function(Uint64, Pointer<Uint8>, Size, Pointer<Size>)>>(streamSendItems).asFunction<int Function(int, Pointer<Uint8>, int, Pointer<Size>)>(),
        _closeSend = _dylib.lookup<NativeFunction<Int32 Function(Uint64)>>(streamCloseSend).asFunction<int Function(int)>(),
        _callback = _dylib.lookup<NativeFunction<Proto2ffiCallbackNative>>(callback);

  Pointer<Void> get _context {
    final existing = _contextPointer;
    if (existing != null) return existing;
    final c = _open(NativeApi.postCObject.cast(), _port.sendPort.nativePort);
    if (c == nullptr) {
      throw Proto2ffiLoadError('$_describe could not open a completion context for this isolate');
    }
    _closer.attach(this, c);
    return _contextPointer = c;
  }

  /// Looks up a `*_start` entry point.
  Proto2ffiStart bind(String symbol) {
    try {
      return _dylib.lookup<NativeFunction<Proto2ffiStartNative>>(symbol).asFunction<Proto2ffiStart>();
    } on ArgumentError {
      throw Proto2ffiLoadError('$_describe does not export $symbol: the library was built from '
          'another schema or prefix; rebuild it and regenerate this client.');
    }
  }

  /// Looks up the `*_start` entry point of a client-streaming or bidi
  /// method.
  Proto2ffiStreamingStart bindStreaming(String symbol) {
    try {
      return _dylib.lookup<NativeFunction<Proto2ffiStreamingStartNative>>(symbol).asFunction<Proto2ffiStreamingStart>();
    } on ArgumentError {
      throw Proto2ffiLoadError('$_describe does not export $symbol: the library was built from '
          'another schema or prefix; rebuild it and regenerate this client.');
    }
  }

  /// Async calls and streams of this isolate not completed yet.
  int get pending => _calls.length;

  int _start(Proto2ffiStart start, void Function(ProtoWriter) encode, Duration? timeout) {
    final w = _caller._writer..clear();
    encode(w);
    // The library decodes the request before `start` returns, so the
    // staging buffer is free again right after.
    return start(_caller._stageWriter(), w.length, _timeoutMs(timeout), _callback, _context);
  }

  /// `stream_send_items` with framed [bytes]: the code and the bytes the
  /// library took.
  (int, int) _sendItems(int id, Uint8List bytes) {
    _taken.value = 0;
    final code = _sendItemsFn(id, _caller._stage(bytes), bytes.length, _taken);
    return (code, _taken.value);
  }

  void _track(int id, _AsyncCall call, Proto2ffiCancelToken? cancel) {
    _calls[id] = call;
    _port.keepIsolateAlive = true;
    if (cancel != null) {
      void listener() => _cancel(id);
      cancel._listeners.add(listener);
      call.unlink = () => cancel._listeners.remove(listener);
    }
  }

  void _forget(int id) {
    final call = _calls.remove(id);
    call?.unlink?.call();
    call?.sender?.stop();
    _port.keepIsolateAlive = _calls.isNotEmpty;
  }

  int _timeoutMs(Duration? timeout) =>
      timeout == null ? 0 : timeout.inMilliseconds.clamp(1, 0xffffffff);

  /// Starts a client-streaming call: each item of [requests] is sent as it
  /// comes (pausing [requests] while the library's window is full), and the
  /// end of [requests] ends the handler's request stream. The future
  /// completes with the decoded response or throws [Proto2ffiException]
  /// (the status of a refused request included); an error in [requests]
  /// cancels the call and completes the future with that error.
  Future<T> clientStream<Q, T>(Proto2ffiStreamingStart start, Stream<Q> requests,
      void Function(Q, ProtoWriter) encode, T Function(ProtoReader) decode,
      {Proto2ffiCancelToken? cancel, Duration? timeout}) {
    if (cancel != null && cancel.isCancelled) {
      return Future.error(_cancelledEarly());
    }
    final completer = Completer<T>();
    final id = start(_timeoutMs(timeout), _callback, _context);
    final call = _UnaryCall<T>(completer, decode);
    _track(id, call, cancel);
    _sendAll(id, call, requests, encode, (e, s) {
      if (!completer.isCompleted) completer.completeError(e, s);
    });
    return completer.future;
  }

  /// Starts a bidirectional call when the returned stream is listened to:
  /// requests as by [clientStream], responses as by [stream].
  Stream<T> bidi<Q, T>(Proto2ffiStreamingStart start, Stream<Q> requests,
      void Function(Q, ProtoWriter) encode, T Function(ProtoReader) decode,
      {Proto2ffiCancelToken? cancel, Duration? timeout}) =>
      _responses(decode, cancel, () => start(_timeoutMs(timeout), _callback, _context),
          (id, call) => _sendAll(id, call, requests, encode, (e, s) {
                final c = call.controller;
                if (c.isClosed) return;
                c
                  ..addError(e, s)
                  ..close();
              }));

  void _sendAll<Q>(int id, _AsyncCall call, Stream<Q> requests,
      void Function(Q, ProtoWriter) encode, void Function(Object, StackTrace) fail) {
    // The call may have completed inside `start` (refused): nothing to send.
    if (_calls[id] != call) return;
    final sender = _Sender(this, id, (item, w) => encode(item as Q, w));
    call.sender = sender;
    sender.listen(requests, (e, s) {
      if (_calls[id] != call) return;
      _forget(id);
      _cancel(id);
      fail(e, s);
    });
  }

  /// Starts an async unary call; the future completes with the decoded
  /// response or throws [Proto2ffiException] (`cancelled` after [cancel],
  /// `deadlineExceeded` after [timeout]).
  Future<T> unary<T>(Proto2ffiStart start, void Function(ProtoWriter) encode,
      T Function(ProtoReader) decode,
      {Proto2ffiCancelToken? cancel, Duration? timeout}) {
    if (cancel != null && cancel.isCancelled) {
      return Future.error(_cancelledEarly());
    }
    final completer = Completer<T>();
    final id = _start(start, encode, timeout);
    final call = _UnaryCall<T>(completer, decode);
    // A handler that was ready without waiting completed inside `start`:
    // its result is kept for us instead of posted (no message round trip).
    final status = _takeInline(id, _out);
    if (status >= 0) {
      try {
        final out = _out.ref;
        _completeUnary(
            call, status, out.data == nullptr ? Uint8List(0) : out.data.asTypedList(out.len));
      } finally {
        _caller.free(_out);
      }
      return completer.future;
    }
    // Events are delivered to this isolate's event loop, never before this
    // synchronous code finishes: tracking after `start` returns is in time.
    _track(id, call, cancel);
    return completer.future;
  }

  /// Starts a server stream when the returned stream is listened to. Pause
  /// the subscription to pause the Rust producer; cancel it (or [cancel])
  /// to cancel the Rust stream. Errors end the stream with
  /// [Proto2ffiException].
  Stream<T> stream<T>(Proto2ffiStart start, void Function(ProtoWriter) encode,
      T Function(ProtoReader) decode,
      {Proto2ffiCancelToken? cancel, Duration? timeout}) =>
      _responses(decode, cancel, () => _start(start, encode, timeout));

  /// A stream of responses whose call [begin]s when it is listened to (then
  /// [started] runs, e.g. to send requests); pausing the subscription
  /// pauses the Rust producer, cancelling it cancels the call.
  Stream<T> _responses<T>(T Function(ProtoReader) decode, Proto2ffiCancelToken? cancel,
      int Function() begin,
      [void Function(int id, _StreamCall<T> call)? started]) {
    var id = 0;
    late final _StreamCall<T> call;
    final controller = StreamController<T>(sync: true);
    call = _StreamCall<T>(controller, decode);
    controller
      ..onListen = () {
        if (cancel != null && cancel.isCancelled) {
          controller
            ..addError(_cancelledEarly())
            ..close();
          return;
        }
        id = begin();
        _track(id, call, cancel);
        started?.call(id, call);
      }
      ..onResume = () {
        if (call.ready && _calls[id] == call) _take(id, call);
      }
      ..onCancel = () {
        if (_calls[id] == call) {
          _forget(id);
          _cancel(id);
        }
      };
    return controller.stream;
  }

  static Proto2ffiException _cancelledEarly() =>
      Proto2ffiException(StatusCode.cancelled, 'cancelled before the call started');

  void _onEvent(Object? message) {
    final m = message as Uint8List;
    final header = ByteData.sublistView(m, 0, 12);
    final id = header.getUint64(0, Endian.little);
    final status = header.getInt32(8, Endian.little);
    final call = _calls[id];
    if (call == null) return; // cancelled here already, or a late doorbell
    if (status == _proto2ffiStreamWritable) {
      call.sender?.writable();
      return;
    }
    switch (call) {
      case _UnaryCall():
        _forget(id);
        _completeUnary(call, status, Uint8List.sublistView(m, 12));
      case _StreamCall():
        if (status == _proto2ffiStreamItems) {
          call.ready = true;
          if (!call.controller.isPaused) _take(id, call);
          return;
        }
        _forget(id);
        final c = call.controller;
        if (status != 0) {
          c.addError(Proto2ffiException.fromStatus(status, Uint8List.sublistView(m, 12)));
        }
        c.close();
    }
  }

  void _completeUnary<T>(_UnaryCall<T> call, int status, Uint8List data) {
    if (status != 0) {
      call.completer.completeError(Proto2ffiException.fromStatus(status, data));
      return;
    }
    try {
      call.completer.complete(call.decode(ProtoReader(data)));
    } catch (e, s) {
      call.completer.completeError(e, s);
    }
  }

  /// Takes every waiting item of a stream in one `stream_next` call, and
  /// again at once while each take finds at least half the window: a fast
  /// producer refills the queue while this isolate decodes, so the next
  /// batch is taken without waiting for its doorbell (a message through
  /// the event loop). Bounded, so an endless stream still lets the event
  /// loop run; a doorbell rung meanwhile only finds less to take.
  void _take<T>(int id, _StreamCall<T> call) {
    call.ready = false;
    for (var round = 0; round < 8; round++) {
      if (_takeOnce(id, call) < _proto2ffiStreamWindow ~/ 2) return;
      if (call.controller.isPaused || _calls[id] != call) return;
    }
  }

  /// One `stream_next`: the number of items it delivered.
  int _takeOnce<T>(int id, _StreamCall<T> call) {
    _out.ref
      ..data = nullptr
      ..len = 0
      ..capacity = 0;
    final code = _next(id, 0, _out);
    var n = 0;
    try {
      if (code != 0) return 0; // completed meanwhile: its final event follows
      final out = _out.ref;
      if (out.data == nullptr || out.len == 0) return 0;
      final r = ProtoReader(out.data.asTypedList(out.len));
      while (!r.isAtEnd) {
        final item = call.decode(r.readMessageReader());
        n++;
        call.controller.add(item);
      }
    } catch (e, s) {
      call.controller.addError(e, s);
      return 0;
    } finally {
      _caller.free(_out);
    }
    return n;
  }
}

/// Writes the protobuf wire format into a growable, reusable buffer.
final class ProtoWriter {
  Uint8List _buf = Uint8List(256);
  // Bytes in [_buf]; [length] adds the large fields kept by reference.
  int _len = 0;
  ByteData? _data;

  // Large `bytes` and `string` values are not copied into [_buf]: each is
  // kept by reference with the position in [_buf] it comes before
  // (positions never decrease), and copied once, when a caller stages the
  // message into native memory, or when [buffer] flattens the writer. The
  // values are immutable message fields and a writer is filled and staged
  // synchronously, so nothing can change them in between.
  List<int>? _chunkAt;
  List<Uint8List>? _chunks;
  int _chunked = 0;

  /// Values from this many bytes up are kept by reference (see above).
  static const int _chunkMin = 2048;

  /// Bytes written so far (a view; valid until the next write).
  Uint8List get buffer {
    _flatten();
    return Uint8List.sublistView(_buf, 0, _len);
  }

  /// Number of bytes written.
  int get length => _len + _chunked;

  /// Forgets what was written; keeps the memory.
  void clear() {
    _len = 0;
    if (_chunks != null) {
      _chunks = null;
      _chunkAt = null;
      _chunked = 0;
    }
  }

  /// Copies everything written, in order, to [to] from [offset] (which
  /// has room for [length] bytes).
  void _copyTo(Uint8List to, int offset) {
    final chunks = _chunks;
    if (chunks == null) {
      to.setRange(offset, offset + _len, _buf);
      return;
    }
    final at = _chunkAt!;
    var from = 0;
    var dst = offset;
    for (var i = 0; i < chunks.length; i++) {
      final p = at[i];
      to.setRange(dst, dst + p - from, _buf, from);
      dst += p - from;
      from = p;
      final c = chunks[i];
      to.setRange(dst, dst + c.length, c);
      dst += c.length;
    }
    to.setRange(dst, dst + _len - from, _buf, from);
  }

  /// Copies the values kept by reference into [_buf].
  void _flatten() {
    if (_chunks == null) return;
    final n = length;
    var size = _buf.length;
    while (size < n) {
      size *= 2;
    }
    final next = Uint8List(size);
    _copyTo(next, 0);
    _buf = next;
    _data = null;
    _len = n;
    _chunks = null;
    _chunkAt = null;
    _chunked = 0;
  }

  /// A copy of the bytes written.
  Uint8List toBytes() => Uint8List.fromList(buffer);

  void _ensure(int extra) {
    final need = _len + extra;
    if (need <= _buf.length) return;
    var size = _buf.length * 2;
    while (size < need) {
      size *= 2;
    }
    final next = Uint8List(size)..setRange(0, _len, _buf);
    _buf = next;
    _data = null;
  }

  ByteData get _bytes => _data ??= ByteData.sublistView(_buf);

  /// A field key.
  void writeTag(int field, int wireType) => writeVarint((field << 3) | wireType);

  /// An unsigned 64-bit varint (negative Dart ints write 10 bytes).
  void writeVarint(int v) {
    _ensure(10);
    while (v < 0 || v >= 0x80) {
      _buf[_len++] = (v & 0x7f) | 0x80;
      v = v >>> 7;
    }
    _buf[_len++] = v;
  }

  /// int32/int64/enum (negative values sign-extend to 10 bytes).
  void writeInt(int v) => writeVarint(v);

  /// sint32.
  void writeSint32(int v) => writeVarint(((v << 1) ^ (v >> 31)).toUnsigned(32));

  /// sint64.
  void writeSint64(int v) => writeVarint((v << 1) ^ (v >> 63));

  /// fixed32 / sfixed32.
  void writeFixed32(int v) {
    _ensure(4);
    _bytes.setUint32(_len, v.toUnsigned(32), Endian.little);
    _len += 4;
  }

  /// fixed64 / sfixed64.
  void writeFixed64(int v) {
    _ensure(8);
    _bytes.setInt64(_len, v, Endian.little);
    _len += 8;
  }

  /// float.
  void writeFloat(double v) {
    _ensure(4);
    _bytes.setFloat32(_len, v, Endian.little);
    _len += 4;
  }

  /// double.
  void writeDouble(double v) {
    _ensure(8);
    _bytes.setFloat64(_len, v, Endian.little);
    _len += 8;
  }

  /// bool.
  void writeBool(bool v) => writeVarint(v ? 1 : 0);

  /// Raw bytes (no length).
  void writeRaw(List<int> bytes) {
    _ensure(bytes.length);
    _buf.setRange(_len, _len + bytes.length, bytes);
    _len += bytes.length;
  }

  /// Length-delimited bytes. A [Uint8List] of 2 KiB or more is kept by
  /// reference until the bytes are staged or read ([buffer], [toBytes]):
  /// it must not change meanwhile (message fields never do).
  void writeBytes(List<int> bytes) {
    writeVarint(bytes.length);
    if (bytes.length >= _chunkMin && bytes is Uint8List) {
      (_chunkAt ??= <int>[]).add(_len);
      (_chunks ??= <Uint8List>[]).add(bytes);
      _chunked += bytes.length;
      return;
    }
    writeRaw(bytes);
  }

  /// Length-delimited UTF-8.
  void writeString(String s) => writeBytes(utf8.encode(s));

  /// Starts a length-delimited section; pass the result to [endLength].
  int beginLength() {
    _ensure(1);
    _len += 1;
    return _len;
  }

  /// Ends a section started with [beginLength], fixing its length prefix.
  void endLength(int start) {
    var size = _len - start;
    // Values kept by reference inside the section count in its length and
    // move with its bytes.
    final at = _chunkAt;
    var inside = at == null ? 0 : at.length;
    if (at != null) {
      while (inside > 0 && at[inside - 1] >= start) {
        inside--;
        size += _chunks![inside].length;
      }
    }
    var prefix = 1;
    for (var v = size >>> 7; v != 0; v = v >>> 7) {
      prefix++;
    }
    if (prefix > 1) {
      _ensure(prefix - 1);
      _buf.setRange(start + prefix - 1, _len + prefix - 1, _buf, start);
      _len += prefix - 1;
      if (at != null) {
        for (var i = inside; i < at.length; i++) {
          at[i] += prefix - 1;
        }
      }
    }
    var v = size;
    var i = start - 1;
    while (v >= 0x80) {
      _buf[i++] = (v & 0x7f) | 0x80;
      v = v >>> 7;
    }
    _buf[i] = v;
  }
}

/// Reads the protobuf wire format from bytes (no copy until a field needs one).
final class ProtoReader {
  final Uint8List _buf;
  int _pos;
  final int _end;
  ByteData? _data;
  // Whether [_buf] is a response lent by the library (see
  // `Proto2ffiCaller._finish`): large `bytes` values are then views of it.
  final bool _lent;

  /// `bytes` values from this many bytes up are views of a lent response.
  static const int _viewFrom = 4096;

  /// A reader over all of [bytes].
  ProtoReader(Uint8List bytes)
      : _buf = bytes,
        _pos = 0,
        _end = bytes.length,
        _lent = false;

  ProtoReader._(this._buf, this._pos, this._end, [this._lent = false]);

  /// Whether all bytes were read.
  bool get isAtEnd => _pos >= _end;

  ByteData get _bytes => _data ??= ByteData.sublistView(_buf);

  Never _truncated() => throw const ProtoDecodeError('truncated message');

  /// A field key (field number << 3 | wire type).
  int readTag() {
    final tag = readVarint();
    if ((tag >>> 3) == 0) {
      throw const ProtoDecodeError('invalid field number 0');
    }
    return tag;
  }

  /// A varint as a 64-bit two's-complement int.
  int readVarint() {
    var result = 0;
    var shift = 0;
    while (true) {
      if (_pos >= _end) _truncated();
      final b = _buf[_pos++];
      if (shift < 64) {
        result |= (b & 0x7f) << shift;
      }
      if (b < 0x80) return result;
      shift += 7;
      if (shift >= 70) {
        throw const ProtoDecodeError('varint longer than 10 bytes');
      }
    }
  }

  /// int32 / enum.
  int readInt32() => readVarint().toSigned(32);

  /// uint32.
  int readUint32() => readVarint().toUnsigned(32);

  /// int64 / uint64 (uint64 above 2^63 reads as a negative int).
  int readInt64() => readVarint();

  /// sint32.
  int readSint32() {
    final v = readVarint().toUnsigned(32);
    return ((v >>> 1) ^ -(v & 1)).toSigned(32);
  }

  /// sint64.
  int readSint64() {
    final v = readVarint();
    return (v >>> 1) ^ -(v & 1);
  }

  /// bool.
  bool readBool() => readVarint() != 0;

  /// fixed32.
  int readFixed32() {
    if (_pos + 4 > _end) _truncated();
    final v = _bytes.getUint32(_pos, Endian.little);
    _pos += 4;
    return v;
  }

  /// sfixed32.
  int readSfixed32() => readFixed32().toSigned(32);

  /// fixed64 / sfixed64.
  int readFixed64() {
    if (_pos + 8 > _end) _truncated();
    final v = _bytes.getInt64(_pos, Endian.little);
    _pos += 8;
    return v;
  }

  /// float.
  double readFloat() {
    if (_pos + 4 > _end) _truncated();
    final v = _bytes.getFloat32(_pos, Endian.little);
    _pos += 4;
    return v;
  }

  /// double.
  double readDouble() {
    if (_pos + 8 > _end) _truncated();
    final v = _bytes.getFloat64(_pos, Endian.little);
    _pos += 8;
    return v;
  }

  int _length() {
    final n = readVarint();
    if (n < 0 || _pos + n > _end) _truncated();
    return n;
  }

  /// Length-delimited bytes, unmodifiable: a copy, or a view of a response
  /// the library lent (4 KiB and more; see `Proto2ffiCaller._finish`).
  Uint8List readBytes() {
    final n = _length();
    if (_lent && n >= _viewFrom) {
      // A view of the lent response, which it keeps alive; unmodifiable,
      // as every decoded value is.
      final view = Uint8List.sublistView(_buf, _pos, _pos + n);
      _pos += n;
      return view.asUnmodifiableView();
    }
    // A copy (the input may be reused), frozen: decoded messages are immutable.
    final out = Uint8List.fromList(Uint8List.sublistView(_buf, _pos, _pos + n));
    _pos += n;
    return out.asUnmodifiableView();
  }

  /// Length-delimited UTF-8.
  String readString() {
    final n = _length();
    try {
      final s = utf8.decode(Uint8List.sublistView(_buf, _pos, _pos + n));
      _pos += n;
      return s;
    } on FormatException {
      throw const ProtoDecodeError('string field is not valid UTF-8');
    }
  }

  /// The bytes not read yet (for `package:protobuf` interop), consumed.
  Uint8List readRemaining() {
    final out = Uint8List.sublistView(_buf, _pos, _end);
    _pos = _end;
    return out;
  }

  /// A reader over the next length-delimited field (an embedded message or
  /// a packed run).
  ProtoReader readMessageReader() {
    final n = _length();
    final sub = ProtoReader._(_buf, _pos, _pos + n, _lent);
    _pos += n;
    return sub;
  }

  /// A reader over a group's fields: the bytes after its start tag [tag]
  /// up to (not including) its end tag, which is consumed.
  ProtoReader readGroupReader(int tag) {
    final start = _pos;
    skipField(tag); // consumes the fields and the end tag
    final endKey = ((tag >>> 3) << 3) | 4;
    var keyLength = 1;
    for (var v = endKey >>> 7; v != 0; v >>>= 7) {
      keyLength++;
    }
    return ProtoReader._(_buf, start, _pos - keyLength, _lent);
  }

  /// Skips a field whose key was [tag].
  void skipField(int tag) {
    switch (tag & 7) {
      case 0:
        readVarint();
      case 1:
        if (_pos + 8 > _end) _truncated();
        _pos += 8;
      case 2:
        final n = _length(); // read the length before moving _pos
        _pos += n;
      case 3:
        final field = tag >>> 3;
        while (true) {
          if (isAtEnd) _truncated();
          final t = readTag();
          if ((t & 7) == 4) {
            if ((t >>> 3) != field) {
              throw const ProtoDecodeError('mismatched end group');
            }
            return;
          }
          skipField(t);
        }
      case 5:
        if (_pos + 4 > _end) _truncated();
        _pos += 4;
      default:
        throw ProtoDecodeError('invalid wire type ${tag & 7}');
    }
  }

  /// Reads a repeated scalar written packed or unpacked.
  void readRepeated(int tag, List<dynamic> into, Object? Function(ProtoReader) one) {
    if ((tag & 7) == 2) {
      final sub = readMessageReader();
      while (!sub.isAtEnd) {
        into.add(one(sub));
      }
    } else {
      into.add(one(this));
    }
  }

  /// Throws unless the field's wire type is [expected].
  void expectWireType(int tag, int expected) {
    if ((tag & 7) != expected) {
      throw ProtoDecodeError(
          'field ${tag >>> 3}: wire type ${tag & 7}, expected $expected');
    }
  }
}

/// Deep equality of lists (bytes included).
bool protoListEquals(List<Object?> a, List<Object?> b) {
  if (identical(a, b)) return true;
  if (a.length != b.length) return false;
  for (var i = 0; i < a.length; i++) {
    final x = a[i], y = b[i];
    if (x is List && y is List) {
      if (!protoListEquals(x, y)) return false;
    } else if (x is double && y is double) {
      if (!(x == y || (x.isNaN && y.isNaN))) return false;
    } else if (x != y) {
      return false;
    }
  }
  return true;
}

/// Deep equality of maps.
bool protoMapEquals(Map<Object?, Object?> a, Map<Object?, Object?> b) {
  if (identical(a, b)) return true;
  if (a.length != b.length) return false;
  for (final e in a.entries) {
    if (!b.containsKey(e.key)) return false;
    final y = b[e.key];
    final x = e.value;
    if (x is List && y is List) {
      if (!protoListEquals(x, y)) return false;
    } else if (x != y) {
      return false;
    }
  }
  return true;
}

/// Equality of scalars where NaN equals NaN (so decoded messages compare equal).
bool protoEquals(Object? a, Object? b) {
  if (a is double && b is double) return a == b || (a.isNaN && b.isNaN);
  if (a is List && b is List) return protoListEquals(a, b);
  return a == b;
}

/// Hash of a list by content.
int protoListHash(List<Object?> a) =>
    Object.hashAll(a.map((e) => e is List ? protoListHash(e) : e));

/// Hash of a map by content (order-independent).
int protoMapHash(Map<Object?, Object?> m) => Object.hashAllUnordered(
    m.entries.map((e) => Object.hash(e.key, e.value is List ? protoListHash(e.value as List) : e.value)));

/// A 64-bit value as 16 hex digits (Dart ints are signed: `toRadixString`
/// would print a minus sign for values above 2^63).
String protoHex64(int v) =>
    (v >>> 32).toRadixString(16).padLeft(8, '0') +
    (v & 0xffffffff).toRadixString(16).padLeft(8, '0');

/// Empty bytes, unmodifiable: the default of every `bytes` field.
final Uint8List protoEmptyBytes = Uint8List(0).asUnmodifiableView();

/// An unmodifiable copy of [bytes] ([protoEmptyBytes] for null or empty).
Uint8List protoFrozenBytes(List<int>? bytes) => bytes == null || bytes.isEmpty
    ? protoEmptyBytes
    : Uint8List.fromList(bytes).asUnmodifiableView();

/// [a] followed by [b], as one buffer (for merges).
Uint8List protoConcat(Uint8List a, List<int> b) {
  final out = Uint8List(a.length + b.length);
  out.setRange(0, a.length, a);
  out.setRange(a.length, out.length, b);
  return out;
}

/// [list] behind an unmodifiable view (no copy): the decoder's lists.
List<T> protoFreezeList<T>(List<T> list) => UnmodifiableListView(list);

/// [map] behind an unmodifiable view (no copy): the decoder's maps.
Map<K, V> protoFreezeMap<K, V>(Map<K, V> map) => UnmodifiableMapView(map);
