// The image pipeline from Dart: pixels filled through a typed-list view of
// library-aligned memory and processed in place by Rust, every kernel
// compared with a Dart computation of the documented formulas.
// Usage: dart test/image_test.dart path/to/libimage_pipeline.so
// (only `dart:` imports: runs on a bare Dart VM; prints `N passed, N failed`).

import 'dart:ffi';
import 'dart:io';
import 'dart:typed_data';

import '../lib/image_pipeline.dart';
import '../lib/fixed.dart' as f;

var passed = 0, failed = 0;

void check(String name, void Function() body) {
  try {
    body();
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

int luma(int p) => (77 * (p & 0xff) + 150 * ((p >> 8) & 0xff) + 29 * ((p >> 16) & 0xff)) >> 8;

/// An image in library memory (64-byte aligned, as `simd = true` asks).
final class Frame {
  final ImageLibrary lib;
  final int width, height;
  final Pointer<Uint32> storage;
  final Pointer<f.ImageBuffer> image;

  Frame(this.lib, this.width, this.height)
      : storage = lib.alloc(width * height * 4, f.ImageBuffer.dataAlign).cast(),
        image = lib.alloc(f.ImageBuffer.layoutSize, 8).cast() {
    image.ref
      ..width = width
      ..height = height
      ..dataAttach(storage, width * height, width * height);
  }

  /// The pixels, viewed in place (no copy).
  Uint32List get pixels => image.ref.data;

  void fill(int seed) {
    var x = seed | 1;
    final px = pixels;
    for (var i = 0; i < px.length; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      px[i] = (x ^ (x << 7)) & 0xffffffff;
    }
  }

  void free() {
    lib.dealloc(storage, width * height * 4, f.ImageBuffer.dataAlign);
    lib.dealloc(image, f.ImageBuffer.layoutSize, 8);
  }
}

void main(List<String> args) {
  // `--bundled`: the code asset through `@Native` (the library preloaded).
  final client = args.isNotEmpty && args[0] == '--bundled'
      ? ImagePipelineClient.bundled()
      : ImagePipelineClient.open(args.isNotEmpty ? args[0] : null);
  final lib = client.library;
  final features = client.features(FeaturesRequest());
  final kernels = features.available.map((k) => k.value).toList();
  print('kernels: ${features.available.map((k) => k.name).join(', ')} (best ${features.best.name})');
  final adjust = lib.alloc(f.Adjust.layoutSize, 8).cast<f.Adjust>();

  check('the pixel view is the library memory, 64-byte aligned', () {
    final frame = Frame(lib, 8, 2);
    expect(frame.storage.address % 64 == 0, 'aligned');
    frame.pixels[3] = 0x01020304;
    expect(frame.storage[3] == 0x01020304, 'same memory');
    frame.free();
  });

  check('grayscale in place equals the formula, with every kernel', () {
    for (final k in kernels) {
      final frame = Frame(lib, 37, 9)..fill(k);
      final before = Uint32List.fromList(frame.pixels);
      adjust.ref.kernel = k;
      client.grayscale(adjust, frame.image);
      final after = frame.pixels;
      for (var i = 0; i < before.length; i++) {
        final y = luma(before[i]);
        expect(after[i] == (y | y << 8 | y << 16 | (before[i] & 0xff000000)), 'kernel $k pixel $i');
      }
      frame.free();
    }
  });

  check('brightness saturates and keeps alpha', () {
    for (final k in kernels) {
      final frame = Frame(lib, 19, 3)..fill(7);
      final before = Uint32List.fromList(frame.pixels);
      adjust.ref
        ..kernel = k
        ..amount = -60;
      client.brightness(adjust, frame.image);
      for (var i = 0; i < before.length; i++) {
        for (final s in [0, 8, 16]) {
          final c = ((before[i] >> s) & 0xff) - 60;
          expect(((frame.pixels[i] >> s) & 0xff) == (c < 0 ? 0 : c), 'kernel $k pixel $i');
        }
        expect(frame.pixels[i] >> 24 == before[i] >> 24, 'alpha');
      }
      frame.free();
    }
  });

  check('every kernel blurs to the same bytes', () {
    Uint32List? reference;
    for (final k in kernels) {
      final frame = Frame(lib, 45, 23)..fill(3);
      adjust.ref
        ..kernel = k
        ..radius = 4;
      client.boxBlur(adjust, frame.image);
      final got = Uint32List.fromList(frame.pixels);
      if (reference == null) {
        reference = got;
      } else {
        for (var i = 0; i < got.length; i++) {
          expect(got[i] == reference[i], 'kernel $k pixel $i');
        }
      }
      frame.free();
    }
  });

  check('histogram reads the image where it is', () {
    final frame = Frame(lib, 64, 32)..fill(11);
    final request = lib.alloc(f.HistogramRequest.layoutSize, 8).cast<f.HistogramRequest>();
    final response = lib.alloc(f.LumaHistogram.layoutSize, 8).cast<f.LumaHistogram>();
    final expected = List<int>.filled(256, 0);
    for (final p in frame.pixels) {
      expected[luma(p)]++;
    }
    for (final k in kernels) {
      request.ref.image
        ..width = frame.width
        ..height = frame.height
        ..dataAttach(frame.storage, frame.width * frame.height, frame.width * frame.height);
      request.ref.kernel = k;
      client.histogram(request, response);
      expect(response.ref.pixels == 64 * 32 && response.ref.kernel == k, 'kernel $k');
      final bins = response.ref.bins;
      for (var i = 0; i < 256; i++) {
        expect(bins[i] == expected[i], 'kernel $k bin $i');
      }
    }
    lib.dealloc(request, f.HistogramRequest.layoutSize, 8);
    lib.dealloc(response, f.LumaHistogram.layoutSize, 8);
    frame.free();
  });

  check('bad frames and parameters get INVALID_ARGUMENT, never a crash', () {
    final frame = Frame(lib, 4, 4);
    adjust.ref
      ..kernel = 0
      ..radius = 0;
    for (final (what, call) in [
      ('radius 0', () => client.boxBlur(adjust, frame.image)),
      ('5x4 over 16 pixels', () {
        frame.image.ref.width = 5;
        client.grayscale(adjust, frame.image);
      }),
      ('misaligned storage', () {
        frame.image.ref
          ..width = 1
          ..height = 1
          ..dataAttach(Pointer<Uint32>.fromAddress(frame.storage.address + 4), 1, 1);
        client.grayscale(adjust, frame.image);
      }),
    ]) {
      try {
        call();
        throw StateError('accepted $what');
      } on Proto2ffiException catch (e) {
        expect(e.code == StatusCode.invalidArgument, '$what: $e');
      }
    }
    frame.free();
  });

  lib.dealloc(adjust, f.Adjust.layoutSize, 8);
  print('$passed passed, $failed failed');
  exit(failed == 0 ? 0 : 1);
}
