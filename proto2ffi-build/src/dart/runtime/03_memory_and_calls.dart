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

