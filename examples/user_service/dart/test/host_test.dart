// The other direction: the app implements `user.v1.KeyStore`, and the
// library's `IssueToken` handler calls it from Rust.
// Usage: dart test/host_test.dart path/to/libuser_service.so (or --bundled)

import 'dart:async';
import 'dart:io';
import 'dart:isolate';
import 'dart:typed_data';

import '../lib/user_service.dart';

var passed = 0, failed = 0;

Future<void> check(String name, Future<void> Function() body) async {
  try {
    await body();
    passed++;
    print('ok   $name');
  } catch (e, s) {
    failed++;
    print('FAIL $name: $e\n$s');
  }
}

void expect(bool condition, String what) {
  if (!condition) throw StateError(what);
}

Future<Proto2ffiException> failure(Future<Object?> call) async {
  try {
    await call;
  } on Proto2ffiException catch (e) {
    return e;
  }
  throw StateError('no exception');
}

/// A key store with one secret; counts what it served.
final class Keys implements KeyStore {
  final Map<String, Uint8List> secrets;
  var served = 0;
  Keys(this.secrets);

  @override
  Future<ReadSecretResponse> readSecret(ReadSecretRequest request, Proto2ffiHostCall call) async {
    await Future<void>.delayed(Duration.zero);
    final value = secrets[request.name];
    if (value == null) {
      throw Proto2ffiException(StatusCode.notFound, 'no secret named ${request.name}');
    }
    served++;
    return ReadSecretResponse(value: value);
  }
}

/// An implementation whose answers wait for [release].
final class Held implements KeyStore {
  final calls = <Proto2ffiHostCall>[];
  final arrived = StreamController<Proto2ffiHostCall>.broadcast();
  final _release = Completer<void>();
  void release() => _release.complete();

  @override
  Future<ReadSecretResponse> readSecret(ReadSecretRequest request, Proto2ffiHostCall call) async {
    calls.add(call);
    arrived.add(call);
    await _release.future;
    return ReadSecretResponse(value: Uint8List(16));
  }
}

final class Throws implements KeyStore {
  final Object error;
  Throws(this.error);
  @override
  Future<ReadSecretResponse> readSecret(ReadSecretRequest request, Proto2ffiHostCall call) async =>
      throw error;
}

final key = Uint8List.fromList(List.generate(32, (i) => i * 7));

/// Serves a key store that never answers, tells [args][0] once a request
/// arrived, then exits with the call pending.
Future<void> exitingHost(List<Object?> args) async {
  final ready = args[0] as SendPort;
  final path = args[1] as String?;
  final library = path == null ? UsersLibrary.bundled() : UsersLibrary.open(path);
  final held = Held();
  library.bindKeyStore(held);
  ready.send('bound');
  await held.arrived.stream.first;
  Isolate.exit(ready, 'exiting');
}

