/// Writes the protobuf wire format into a growable, reusable buffer.
final class ProtoWriter {
  Uint8List _buf = Uint8List(256);
  // Bytes in [_buf]; [length] adds the large fields kept by reference.
  int _len = 0;
  ByteData? _data;

  // Large `bytes` and `string` values are not copied into [_buf]: each is
  // kept by reference with the position in [_buf] it comes before
  // (positions never decrease), and copied once, when a caller stages the
  // message into native memory, or when [buffer] flattens the writer. The
  // values are immutable message fields and a writer is filled and staged
  // synchronously, so nothing can change them in between.
  List<int>? _chunkAt;
  List<Uint8List>? _chunks;
  int _chunked = 0;

  /// Values from this many bytes up are kept by reference (see above).
  static const int _chunkMin = 2048;

  /// Bytes written so far (a view; valid until the next write).
  Uint8List get buffer {
    _flatten();
    return Uint8List.sublistView(_buf, 0, _len);
  }

  /// Number of bytes written.
  int get length => _len + _chunked;

  /// Forgets what was written; keeps the memory.
  void clear() {
    _len = 0;
    if (_chunks != null) {
      _chunks = null;
      _chunkAt = null;
      _chunked = 0;
    }
  }

  /// Copies everything written, in order, to [to] from [offset] (which
  /// has room for [length] bytes).
  void _copyTo(Uint8List to, int offset) {
    final chunks = _chunks;
    if (chunks == null) {
      to.setRange(offset, offset + _len, _buf);
      return;
    }
    final at = _chunkAt!;
    var from = 0;
    var dst = offset;
    for (var i = 0; i < chunks.length; i++) {
      final p = at[i];
      to.setRange(dst, dst + p - from, _buf, from);
      dst += p - from;
      from = p;
      final c = chunks[i];
      to.setRange(dst, dst + c.length, c);
      dst += c.length;
    }
    to.setRange(dst, dst + _len - from, _buf, from);
  }

  /// Copies the values kept by reference into [_buf].
  void _flatten() {
    if (_chunks == null) return;
    final n = length;
    var size = _buf.length;
    while (size < n) {
      size *= 2;
    }
    final next = Uint8List(size);
    _copyTo(next, 0);
    _buf = next;
    _data = null;
    _len = n;
    _chunks = null;
    _chunkAt = null;
    _chunked = 0;
  }

  /// A copy of the bytes written.
  Uint8List toBytes() => Uint8List.fromList(buffer);

  void _ensure(int extra) {
    final need = _len + extra;
    if (need <= _buf.length) return;
    var size = _buf.length * 2;
    while (size < need) {
      size *= 2;
    }
    final next = Uint8List(size)..setRange(0, _len, _buf);
    _buf = next;
    _data = null;
  }

  ByteData get _bytes => _data ??= ByteData.sublistView(_buf);

  /// A field key.
  void writeTag(int field, int wireType) => writeVarint((field << 3) | wireType);

  /// An unsigned 64-bit varint (negative Dart ints write 10 bytes).
  void writeVarint(int v) {
    _ensure(10);
    while (v < 0 || v >= 0x80) {
      _buf[_len++] = (v & 0x7f) | 0x80;
      v = v >>> 7;
    }
    _buf[_len++] = v;
  }

  /// int32/int64/enum (negative values sign-extend to 10 bytes).
  void writeInt(int v) => writeVarint(v);

  /// sint32.
  void writeSint32(int v) => writeVarint(((v << 1) ^ (v >> 31)).toUnsigned(32));

  /// sint64.
  void writeSint64(int v) => writeVarint((v << 1) ^ (v >> 63));

  /// fixed32 / sfixed32.
  void writeFixed32(int v) {
    _ensure(4);
    _bytes.setUint32(_len, v.toUnsigned(32), Endian.little);
    _len += 4;
  }

  /// fixed64 / sfixed64.
  void writeFixed64(int v) {
    _ensure(8);
    _bytes.setInt64(_len, v, Endian.little);
    _len += 8;
  }

  /// float.
  void writeFloat(double v) {
    _ensure(4);
    _bytes.setFloat32(_len, v, Endian.little);
    _len += 4;
  }

