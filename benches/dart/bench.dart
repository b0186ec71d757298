// Dart-side benchmark: the generated client's sync call, a hand-written
// dart:ffi call of the same symbol with the same bytes, and the async
// variant. Prints one JSON line for `cargo xtask bench`.
// Usage: dart bench.dart path/to/libdart_fixture.so [iterations]

import 'dart:convert';
import 'dart:ffi';
import 'dart:io';

import '../../tests/dart/dart/lib/roundtrip.dart';

typedef _Native = Int32 Function(Pointer<Uint8>, Size, Pointer<Proto2ffiBuffer>);
typedef _Dart = int Function(Pointer<Uint8>, int, Pointer<Proto2ffiBuffer>);

double nsPerCall(int n, void Function() body) {
  for (var i = 0; i < n ~/ 10; i++) {
    body();
  }
  final sw = Stopwatch()..start();
  for (var i = 0; i < n; i++) {
    body();
  }
  return sw.elapsedMicroseconds * 1000 / n;
}

Future<void> main(List<String> args) async {
  final path = args[0];
  final n = args.length > 1 ? int.parse(args[1]) : 200000;
  final client = RoundTripClient.open(path);
  final request = AddRequest(a: 20, b: 22);

  // `Add` is marked `leaf: true` in the schema: the client binds it with
  // isLeaf. The same call through a non-leaf binding, for the difference.
  final generated = nsPerCall(n, () {
    if (client.add(request).sum != 42) throw StateError('wrong');
  });
  final nonLeaf = client.library.method('rt_round_trip_add');
  final generatedNotLeaf = nsPerCall(n, () {
    if (client.library.caller.call(nonLeaf, request.writeTo, AddResponse.readFrom).sum != 42) {
      throw StateError('wrong');
    }
  });

  // Hand-written: the same symbol, the same pre-encoded bytes already in
  // native memory, the response read in place (not decoded), then freed.
  final lib = DynamicLibrary.open(path);
  final add = lib.lookupFunction<_Native, _Dart>('rt_round_trip_add');
  final free = lib.lookupFunction<Void Function(Pointer<Proto2ffiBuffer>),
      void Function(Pointer<Proto2ffiBuffer>)>('rt_proto2ffi_free');
  final bytes = request.writeToBuffer();
  final req = NativeMemory.allocate(bytes.length);
  req.asTypedList(bytes.length).setAll(0, bytes);
  final out = NativeMemory.allocate(sizeOf<Proto2ffiBuffer>()).cast<Proto2ffiBuffer>();
  final handwritten = nsPerCall(n, () {
    if (add(req, bytes.length, out) != 0) throw StateError('failed');
    if (out.ref.len != 2) throw StateError('unexpected response');
    free(out);
  });
  final addLeaf = lib.lookupFunction<_Native, _Dart>('rt_round_trip_add', isLeaf: true);
  final freeLeaf = lib.lookupFunction<Void Function(Pointer<Proto2ffiBuffer>),
      void Function(Pointer<Proto2ffiBuffer>)>('rt_proto2ffi_free', isLeaf: true);
  final handwrittenLeaf = nsPerCall(n, () {
    if (addLeaf(req, bytes.length, out) != 0) throw StateError('failed');
    if (out.ref.len != 2) throw StateError('unexpected response');
    freeLeaf(out);
  });

  // Encode + decode alone, to split the generated call's cost.
  final codec = nsPerCall(n, () {
    AddResponse.fromBuffer(request.writeToBuffer());
  });

  final asyncN = n ~/ 200 < 50 ? 50 : n ~/ 200;
  await client.addAsync(request);
  final sw = Stopwatch()..start();
  for (var i = 0; i < asyncN; i++) {
    await client.addAsync(request);
  }
  final asyncNs = sw.elapsedMicroseconds * 1000 / asyncN;

  stdout.writeln(jsonEncode({
    'vm': Platform.version,
    'iterations': n,
    'generated_sync_ns': generated,
    'generated_sync_not_leaf_ns': generatedNotLeaf,
    'handwritten_ffi_ns': handwritten,
    'handwritten_ffi_leaf_ns': handwrittenLeaf,
    'dart_encode_decode_ns': codec,
    'async_ns': asyncNs,
  }));
}
