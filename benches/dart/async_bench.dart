// Dart-side benchmark of async RPCs and server streams (`jobs.v1.Jobs` of
// the test library): an awaited round trip one by one and with 100 in
// flight, for the async path (completed from the library's worker thread
// through a port) and for a sync RPC awaited (its handler on the library's
// threads, completed the same way), against the sync call itself; and stream items per second — server, client and
// bidi streams. Prints one JSON line for `cargo xtask bench`.
// Usage: dart async_bench.dart path/to/libdart_fixture.so [round trips]

import 'dart:async';
import 'dart:convert';
import 'dart:ffi';
import 'dart:math';

import '../../tests/dart/dart/lib/jobs/v1.pb.dart' as jobs;
import '../../tests/dart/dart/lib/roundtrip.dart';
import 'stream_parts.dart';

Future<double> usPerCall(int n, Future<void> Function() body) async {
  for (var i = 0; i < n ~/ 10; i++) {
    await body();
  }
  final sw = Stopwatch()..start();
  for (var i = 0; i < n; i++) {
    await body();
  }
  return sw.elapsedMicroseconds / n;
}

/// [n] calls with [inFlight] outstanding at any time; µs per call.
Future<double> usPerCallInFlight(int n, int inFlight, Future<void> Function() body) async {
  Future<void> run(int calls) async {
    var started = 0;
    Future<void> worker() async {
      while (started < calls) {
        started++;
        await body();
      }
    }

    await Future.wait([for (var i = 0; i < inFlight; i++) worker()]);
  }

  await run(n ~/ 10);
  final sw = Stopwatch()..start();
  await run(n);
  return sw.elapsedMicroseconds / n;
}

/// The host side of `jobs.v1.Pinger`: the same tick back.
final class Echo implements Pinger {
  @override
  Future<jobs.Tick> ping(jobs.Tick request, Proto2ffiHostCall call) async => request;
}