  /// double.
  void writeDouble(double v) {
    _ensure(8);
    _bytes.setFloat64(_len, v, Endian.little);
    _len += 8;
  }

  /// bool.
  void writeBool(bool v) => writeVarint(v ? 1 : 0);

  /// Raw bytes (no length).
  void writeRaw(List<int> bytes) {
    _ensure(bytes.length);
    _buf.setRange(_len, _len + bytes.length, bytes);
    _len += bytes.length;
  }

  /// Length-delimited bytes. A [Uint8List] of 2 KiB or more is kept by
  /// reference until the bytes are staged or read ([buffer], [toBytes]):
  /// it must not change meanwhile (message fields never do).
  void writeBytes(List<int> bytes) {
    writeVarint(bytes.length);
    if (bytes.length >= _chunkMin && bytes is Uint8List) {
      (_chunkAt ??= <int>[]).add(_len);
      (_chunks ??= <Uint8List>[]).add(bytes);
      _chunked += bytes.length;
      return;
    }
    writeRaw(bytes);
  }

  /// Length-delimited UTF-8.
  void writeString(String s) => writeBytes(utf8.encode(s));

  /// Starts a length-delimited section; pass the result to [endLength].
  int beginLength() {
    _ensure(1);
    _len += 1;
    return _len;
  }

  /// Ends a section started with [beginLength], fixing its length prefix.
  void endLength(int start) {
    var size = _len - start;
    // Values kept by reference inside the section count in its length and
    // move with its bytes.
    final at = _chunkAt;
    var inside = at == null ? 0 : at.length;
    if (at != null) {
      while (inside > 0 && at[inside - 1] >= start) {
        inside--;
        size += _chunks![inside].length;
      }
    }
    var prefix = 1;
    for (var v = size >>> 7; v != 0; v = v >>> 7) {
      prefix++;
    }
    if (prefix > 1) {
      _ensure(prefix - 1);
      _buf.setRange(start + prefix - 1, _len + prefix - 1, _buf, start);
      _len += prefix - 1;
      if (at != null) {
        for (var i = inside; i < at.length; i++) {
          at[i] += prefix - 1;
        }
      }
    }
    var v = size;
    var i = start - 1;
    while (v >= 0x80) {
      _buf[i++] = (v & 0x7f) | 0x80;
      v = v >>> 7;
    }
    _buf[i] = v;
  }
}

/// Reads the protobuf wire format from bytes (no copy until a field needs one).
final class ProtoReader {
  final Uint8List _buf;
  int _pos;
  final int _end;
  ByteData? _data;
  // Whether [_buf] is a response lent by the library (see
  // `Proto2ffiCaller._finish`): large `bytes` values are then views of it.
  final bool _lent;

  /// `bytes` values from this many bytes up are views of a lent response.
  static const int _viewFrom = 4096;

  /// A reader over all of [bytes].
  ProtoReader(Uint8List bytes)
      : _buf = bytes,
        _pos = 0,
        _end = bytes.length,
        _lent = false;

  ProtoReader._(this._buf, this._pos, this._end, [this._lent = false]);

  /// Whether all bytes were read.
  bool get isAtEnd => _pos >= _end;

  ByteData get _bytes => _data ??= ByteData.sublistView(_buf);

  Never _truncated() => throw const ProtoDecodeError('truncated message');

  /// A field key (field number << 3 | wire type).
  int readTag() {
    final tag = readVarint();
    if ((tag >>> 3) == 0) {
      throw const ProtoDecodeError('invalid field number 0');
    }
    return tag;
  }

  /// A varint as a 64-bit two's-complement int.
  int readVarint() {
    var result = 0;
    var shift = 0;
    while (true) {
      if (_pos >= _end) _truncated();
      final b = _buf[_pos++];
      if (shift < 64) {
        result |= (b & 0x7f) << shift;
      }
      if (b < 0x80) return result;
      shift += 7;
      if (shift >= 70) {
        throw const ProtoDecodeError('varint longer than 10 bytes');
      }
    }
  }

  /// int32 / enum.
  int readInt32() => readVarint().toSigned(32);

