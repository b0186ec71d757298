// Dart-side benchmark: the generated client's sync call against hand-written
// dart:ffi calls of the same symbol — one doing the same work (encode the
// same message with the same classes, copy it to native memory, call,
// decode the response, free), one sending pre-encoded bytes and decoding
// nothing (the call alone) — and the async variant. Variants take turns in
// rounds and each keeps its best round, so JIT warm-up and a noisy
// neighbour do not decide the ratios. Prints one JSON line for
// `cargo xtask bench`.
// Usage: dart bench.dart path/to/libdart_fixture.so [iterations per round]

import 'dart:convert';
import 'dart:ffi';
import 'dart:io';
import 'dart:typed_data';

import '../../tests/dart/dart/lib/roundtrip.dart';

typedef _Native = Int32 Function(Pointer<Uint8>, Size, Pointer<Proto2ffiBuffer>);
typedef _Dart = int Function(Pointer<Uint8>, int, Pointer<Proto2ffiBuffer>);
typedef _FreeNative = Void Function(Pointer<Proto2ffiBuffer>);
typedef _FreeDart = void Function(Pointer<Proto2ffiBuffer>);
typedef _VersionNative = Uint32 Function();
typedef _VersionDart = int Function();

double nsPerCall(int n, void Function() body) {
  final sw = Stopwatch()..start();
  for (var i = 0; i < n; i++) {
    body();
  }
  return sw.elapsedMicroseconds * 1000 / n;
}

const responseBytes0 = [8, 42];

