// Dart VM tests of async RPCs and streams — server, client and bidi
// (`jobs.v1.Jobs`): futures completed from the library's threads through a
// port, cancellation, deadlines, backpressure both ways, and isolates that
// exit mid-call.
// Usage: dart async_test.dart path/to/libdart_fixture.so

import 'dart:async';
import 'dart:io';
import 'dart:isolate';

import '../dart/lib/jobs/v1.pb.dart' as jobs;
import '../dart/lib/roundtrip.dart';
import 'harness.dart';

late JobsClient client;
late String libraryPath;

int live(String tag) => client.live(jobs.LiveRequest(tag: tag)).live;

int rssKib() {
  final status = File('/proc/self/status').readAsLinesSync();
  final line = status.firstWhere((l) => l.startsWith('VmRSS:'), orElse: () => 'VmRSS: 0 kB');
  return int.parse(line.replaceAll(RegExp(r'[^0-9]'), ''));
}

Future<void> waitFor(String what, bool Function() done) async {
  final deadline = DateTime.now().add(const Duration(seconds: 20));
  while (!done()) {
    if (DateTime.now().isAfter(deadline)) fail('timed out waiting for $what');
    await Future<void>.delayed(const Duration(milliseconds: 5));
  }
}

Future<Proto2ffiException> failure(Future<Object?> call) async {
  try {
    await call;
  } on Proto2ffiException catch (e) {
    return e;
  }
  fail('expected a Proto2ffiException');
}

/// Starts a long stream in a new isolate, which exits while it runs.
Future<void> abandonStream(List<Object> args) async {
  final c = openJobs(args[0] as String);
  c.ticks(jobs.TicksRequest(tag: args[1] as String, sleepMs: 1)).listen((_) {});
  c.sleep(jobs.JobRequest(text: args[1] as String, sleepMs: 300));
  // A client stream waiting for requests posts nothing: closing the
  // isolate's completion context must cancel it.
  final requests = StreamController<jobs.Part>();
  c.gather(requests.stream).ignore();
  requests.add(jobs.Part(tag: args[1] as String));
  final more = StreamController<jobs.Part>();
  c.relay(more.stream).listen((_) {});
  more.add(jobs.Part(tag: args[1] as String));
  await Future<void>.delayed(const Duration(milliseconds: 50));
  Isolate.exit();
}

/// `--bundled` as the first argument binds the code asset through `@Native`
/// (`cargo xtask dart-test` preloads the library), else it is the path.
JobsClient openJobs(String library) =>
    library == '--bundled' ? JobsClient.bundled() : JobsClient.open(library);

