// The proto2ffi Dart runtime: protobuf wire reader/writer, the native buffer
// struct, native memory, and the call helper every generated client uses.
// Only `dart:` libraries are imported.

import 'dart:async';
import 'dart:collection' show UnmodifiableListView, UnmodifiableMapView;
import 'dart:convert' show utf8;
import 'dart:ffi';
import 'dart:io' show Platform;
import 'dart:isolate';
import 'dart:typed_data';

