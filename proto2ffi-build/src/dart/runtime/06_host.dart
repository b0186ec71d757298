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

