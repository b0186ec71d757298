// Dart VM tests of a service the Dart side implements (`jobs.v1.Pinger`,
// `implemented_by: HOST`) where the Rust caller is a synchronous handler:
// the blocking client refuses to wait on the binding isolate's own thread
// (it would wait for itself) and works from the helper isolates.
// Usage: dart pinger_test.dart path/to/libdart_fixture.so (or --bundled)

import 'dart:async';

import '../dart/lib/jobs/v1.pb.dart' as jobs;
import '../dart/lib/roundtrip.dart';
import 'harness.dart';

final class Echo implements Pinger {
  var calls = 0;
  @override
  Future<jobs.Tick> ping(jobs.Tick request, Proto2ffiHostCall call) async {
    calls++;
    return request;
  }
}

void main(List<String> args) async {
  final client = args.isNotEmpty && args[0] == '--bundled'
      ? JobsClient.bundled()
      : JobsClient.open(args.isNotEmpty ? args[0] : 'libdart_fixture.so');
  final echo = Echo();
  final binding = client.library.bindPinger(echo);

  test('a blocking host call on the binding isolate fails at once', () {
    final e = expectThrows<Proto2ffiException>(
        () => client.pingBlocking(jobs.Tick(index: 3)), 'pingBlocking');
    // DEADLINE_EXCEEDED after 5 s would mean it waited for itself.
    expectEq(e.code, StatusCode.failedPrecondition, e.message);
    check(e.message.contains('would wait for itself'), e.message);
    expectEq(echo.calls, 0, 'nothing reached the implementation');
  });

  test('from a helper isolate the same call is answered here', () async {
    final tick = await client.pingBlockingAsync(jobs.Tick(index: 4));
    expectEq(tick.index, 4);
    expectEq(echo.calls, 1);
  });

  test('async host calls from a Rust task: 1,000 at 100 in flight', () async {
    final r = await client.benchHost(jobs.HostBench(count: 1000, inFlight: 100));
    check(r.nanosPerCall > 0, '${r.nanosPerCall}');
    expectEq(echo.calls, 1001);
    final m = client.library.metrics().methods.firstWhere((m) => m.host && m.method == 'Ping');
    expectEq(m.inFlight, 0);
  });

  test('unbinding ends the service', () async {
    binding.unbind();
    final e = await () async {
      try {
        await client.benchHost(jobs.HostBench(count: 1, inFlight: 1));
      } on Proto2ffiException catch (e) {
        return e;
      }
      fail('no exception');
    }();
    expectEq(e.code, StatusCode.unavailable, e.message);
  });

  await runTests('pinger');
}
