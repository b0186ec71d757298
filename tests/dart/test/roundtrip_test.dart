// Dart VM tests of the generated client against the `dart-fixture` library.
// Usage: dart roundtrip_test.dart path/to/libdart_fixture.so

import 'dart:async';
import 'dart:io';
import 'dart:typed_data';

import '../dart/lib/google/protobuf.pb.dart' as wkt;
import '../dart/lib/legacy/v1.pb.dart' as legacy;
import '../dart/lib/roundtrip.dart';
import '../dart_stale/lib/roundtrip.dart' as stale;
import 'harness.dart';

late RoundTripClient client;
late String libraryPath;

/// The same message `canonical()` builds in Rust (tests/dart/src/lib.rs).
AllTypes canonical() {
  final leaf = Nested(name: 'leaf', values: [-1, 0, 1]);
  return AllTypes(
    scalars: Scalars(
      fDouble: -1.5e300,
      fFloat: 3.25,
      fInt32: -2147483648,
      fInt64: -9223372036854775808,
      fUint32: 4294967295,
      fUint64: -1, // u64::MAX as a two's-complement Dart int
      fSint32: -2147483648,
      fSint64: -9223372036854775808,
      fFixed32: 4294967295,
      fFixed64: -1,
      fSfixed32: -2147483648,
      fSfixed64: -9223372036854775808,
      fBool: true,
      fString: 'héllo, wörld ✓ 🚀',
      fBytes: Uint8List.fromList([0, 1, 2, 254, 255]),
    ),
    packedInt32: [-2147483648, -1, 0, 1, 2147483647],
    unpackedSint64: [-9223372036854775808, -1, 0, 1, 9223372036854775807],
    packedDouble: [0.0, -0.5, 1.7976931348623157e308, 2.2250738585072014e-308],
    strings: ['', 'a', '日本語'],
    blobs: [Uint8List(0), Uint8List.fromList(List.filled(300, 7))],
    moods: [Mood.moodHappy, Mood.moodSad, Mood.moodUnspecified],
    mood: Mood.moodSad,
    nested: Nested(name: 'root', child: leaf),
    nestedList: [leaf, Nested()],
    counts: {'one': 1, 'minus': -1, '': 0},
    byId: {7: leaf, -7: Nested()},
    names: {-1: 'max', 0: 'zero'},
    choice: AllTypes_Choice_Number(-42),
    optInt: 0,
    optBool: false,
    class_: 1,
    is_: 'is',
    in_: 'in',
    new_: 'new',
    type: 'type',
    fixedList: [0, 1, 4294967295],
  );
}