Future<void> main(List<String> args) async {
  final path = args[0];
  final n = args.length > 1 ? int.parse(args[1]) : 200000;
  const rounds = 7;
  final client = RoundTripClient.open(path);
  final request = AddRequest(a: 20, b: 22);
  final nonLeaf = client.library.method('rt_round_trip_add');

  final lib = DynamicLibrary.open(path);
  final add = lib.lookupFunction<_Native, _Dart>('rt_round_trip_add');
  final free = lib.lookupFunction<_FreeNative, _FreeDart>('rt_proto2ffi_free');
  final addLeaf = lib.lookupFunction<_Native, _Dart>('rt_round_trip_add', isLeaf: true);
  final freeLeaf = lib.lookupFunction<_FreeNative, _FreeDart>('rt_proto2ffi_free', isLeaf: true);
  final versionLeaf =
      lib.lookupFunction<_VersionNative, _VersionDart>('rt_proto2ffi_abi_version', isLeaf: true);
  final version = lib.lookupFunction<_VersionNative, _VersionDart>('rt_proto2ffi_abi_version');
  // An empty buffer: freeing it is the free function's transition and one
  // branch.
  final empty = NativeMemory.allocate(sizeOf<Proto2ffiBuffer>()).cast<Proto2ffiBuffer>();
  empty.ref
    ..data = nullptr
    ..len = 0
    ..capacity = 0;
  final responseNative = NativeMemory.allocate(2);
  responseNative.asTypedList(2).setAll(0, responseBytes0);
  final bytes = request.writeToBuffer();
  final req = NativeMemory.allocate(256);
  final reqView = req.asTypedList(256);
  reqView.setAll(0, bytes);
  final out = NativeMemory.allocate(sizeOf<Proto2ffiBuffer>()).cast<Proto2ffiBuffer>();
  final writer = ProtoWriter();
  final responseBytes = Uint8List.fromList(responseBytes0);

  // 64 KiB each way: `echo` of a message holding one 64 KiB `bytes` field
  // in a nested message (the generated client), against the floor of one
  // copy in and one copy out around the bare call of the same symbol with
  // the same bytes.
  final blob = Uint8List.fromList(List.generate(64 * 1024, (i) => i * 13 & 0xff));
  final large = AllTypes(scalars: Scalars(fBytes: blob));
  final largeBytes = large.writeToBuffer();
  final largeReq = NativeMemory.allocate(largeBytes.length);
  final largeView = largeReq.asTypedList(largeBytes.length);
  final echo = lib.lookupFunction<_Native, _Dart>('rt_round_trip_echo');

  final variants = <String, void Function()>{
    'generated_sync_ns': () {
      if (client.add(request).sum != 42) throw StateError('wrong');
    },
    'generated_sync_not_leaf_ns': () {
      if (client.library.caller.call(nonLeaf, request.writeTo, AddResponse.readFrom).sum != 42) {
        throw StateError('wrong');
      }
    },
    // What a careful hand-written binding does for the same call.
    'handwritten_full_leaf_ns': () {
      writer.clear();
      request.writeTo(writer);
      final b = writer.buffer;
      reqView.setRange(0, b.length, b);
      if (addLeaf(req, b.length, out) != 0) throw StateError('failed');
      final o = out.ref;
      final response = AddResponse.readFrom(ProtoReader(o.data.asTypedList(o.len)));
      freeLeaf(out);
      if (response.sum != 42) throw StateError('wrong');
    },
    // The call alone: bytes encoded once, the response not decoded.
    'handwritten_ffi_leaf_ns': () {
      if (addLeaf(req, bytes.length, out) != 0) throw StateError('failed');
      if (out.ref.len != 2) throw StateError('unexpected response');
      freeLeaf(out);
    },
    'handwritten_ffi_ns': () {
      if (add(req, bytes.length, out) != 0) throw StateError('failed');
      if (out.ref.len != 2) throw StateError('unexpected response');
      free(out);
    },
    // Encoding and decoding the same messages, no FFI (a reused writer).
    'dart_encode_decode_ns': () {
      writer.clear();
      request.writeTo(writer);
      if (AddResponse.readFrom(ProtoReader(responseBytes)).sum != 42) throw StateError('wrong');
    },
    'large_generated_ns': () {
      if (client.echo(large).scalars!.fBytes.length != blob.length) throw StateError('wrong');
    },
    'large_floor_ns': () {
      largeView.setRange(0, largeBytes.length, largeBytes);
      if (echo(largeReq, largeBytes.length, out) != 0) throw StateError('failed');
      final o = out.ref;
      final copy = Uint8List.fromList(o.data.asTypedList(o.len));
      freeLeaf(out);
      if (copy.length != largeBytes.length) throw StateError('wrong');
    },
    // The generated call, part by part (each part alone, as the generated
    // client does it).
    // 1. Encoding the request into the reused writer.
    'part_encode_ns': () {
      writer.clear();
      request.writeTo(writer);
      if (writer.length != bytes.length) throw StateError('wrong');
    },
    // 2. Copying the encoded bytes into native memory.
    'part_copy_ns': () {
      reqView.setRange(0, bytes.length, bytes);
    },
    // 3. The VM's transition alone: a leaf call of a function that returns
    //    a constant (and the same not leaf).
    'part_transition_leaf_ns': () {
      if (versionLeaf() == 0) throw StateError('wrong');
    },
    'part_transition_ns': () {
      if (version() == 0) throw StateError('wrong');
    },
    // 4. Freeing an empty buffer: the second transition every call makes.
    'part_free_empty_leaf_ns': () {
      freeLeaf(empty);
    },
    // 5. Viewing the library's response bytes and decoding them.
    'part_view_decode_ns': () {
      final view = responseNative.asTypedList(2);
      if (AddResponse.readFrom(ProtoReader(view)).sum != 42) throw StateError('wrong');
    },
  };
  final best = {for (final k in variants.keys) k: double.infinity};
  for (var r = 0; r < rounds; r++) {
    for (final MapEntry(:key, :value) in variants.entries) {
      // The 64 KiB calls take about a hundred times as long.
      final ns = nsPerCall(key.startsWith('large_') ? n ~/ 50 : n, value);
      if (ns < best[key]!) best[key] = ns;
    }
  }

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
    'rounds': rounds,
    ...best,
    'async_ns': asyncNs,
  }));
}
