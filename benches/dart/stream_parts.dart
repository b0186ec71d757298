// What the stream benchmarks share (`async_bench.dart`, `stream_ab.dart`):
// a Dart stream of empty parts and a stopwatch around an awaited body.
import '../../tests/dart/dart/lib/jobs/v1.pb.dart' as jobs;

const _part = jobs.Part();

/// [k] empty parts, as fast as the listener takes them.
Stream<jobs.Part> partStream(int k) => Stream.fromIterable(Iterable.generate(k, (_) => _part));

/// Seconds [body] took, awaited.
Future<double> seconds(Future<void> Function() body) async {
  final sw = Stopwatch()..start();
  await body();
  return sw.elapsedMicroseconds / 1e6;
}
