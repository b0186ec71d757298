/// Where a library's exported functions are found: a [DynamicLibrary]
/// opened by path ([Proto2ffiDylibSymbols]), or the code asset a build hook
/// bundled, resolved through `@Native` declarations (the generated client's
/// `bundled()` constructors).
abstract interface class Proto2ffiSymbols {
  /// The address of [symbol]; throws [ArgumentError] when it is not exported.
  Pointer<T> lookup<T extends NativeType>(String symbol);

  /// Whether [symbol] is exported.
  bool providesSymbol(String symbol);
}

/// The symbols of a [DynamicLibrary].
final class Proto2ffiDylibSymbols implements Proto2ffiSymbols {
  /// The library.
  final DynamicLibrary dylib;

  /// The symbols of [dylib].
  const Proto2ffiDylibSymbols(this.dylib);

  @override
  Pointer<T> lookup<T extends NativeType>(String symbol) => dylib.lookup<T>(symbol);

  @override
  bool providesSymbol(String symbol) => dylib.providesSymbol(symbol);
}

/// Opens a native library: [path] when given, else the platform default for
/// [name] — the process itself on iOS (static linking), `lib<name>.dylib` on
/// macOS, `<name>.dll` on Windows, `lib<name>.so` elsewhere.
DynamicLibrary proto2ffiOpenLibrary(String? path, String name) {
  try {
    return path != null
        ? DynamicLibrary.open(path)
        : Platform.isIOS
            ? DynamicLibrary.process()
            : Platform.isMacOS
                ? DynamicLibrary.open('lib$name.dylib')
                : Platform.isWindows
                    ? DynamicLibrary.open('$name.dll')
                    : DynamicLibrary.open('lib$name.so');
  } on ArgumentError catch (e) {
    throw Proto2ffiLoadError(path != null
        ? 'cannot load the native library $path: $e. Check that the file exists, is readable '
            'and was built for this platform and architecture.'
        : 'cannot load the native library $name from the platform default location: $e. '
            'Pass its path to open(), or put it where the platform loader finds it.');
  }
}