  /// uint32.
  int readUint32() => readVarint().toUnsigned(32);

  /// int64 / uint64 (uint64 above 2^63 reads as a negative int).
  int readInt64() => readVarint();

  /// sint32.
  int readSint32() {
    final v = readVarint().toUnsigned(32);
    return ((v >>> 1) ^ -(v & 1)).toSigned(32);
  }

  /// sint64.
  int readSint64() {
    final v = readVarint();
    return (v >>> 1) ^ -(v & 1);
  }

  /// bool.
  bool readBool() => readVarint() != 0;

  /// fixed32.
  int readFixed32() {
    if (_pos + 4 > _end) _truncated();
    final v = _bytes.getUint32(_pos, Endian.little);
    _pos += 4;
    return v;
  }

  /// sfixed32.
  int readSfixed32() => readFixed32().toSigned(32);

  /// fixed64 / sfixed64.
  int readFixed64() {
    if (_pos + 8 > _end) _truncated();
    final v = _bytes.getInt64(_pos, Endian.little);
    _pos += 8;
    return v;
  }

  /// float.
  double readFloat() {
    if (_pos + 4 > _end) _truncated();
    final v = _bytes.getFloat32(_pos, Endian.little);
    _pos += 4;
    return v;
  }

  /// double.
  double readDouble() {
    if (_pos + 8 > _end) _truncated();
    final v = _bytes.getFloat64(_pos, Endian.little);
    _pos += 8;
    return v;
  }

  int _length() {
    final n = readVarint();
    if (n < 0 || _pos + n > _end) _truncated();
    return n;
  }

  /// Length-delimited bytes, unmodifiable: a copy, or a view of a response
  /// the library lent (4 KiB and more; see `Proto2ffiCaller._finish`).
  Uint8List readBytes() {
    final n = _length();
    if (_lent && n >= _viewFrom) {
      // A view of the lent response, which it keeps alive; unmodifiable,
      // as every decoded value is.
      final view = Uint8List.sublistView(_buf, _pos, _pos + n);
      _pos += n;
      return view.asUnmodifiableView();
    }
    // A copy (the input may be reused), frozen: decoded messages are immutable.
    final out = Uint8List.fromList(Uint8List.sublistView(_buf, _pos, _pos + n));
    _pos += n;
    return out.asUnmodifiableView();
  }

  /// Length-delimited UTF-8.
  String readString() {
    final n = _length();
    try {
      final s = utf8.decode(Uint8List.sublistView(_buf, _pos, _pos + n));
      _pos += n;
      return s;
    } on FormatException {
      throw const ProtoDecodeError('string field is not valid UTF-8');
    }
  }

  /// The bytes not read yet (for `package:protobuf` interop), consumed.
  Uint8List readRemaining() {
    final out = Uint8List.sublistView(_buf, _pos, _end);
    _pos = _end;
    return out;
  }

  /// A reader over the next length-delimited field (an embedded message or
  /// a packed run).
  ProtoReader readMessageReader() {
    final n = _length();
    final sub = ProtoReader._(_buf, _pos, _pos + n, _lent);
    _pos += n;
    return sub;
  }

  /// A reader over a group's fields: the bytes after its start tag [tag]
  /// up to (not including) its end tag, which is consumed.
  ProtoReader readGroupReader(int tag) {
    final start = _pos;
    skipField(tag); // consumes the fields and the end tag
    final endKey = ((tag >>> 3) << 3) | 4;
    var keyLength = 1;
    for (var v = endKey >>> 7; v != 0; v >>>= 7) {
      keyLength++;
    }
    return ProtoReader._(_buf, start, _pos - keyLength, _lent);
  }

  /// Skips a field whose key was [tag].
  void skipField(int tag) {
    switch (tag & 7) {
      case 0:
        readVarint();
      case 1:
        if (_pos + 8 > _end) _truncated();
        _pos += 8;
      case 2:
        final n = _length(); // read the length before moving _pos
        _pos += n;
      case 3:
        final field = tag >>> 3;
        while (true) {
          if (isAtEnd) _truncated();
          final t = readTag();
          if ((t & 7) == 4) {
            if ((t >>> 3) != field) {
              throw const ProtoDecodeError('mismatched end group');
            }
            return;
          }
          skipField(t);
        }
      case 5:
        if (_pos + 4 > _end) _truncated();
        _pos += 4;
      default:
        throw ProtoDecodeError('invalid wire type ${tag & 7}');
    }
  }

