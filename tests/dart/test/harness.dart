// A minimal test harness with only `dart:` imports: tests are plain
// functions; the program prints `N passed, N failed` and exits non-zero on
// any failure.

import 'dart:async';
import 'dart:io';

final _tests = <(String, FutureOr<void> Function())>[];

/// Registers a test.
void test(String name, FutureOr<void> Function() body) => _tests.add((name, body));

/// Fails the current test.
Never fail(String message) => throw _Failure(message);

/// Checks a condition.
void check(bool condition, String what) {
  if (!condition) fail(what);
}

/// Checks equality.
void expectEq(Object? actual, Object? expected, [String what = '']) {
  if (actual != expected) {
    fail('${what.isEmpty ? '' : '$what: '}expected <$expected>, got <$actual>');
  }
}

/// Checks that [body] throws a [T] and returns it.
T expectThrows<T>(void Function() body, [String what = '']) {
  try {
    body();
  } on T catch (e) {
    return e;
  }
  fail('expected ${T.toString()} to be thrown${what.isEmpty ? '' : ' ($what)'}');
}

class _Failure implements Exception {
  final String message;
  _Failure(this.message);
  @override
  String toString() => message;
}

/// Runs every registered test and exits.
Future<Never> runTests(String suite) async {
  var passed = 0, failed = 0;
  for (final (name, body) in _tests) {
    try {
      await body();
      passed++;
      stdout.writeln('ok   $name');
    } catch (e, st) {
      failed++;
      stdout.writeln('FAIL $name: $e');
      if (e is! _Failure) stdout.writeln(st);
    }
  }
  stdout.writeln('$suite: $passed passed, $failed failed');
  await stdout.flush();
  exit(failed == 0 ? 0 : 1);
}