bool _sameBytes(List<int> a, List<int> b) {
  if (a.length != b.length) return false;
  for (var i = 0; i < a.length; i++) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

int rssKib() {
  final status = File('/proc/self/status').readAsLinesSync();
  final line = status.firstWhere((l) => l.startsWith('VmRSS:'), orElse: () => 'VmRSS: 0 kB');
  return int.parse(line.replaceAll(RegExp(r'[^0-9]'), ''));
}

/// `--bundled` as the first argument binds the code asset through `@Native`
/// (`cargo xtask dart-test` preloads the library), else it is the path.
bool get bundled => libraryPath == '--bundled';

void main(List<String> args) async {
  libraryPath = args.isNotEmpty ? args[0] : 'libdart_fixture.so';
  client = bundled ? RoundTripClient.bundled() : RoundTripClient.open(libraryPath);

  test('Dart encodes what Rust expects (canonical edge values)', () {
    final v = client.expect(canonical());
    check(v.equal, 'Rust saw a different message:\n${v.diff}');
  });

  test('Rust encodes what Dart expects (canonical edge values)', () {
    expectEq(client.canonical(wkt.Empty()), canonical());
  });

  test('round trip of the canonical message', () {
    expectEq(client.echo(canonical()), canonical());
  });

  test('round trip of defaults: an all-default message is zero bytes', () {
    expectEq(AllTypes().writeToBuffer().length, 0);
    expectEq(client.echo(AllTypes()), AllTypes());
  });

  test('integer extremes of every kind', () {
    for (final v in [0, 1, -1, 127, 128, 255, 256, 2147483647, -2147483648]) {
      final s = Scalars(fInt32: v, fSint32: v, fSfixed32: v, fInt64: v, fSint64: v, fSfixed64: v);
      expectEq(client.echo(AllTypes(scalars: s)).scalars, s, 'value $v');
    }
    for (final v in [0, 1, 4294967295]) {
      final s = Scalars(fUint32: v, fFixed32: v);
      expectEq(client.echo(AllTypes(scalars: s)).scalars, s, 'u32 $v');
    }
    for (final v in [0, 1, -1, 9223372036854775807, -9223372036854775808]) {
      final s = Scalars(fUint64: v, fFixed64: v, fInt64: v, fSint64: v);
      expectEq(client.echo(AllTypes(scalars: s)).scalars, s, 'u64/i64 $v');
    }
  });

  test('proto2 groups cross as start/end-group fields and prost reads them', () {
    final echo = LegacyEchoClient(client.library);
    final r = legacy.Record(
        name: 'g',
        entry: legacy.Record_Entry(a: 7, b: 'x'),
        item: [legacy.Record_Item(id: 1), legacy.Record_Item(id: -2)],
        ratio: 0.5);
    final bytes = r.writeToBuffer();
    // Field 2 starts with key (2 << 3 | 3) = 0x13 and ends with 0x14.
    check(bytes.contains(0x13) && bytes.contains(0x14), '$bytes');
    final back = echo.echo(r);
    expectEq(back, r, 'prost decoded and re-encoded the groups');
    expectEq(legacy.Record.fromBuffer(bytes), r);
  });

  test('-0.0 keeps its sign on the wire (presence is by bit pattern)', () {
    final s = Scalars(fDouble: -0.0, fFloat: -0.0);
    final bytes = s.writeToBuffer();
    // Both fields are written: tag 1 (fixed64) and tag 2 (fixed32).
    expectEq(bytes.length, 9 + 5);
    final back = Scalars.fromBuffer(bytes);
    check(back.fDouble == 0.0 && back.fDouble.isNegative, 'double -0.0 read back');
    check(back.fFloat == 0.0 && back.fFloat.isNegative, 'float -0.0 read back');
    // +0.0 is the default and is not written.
    expectEq(Scalars(fDouble: 0.0).writeToBuffer().length, 0);
  });

  test('NaN and infinities', () {
    final s = Scalars(fDouble: double.nan, fFloat: double.infinity);
    final back = client.echo(AllTypes(scalars: s, packedDouble: [double.negativeInfinity, double.nan]));
    check(back.scalars!.fDouble.isNaN, 'double NaN');
    expectEq(back.scalars!.fFloat, double.infinity);
    expectEq(back.packedDouble[0], double.negativeInfinity);
    check(back.packedDouble[1].isNaN, 'repeated NaN');
    expectEq(back.scalars, s, 'NaN compares equal in generated ==');
  });

  test('strings and bytes: empty, non-ASCII, large', () {
    final big = Uint8List.fromList(List.generate(1 << 20, (i) => i * 31 & 0xff));
    final m = AllTypes(
      scalars: Scalars(fString: '', fBytes: big),
      strings: ['', 'ß', '😀😀', 'a' * 70000],
      blobs: [Uint8List(0), big],
    );
    expectEq(client.echo(m), m);
  });

  test('large values kept by reference by the writer: nested, repeated, at every depth', () {
    // Values from 2 KiB up are copied once, at staging; the length
    // prefixes around them (growing as they fill) must count them and move
    // them along.
    var n = Nested(name: 'x' * 3000, values: [1]);
    for (var i = 0; i < 20; i++) {
      n = Nested(name: '$i' * (2048 + i * 97), child: n, values: [i, -i]);
    }
    final blob = Uint8List.fromList(List.generate(5000, (i) => i * 7 & 0xff));
    final m = AllTypes(
      scalars: Scalars(fString: 'y' * 2048, fBytes: blob),
      nested: n,
      nestedList: [n, Nested(name: 'z' * 2047), n],
      blobs: [blob, Uint8List(2047), blob, Uint8List(2048)],
      strings: ['a' * 2048, 'b', 'c' * 9000],
      byId: {1: n, 2: Nested(name: 'w' * 4096)},
      choice: AllTypes_Choice_Raw(blob),
    );
    expectEq(client.echo(m), m);
    final flat = m.writeToBuffer();
    expectEq(AllTypes.fromBuffer(flat), m);
    final w = ProtoWriter();
    m.writeTo(w);
    expectEq(w.length, flat.length);
    check(_sameBytes(w.toBytes(), flat), 'a flattened writer holds the same bytes');
    // The same writer reused after a flatten and a clear.
    w.clear();
    m.writeTo(w);
    check(_sameBytes(w.buffer, flat), 'a reused writer holds the same bytes');
    expectEq(client.echo(m), m);
  });

  test('large responses are lent: bytes values are views that keep their buffer', () {
    Uint8List blob(int seed, int n) => Uint8List.fromList(List.generate(n, (i) => (i * 7 + seed) & 0xff));
    final first = client.echo(AllTypes(scalars: Scalars(fBytes: blob(1, 64 * 1024)), blobs: [blob(2, 5000), blob(3, 100)]));
    // Immutable as every decoded value, though they are the library's memory.
    expectThrows<UnsupportedError>(() => first.scalars!.fBytes[0] = 9, 'a lent value is unmodifiable');
    expectThrows<UnsupportedError>(() => first.blobs[0][0] = 9, 'a lent value is unmodifiable');
    // Later calls (whose buffers the library reuses) leave it as it was.
    for (var i = 0; i < 200; i++) {
      final other = client.echo(AllTypes(scalars: Scalars(fBytes: blob(50 + i, 64 * 1024))));
      check(_sameBytes(other.scalars!.fBytes, blob(50 + i, 64 * 1024)), 'call $i');
    }
    check(_sameBytes(first.scalars!.fBytes, blob(1, 64 * 1024)), 'the first response kept its bytes');
    check(_sameBytes(first.blobs[0], blob(2, 5000)), 'the second lent value too');
    check(_sameBytes(first.blobs[1], blob(3, 100)), 'a small value in a lent response');
    expectEq(first, client.echo(first));
  });

  test('lent responses are released once unreachable: 3,000 MiB through keep RSS bounded', () {
    final big = AllTypes(scalars: Scalars(fBytes: Uint8List(1 << 20)));
    for (var i = 0; i < 100; i++) {
      client.echo(big);
    }
    final before = rssKib();
    for (var i = 0; i < 3000; i++) {
      if (client.echo(big).scalars!.fBytes.length != 1 << 20) fail('call $i');
    }
    final grown = rssKib() - before;
    // Kept, they would be 3 GiB (more than this 32-bit VM can map).
    check(grown < 512 * 1024, 'RSS grew by $grown KiB');
  });

  test('nested depth 60', () {
    var n = Nested(name: 'bottom');
    for (var i = 0; i < 60; i++) {
      n = Nested(name: 'level $i', child: n, values: [i]);
    }
    final back = client.echo(AllTypes(nested: n)).nested;
    expectEq(back, n);
  });

  test('maps with many keys', () {
    final counts = {for (var i = 0; i < 2000; i++) 'key-$i': i * -3};
    final names = {for (var i = 0; i < 500; i++) i * 7919: 'v$i'};
    final m = AllTypes(counts: counts, names: names, byId: {for (var i = 0; i < 50; i++) i: Nested(name: '$i')});
    expectEq(client.echo(m), m);
  });

  test('every oneof case', () {
    for (final c in <AllTypes_Choice?>[
      null,
      AllTypes_Choice_Text(''),
      AllTypes_Choice_Text('text'),
      AllTypes_Choice_Number(0),
      AllTypes_Choice_Number(-9223372036854775808),
      AllTypes_Choice_Node(Nested()),
      AllTypes_Choice_Node(Nested(name: 'n')),
      AllTypes_Choice_Raw(Uint8List(0)),
      AllTypes_Choice_Raw(Uint8List.fromList([1, 2, 3])),
    ]) {
      final back = client.echo(AllTypes(choice: c));
      expectEq(back.choice, c, 'case $c');
    }
    final label = switch (client.echo(AllTypes(choice: AllTypes_Choice_Text('x'))).choice) {
      AllTypes_Choice_Text(:final value) => 'text $value',
      AllTypes_Choice_Number() => 'number',
      AllTypes_Choice_Node() => 'node',
      AllTypes_Choice_Raw() => 'raw',
      null => 'none',
    };
    expectEq(label, 'text x');
  });

  test('optional presence: unset, zero, and set', () {
    expectEq(client.echo(AllTypes()).optInt, null);
    expectEq(client.echo(AllTypes(optInt: 0)).optInt, 0);
    expectEq(client.echo(AllTypes(optString: '')).optString, '');
    expectEq(client.echo(AllTypes(optBool: false)).optBool, false);
    expectEq(client.echo(AllTypes(optInt: -5)).optInt, -5);
  });

  test('unknown enum values are kept', () {
    final m = AllTypes(mood: Mood.valueOf(99), moods: [Mood.valueOf(-3)]);
    final back = client.echo(m);
    expectEq(back.mood.value, 99);
    expectEq(back.mood.name, null);
    expectEq(back.moods.single.value, -3);
  });

  test('packed and unpacked repeated fields decode either way', () {
    // Field 2 (packed int32) sent unpacked, field 3 (unpacked sint64) sent packed.
    final bytes = Uint8List.fromList([0x10, 0x05, 0x10, 0x06, 0x1a, 0x02, 0x03, 0x04]);
    final m = AllTypes.fromBuffer(bytes);
    expectEq(m.packedInt32.toString(), '[5, 6]');
    expectEq(m.unpackedSint64.toString(), '[-2, 2]');
  });

  test('unknown fields are skipped safely', () {
    final w = ProtoWriter();
    Nested(name: 'x', values: [1]).writeTo(w);
    w.writeTag(90, 0);
    w.writeVarint(-1);
    w.writeTag(91, 1);
    w.writeFixed64(7);
    w.writeTag(92, 2);
    w.writeString('ignored');
    w.writeTag(93, 5);
    w.writeFixed32(9);
    w.writeTag(94, 3); // group
    w.writeTag(1, 0);
    w.writeVarint(1);
    w.writeTag(94, 4);
    expectEq(Nested.fromBuffer(w.toBytes()), Nested(name: 'x', values: [1]));
  });

  test('malformed bytes throw ProtoDecodeError', () {
    expectThrows<ProtoDecodeError>(() => Nested.fromBuffer([0x0a, 0x05, 0x61]));
    expectThrows<ProtoDecodeError>(() => Nested.fromBuffer([0x08]));
    expectThrows<ProtoDecodeError>(() => Nested.fromBuffer([0x0a, 0x02, 0xc3, 0x28]), 'invalid UTF-8');
  });

  test('equality, hashCode, toString and copyWith', () {
    final a = canonical();
    final b = canonical();
    expectEq(a, b);
    expectEq(a.hashCode, b.hashCode);
    check(a.toString().contains('héllo'), 'toString shows fields');
    final c = a.copyWithout(optInt: true).copyWith(class_: 2, choice: AllTypes_Choice_Text('t'));
    expectEq(c.optInt, null);
    expectEq(c.class_, 2);
    expectEq(c.choice, AllTypes_Choice_Text('t'));
    expectEq(c.copyWith(optInt: 0, class_: 1, choice: AllTypes_Choice_Number(-42)), a);
    check(a != c, 'copies differ');
    // copyWith keeps what it is not given (null included); copyWithout clears.
    expectEq(a.copyWith(optInt: null).optInt, 0);
    expectEq(a.copyWithout(choice: true, nested: true).choice, null);
    expectEq(a.copyWithout().nested, a.nested);
  });

  test('messages are immutable: collections and bytes are copied and unmodifiable', () {
    final tags = ['a'];
    final blob = Uint8List.fromList([1, 2]);
    final counts = {'x': 1};
    final m = AllTypes(strings: tags, blobs: [blob], counts: counts, choice: AllTypes_Choice_Raw(blob));
    final hash = m.hashCode;
    tags.add('b');
    blob[0] = 9;
    counts['y'] = 2;
    expectEq(m.strings.toString(), '[a]', 'constructor copied the list');
    expectEq(m.blobs.single[0], 1, 'constructor copied the bytes');
    expectEq(m.counts.length, 1, 'constructor copied the map');
    expectEq((m.choice as AllTypes_Choice_Raw).value[0], 1, 'oneof bytes copied');
    expectEq(m.hashCode, hash);
    final decoded = client.echo(canonical());
    for (final (what, mutate) in <(String, void Function())>[
      ('default list', () => AllTypes().strings.add('x')),
      ('given list', () => m.strings.add('x')),
      ('decoded list', () => decoded.strings.add('x')),
      ('decoded map', () => decoded.counts['z'] = 1),
      ('given map', () => m.counts.clear()),
      ('decoded bytes', () => decoded.scalars!.fBytes[0] = 1),
      ('decoded repeated bytes', () => decoded.blobs[1][0] = 1),
      ('given bytes', () => m.blobs.single[0] = 7),
      ('default bytes', () => Scalars().fBytes.add(1)),
      ('decoded packed list', () => decoded.packedInt32[0] = 1),
    ]) {
      expectThrows<UnsupportedError>(mutate, what);
    }
    expectEq(decoded, canonical(), 'nothing changed');
  });

  test('const constructors where nothing is copied', () {
    const n = FailRequest(code: 1, message: 'x');
    const v = Verdict(equal: true);
    expectEq(n, FailRequest(code: 1, message: 'x'));
    check(identical(v, const Verdict(equal: true)), 'canonicalized const');
  });

  test('enums: exhaustive switch over known values, unknown values kept', () {
    String describe(Mood m) => switch (m) {
          Mood.moodUnspecified => 'unspecified',
          Mood.moodHappy => 'happy',
          Mood.moodSad => 'sad',
          Mood$Unknown(:final value) => 'unknown $value',
        };
    expectEq(describe(Mood.valueOf(1)), 'happy');
    expectEq(describe(Mood.valueOf(42)), 'unknown 42');
    expectEq(Mood.values.length, 3);
    expectEq(Mood.moodSad.name, 'MOOD_SAD');
    expectEq(Mood.moodSad.toString(), 'MOOD_SAD');
    expectEq(Mood.valueOf(7).toString(), 'Mood(7)');
    check(identical(Mood.valueOf(2), Mood.moodSad), 'known values are canonical');
    expectEq(Mood.valueOf(42), Mood.valueOf(42));
  });

  test('merge semantics: mergeFromBuffer merges like protobuf', () {
    final a = AllTypes(strings: ['a'], nested: Nested(name: 'x', values: [1]), optInt: 1);
    final b = AllTypes(strings: ['b'], nested: Nested(values: [2]), mood: Mood.moodSad);
    final m = a.mergeFromBuffer(b.writeToBuffer());
    expectEq(m.strings.toString(), '[a, b]');
    expectEq(m.nested, Nested(name: 'x', values: [1, 2]), 'sub-messages merge');
    expectEq(m.optInt, 1);
    expectEq(m.mood, Mood.moodSad);
    // prost decodes concatenated messages the same way.
    final bytes = Uint8List.fromList([...a.writeToBuffer(), ...b.writeToBuffer()]);
    expectEq(client.echo(AllTypes.fromBuffer(bytes)), m);
  });

  test('well-known types: Timestamp, Duration and Any with their helpers', () async {
    final wktClient = WktClient(client.library);
    final at = DateTime.utc(2026, 11, 23, 12, 0, 0, 250);
    final response = wktClient.get(WktRequest(
      at: wkt.Timestamp.fromDateTime(at),
      after: wkt.Duration.fromDart(const Duration(seconds: 1, milliseconds: 900)),
      payload: Any.pack(Nested(name: 'boundary')),
    ));
    // dart:core's Duration is still dart:core's: the barrel does not shadow it.
    expectEq(response.later!.toDateTime(), at.add(const Duration(seconds: 1, milliseconds: 900)));
    expectEq(response.seenTypeUrl, 'type.googleapis.com/roundtrip.v1.Nested');
    final payload = response.payload!;
    check(payload.canUnpackInto(Nested()), 'Any holds a Nested');
    check(!payload.canUnpackInto(Verdict()), 'not a Verdict');
    expectEq(payload.unpackInto(Nested()), Nested(name: 'BOUNDARY'));
    expectThrows<ProtoDecodeError>(() => payload.unpackInto(Verdict()));
    // Negative instants and durations keep proto's sign rules.
    final before = DateTime.utc(1969, 12, 31, 23, 59, 59, 500);
    final ts = wkt.Timestamp.fromDateTime(before);
    expectEq(ts.seconds, -1);
    expectEq(ts.nanos, 500000000);
    expectEq(ts.toDateTime(), before);
    final d = wkt.Duration.fromDart(const Duration(milliseconds: -1500));
    expectEq(d.seconds, -1);
    expectEq(d.nanos, -500000000);
    expectEq(d.toDart(), const Duration(milliseconds: -1500));
    // Async variant of a method named `get`.
    final Object? refused = await wktClient
        .getAsync(WktRequest(payload: Any.pack(Verdict())))
        .then<Object?>((_) => null, onError: (Object e) => e);
    check(refused is Proto2ffiException && refused.code == StatusCode.invalidArgument,
        'a Verdict payload must be refused: $refused');
    expectEq((await wktClient.getAsync(WktRequest(payload: Any.pack(Nested(name: 'a')))))
        .payload!
        .unpackInto(Nested()), Nested(name: 'A'));
  });

  test('an Any from a message field and from error details is one class', () {
    final fromField = Any.pack(Nested(name: 'n'));
    final e = Proto2ffiException.fromStatus(3, Uint8List.fromList([
      0x08, 0x03, // code
      0x1a, ...(() { final b = fromField.writeToBuffer(); return [b.length, ...b]; })(), // details
    ]));
    expectEq(e.details.single, fromField);
    expectEq(e.details.single.unpackInto(Nested()), Nested(name: 'n'));
    expectThrows<UnsupportedError>(() => e.details.add(fromField), 'details are unmodifiable');
  });

  test('every status code throws the right exception', () {
    for (final code in StatusCode.values.skip(1)) {
      final e = expectThrows<Proto2ffiException>(
          () => client.fail(FailRequest(code: code.value, message: 'failed with ${code.canonicalName} ✓')));
      expectEq(e.code, code);
      if (code == StatusCode.internal) {
        // INTERNAL gets an incident id (shared with the library's log record);
        // a debug build of the library exposes the message.
        check(RegExp(r'^failed with INTERNAL ✓ \(incident [0-9a-f]{8}\)$').hasMatch(e.message),
            e.message);
      } else {
        expectEq(e.message, 'failed with ${code.canonicalName} ✓');
      }
    }
  });

  test('a Rust panic surfaces as INTERNAL and the next call works', () {
    final e = expectThrows<Proto2ffiException>(() => client.panic(FailRequest(message: 'kaboom from dart')));
    expectEq(e.code, StatusCode.internal);
    check(e.message.contains('kaboom from dart'), e.message);
    expectEq(client.add(AddRequest(a: 1, b: 2)).sum, 3);
  });

  test('fingerprint mismatch is detected on open', () {
    // The stale package has its own runtime, hence its own error class.
    final e = expectThrows<stale.Proto2ffiLoadError>(
        () => bundled ? stale.RoundTripClient.bundled() : stale.RoundTripClient.open(libraryPath));
    check(e.message.contains('fingerprint 0x'), e.message);
    check(!e.message.contains('0x-'), e.message);
    check(e.message.contains('roundtrip.v1.RoundTrip'), e.message);
  });

  test('a missing library fails with a clear message', () {
    final e = expectThrows<Proto2ffiLoadError>(() => RoundTripClient.open('/nonexistent/libnothing.so'));
    check(e.message.contains('/nonexistent/libnothing.so'), e.message);
  });

  test('metrics, Prometheus text and health', () {
    final m = client.library.metrics();
    final add = m.methods.firstWhere((x) => x.method == 'Add');
    check(add.calls >= 1, 'Add counted');
    expectEq(add.latencyBuckets.length, m.latencyBoundsNs.length + 1);
    check(client.library.metricsText().contains('# TYPE proto2ffi_calls_total counter'), 'text');
    final h = client.library.health();
    check(h.healthy, h.reason);
    check(h.panicUnwind, 'built with panic = unwind');
    expectEq(h.services.join(','), 'roundtrip.v1.RoundTrip,roundtrip.v1.Wkt,legacy.v1.LegacyEcho,jobs.v1.Jobs');
    check(h.panics >= 1, 'panics counted');
  });

  test('1,000,000 calls keep RSS flat (every buffer freed)', () {
    final req = AddRequest(a: 1, b: 2);
    for (var i = 0; i < 20000; i++) {
      client.add(req);
    }
    final before = rssKib();
    for (var i = 0; i < 1000000; i++) {
      if (client.add(req).sum != 3) fail('wrong sum');
    }
    final grown = rssKib() - before;
    stdout.writeln('     RSS grew by $grown KiB over 1,000,000 calls');
    check(grown < 16 * 1024, 'RSS grew by $grown KiB');
  });

  test('async calls run concurrently and complete in any order', () async {
    final order = <String>[];
    var ticks = 0;
    final timer = Timer.periodic(const Duration(milliseconds: 5), (_) => ticks++);
    final calls = [
      client.sleepAsync(SleepRequest(ms: 600, tag: 'slow')).then((r) => order.add(r.tag)),
      client.sleepAsync(SleepRequest(ms: 10, tag: 'fast')).then((r) => order.add(r.tag)),
      client.sleepAsync(SleepRequest(ms: 300, tag: 'middle')).then((r) => order.add(r.tag)),
    ];
    await Future.wait(calls);
    timer.cancel();
    expectEq(order.join(','), 'fast,middle,slow');
    check(ticks > 10, 'the calling isolate kept running ($ticks timer ticks)');
    final e = await client.failAsync(FailRequest(code: 5, message: 'async nf')).then<Object>((_) => 'no error',
        onError: (Object e) => e);
    check(e is Proto2ffiException && e.code == StatusCode.notFound, '$e');
  });

  test('many concurrent async calls all complete with the right answers', () async {
    final results = await Future.wait([
      for (var i = 0; i < 200; i++) client.addAsync(AddRequest(a: i, b: 1000)),
    ]);
    for (var i = 0; i < 200; i++) {
      expectEq(results[i].sum, i + 1000);
    }
  });

  await runTests('dart roundtrip');
}
