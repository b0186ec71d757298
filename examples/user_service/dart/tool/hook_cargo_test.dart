// Tests of the build hook's cargo half (`hook/proto2ffi_cargo.dart`), which
// `hook/build.dart` drives from `package:hooks`' input: the Rust target for
// every platform Flutter builds for, the Android linker set-up, the files
// that re-run the hook, and a real build whose library the client then
// opens and calls.
// Usage: dart tool/hook_cargo_test.dart <cargo target dir> <cargo> <os> <arch>
// (`cargo xtask dart-test` runs it for the VM's own platform).

import 'dart:io';

import '../hook/proto2ffi_cargo.dart';
import '../lib/user_service.dart';

var passed = 0, failed = 0;

Future<void> check(String name, Future<void> Function() body) async {
  try {
    await body();
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

Future<void> main(List<String> args) async {
  final targetDir = Directory(args[0]).absolute.uri;
  final cargo = args[1];
  final (os, arch) = (args[2], args[3]);
  final crate = File.fromUri(Platform.script).parent.parent.parent.uri;

  await check('every platform Flutter builds for has its Rust target', () async {
    const expected = {
      ('android', 'arm64', false): 'aarch64-linux-android',
      ('android', 'arm', false): 'armv7-linux-androideabi',
      ('android', 'x64', false): 'x86_64-linux-android',
      ('android', 'ia32', false): 'i686-linux-android',
      ('ios', 'arm64', false): 'aarch64-apple-ios',
      ('ios', 'arm64', true): 'aarch64-apple-ios-sim',
      ('ios', 'x64', true): 'x86_64-apple-ios',
      ('macos', 'arm64', false): 'aarch64-apple-darwin',
      ('macos', 'x64', false): 'x86_64-apple-darwin',
      ('windows', 'x64', false): 'x86_64-pc-windows-msvc',
      ('windows', 'arm64', false): 'aarch64-pc-windows-msvc',
      ('linux', 'x64', false): 'x86_64-unknown-linux-gnu',
      ('linux', 'arm64', false): 'aarch64-unknown-linux-gnu',
      ('linux', 'arm', false): 'armv7-unknown-linux-gnueabihf',
      ('linux', 'ia32', false): 'i686-unknown-linux-gnu',
    };
    for (final MapEntry(key: (o, a, sim), value: triple) in expected.entries) {
      final got = rustTarget(o, a, iosSimulator: sim);
      expect(got == triple, '$o/$a${sim ? ' (simulator)' : ''}: $got, expected $triple');
    }
    try {
      rustTarget('fuchsia', 'arm64');
      throw StateError('fuchsia has no target here');
    } on UnsupportedError catch (e) {
      expect('$e'.contains('fuchsia/arm64'), '$e');
    }
  });

  await check('library file names per OS', () async {
    expect(dynamicLibraryFile('android', 'x') == 'libx.so', 'android');
    expect(dynamicLibraryFile('linux', 'x') == 'libx.so', 'linux');
    expect(dynamicLibraryFile('ios', 'x') == 'libx.dylib', 'ios');
    expect(dynamicLibraryFile('macos', 'x') == 'libx.dylib', 'macos');
    expect(dynamicLibraryFile('windows', 'x') == 'x.dll', 'windows');
  });

  await check('on Android the NDK clang links, told the target and API level', () async {
    final plan = CargoPlan(
      crateDir: crate,
      package: 'user-service',
      libraryName: 'user_service',
      os: 'android',
      arch: 'arm',
      targetDir: targetDir,
      cCompiler: '/ndk/bin/clang',
      archiver: '/ndk/bin/llvm-ar',
      androidApi: 24,
      features: ['a', 'b'],
    );
    final env = plan.environment;
    expect(env['CARGO_TARGET_ARMV7_LINUX_ANDROIDEABI_LINKER'] == '/ndk/bin/clang', '$env');
    expect(
        env['CARGO_TARGET_ARMV7_LINUX_ANDROIDEABI_RUSTFLAGS'] ==
            '-Clink-arg=--target=armv7a-linux-androideabi24',
        '$env');
    expect(env['CC_armv7_linux_androideabi'] == '/ndk/bin/clang', '$env');
    expect(env['CFLAGS_armv7_linux_androideabi'] == '--target=armv7a-linux-androideabi24', '$env');
    expect(env['AR_armv7_linux_androideabi'] == '/ndk/bin/llvm-ar', '$env');
    final a = plan.arguments;
    expect(a.contains('--release') && a.contains('--lib'), '$a');
    expect(a[a.indexOf('--target') + 1] == 'armv7-linux-androideabi', '$a');
    expect(a[a.indexOf('--features') + 1] == 'a,b', '$a');
    expect(plan.library.path.endsWith('/armv7-linux-androideabi/release/libuser_service.so'),
        '${plan.library}');
  });

  await check('iOS and macOS builds get no linker override', () async {
    for (final (o, a) in [('ios', 'arm64'), ('macos', 'arm64')]) {
      final plan = CargoPlan(
          crateDir: crate,
          package: 'user-service',
          libraryName: 'user_service',
          os: o,
          arch: a,
          targetDir: targetDir,
          cCompiler: '/usr/bin/clang');
      expect(plan.environment.isEmpty, '$o: ${plan.environment}');
      expect(plan.library.path.endsWith('release/libuser_service.dylib'), '${plan.library}');
    }
  });

  await check('the crate sources re-run the hook; the Dart package and target do not', () async {
    final plan = CargoPlan(
        crateDir: crate,
        package: 'user-service',
        libraryName: 'user_service',
        os: os,
        arch: arch,
        targetDir: targetDir);
    final deps = plan.dependencies(exclude: crate.resolve('dart/')).map((u) => u.path).toList();
    for (final f in ['Cargo.toml', 'build.rs', 'src/lib.rs', 'proto/user.proto']) {
      expect(deps.any((d) => d.endsWith('/user_service/$f')), '$f in $deps');
    }
    expect(!deps.any((d) => d.contains('/dart/')), 'no Dart package file: $deps');
  });

  await check('a real build for this platform, then the client opens and calls it', () async {
    // The features and profile `cargo xtask dart-test` built the library
    // with: cargo finds it up to date.
    final plan = CargoPlan(
        crateDir: crate,
        package: 'user-service',
        libraryName: 'user_service',
        os: os,
        arch: arch,
        targetDir: targetDir,
        release: false,
        features: ['demo']);
    final library = await plan.run(cargo: cargo);
    expect(File.fromUri(library).existsSync(), '$library');
    final users = UserServiceClient.open(library.toFilePath());
    final u = users.createUser(CreateUserRequest(name: 'Hook', email: 'hook@example.com')).user!;
    expect(users.getUser(GetUserRequest(id: u.id)).user == u, 'the built library answers');
  });

  await check('a failing build says why', () async {
    final plan = CargoPlan(
        crateDir: crate,
        package: 'no-such-package',
        libraryName: 'nothing',
        os: os,
        arch: arch,
        targetDir: targetDir,
        release: false);
    try {
      await plan.run(cargo: cargo);
      throw StateError('the build must fail');
    } on ProcessException catch (e) {
      expect(e.message.contains('no-such-package') && e.message.contains('failed'), e.message);
    }
  });

  print('hook cargo: $passed passed, $failed failed');
  exit(failed == 0 ? 0 : 1);
}
