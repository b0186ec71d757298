// Tests of the generated Dart client against the user-service library.
// Usage: dart test/user_service_test.dart path/to/libuser_service.so
// (only `dart:` imports: runs on a bare Dart VM; prints `N passed, N failed`).

import 'dart:io';

import '../lib/user_service.dart';

var passed = 0, failed = 0;

Future<void> check(String name, Future<void> Function() body) async {
  try {
    await body();
    passed++;
    print('ok   $name');
  } catch (e) {
    failed++;
    print('FAIL $name: $e');
  }
}

void expect(bool condition, String what) {
  if (!condition) throw StateError(what);
}

Future<void> main(List<String> args) async {
  // `--bundled`: the code asset through `@Native` (the library preloaded).
  final users = args.isNotEmpty && args[0] == '--bundled'
      ? UserServiceClient.bundled()
      : UserServiceClient.open(args.isNotEmpty ? args[0] : null);

  await check('create, get, list, delete', () async {
    final u = users
        .createUser(CreateUserRequest(name: 'Dart Test', email: 'dart@example.com', tags: ['ünï'], clientId: 't'))
        .user!;
    expect(u.id > 0 && u.name == 'Dart Test' && u.tags.single == 'ünï', '$u');
    expect(u.createdAt != null && u.createdAt!.seconds > 0, 'timestamp');
    expect(users.getUser(GetUserRequest(id: u.id)).user == u, 'get returns the same user');
    final page = users.listUsers(ListUsersRequest(pageSize: 100));
    expect(page.users.any((x) => x.id == u.id), 'listed');
    expect(users.deleteUser(DeleteUserRequest(id: u.id)).deleted, 'deleted');
  });

  await check('validation error carries INVALID_ARGUMENT and an ErrorInfo detail', () async {
    try {
      users.createUser(CreateUserRequest(name: ' ', email: 'x@example.com'));
      throw StateError('no exception');
    } on Proto2ffiException catch (e) {
      expect(e.code == StatusCode.invalidArgument, '${e.code}');
      expect(e.details.single.typeUrl == 'type.googleapis.com/user.v1.ErrorInfo',
          e.details.toString());
      // Error details are the package's one Any class: unpack like protoc_plugin's.
      expect(e.details.single.canUnpackInto(ErrorInfo()), e.details.toString());
      final info = e.details.single.unpackInto(ErrorInfo());
      expect(info.field == 'name', '$info');
    }
  });

  await check('unknown id is NOT_FOUND', () async {
    try {
      users.getUser(GetUserRequest(id: 999999));
      throw StateError('no exception');
    } on Proto2ffiException catch (e) {
      expect(e.code == StatusCode.notFound && e.message.contains('999999'), '$e');
    }
  });

  await check('duplicate email is ALREADY_EXISTS', () async {
    users.createUser(CreateUserRequest(name: 'A', email: 'dup@example.com', clientId: 'dup'));
    try {
      users.createUser(CreateUserRequest(name: 'B', email: 'dup@example.com', clientId: 'dup'));
      throw StateError('no exception');
    } on Proto2ffiException catch (e) {
      expect(e.code == StatusCode.alreadyExists, '$e');
    }
  });

  await check('per-client rate limit: burst of 5, other clients unaffected', () async {
    var refused = 0;
    for (var i = 0; i < 8; i++) {
      try {
        users.createUser(CreateUserRequest(name: 'R$i', email: 'r$i@example.com', clientId: 'burst'));
      } on Proto2ffiException catch (e) {
        expect(e.code == StatusCode.resourceExhausted, '$e');
        refused++;
      }
    }
    expect(refused == 3, 'refused $refused of 8');
    users.createUser(CreateUserRequest(name: 'Q', email: 'q@example.com', clientId: 'quiet'));
  });

  await check('logs: records with the call span, a filter, and a panic with its incident id', () async {
    final records = <Proto2ffiLogRecord>[];
    final sub = users.library.logs.listen(records.add);
    Future<void> waitFor(bool Function() done) async {
      for (var i = 0; i < 500 && !done(); i++) {
        await Future<void>.delayed(const Duration(milliseconds: 10));
      }
    }

    final created =
        users.createUser(CreateUserRequest(name: 'Logged', email: 'logged@example.com'));
    await waitFor(() => records.any((r) => r.message == 'user created'));
    final r = records.firstWhere((r) => r.message == 'user created');
    expect(r.level == Proto2ffiLogLevel.info, '${r.level}');
    expect(r.fields['service'] == 'user.v1.UserService' && r.fields['method'] == 'CreateUser',
        '${r.fields}');
    expect(r.fields['user'] == '${created.user!.id}', '${r.fields}');
    try {
      users.library.setLogFilter('info,=bad==');
      throw StateError('no exception');
    } on Proto2ffiException catch (e) {
      expect(e.code == StatusCode.invalidArgument, '$e');
    }
    users.library.setLogFilter('error');
    users.createUser(CreateUserRequest(name: 'Quiet', email: 'quiet@example.com'));
    final demo = DemoOnlyServiceClient(users.library);
    String? incident;
    try {
      demo.triggerPanic(PanicRequest(message: 'logged boom'));
    } on Proto2ffiException catch (e) {
      incident = RegExp(r'incident ([0-9a-f]{8})').firstMatch(e.message)?.group(1);
    }
    expect(incident != null, 'an incident id in the status');
    await waitFor(() => records.any((r) => r.level == Proto2ffiLogLevel.error));
    final panic = records.firstWhere((r) => r.level == Proto2ffiLogLevel.error);
    expect(panic.fields['incident'] == incident && panic.message.contains('logged boom'),
        '$panic');
    expect(records.where((r) => r.message == 'user created').length == 1,
        'the filter kept the second info record out');
    await sub.cancel();
    users.library.setLogFilter('info');
  });

  await check('logs: subscribing and cancelling in a loop while records flow', () async {
    // Cancelling removes the sink, then closes the NativeCallable: the
    // library must never call it after the removal returned (it hung the
    // VM when it did). Records flow from helper isolates meanwhile.
    Future<void> quietly(Future<void> Function() f) async {
      try {
        await f();
      } on Proto2ffiException {
        // Refused by a rate limit: what matters here is the logging.
      }
    }

    var stop = false;
    final flowing = [
      for (var i = 0; i < 3; i++)
        () async {
          for (var j = 0; !stop; j++) {
            await quietly(() => users.createUserAsync(
                CreateUserRequest(
                    name: 'Flow $i $j', email: 'flow$i.$j@example.com', clientId: 'flow $i $j')));
          }
        }()
    ];
    var seen = 0;
    for (var i = 0; i < 300; i++) {
      final sub = users.library.logs.listen((_) => seen++);
      await quietly(() async =>
          users.createUser(
          CreateUserRequest(name: 'Loop $i', email: 'loop$i@example.com', clientId: 'loop $i')));
      if (i.isEven) await Future<void>.delayed(Duration.zero);
      await sub.cancel();
    }
    stop = true;
    await Future.wait(flowing);
    // And the logs still work after 300 sinks came and went.
    final after = <Proto2ffiLogRecord>[];
    final sub = users.library.logs.listen(after.add);
    users.createUser(
        CreateUserRequest(name: 'After', email: 'after.loop@example.com', clientId: 'after loop'));
    for (var i = 0; i < 500 && !after.any((r) => r.message == 'user created'); i++) {
      await Future<void>.delayed(const Duration(milliseconds: 10));
    }
    await sub.cancel();
    expect(after.any((r) => r.message == 'user created'), 'no record after the loop ($seen before)');
  });

  await check('the demo-only panic is INTERNAL and the library keeps serving', () async {
    final demo = DemoOnlyServiceClient(users.library);
    try {
      demo.triggerPanic(PanicRequest(message: 'boom from the dart test'));
      throw StateError('no exception');
    } on Proto2ffiException catch (e) {
      expect(e.code == StatusCode.internal && e.message.contains('boom from the dart test'), '$e');
    }
    users.listUsers(ListUsersRequest());
  });

  await check('async variants', () async {
    final results = await Future.wait([
      for (var i = 0; i < 4; i++) users.listUsersAsync(ListUsersRequest(pageSize: 1)),
    ]);
    expect(results.every((r) => r.users.length == 1), 'pages of one');
  });

  await check('async SearchUsers and the StreamUsers stream', () async {
    for (final name in ['Stream One', 'Stream Two']) {
      users.createUser(CreateUserRequest(
          name: name, email: '${name.replaceAll(' ', '.')}@example.com', clientId: name));
    }
    final found = await users.searchUsers(SearchUsersRequest(query: 'stream'));
    expect(found.users.length == 2, '${found.users}');
    final all = await users.streamUsers(StreamUsersRequest()).toList();
    expect(all.where((u) => u.name.startsWith('Stream ')).length == 2, '$all');
    try {
      await users.searchUsers(SearchUsersRequest(query: ' '));
      expect(false, 'an empty query must fail');
    } on Proto2ffiException catch (e) {
      expect(e.code == StatusCode.invalidArgument, '$e');
    }
    // `first` cancels the subscription after one user, which cancels the
    // (slow) Rust stream.
    final first = await users.streamUsers(StreamUsersRequest(pauseMs: 200)).first;
    expect(first.name.isNotEmpty, 'the first user arrives');
  });

  await check('ImportUsers (client stream) and LookupUsers (bidi stream)', () async {
    Stream<CreateUserRequest> imports() async* {
      for (var i = 0; i < 500; i++) {
        yield CreateUserRequest(
            name: 'Imported $i', email: i == 7 ? 'not an email' : 'imported$i@example.com');
      }
    }

    final summary = await users.importUsers(imports());
    expect(summary.created == 499 && summary.failed == 1, '$summary');
    expect(summary.errors.single.startsWith('#7: '), '${summary.errors}');
    final listed = users.listUsers(ListUsersRequest(pageSize: 5)).users;
    final lookups = [for (final u in listed) GetUserRequest(id: u.id), GetUserRequest(id: 999999)];
    final found = await users.lookupUsers(Stream.fromIterable(lookups)).toList();
    expect(found.length == listed.length + 1, '$found');
    for (var i = 0; i < listed.length; i++) {
      expect(found[i] == listed[i], 'lookup $i answers its user, in order');
    }
    expect(found.last.id == 0, 'an unknown id answers an empty user');
  });

  await check('metrics and health', () async {
    final m = users.library.metrics();
    final create = m.methods.firstWhere((x) => x.method == 'CreateUser');
    expect(create.rejectedRateLimit >= 3, 'rate rejections counted: ${create.rejectedRateLimit}');
    expect(users.library.metricsText().contains('proto2ffi_call_duration_seconds_bucket'), 'histogram');
    final h = users.library.health();
    expect(h.healthy && h.services.contains('user.v1.UserService'), '$h');
  });

  await check('shutdown drains and refuses new calls', () async {
    expect(users.library.shutdown(const Duration(seconds: 1)), 'drained');
    try {
      users.listUsers(ListUsersRequest());
      throw StateError('no exception');
    } on Proto2ffiException catch (e) {
      expect(e.code == StatusCode.unavailable, '$e');
    }
  });

  print('user_service dart: $passed passed, $failed failed');
  exit(failed == 0 ? 0 : 1);
}
