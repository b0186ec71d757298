/// `{ uint8_t *data; size_t len; size_t capacity; }`: bytes owned by the library.
final class Proto2ffiBuffer extends Struct {
  external Pointer<Uint8> data;
  @Size()
  external int len;
  @Size()
  external int capacity;
}

/// A large array of a fixed-layout message: the address, length and
/// capacity (in elements) of storage the caller owns (the C
/// `<prefix>_array_ref`; 16 bytes on every target).
final class Proto2ffiArrayRef extends Struct {
  /// Address of the first element (0 when empty).
  @Uint64()
  external int data;

  /// Elements in use.
  @Uint32()
  external int len;

  /// Elements the storage holds.
  @Uint32()
  external int capacity;
}

/// Signature of every unary entry point.
typedef Proto2ffiMethodNative = Int32 Function(
    Pointer<Uint8> request, Size requestLen, Pointer<Proto2ffiBuffer> out);

/// Dart view of [Proto2ffiMethodNative].
typedef Proto2ffiMethod = int Function(
    Pointer<Uint8> request, int requestLen, Pointer<Proto2ffiBuffer> out);

