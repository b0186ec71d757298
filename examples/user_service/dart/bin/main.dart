// Calls the user-service library from Dart through the generated client.
// Usage: dart bin/main.dart [path/to/libuser_service.so]


import '../lib/user_service.dart';

Future<void> main(List<String> args) async {
  final users = UserServiceClient.open(args.isNotEmpty ? args[0] : null);
  final ada = users
      .createUser(CreateUserRequest(name: 'Ada', email: 'ada@example.com', role: Role.roleAdmin, clientId: 'dart-demo'))
      .user!;
  print('created ${ada.name} (id ${ada.id}, ${ada.role})');
  print('fetched ${users.getUser(GetUserRequest(id: ada.id, clientId: 'dart-demo')).user?.email}');
  try {
    users.getUser(GetUserRequest(id: 424242));
  } on Proto2ffiException catch (e) {
    print('expected failure: ${e.code.canonicalName}: ${e.message}');
  }
  final page = await users.listUsersAsync(ListUsersRequest(pageSize: 10));
  print('listed ${page.users.length} user(s) asynchronously');
  final health = users.library.health();
  print('healthy: ${health.healthy}, services: ${health.services.join(', ')}');

}