void main(List<String> args) async {
  libraryPath = args.isNotEmpty ? args[0] : 'libdart_fixture.so';
  client = openJobs(libraryPath);

  test('an async call completes with its response', () async {
    final reply = await client.sleep(jobs.JobRequest(text: 'hello', sleepMs: 5));
    expectEq(reply.text, 'hello');
    expectEq(client.library.asyncCalls.pending, 0, 'nothing left pending');
  });

  test('errors and panics inside futures arrive as exceptions', () async {
    final e = await failure(client.sleep(jobs.JobRequest(text: 'e', failCode: 9)));
    expectEq(e.code, StatusCode.failedPrecondition);
    expectEq(e.message, 'job e failed');
    final p = await failure(client.sleep(jobs.JobRequest(text: 'p', panic: true)));
    expectEq(p.code, StatusCode.internal);
    check(p.message.contains('incident'), p.message);
    expectEq((await client.sleep(jobs.JobRequest(text: 'after'))).text, 'after');
  });

  test('10,000 calls in flight complete independently', () async {
    final calls = [
      for (var i = 0; i < 10000; i++) client.sleep(jobs.JobRequest(text: '$i', sleepMs: i % 7))
    ];
    final replies = await Future.wait(calls);
    expectEq(client.library.asyncCalls.pending, 0, 'nothing left pending');
    for (var i = 0; i < 10000; i++) {
      expectEq(replies[i].text, '$i');
    }
  });

  test('a cancel token cancels a running call and drops its future', () async {
    final token = Proto2ffiCancelToken();
    final call = client.sleep(jobs.JobRequest(text: 'cancel-running', sleepMs: 60000),
        cancel: token);
    await waitFor('the job to start', () => live('cancel-running') == 1);
    final started = DateTime.now();
    token.cancel();
    final e = await failure(call);
    expectEq(e.code, StatusCode.cancelled);
    check(DateTime.now().difference(started) < const Duration(seconds: 5), 'promptly');
    await waitFor('the future to be dropped', () => live('cancel-running') == 0);
    token.cancel(); // idempotent
  });

  test('a token cancelled before the call never reaches the library', () async {
    final token = Proto2ffiCancelToken()..cancel();
    final e = await failure(client.sleep(jobs.JobRequest(text: 'never'), cancel: token));
    expectEq(e.code, StatusCode.cancelled);
    check(e.message.contains('before'), e.message);
  });

  test('cancelling after completion is harmless', () async {
    final token = Proto2ffiCancelToken();
    expectEq((await client.sleep(jobs.JobRequest(text: 'done'), cancel: token)).text, 'done');
    token.cancel();
  });

  test('a timeout is a deadline the handler sees', () async {
    final e = await failure(client.sleep(jobs.JobRequest(text: 'slow', sleepMs: 60000),
        timeout: const Duration(milliseconds: 50)));
    expectEq(e.code, StatusCode.deadlineExceeded);
    await waitFor('the timed-out future to be dropped', () => live('slow') == 0);
    final r = await client.sleep(jobs.JobRequest(reportDeadline: true),
        timeout: const Duration(seconds: 5));
    check(r.deadlineMs > 0 && r.deadlineMs <= 5000, 'deadline ${r.deadlineMs}');
  });

  test('a stream delivers every item in order, then ends', () async {
    final items = await client.ticks(jobs.TicksRequest(count: 10000)).toList();
    expectEq(items.length, 10000);
    for (var i = 0; i < items.length; i++) {
      if (items[i].index != i) fail('item $i is ${items[i].index}');
    }
  });

  test('a stream that ends at once, empty or failing, ends in Dart too', () async {
    // The handler finishes inside `start` (no item, no wait): its final
    // event must still reach the stream.
    final none = await client
        .ticks(jobs.TicksRequest(endAtOnce: true))
        .toList()
        .timeout(const Duration(seconds: 10));
    expectEq(none.length, 0);
    Object? error;
    await client
        .ticks(jobs.TicksRequest(endAtOnce: true, failCode: 5))
        .handleError((Object e) => error = e)
        .drain<void>()
        .timeout(const Duration(seconds: 10));
    final e = error;
    check(e is Proto2ffiException && e.code == StatusCode.notFound, '$e');
  });

  test('a failing stream delivers its items, then the error', () async {
    final got = <int>[];
    Object? error;
    await client
        .ticks(jobs.TicksRequest(count: 3, failCode: 10))
        .handleError((Object e) => error = e)
        .forEach((t) => got.add(t.index));
    expectEq(got.join(','), '0,1,2');
    final e = error;
    check(e is Proto2ffiException && e.code == StatusCode.aborted, '$e');
  });

  test('cancelling the subscription cancels the Rust stream', () async {
    final first = await client.ticks(jobs.TicksRequest(tag: 'endless', sleepMs: 1)).take(5).toList();
    expectEq(first.map((t) => t.index).join(','), '0,1,2,3,4');
    await waitFor('the producer to be dropped', () => live('endless') == 0);
  });

  test('a paused subscription pauses the producer (bounded queue)', () async {
    final metrics = () => client.library
        .metrics()
        .methods
        .firstWhere((m) => m.service == 'jobs.v1.Jobs' && m.method == 'Ticks');
    final before = metrics().streamItems;
    final received = <int>[];
    late StreamSubscription<jobs.Tick> sub;
    final done = Completer<void>();
    sub = client.ticks(jobs.TicksRequest(count: 5000, tag: 'paused')).listen((t) {
      received.add(t.index);
      if (received.length == 1) sub.pause();
    }, onDone: done.complete);
    await waitFor('the first item', () => received.isNotEmpty);
    await Future<void>.delayed(const Duration(milliseconds: 200));
    final sent = metrics().streamItems - before;
    check(sent - received.length <= 2 * 256,
        'while paused the producer ran ahead by ${sent - received.length} items');
    check(sent < 5000, 'the producer finished while paused ($sent sent)');
    sub.resume();
    await done.future;
    expectEq(received.length, 5000);
    expectEq(received.last, 4999);
  });

  test('1,000,000 items to a slow listener: every item, flat memory', () async {
    var count = 0, expected = 0;
    var rssAt100k = 0;
    late StreamSubscription<jobs.Tick> sub;
    final done = Completer<void>();
    sub = client.ticks(jobs.TicksRequest(count: 1000000, tag: 'million')).listen((t) {
      if (t.index != expected) fail('item $expected is ${t.index}');
      expected++;
      count++;
      if (count == 100000) rssAt100k = rssKib();
      // A slow listener: a 2 ms pause every 50,000 items.
      if (count % 50000 == 0) {
        sub.pause(Future<void>.delayed(const Duration(milliseconds: 2)));
      }
    }, onDone: done.complete, onError: done.completeError);
    await done.future;
    expectEq(count, 1000000);
    final grew = rssKib() - rssAt100k;
    check(grew < 16 * 1024, 'RSS grew by $grew KiB over 900,000 items');
    print('     RSS grew by $grew KiB over the last 900,000 stream items');
  });

  test('a token cancels a stream, and a timeout ends one', () async {
    final token = Proto2ffiCancelToken();
    Object? error;
    final done = client
        .ticks(jobs.TicksRequest(tag: 'token', sleepMs: 1), cancel: token)
        .handleError((Object e) => error = e)
        .drain<void>();
    await waitFor('the stream to start', () => live('token') == 1);
    token.cancel();
    await done;
    final e = error;
    check(e is Proto2ffiException && e.code == StatusCode.cancelled, '$e');
    await waitFor('the producer to be dropped', () => live('token') == 0);
    Object? lateError;
    await client
        .ticks(jobs.TicksRequest(tag: 'deadline', sleepMs: 1),
            timeout: const Duration(milliseconds: 50))
        .handleError((Object e) => lateError = e)
        .drain<void>();
    final d = lateError;
    check(d is Proto2ffiException && d.code == StatusCode.deadlineExceeded, '$d');
  });

  test('a client stream sends every request in order, then gets its answer', () async {
    Stream<jobs.Part> parts() async* {
      for (var i = 0; i < 1000; i++) {
        yield jobs.Part(text: 'p$i');
      }
    }

    final summary = await client.gather(parts());
    expectEq(summary.count.toInt(), 1000);
    expectEq(summary.text, [for (var i = 0; i < 1000; i++) 'p$i'].join(','));
    final empty = await client.gather(const Stream<jobs.Part>.empty());
    expectEq(empty.count.toInt(), 0);
    expectEq(client.library.asyncCalls.pending, 0, 'nothing left pending');
    final m = client.library
        .metrics()
        .methods
        .firstWhere((m) => m.service == 'jobs.v1.Jobs' && m.method == 'Gather');
    check(m.streamItemsReceived.toInt() >= 1000, 'received ${m.streamItemsReceived}');
  });

  test('a full window pauses the Dart producer of a client stream', () async {
    var pulled = 0;
    Stream<jobs.Part> parts() async* {
      // The handler holds the first part until the gate opens: the
      // library's window fills.
      yield jobs.Part(text: 'held', hold: 'window', tag: 'window');
      for (var i = 0; i < 3000; i++) {
        pulled++;
        yield jobs.Part(text: '$i');
      }
    }

    final summary = client.gather(parts());
    await waitFor('the handler to start', () => live('window') == 1);
    await waitFor('the window to fill', () => pulled >= 256);
    // While the gate is closed the producer may never be further ahead
    // than the window (256) plus one batch the client had encoded when it
    // found the window full (at most 128), however long it is given.
    for (var i = 0; i < 20; i++) {
      await Future<void>.delayed(const Duration(milliseconds: 5));
      check(pulled <= 256 + 128 + 2,
          'the producer ran ahead by $pulled parts while the window was full');
    }
    client.openGate(jobs.GateRequest(name: 'window'));
    final s = await summary;
    expectEq(s.count.toInt(), 3001);
    check(s.text.startsWith('held,0,1,'), 'the parts arrived in order');
    check(s.text.endsWith(',2999'), 'the last part arrived last');
  });

  test('a refused request, a handler error or a producer error ends a client stream', () async {
    var cancelled = false;
    final refused = StreamController<jobs.Part>(onCancel: () => cancelled = true);
    final call = client.gather(refused.stream);
    refused.add(jobs.Part(text: 'ok'));
    refused.add(jobs.Part(text: 'x' * 300)); // over the method's 256 bytes
    final e = await failure(call);
    expectEq(e.code, StatusCode.resourceExhausted);
    check(e.message.contains('256'), e.message);
    check(cancelled, 'the requests are no longer read');

    final failing = await failure(client.gather(
        Stream.fromIterable([jobs.Part(text: 'a'), jobs.Part(text: 'b', failCode: 10)])));
    expectEq(failing.code, StatusCode.aborted);
    expectEq(failing.message, 'part b failed');

    Stream<jobs.Part> broken() async* {
      yield jobs.Part(text: 'a', tag: 'broken');
      await Future<void>.delayed(const Duration(milliseconds: 20));
      throw StateError('the producer broke');
    }

    Object? error;
    try {
      await client.gather(broken());
    } catch (e) {
      error = e;
    }
    check(error is StateError, 'the producer\'s error is rethrown: $error');
    await waitFor('the handler to be dropped', () => live('broken') == 0);
    expectEq(client.library.asyncCalls.pending, 0, 'nothing left pending');
  });

  test('a token cancels a client stream, and a timeout ends one', () async {
    final token = Proto2ffiCancelToken();
    var cancelled = false;
    final requests = StreamController<jobs.Part>(onCancel: () => cancelled = true);
    final call = client.gather(requests.stream, cancel: token);
    requests.add(jobs.Part(tag: 'gather-token'));
    await waitFor('the handler to start', () => live('gather-token') == 1);
    token.cancel();
    expectEq((await failure(call)).code, StatusCode.cancelled);
    await waitFor('the handler to be dropped', () => live('gather-token') == 0);
    check(cancelled, 'the requests are no longer read');
    final never = StreamController<jobs.Part>();
    final d = await failure(
        client.gather(never.stream, timeout: const Duration(milliseconds: 50)));
    expectEq(d.code, StatusCode.deadlineExceeded);
  });

  test('a bidi stream answers every request in order, with both sides paused', () async {
    const n = 20000;
    var pulled = 0;
    Stream<jobs.Part> parts() async* {
      for (var i = 0; i < n; i++) {
        pulled++;
        yield jobs.Part(text: '$i', tag: 'relay');
      }
    }

    final got = <int>[];
    late StreamSubscription<jobs.Tick> sub;
    final done = Completer<void>();
    sub = client.relay(parts()).listen((t) {
      got.add(t.index.toInt());
      if (got.length == 100) sub.pause();
    }, onDone: done.complete, onError: done.completeError);
    await waitFor('100 answers', () => got.length >= 100);
    await Future<void>.delayed(const Duration(milliseconds: 200));
    // Paused answers fill the library's outbound window, the handler
    // stops taking requests, the inbound window fills and the Dart
    // producer pauses: nothing grows without bound.
    check(pulled < n, 'the producer finished while the listener was paused');
    check(pulled - got.length <= 4 * 256 + 4, 'ran ahead by ${pulled - got.length}');
    sub.resume();
    await done.future;
    expectEq(got.length, n);
    for (var i = 0; i < n; i++) {
      if (got[i] != i) fail('answer $i is ${got[i]}');
    }
    final first = await client.relay(Stream.fromIterable([
      for (var i = 0; i < 5; i++) jobs.Part(text: '$i', tag: 'relay-cancel'),
      ...List.generate(100000, (i) => jobs.Part(text: 'more', sleepMs: 1)),
    ])).take(3).toList();
    expectEq(first.map((t) => t.index).join(','), '0,1,2');
    await waitFor('the bidi handler to be dropped', () => live('relay-cancel') == 0);
  });

  test('an isolate that exits mid-call leaves nothing running', () async {
    final exited = ReceivePort();
    await Isolate.spawn(abandonStream, [libraryPath, 'orphan'], onExit: exited.sendPort);
    await exited.first;
    // The stream's next post fails (its port is closed) and the library
    // cancels it; the sleeping call completes into the void the same way.
    await waitFor('the orphaned stream to be cancelled', () => live('orphan') == 0);
    final open = client.library
        .metrics()
        .methods
        .firstWhere((m) => m.service == 'jobs.v1.Jobs' && m.method == 'Ticks')
        .streamsOpen;
    expectEq(open, 0, 'streams open');
    // This isolate's calls still work.
    expectEq((await client.sleep(jobs.JobRequest(text: 'still here'))).text, 'still here');
  });

  await runTests('async');
}
