/// Thrown when a library cannot be used: wrong ABI version or schema.
final class Proto2ffiLoadError implements Exception {
  /// What disagrees and how to fix it.
  final String message;

  /// A load error.
  const Proto2ffiLoadError(this.message);

  @override
  String toString() => 'Proto2ffiLoadError: $message';
}

/// Thrown when bytes are not a valid protobuf message.
final class ProtoDecodeError implements Exception {
  /// What was wrong.
  final String message;

  /// A decode error.
  const ProtoDecodeError(this.message);

  @override
  String toString() => 'ProtoDecodeError: $message';
}

/// What every generated message class implements: enough to encode it, name
/// its type (for [Any]) and decode another of the same class.
abstract interface class ProtoMessage {
  /// The proto full name, e.g. `acme.user.v1.User`.
  String get qualifiedMessageName;

  /// Appends this message's fields to [w].
  void writeTo(ProtoWriter w);

  /// Encodes this message.
  Uint8List writeToBuffer();

  /// A new message of this class: this one with [bytes] merged in, by
  /// protobuf's merge rules (set scalars replace, repeated fields append,
  /// messages merge). `m.mergeFromBuffer(other.writeToBuffer())` is the
  /// immutable counterpart of `protoc_plugin`'s `mergeFromMessage`.
  ProtoMessage mergeFromBuffer(List<int> bytes);
}

/// `google.protobuf.Any`: a message of any type, with the URL of its type.
///
/// The one Any class of a generated package: error details
/// ([Proto2ffiException.details]) and fields of type `google.protobuf.Any`
/// both use it. Pack with [Any.pack], test with [canUnpackInto], read with
/// [unpackInto], as with `protoc_plugin`'s Any.
final class Any implements ProtoMessage {
  /// Type URL, e.g. `type.googleapis.com/acme.user.v1.ErrorInfo`.
  final String typeUrl;

  /// The encoded message (unmodifiable).
  final Uint8List value;

  /// An Any; [value] is copied.
  Any({this.typeUrl = '', List<int>? value}) : value = protoFrozenBytes(value);

  const Any._(this.typeUrl, this.value);

  /// [message] packed under `<typeUrlPrefix>/<its full name>`; the prefix
  /// defaults to `type.googleapis.com`, the one the Rust side writes.
  static Any pack(ProtoMessage message,
          {String typeUrlPrefix = 'type.googleapis.com'}) =>
      Any._('${typeUrlPrefix.endsWith('/') ? typeUrlPrefix.substring(0, typeUrlPrefix.length - 1) : typeUrlPrefix}/${message.qualifiedMessageName}',
          message.writeToBuffer().asUnmodifiableView());

  /// The full name of the packed type: the URL after its last `/`.
  String get typeName => typeUrl.substring(typeUrl.lastIndexOf('/') + 1);

  /// Whether this Any holds a message of [instance]'s type.
  bool canUnpackInto(ProtoMessage instance) => typeName == instance.qualifiedMessageName;

  /// The packed message, merged into [instance] (usually an empty one:
  /// `any.unpackInto(ErrorInfo())`). Throws [ProtoDecodeError] when this Any
  /// holds another type or its bytes do not decode.
  T unpackInto<T extends ProtoMessage>(T instance) {
    if (!canUnpackInto(instance)) {
      throw ProtoDecodeError(
          'the Any holds $typeName, not ${instance.qualifiedMessageName}');
    }
    return instance.mergeFromBuffer(value) as T;
  }

  @override
  String get qualifiedMessageName => 'google.protobuf.Any';

  /// Decodes `bytes`; throws [ProtoDecodeError] when they are not a valid Any.
  static Any fromBuffer(List<int> bytes) =>
      readFrom(ProtoReader(bytes is Uint8List ? bytes : Uint8List.fromList(bytes)));

  /// Reads an Any from [r] until its end.
  static Any readFrom(ProtoReader r) {
    var url = '';
    Uint8List value = protoEmptyBytes;
    while (!r.isAtEnd) {
      final t = r.readTag();
      switch (t >>> 3) {
        case 1:
          r.expectWireType(t, 2);
          url = r.readString();
        case 2:
          r.expectWireType(t, 2);
          value = r.readBytes();
        default:
          r.skipField(t);
      }
    }
    return Any._(url, value);
  }

  @override
  void writeTo(ProtoWriter w) {
    if (typeUrl.isNotEmpty) {
      w.writeTag(1, 2);
      w.writeString(typeUrl);
    }
    if (value.isNotEmpty) {
      w.writeTag(2, 2);
      w.writeBytes(value);
    }
  }

  @override
  Uint8List writeToBuffer() {
    final w = ProtoWriter();
    writeTo(w);
    return w.toBytes();
  }

  @override
  Any mergeFromBuffer(List<int> bytes) =>
      readFrom(ProtoReader(protoConcat(writeToBuffer(), bytes)));

  /// A copy with the given fields replaced.
  Any copyWith({String? typeUrl, List<int>? value}) =>
      Any(typeUrl: typeUrl ?? this.typeUrl, value: value ?? this.value);

  @override
  bool operator ==(Object other) =>
      identical(this, other) ||
      (other is Any && typeUrl == other.typeUrl && protoListEquals(value, other.value));

  @override
  int get hashCode => Object.hash(typeUrl, protoListHash(value));

  @override
  String toString() => 'Any($typeUrl, ${value.length} bytes)';
}

/// A failed call: the status code and message the library returned.
final class Proto2ffiException implements Exception {
  /// The canonical status code.
  final StatusCode code;

  /// The library's message.
  final String message;

  /// `google.rpc.Status.details`.
  final List<Any> details;

  /// An exception.
  Proto2ffiException(this.code, this.message, [List<Any> details = const []])
      : details = List.unmodifiable(details);

  /// Decodes a `google.rpc.Status` payload.
  factory Proto2ffiException.fromStatus(int code, Uint8List payload) {
    var message = '';
    final details = <Any>[];
    var decodedCode = code;
    try {
      final r = ProtoReader(payload);
      while (!r.isAtEnd) {
        final tag = r.readTag();
        switch (tag >>> 3) {
          case 1:
            decodedCode = r.readInt32();
          case 2:
            message = r.readString();
          case 3:
            details.add(Any.readFrom(r.readMessageReader()));
          default:
            r.skipField(tag);
        }
      }
    } on ProtoDecodeError catch (e) {
      message = 'undecodable error payload ($e)';
    }
    return Proto2ffiException(
        StatusCode.fromValue(decodedCode == 0 ? code : decodedCode), message, details);
  }

  @override
  String toString() => 'Proto2ffiException(${code.name}): $message';
}

/// A schema-declared pool (`pool_size`) had no free object: every one is
/// lent out. The pool never grows; release objects or raise `pool_size`.
final class Proto2ffiPoolExhausted implements Exception {
  /// The message's proto full name.
  final String message;

  /// Objects the pool holds.
  final int capacity;

  /// An exception.
  Proto2ffiPoolExhausted(this.message, this.capacity);

  @override
  String toString() => 'Proto2ffiPoolExhausted: all $capacity objects of the $message pool are '
      'in use (release some, or raise its pool_size)';
}

