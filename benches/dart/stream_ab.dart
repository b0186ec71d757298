// Stream throughput of two builds of the test library side by side in one
// Dart VM, taking turns (7 rounds, best round each): client stream
// (`gather`), bidi (`relay`) and server stream (`ticks`) of small items.
// For A/B measurements of a change to the stream paths; `async_bench.dart`
// is the report's benchmark.
// Usage: dart stream_ab.dart path/to/a/libdart_fixture.so path/to/b/libdart_fixture.so [parts]
//   (each library built with `cargo build --release -p dart-fixture
//   --target i686-unknown-linux-gnu` in its own worktree and target folder)
import '../../tests/dart/dart/lib/jobs/v1.pb.dart' as jobs;
import '../../tests/dart/dart/lib/roundtrip.dart';
import 'stream_parts.dart';

Future<void> main(List<String> args) async {
  final clients = [for (final a in args.take(2)) JobsClient.open(a)];
  final parts = args.length > 2 ? int.parse(args[2]) : 500000;
  for (final c in clients) {
    await c.gather(partStream(parts ~/ 10));
    await c.relay(partStream(parts ~/ 10)).drain<void>();
    await c.ticks(jobs.TicksRequest(count: parts ~/ 10)).drain<void>();
  }
  final best = [for (final _ in clients) [1e9, 1e9, 1e9]];
  for (var round = 0; round < 7; round++) {
    for (var i = 0; i < clients.length; i++) {
      final c = clients[i];
      best[i][0] = [best[i][0], await seconds(() async {
        final s = await c.gather(partStream(parts));
        if (s.count != parts) throw StateError('gathered');
      })].reduce((a, b) => a < b ? a : b);
      best[i][1] = [best[i][1], await seconds(() async {
        await c.relay(partStream(parts)).drain<void>();
      })].reduce((a, b) => a < b ? a : b);
      best[i][2] = [best[i][2], await seconds(() async {
        await c.ticks(jobs.TicksRequest(count: parts * 4)).drain<void>();
      })].reduce((a, b) => a < b ? a : b);
    }
  }
  for (var i = 0; i < clients.length; i++) {
    print('${args[i]}: client ${(parts / best[i][0] / 1e6).toStringAsFixed(2)} M/s, '
        'bidi ${(parts / best[i][1] / 1e6).toStringAsFixed(2)} M/s, '
        'server ${(parts * 4 / best[i][2] / 1e6).toStringAsFixed(2)} M/s');
  }
}
