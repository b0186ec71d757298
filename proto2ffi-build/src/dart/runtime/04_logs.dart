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