Future<void> main(List<String> args) async {
  final bundled = args.isNotEmpty && args[0] == '--bundled';
  final path = bundled ? null : (args.isNotEmpty ? args[0] : null);
  final library = bundled ? UsersLibrary.bundled() : UsersLibrary.open(path);
  final users = UserServiceClient(library);
  final user = users
      .createUser(CreateUserRequest(name: 'Host Test', email: 'host-test@example.com'))
      .user!;
  Future<IssueTokenResponse> token({Duration? timeout, Proto2ffiCancelToken? cancel}) =>
      users.issueToken(IssueTokenRequest(userId: user.id), timeout: timeout, cancel: cancel);

  await check('without a binding the call fails UNAVAILABLE, naming the bind function', () async {
    final e = await failure(token());
    expect(e.code == StatusCode.unavailable, '$e');
    expect(e.message.contains('users_key_store_host_bind'), e.message);
  });

  await check('a bound implementation answers Rust', () async {
    final keys = Keys({'token-key': key});
    final binding = library.bindKeyStore(keys);
    final a = await token();
    final b = await token();
    expect(a.token == b.token && a.token.startsWith('${user.id}.'), a.token);
    expect(keys.served == 2, '${keys.served}');
    final m = library.metrics().methods.firstWhere((m) => m.host && m.method == 'ReadSecret');
    expect(m.service == 'user.v1.KeyStore' && m.inFlight == 0, '$m');
    expect(m.codes.any((c) => c.code == 0 && c.count >= 2), '$m');
    binding.unbind();
    binding.unbind(); // idempotent
    expect(!binding.isBound, 'unbound');
    expect((await failure(token())).code == StatusCode.unavailable, 'unbound again');
  });

  await check('a Proto2ffiException keeps its code and message', () async {
    final binding = library.bindKeyStore(Keys({}));
    final e = await failure(token());
    expect(e.code == StatusCode.notFound && e.message == 'no secret named token-key', '$e');
    binding.unbind();
  });

  await check('any other exception is UNKNOWN, without its text', () async {
    final binding = library.bindKeyStore(Throws(StateError('the secret is hunter2')));
    final e = await failure(token());
    expect(e.code == StatusCode.unknown, '$e');
    expect(!e.message.contains('hunter2') && e.message.contains('StateError'), e.message);
    binding.unbind();
  });

  await check('a deadline reaches the host as a cancellation', () async {
    final held = Held();
    final binding = library.bindKeyStore(held);
    final e = await failure(token(timeout: const Duration(milliseconds: 50)));
    expect(e.code == StatusCode.deadlineExceeded, '$e');
    // The cancellation is posted after the deadline: wait for it.
    while (!held.calls.single.isCancelled) {
      await Future<void>.delayed(const Duration(milliseconds: 1));
    }
    held.release(); // a late answer is refused quietly
    await Future<void>.delayed(Duration.zero);
    binding.unbind();
  });

  await check('cancelling the Dart call cancels the host call', () async {
    final held = Held();
    final binding = library.bindKeyStore(held);
    final cancel = Proto2ffiCancelToken();
    final pending = failure(token(cancel: cancel));
    await held.arrived.stream.first;
    cancel.cancel();
    expect((await pending).code == StatusCode.cancelled, 'cancelled');
    while (!held.calls.single.isCancelled) {
      await Future<void>.delayed(const Duration(milliseconds: 1));
    }
    binding.unbind();
  });

  await check('unbinding fails pending calls with UNAVAILABLE', () async {
    final held = Held();
    final binding = library.bindKeyStore(held);
    final pending = [for (var i = 0; i < 5; i++) failure(token())];
    while (held.calls.length < 5) {
      await held.arrived.stream.first;
    }
    binding.unbind();
    for (final p in pending) {
      expect((await p).code == StatusCode.unavailable, 'unavailable');
    }
    expect(held.calls.every((c) => c.isCancelled), 'the implementation was told');
    held.release();
  });

  await check('10,000 calls in flight all complete', () async {
    final keys = Keys({'token-key': key});
    final binding = library.bindKeyStore(keys);
    final tokens = await Future.wait([for (var i = 0; i < 10000; i++) token()]);
    expect(tokens.every((t) => t.token == tokens.first.token), 'same token');
    expect(keys.served == 10000, '${keys.served}');
    final m = library.metrics().methods.firstWhere((m) => m.host && m.method == 'ReadSecret');
    expect(m.inFlight == 0, '${m.inFlight}');
    binding.unbind();
  });

  await check('a host isolate that exits with calls pending fails them UNAVAILABLE', () async {
    final port = ReceivePort();
    final messages = StreamIterator(port);
    await Isolate.spawn(exitingHost, [port.sendPort, path]);
    expect(await messages.moveNext() && messages.current == 'bound', 'bound');
    final e = await failure(token(timeout: const Duration(seconds: 20)));
    expect(await messages.moveNext() && messages.current == 'exiting', 'exited');
    expect(e.code == StatusCode.unavailable, '$e');
    port.close();
  });

  print('$passed passed, $failed failed');
  exit(failed == 0 ? 0 : 1);
}
