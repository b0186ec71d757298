// Cross-language wire check, Dart side: `write <dir>` encodes the cases
// below with the generated Dart classes into `<dir>/dart_<case>.bin`;
// `check.py` decodes them with Google's protobuf (Python) and writes
// `<dir>/python_<case>.bin`; `read <dir>` decodes Python's bytes here and
// compares them with the same cases. Run by `cargo xtask dart-test`.

import 'dart:io';
import 'dart:typed_data';

import '../dart/lib/google/protobuf.pb.dart' as wkt;
import '../dart/lib/legacy/v1.pb.dart' as legacy;
import '../dart/lib/roundtrip.dart';

/// Every case: a name and a message (Python checks each one's fields).
Map<String, ProtoMessage> cases() => {
      // -0.0 is not the default: both fields must be on the wire.
      'negative_zero': Scalars(fDouble: -0.0, fFloat: -0.0, fInt64: -1, fUint64: -1),
      // proto2 groups: start/end-group tags.
      'groups': legacy.Record(
          name: 'g',
          entry: legacy.Record_Entry(a: 7, b: 'x'),
          item: [legacy.Record_Item(id: 1), legacy.Record_Item(id: -2)],
          ratio: 0.5),
      // Well-known types and an Any with the type.googleapis.com prefix.
      'wkt': WktRequest(
          at: wkt.Timestamp.fromDateTime(DateTime.utc(2026, 11, 23, 12, 0, 0, 250)),
          after: wkt.Duration.fromDart(const Duration(milliseconds: -1500)),
          payload: Any.pack(Nested(name: 'packed', values: [1, -1]))),
      // Every field shape, including unknown enum values and bytes.
      'all_types': AllTypes(
        scalars: Scalars(fString: 'héllo ✓', fBytes: Uint8List.fromList([0, 255]), fSint64: -3),
        packedInt32: [-1, 0, 1],
        unpackedSint64: [-2, 2],
        strings: ['', 'a'],
        blobs: [Uint8List(0), Uint8List.fromList([1, 2])],
        moods: [Mood.moodHappy, Mood.valueOf(99)],
        mood: Mood.moodSad,
        counts: {'one': 1, 'minus': -1},
        byId: {7: Nested(name: 'seven')},
        choice: AllTypes_Choice_Raw(Uint8List.fromList([9])),
        optInt: 0,
        type: 'type',
        fixedList: [0, 4294967295],
      ),
    };

void main(List<String> args) {
  if (args.length != 2 || !{'write', 'read'}.contains(args[0])) {
    stderr.writeln('usage: xlang.dart write|read <dir>');
    exit(2);
  }
  final dir = Directory(args[1])..createSync(recursive: true);
  var failed = 0;
  for (final MapEntry(key: name, value: message) in cases().entries) {
    if (args[0] == 'write') {
      File('${dir.path}/dart_$name.bin').writeAsBytesSync(message.writeToBuffer());
      continue;
    }
    final bytes = File('${dir.path}/python_$name.bin').readAsBytesSync();
    // Decode Python's bytes into the same class (merging into an empty one).
    final empty = switch (message) {
      Scalars() => Scalars(),
      legacy.Record() => legacy.Record(),
      WktRequest() => WktRequest(),
      AllTypes() => AllTypes(),
      _ => throw StateError('no empty instance for $name'),
    };
    final back = empty.mergeFromBuffer(bytes);
    if (back == message) {
      print('ok   python -> dart: $name');
    } else {
      failed++;
      print('FAIL python -> dart: $name\n  got      $back\n  expected $message');
    }
  }
  if (args[0] == 'read') {
    print('xlang read: ${cases().length - failed} passed, $failed failed');
  }
  exit(failed == 0 ? 0 : 1);
}
