/// Builds a proto2ffi library crate with cargo for a Dart build hook: the
/// Rust target for the platform Flutter or `dart` asks for, cargo's command
/// line and environment (the NDK's clang as the Android linker), and where
/// the library lands. Only `dart:io`: `build.dart` maps `package:hooks`'
/// input onto a [CargoPlan], and tests run plans directly.
library;

import 'dart:io';

/// The Rust target triple for a hook's target OS and architecture (the
/// `name`s of `package:code_assets`' `OS` and `Architecture`).
String rustTarget(String os, String arch, {bool iosSimulator = false}) => switch ((os, arch)) {
      ('android', 'arm64') => 'aarch64-linux-android',
      ('android', 'arm') => 'armv7-linux-androideabi',
      ('android', 'x64') => 'x86_64-linux-android',
      ('android', 'ia32') => 'i686-linux-android',
      ('ios', 'arm64') => iosSimulator ? 'aarch64-apple-ios-sim' : 'aarch64-apple-ios',
      ('ios', 'x64') => 'x86_64-apple-ios',
      ('macos', 'arm64') => 'aarch64-apple-darwin',
      ('macos', 'x64') => 'x86_64-apple-darwin',
      ('windows', 'arm64') => 'aarch64-pc-windows-msvc',
      ('windows', 'x64') => 'x86_64-pc-windows-msvc',
      ('windows', 'ia32') => 'i686-pc-windows-msvc',
      ('linux', 'arm64') => 'aarch64-unknown-linux-gnu',
      ('linux', 'arm') => 'armv7-unknown-linux-gnueabihf',
      ('linux', 'x64') => 'x86_64-unknown-linux-gnu',
      ('linux', 'ia32') => 'i686-unknown-linux-gnu',
      ('linux', 'riscv64') => 'riscv64gc-unknown-linux-gnu',
      _ => throw UnsupportedError('proto2ffi: no Rust target for $os/$arch'),
    };

/// The target triple the NDK's clang takes for an Android Rust target
/// (without the API level).
String _ndkClangTarget(String rustTarget) => switch (rustTarget) {
      'armv7-linux-androideabi' => 'armv7a-linux-androideabi',
      _ => rustTarget,
    };

/// The file name of the dynamic library `name` on [os].
String dynamicLibraryFile(String os, String name) => switch (os) {
      'windows' => '$name.dll',
      'macos' || 'ios' => 'lib$name.dylib',
      _ => 'lib$name.so',
    };

/// One cargo build of the library crate for one target.
final class CargoPlan {
  /// The crate's directory (holding `Cargo.toml`).
  final Uri crateDir;

  /// The cargo package to build (`-p`).
  final String package;

  /// The library's file base name (the crate's lib name).
  final String libraryName;

  /// The Rust target triple.
  final String target;

  /// The target OS (`android`, `ios`, `macos`, `windows`, `linux`).
  final String os;

  /// cargo's `--target-dir`.
  final Uri targetDir;

  /// `--release` (the default) or the dev profile.
  final bool release;

  /// Cargo features to enable.
  final List<String> features;

  /// The C compiler the hook was given (the NDK's clang on Android): the
  /// linker there, and `CC` for build scripts that compile C.
  final String? cCompiler;

  /// The archiver the hook was given (`AR` for build scripts).
  final String? archiver;

  /// The Android API level to link against.
  final int? androidApi;

  /// A plan for [os]/[arch] (see [rustTarget]).
  CargoPlan({
    required this.crateDir,
    required this.package,
    required this.libraryName,
    required this.os,
    required String arch,
    required this.targetDir,
    bool iosSimulator = false,
    this.release = true,
    this.features = const [],
    this.cCompiler,
    this.archiver,
    this.androidApi,
  }) : target = rustTarget(os, arch, iosSimulator: iosSimulator);

  /// cargo's arguments.
  List<String> get arguments => [
        'build',
        '--manifest-path',
        crateDir.resolve('Cargo.toml').toFilePath(),
        '--package',
        package,
        '--lib',
        '--target',
        target,
        '--target-dir',
        targetDir.toFilePath(),
        if (release) '--release',
        if (features.isNotEmpty) ...['--features', features.join(',')],
      ];

  /// The environment cargo runs with, besides the hook's own. On Android
  /// the NDK's clang links, told the target and API level (its wrapper
  /// scripts are avoided: they quote badly on Windows).
  Map<String, String> get environment {
    final env = <String, String>{};
    final upper = target.toUpperCase().replaceAll('-', '_');
    final lower = target.replaceAll('-', '_');
    final cc = cCompiler;
    if (os == 'android' && cc != null) {
      final api = androidApi ?? 21;
      final clangTarget = '--target=${_ndkClangTarget(target)}$api';
      env['CARGO_TARGET_${upper}_LINKER'] = cc;
      env['CARGO_TARGET_${upper}_RUSTFLAGS'] = '-Clink-arg=$clangTarget';
      env['CC_$lower'] = cc;
      env['CFLAGS_$lower'] = clangTarget;
    } else if (cc != null && os == 'linux') {
      env['CC_$lower'] = cc;
    }
    final ar = archiver;
    if (ar != null && (os == 'android' || os == 'linux')) env['AR_$lower'] = ar;
    return env;
  }

  /// Where the library lands.
  Uri get library => targetDir
      .resolve('$target/${release ? 'release' : 'debug'}/')
      .resolve(dynamicLibraryFile(os, libraryName));

  /// The crate's sources the library depends on: a change to any re-runs
  /// the hook (`Cargo.toml`, `Cargo.lock`, `build.rs`, `.rs` and `.proto`
  /// files; not the target directory or the Dart package).
  List<Uri> dependencies({Uri? exclude}) {
    final root = Directory.fromUri(crateDir);
    final skip = [targetDir.toFilePath(), if (exclude != null) exclude.toFilePath()]
        .map((p) => p.endsWith('/') ? p : '$p/')
        .toList();
    final out = <Uri>[];
    for (final entity in root.listSync(recursive: true, followLinks: false)) {
      if (entity is! File) continue;
      final path = entity.path;
      if (skip.any(path.startsWith) || path.contains('/target/') || path.contains('/.')) continue;
      final name = entity.uri.pathSegments.last;
      if (name == 'Cargo.toml' ||
          name == 'Cargo.lock' ||
          name.endsWith('.rs') ||
          name.endsWith('.proto')) {
        out.add(entity.uri);
      }
    }
    out.sort((a, b) => a.path.compareTo(b.path));
    return out;
  }

  /// Runs cargo (from `PATH`, or [cargo]) and returns the library. Throws a
  /// [ProcessException] with cargo's output when the build fails, saying
  /// which `rustup target add` is missing when that is why.
  Future<Uri> run({String cargo = 'cargo', Map<String, String> extraEnvironment = const {}}) async {
    final result = await Process.run(cargo, arguments,
        environment: {...environment, ...extraEnvironment}, workingDirectory: crateDir.toFilePath());
    if (result.exitCode != 0) {
      final stderr = '${result.stderr}';
      final hint = stderr.contains('target may not be installed')
          ? '\nThe Rust standard library for $target is missing: run `rustup target add $target`.'
          : '';
      throw ProcessException(cargo, arguments,
          'cargo build of $package for $target failed:\n$stderr$hint', result.exitCode);
    }
    final file = File.fromUri(library);
    if (!file.existsSync()) {
      throw ProcessException(cargo, arguments,
          'cargo built $package for $target but ${file.path} is missing: is its crate-type '
          'a "cdylib"?');
    }
    return library;
  }
}
