"""Python client for the user-service example: ctypes for the C ABI and the
`protobuf` package (an independent protobuf implementation) for messages.

Message classes are built at run time from `user_service.binpb`, the
FileDescriptorSet proto2ffi-build writes (no protoc, no generated _pb2.py).

Usage: python3 client.py path/to/libuser_service.so
"""

import ctypes
import os
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

HERE = os.path.dirname(os.path.abspath(__file__))


def load_messages():
    fds = descriptor_pb2.FileDescriptorSet()
    with open(os.path.join(HERE, "user_service.binpb"), "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in fds.file:
        pool.Add(file)
    classes = message_factory.GetMessageClassesForFiles(
        [f.name for f in fds.file], pool
    )
    return classes


class Buffer(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.POINTER(ctypes.c_uint8)),
        ("len", ctypes.c_size_t),
        ("capacity", ctypes.c_size_t),
    ]


class RpcError(Exception):
    def __init__(self, code, message, details):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.details = code, message, details


class Library:
    def __init__(self, path, classes):
        self.lib = ctypes.CDLL(path)
        self.classes = classes
        self.lib.users_proto2ffi_free.argtypes = [ctypes.POINTER(Buffer)]
        self.lib.users_proto2ffi_free.restype = None
        self.lib.users_proto2ffi_abi_version.restype = ctypes.c_uint32
        self.lib.users_proto2ffi_fingerprint_user_service.restype = ctypes.c_uint64

    def call(self, symbol, request, response_type):
        fn = getattr(self.lib, symbol)
        fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(Buffer)]
        fn.restype = ctypes.c_int32
        data = request.SerializeToString()
        out = Buffer()
        code = fn(data if data else None, len(data), ctypes.byref(out))
        try:
            payload = ctypes.string_at(out.data, out.len) if out.data else b""
        finally:
            self.lib.users_proto2ffi_free(ctypes.byref(out))
        if code != 0:
            status = self.classes["proto2ffi.v1.Status"]()
            status.ParseFromString(payload)
            assert status.code == code, (status.code, code)
            raise RpcError(code, status.message, list(status.details))
        response = self.classes[response_type]()
        response.ParseFromString(payload)
        return response


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: client.py path/to/libuser_service.so")
    classes = load_messages()
    lib = Library(sys.argv[1], classes)
    def M(type_name, **fields):
        return classes["user.v1." + type_name](**fields)
    passed = failed = 0

    def check(name, condition):
        nonlocal passed, failed
        if condition:
            passed += 1
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}")

    check("abi version is 1", lib.lib.users_proto2ffi_abi_version() == 1)
    created = lib.call(
        "users_user_service_create_user",
        M("CreateUserRequest", name="Py Thon", email="py@example.com", role=2,
          tags=["python", "ünïcode"], client_id="python"),
        "user.v1.CreateUserResponse",
    )
    user = created.user
    check("create returns the user", user.name == "Py Thon" and user.role == 2)
    check("repeated strings and non-ASCII survive", list(user.tags) == ["python", "ünïcode"])
    check("timestamp set", user.created_at.seconds > 0)
    got = lib.call("users_user_service_get_user",
                   M("GetUserRequest", id=user.id, client_id="python"),
                   "user.v1.GetUserResponse")
    check("get returns the same user", got.user == user)
    page = lib.call("users_user_service_list_users", M("ListUsersRequest", page_size=10),
                    "user.v1.ListUsersResponse")
    check("list contains the user", any(u.id == user.id for u in page.users))
    try:
        lib.call("users_user_service_get_user", M("GetUserRequest", id=987654),
                 "user.v1.GetUserResponse")
        check("unknown id is NOT_FOUND", False)
    except RpcError as e:
        check("unknown id is NOT_FOUND", e.code == 5 and "987654" in e.message)
    try:
        lib.call("users_user_service_create_user",
                 M("CreateUserRequest", name="", email="x@example.com"),
                 "user.v1.CreateUserResponse")
        check("empty name is INVALID_ARGUMENT with ErrorInfo", False)
    except RpcError as e:
        info = classes["user.v1.ErrorInfo"]()
        unpacked = e.details and e.details[0].Unpack(info)
        check("empty name is INVALID_ARGUMENT with ErrorInfo",
              e.code == 3 and unpacked and info.field == "name")
    deleted = lib.call("users_user_service_delete_user",
                       M("DeleteUserRequest", id=user.id, client_id="python"),
                       "user.v1.DeleteUserResponse")
    check("delete", deleted.deleted)
    print(f"python client: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
