// Tests of the fixed-layout structs and client against the particles library,
// on whatever ABI this VM has (ia32 here: 8-byte fields 4-byte aligned in C).
// Usage: dart test/particles_test.dart path/to/libparticles.so
// (only `dart:` imports: runs on a bare Dart VM; prints `N passed, N failed`).

import 'dart:ffi';
import 'dart:io';
import 'dart:typed_data';

import '../lib/particles.dart';
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

bool close(double a, double b) => (a - b).abs() < 1e-4;

void main(List<String> args) {
  final path = args.isNotEmpty ? args[0] : null;
  // `--bundled`: the code asset through `@Native` (the library preloaded).
  final sim = path == '--bundled' ? ParticlesClient.bundled() : ParticlesClient.open(path);
  final lib = sim.library;

  check('struct sizes equal the layout on this ABI', () {
    expect(sizeOf<f.Particle>() == 24, 'Particle ${sizeOf<f.Particle>()}');
    expect(sizeOf<f.Vec3>() == 24, 'Vec3');
    expect(sizeOf<f.Scalars>() == f.Scalars.layoutSize, 'Scalars ${sizeOf<f.Scalars>()}');
    expect(sizeOf<f.Probe>() == f.Probe.layoutSize, 'Probe ${sizeOf<f.Probe>()}');
    expect(sizeOf<f.Frame>() == f.Frame.layoutSize, 'Frame ${sizeOf<f.Frame>()}');
    expect(sizeOf<f.Histogram>() == f.Histogram.layoutSize, 'Histogram');
  });

  check('step reads and writes structs in place', () {
    final y = sim.stepWith((p) {
      p
        ..x = 1
        ..vx = 60
        ..vy = 0;
    }, (r) {
      expect(r.x == 2.0, 'x ${r.x}');
      return r.vy;
    });
    expect(close(y, -9.81 / 60), 'vy $y');
  });

  check('step through pointers the caller allocates', () {
    final block = lib.alloc(2 * f.Particle.layoutSize, 8);
    try {
      final a = block.cast<f.Particle>();
      final b = Pointer<f.Particle>.fromAddress(block.address + f.Particle.layoutSize);
      a.ref.vz = 6;
      for (var i = 0; i < 60; i++) {
        sim.step(a, b);
        sim.step(b, a);
      }
      expect(close(a.ref.z, 12), 'z ${a.ref.z}');
      expect(a.ref.y < -19, 'fell ${a.ref.y}');
    } finally {
      lib.dealloc(block, 2 * f.Particle.layoutSize, 8);
    }
  });

  check('every field kind survives the round trip at its offset', () {
    sim.mirrorWith((p) {
      p.name = 'héllo';
      p.alive = true;
      p.position
        ..x = 1.5
        ..y = -2.5
        ..z = 1e300;
      p.trailCount = 2;
      p.trailAt(0).x = 10;
      p.trailAt(1)
        ..x = 20
        ..y = 21;
      p.samples = [1.5, -2, 3];
      p.tag = [1, 2, 255];
      p.phases = [1, 99];
      p.flags = [true, false];
      p.scalars
        ..flag = false
        ..i64 = -9007199254740993
        ..i32 = -2147483648
        ..u64 = 0x7ffffffffffffffe
        ..u32 = 0xfffffffe
        ..s32 = 7
        ..s64 = -7
        ..f32 = 3
        ..f64 = 41
        ..sf32 = 5
        ..sf64 = -6
        ..fl = 0.25
        ..db = -1.25
        ..phase = 2
        ..last = true;
    }, (r) {
      expect(r.name == 'olléh', 'name ${r.name}');
      expect(!r.alive, 'alive');
      expect(r.position.x == 2.5 && r.position.y == -0.5 && r.position.z == 1e300, 'position');
      expect(r.trailCount == 2, 'trail count');
      expect(r.trailAt(0).x == -20 && r.trailAt(0).y == 21 && r.trailAt(1).x == -10, 'trail');
      final s = r.samples;
      expect(s.length == 3 && s[0] == 3 && s[1] == -4 && s[2] == 6, 'samples $s');
      expect(r.tag.length == 3 && r.tag[0] == 255 && r.tag[2] == 1, 'tag ${r.tag}');
      expect(r.phases.length == 2 && r.phases[0] == 99 && r.phases[1] == 1, 'phases ${r.phases}');
      expect(r.flags.length == 2 && !r.flags[0] && r.flags[1], 'flags ${r.flags}');
      final t = r.scalars;
      expect(t.flag && !t.last, 'bools');
      expect(t.i64 == -9007199254740992, 'i64 ${t.i64}');
      expect(t.i32 == -2147483647, 'i32 ${t.i32}');
      expect(t.u64 == 0x7fffffffffffffff, 'u64 ${t.u64}');
      expect(t.u32 == 0xffffffff, 'u32 ${t.u32}');
      expect(t.s32 == 6 && t.s64 == -8, 'sint');
      expect(t.f32 == 6 && t.f64 == 42, 'fixed');
      expect(t.sf32 == -5 && t.sf64 == 6, 'sfixed');
      expect(t.fl == 0.75 && t.db == -2.5, 'floats');
      expect(t.phase == 3, 'phase ${t.phase}');
      return null;
    });
  });

  check('hostile structs get INVALID_ARGUMENT, never a crash', () {
    for (final (what, poke) in <(String, void Function(f.Probe))>[
      ('bool of 7', (p) => p.scalars.last = false),
      ('count above max', (p) => p.trailCount = 4),
      ('invalid UTF-8', (p) => p.name = 'ok'),
    ]) {
      final block = lib.alloc(2 * f.Probe.layoutSize, 8);
      try {
        final req = block.cast<f.Probe>();
        final resp = Pointer<f.Probe>.fromAddress(block.address + f.Probe.layoutSize);
        poke(req.ref);
        final bytes = block.cast<Uint8>().asTypedList(f.Probe.layoutSize);
        switch (what) {
          case 'bool of 7':
            bytes[216 + 100] = 7; // Scalars.last at its offset
          case 'count above max':
            bytes[56] = 5; // trail_count
          default:
            bytes[4] = 0xff; // name[0]
        }
        try {
          sim.mirror(req, resp);
          throw StateError('$what was accepted');
        } on Proto2ffiException catch (e) {
          expect(e.code == StatusCode.invalidArgument, '$what: ${e.code}');
          expect(e.message.startsWith('request: Probe.') || e.message.startsWith('request: Scalars.'),
              '$what: ${e.message}');
        }
      } finally {
        lib.dealloc(block, 2 * f.Probe.layoutSize, 8);
      }
    }
  });

  check('setters refuse what does not fit', () {
    sim.mirrorWith((p) {
      for (final bad in <void Function()>[
        () => p.name = 'x' * 25,
        () => p.samples = List.filled(6, 1.0),
        () => p.trailCount = 5,
      ]) {
        try {
          bad();
          throw StateError('accepted');
        } on ArgumentError {
          // expected (RangeError is an ArgumentError)
        }
      }
    }, (_) => null);
  });

  check('pixels stay in place: luma over a typed-list view', () {
    const w = 320, h = 200, n = w * h;
    final pixels = lib.alloc(n * 4, f.Frame.pixelsAlign).cast<Uint32>();
    final bins = lib.alloc(256 * 8, 8).cast<Uint64>();
    try {
      final frame = lib.alloc(f.Frame.layoutSize + f.Histogram.layoutSize, 8);
      try {
        final fr = frame.cast<f.Frame>();
        final hist = Pointer<f.Histogram>.fromAddress(frame.address + f.Frame.layoutSize);
        fr.ref
          ..width = w
          ..height = h
          ..pixelsAttach(pixels, n, n);
        final view = fr.ref.pixels; // no copy: Dart writes the library's memory
        final expected = List<int>.filled(256, 0);
        for (var i = 0; i < n; i++) {
          final p = (i * 2654435761) & 0xffffffff | 0xff000000;
          view[i] = p;
          final r = p & 0xff, g = (p >> 8) & 0xff, b = (p >> 16) & 0xff;
          expected[(77 * r + 150 * g + 29 * b) >> 8]++;
        }
        expect(pixels.asTypedList(n)[123] == view[123], 'same memory');
        hist.ref.binsAttach(bins, 256);
        sim.luma(fr, hist);
        expect(hist.ref.pixels == n, 'pixels ${hist.ref.pixels}');
        final got = hist.ref.bins;
        expect(got.length == 256, 'bins ${got.length}');
        for (var i = 0; i < 256; i++) {
          expect(got[i] == expected[i], 'bin $i: ${got[i]} != ${expected[i]}');
        }
      } finally {
        lib.dealloc(frame, f.Frame.layoutSize + f.Histogram.layoutSize, 8);
      }
    } finally {
      lib.dealloc(pixels, n * 4, f.Frame.pixelsAlign);
      lib.dealloc(bins, 256 * 8, 8);
    }
  });

  check('a different layout is refused on open, naming the message', () {
    for (final (expected, dartSize) in [(f.Particle.layoutFingerprint ^ 1, 24), (f.Particle.layoutFingerprint, 28)]) {
      try {
        lib.checkLayout('particles.v1.Particle', 'particles_proto2ffi_layout_particle', expected,
            dartSize, f.Particle.layoutSize);
        throw StateError('accepted');
      } on Proto2ffiLoadError catch (e) {
        expect(e.toString().contains('particles.v1.Particle'), '$e');
      }
    }
    // The generated check passes for the real values.
    lib.checkLayout('particles.v1.Particle', 'particles_proto2ffi_layout_particle',
        f.Particle.layoutFingerprint, sizeOf<f.Particle>(), f.Particle.layoutSize);
  });

  check('the encoded path gives the same step', () {
    final r = sim.stepEncoded(ParticleMessage(x: 1, vx: 60));
    expect(r.x == 2.0 && close(r.vy, -9.81 / 60), '$r');
  });

  final pool = ParticlePool(lib);

  check('the pool lends zeroed structs and takes them back', () {
    final a = pool.acquire();
    a.ref
      ..x = 3
      ..vz = 4;
    pool.release(a);
    final b = pool.acquire();
    expect(b.address == a.address, 'LIFO reuse');
    expect(b.ref.x == 0 && b.ref.vz == 0, 'zeroed on acquire');
    expect(b.address % 8 == 0, 'aligned');
    final out = lib.alloc(f.Particle.layoutSize, 8).cast<f.Particle>();
    b.ref
      ..x = 1
      ..vx = 60;
    sim.step(b, out);
    expect(out.ref.x == 2.0, 'a pooled struct passes to a fixed-layout method');
    lib.dealloc(out, f.Particle.layoutSize, 8);
    pool.release(b);
  });

  check('double, foreign and NULL releases are refused with INVALID_ARGUMENT', () {
    final p = pool.acquire();
    pool.release(p);
    final foreign = lib.alloc(f.Particle.layoutSize, 8).cast<f.Particle>();
    try {
      for (final bad in [p, foreign, Pointer<f.Particle>.fromAddress(p.address + 4), nullptr.cast<f.Particle>()]) {
        try {
          pool.release(bad);
          throw StateError('released ${bad.address}');
        } on Proto2ffiException catch (e) {
          expect(e.code == StatusCode.invalidArgument, '$e');
        }
      }
    } finally {
      lib.dealloc(foreign, f.Particle.layoutSize, 8);
    }
  });

  check('an exhausted pool throws Proto2ffiPoolExhausted and recovers', () {
    final held = <Pointer<f.Particle>>[];
    try {
      for (var i = 0; i < ParticlePool.capacity; i++) {
        held.add(pool.acquire());
      }
      expect(held.map((p) => p.address).toSet().length == ParticlePool.capacity, 'distinct');
      try {
        pool.acquire();
        throw StateError('acquired beyond capacity');
      } on Proto2ffiPoolExhausted catch (e) {
        expect(e.capacity == ParticlePool.capacity && e.message == 'particles.v1.Particle', '$e');
      }
    } finally {
      held.forEach(pool.release);
    }
    pool.release(pool.acquire());
  });

  check('forgotten owned structs go back through the NativeFinalizer', () {
    final owned = pool.acquireOwned();
    owned.ref.x = 5;
    expect(owned.ref.x == 5, 'typed access');
    owned.release();
    expect(owned.isReleased, 'released');
    try {
      owned.ref;
      throw StateError('use after release');
    } on StateError catch (e) {
      expect('$e'.contains('after release'), '$e');
    }
    // Lend 4x the capacity without releasing anything: only finalizers
    // returning forgotten handles make that possible.
    var lent = 0, pressure = 0;
    while (lent < 4 * ParticlePool.capacity) {
      try {
        pool.acquireOwned().ref.x = 1;
        lent++;
      } on Proto2ffiPoolExhausted {
        if (++pressure > 1000) throw StateError('finalizers returned nothing ($lent lent)');
        // Garbage makes the GC run, and it runs the finalizers.
        var junk = <Object>[];
        for (var i = 0; i < 100000; i++) {
          junk.add(Object());
        }
        junk = [];
      }
    }
  });

  check('metrics report the pool', () {
    final m = lib.metrics().pools.firstWhere((p) => p.message == 'particles.v1.Particle');
    expect(m.capacity == ParticlePool.capacity && m.created == ParticlePool.capacity, '$m');
    expect(m.exhausted >= 1 && m.refused >= 4 && m.acquired > 4 * ParticlePool.capacity, '$m');
    expect(lib.metricsText().contains('proto2ffi_pool_objects_in_use{message="particles.v1.Particle"}'),
        'prometheus');
  });

  print('$passed passed, $failed failed');
  exit(failed == 0 ? 0 : 1);
}
