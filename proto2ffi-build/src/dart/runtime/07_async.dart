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