  /// Reads a repeated scalar written packed or unpacked.
  void readRepeated(int tag, List<dynamic> into, Object? Function(ProtoReader) one) {
    if ((tag & 7) == 2) {
      final sub = readMessageReader();
      while (!sub.isAtEnd) {
        into.add(one(sub));
      }
    } else {
      into.add(one(this));
    }
  }

  /// Throws unless the field's wire type is [expected].
  void expectWireType(int tag, int expected) {
    if ((tag & 7) != expected) {
      throw ProtoDecodeError(
          'field ${tag >>> 3}: wire type ${tag & 7}, expected $expected');
    }
  }
}

/// Deep equality of lists (bytes included).
bool protoListEquals(List<Object?> a, List<Object?> b) {
  if (identical(a, b)) return true;
  if (a.length != b.length) return false;
  for (var i = 0; i < a.length; i++) {
    final x = a[i], y = b[i];
    if (x is List && y is List) {
      if (!protoListEquals(x, y)) return false;
    } else if (x is double && y is double) {
      if (!(x == y || (x.isNaN && y.isNaN))) return false;
    } else if (x != y) {
      return false;
    }
  }
  return true;
}

/// Deep equality of maps.
bool protoMapEquals(Map<Object?, Object?> a, Map<Object?, Object?> b) {
  if (identical(a, b)) return true;
  if (a.length != b.length) return false;
  for (final e in a.entries) {
    if (!b.containsKey(e.key)) return false;
    final y = b[e.key];
    final x = e.value;
    if (x is List && y is List) {
      if (!protoListEquals(x, y)) return false;
    } else if (x != y) {
      return false;
    }
  }
  return true;
}

/// Equality of scalars where NaN equals NaN (so decoded messages compare equal).
bool protoEquals(Object? a, Object? b) {
  if (a is double && b is double) return a == b || (a.isNaN && b.isNaN);
  if (a is List && b is List) return protoListEquals(a, b);
  return a == b;
}

/// Hash of a list by content.
int protoListHash(List<Object?> a) =>
    Object.hashAll(a.map((e) => e is List ? protoListHash(e) : e));

/// Hash of a map by content (order-independent).
int protoMapHash(Map<Object?, Object?> m) => Object.hashAllUnordered(
    m.entries.map((e) => Object.hash(e.key, e.value is List ? protoListHash(e.value as List) : e.value)));

/// A 64-bit value as 16 hex digits (Dart ints are signed: `toRadixString`
/// would print a minus sign for values above 2^63).
String protoHex64(int v) =>
    (v >>> 32).toRadixString(16).padLeft(8, '0') +
    (v & 0xffffffff).toRadixString(16).padLeft(8, '0');

/// Empty bytes, unmodifiable: the default of every `bytes` field.
final Uint8List protoEmptyBytes = Uint8List(0).asUnmodifiableView();

/// An unmodifiable copy of [bytes] ([protoEmptyBytes] for null or empty).
Uint8List protoFrozenBytes(List<int>? bytes) => bytes == null || bytes.isEmpty
    ? protoEmptyBytes
    : Uint8List.fromList(bytes).asUnmodifiableView();

/// [a] followed by [b], as one buffer (for merges).
Uint8List protoConcat(Uint8List a, List<int> b) {
  final out = Uint8List(a.length + b.length);
  out.setRange(0, a.length, a);
  out.setRange(a.length, out.length, b);
  return out;
}

/// [list] behind an unmodifiable view (no copy): the decoder's lists.
List<T> protoFreezeList<T>(List<T> list) => UnmodifiableListView(list);

/// [map] behind an unmodifiable view (no copy): the decoder's maps.
Map<K, V> protoFreezeMap<K, V>(Map<K, V> map) => UnmodifiableMapView(map);