Future<void> main(List<String> args) async {
  final client = JobsClient.open(args[0]);
  final n = args.length > 1 ? int.parse(args[1]) : 20000;
  final tick = jobs.Tick(index: 7);

  for (var i = 0; i < n; i++) {
    client.echo(tick);
  }
  final sw = Stopwatch()..start();
  for (var i = 0; i < n * 10; i++) {
    if (client.echo(tick).index != 7) throw StateError('wrong');
  }
  final syncUs = sw.elapsedMicroseconds / (n * 10);

  final asyncOne = await usPerCall(n, () async {
    if ((await client.bounce(tick)).index != 7) throw StateError('wrong');
  });
  final asyncHundred = await usPerCallInFlight(n * 5, 100, () async {
    if ((await client.bounce(tick)).index != 7) throw StateError('wrong');
  });
  // A sync method awaited (`echoAsync`: its handler on the library's
  // threads) against the async path of a handler that waits (`hop`): the
  // two alternate, three rounds each, best round kept, so that a noisy
  // neighbour hits both alike.
  Future<void> hop() async {
    if ((await client.hop(tick)).index != 7) throw StateError('wrong');
  }

  Future<void> echoAwaited() async {
    if ((await client.echoAsync(tick)).index != 7) throw StateError('wrong');
  }

  var (hopOne, hopHundred, syncOne, syncHundred) = (1e9, 1e9, 1e9, 1e9);
  for (var round = 0; round < 3; round++) {
    hopOne = min(hopOne, await usPerCall(n ~/ 2, hop));
    syncOne = min(syncOne, await usPerCall(n ~/ 2, echoAwaited));
    hopHundred = min(hopHundred, await usPerCallInFlight(n * 2, 100, hop));
    syncHundred = min(syncHundred, await usPerCallInFlight(n * 2, 100, echoAwaited));
  }

  // Rust calling Dart: `BenchHost` makes calls into the bound Pinger from a
  // Rust task and reports the mean round trip as Rust sees it. The floor
  // is the least such a round trip can cost through a documented Dart API:
  // the Rust task calls a `NativeCallable.listener` and waits for the Dart
  // function to answer through a leaf call (`BenchFloor`).
  final binding = client.library.bindPinger(Echo());
  final pong = client.library.symbols
      .lookup<NativeFunction<Void Function(Uint64)>>('rt_test_pong')
      .asFunction<void Function(int)>(isLeaf: true);
  final ping = NativeCallable<Void Function(Uint64)>.listener((int id) => pong(id));
  client.library.symbols
      .lookup<NativeFunction<Void Function(Pointer<NativeFunction<Void Function(Uint64)>>)>>(
          'rt_test_set_ping')
      .asFunction<void Function(Pointer<NativeFunction<Void Function(Uint64)>>)>()(
          ping.nativeFunction);
  Future<double> rustToDart(bool floor, int count, int inFlight) async {
    final request = jobs.HostBench(count: count, inFlight: inFlight);
    final r = floor ? await client.benchFloor(request) : await client.benchHost(request);
    return r.nanosPerCall / 1000;
  }

  final hostCalls = n ~/ 4;
  await rustToDart(false, hostCalls ~/ 10, 1);
  await rustToDart(true, hostCalls ~/ 10, 1);
  // Alternating, best of three each: the two share the machine alike.
  var hostOne = double.infinity, floorOne = double.infinity;
  var hostHundred = double.infinity, floorHundred = double.infinity;
  for (var round = 0; round < 3; round++) {
    hostOne = [hostOne, await rustToDart(false, hostCalls, 1)].reduce((a, b) => a < b ? a : b);
    floorOne = [floorOne, await rustToDart(true, hostCalls, 1)].reduce((a, b) => a < b ? a : b);
    hostHundred =
        [hostHundred, await rustToDart(false, hostCalls * 4, 100)].reduce((a, b) => a < b ? a : b);
    floorHundred =
        [floorHundred, await rustToDart(true, hostCalls * 4, 100)].reduce((a, b) => a < b ? a : b);
  }
  binding.unbind();
  ping.close();

  // Streams, each way, small items, as fast as the other side takes them.
  // The four runs take turns, three rounds, best round each.
  final items = n * 100;
  final parts = items ~/ 4;

  // Warm-up of each.
  await client.ticks(jobs.TicksRequest(count: items ~/ 10)).drain<void>();
  await partStream(parts ~/ 10).drain<void>();
  await client.gather(partStream(parts ~/ 10));
  await client.relay(partStream(parts ~/ 10)).drain<void>();
  var (streamSeconds, floorSeconds, clientSeconds, bidiSeconds) = (1e9, 1e9, 1e9, 1e9);
  for (var round = 0; round < 3; round++) {
    // Rust -> Dart: a server stream of ticks.
    streamSeconds = min(streamSeconds, await seconds(() async {
      var last = -1;
      await client.ticks(jobs.TicksRequest(count: items)).forEach((t) => last = t.index);
      if (last != items - 1) throw StateError('stream ended at $last');
    }));
    // The floor: the same Dart stream of parts drained in Dart, no library.
    floorSeconds = min(floorSeconds, await seconds(() async {
      var seen = 0;
      await partStream(parts).forEach((_) => seen++);
      if (seen != parts) throw StateError('drained $seen');
    }));
    // Dart -> Rust: a client stream (batched `stream_send_items`, each
    // request checked and decoded), the handler counting.
    clientSeconds = min(clientSeconds, await seconds(() async {
      final summary = await client.gather(partStream(parts));
      if (summary.count != parts) throw StateError('gathered ${summary.count}');
    }));
    // Bidi: each part answered with a tick, both directions at once.
    bidiSeconds = min(bidiSeconds, await seconds(() async {
      var answers = 0;
      await client.relay(partStream(parts)).forEach((_) => answers++);
      if (answers != parts) throw StateError('relayed $answers');
    }));
  }

  print(jsonEncode({
    'sync_us': syncUs,
    'async_one_us': asyncOne,
    'async_100_us': asyncHundred,
    'hop_one_us': hopOne,
    'hop_100_us': hopHundred,
    'sync_awaited_one_us': syncOne,
    'sync_awaited_100_us': syncHundred,
    'stream_items': items,
    'stream_items_per_s': items / streamSeconds,
    'client_stream_items': parts,
    'client_stream_items_per_s': parts / clientSeconds,
    'bidi_items_per_s': parts / bidiSeconds,
    'dart_stream_items_per_s': parts / floorSeconds,
    'host_one_us': hostOne,
    'host_100_us': hostHundred,
    'host_floor_one_us': floorOne,
    'host_floor_100_us': floorHundred,
  }));
}
