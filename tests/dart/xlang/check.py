"""Cross-language wire check, Python side (Google's protobuf).

Usage: python3 check.py <dir> <descriptor set>

Decodes each `<dir>/dart_<case>.bin` written by `xlang.dart write`, checks
its fields against what the Dart side set, and writes the message back as
`<dir>/python_<case>.bin` for `xlang.dart read`.
"""

import math
import os
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def classes(binpb):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(binpb, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in fds.file:
        pool.Add(file)
    return message_factory.GetMessageClassesForFiles([f.name for f in fds.file], pool)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def negative_zero(m):
    check(m.f_double == 0.0 and math.copysign(1.0, m.f_double) < 0, f"f_double {m.f_double!r}")
    check(m.f_float == 0.0 and math.copysign(1.0, m.f_float) < 0, f"f_float {m.f_float!r}")
    check(m.HasField("f_double") if m.DESCRIPTOR.fields_by_name["f_double"].has_presence else True, "presence")
    check(m.f_int64 == -1 and m.f_uint64 == 2**64 - 1, f"{m.f_int64} {m.f_uint64}")


def groups(m):
    check(m.name == "g" and m.entry.a == 7 and m.entry.b == "x", str(m))
    check([i.id for i in m.item] == [1, -2] and m.ratio == 0.5, str(m))


def wkt(m, all_classes):
    check(m.at.seconds == 1795435200 and m.at.nanos == 250_000_000, str(m.at))
    check(m.after.seconds == -1 and m.after.nanos == -500_000_000, str(m.after))
    check(m.payload.type_url == "type.googleapis.com/roundtrip.v1.Nested", m.payload.type_url)
    nested = all_classes["roundtrip.v1.Nested"]()
    check(m.payload.Unpack(nested), "Any.Unpack")
    check(nested.name == "packed" and list(nested.values) == [1, -1], str(nested))


def all_types(m):
    check(m.scalars.f_string == "héllo ✓" and m.scalars.f_bytes == b"\x00\xff", str(m.scalars))
    check(m.scalars.f_sint64 == -3, str(m.scalars))
    check(list(m.packed_int32) == [-1, 0, 1] and list(m.unpacked_sint64) == [-2, 2], str(m))
    check(list(m.strings) == ["", "a"] and list(m.blobs) == [b"", b"\x01\x02"], str(m))
    check(list(m.moods) == [1, 99] and m.mood == 2, f"moods {list(m.moods)} mood {m.mood}")
    check(dict(m.counts) == {"one": 1, "minus": -1}, str(m.counts))
    check(m.by_id[7].name == "seven", str(m.by_id))
    check(m.WhichOneof("choice") == "raw" and m.raw == b"\x09", str(m))
    check(m.HasField("opt_int") and m.opt_int == 0, "optional 0 is present")
    check(getattr(m, "type") == "type" and list(m.fixed_list) == [0, 4294967295], str(m))


CASES = {
    "negative_zero": ("roundtrip.v1.Scalars", negative_zero),
    "groups": ("legacy.v1.Record", groups),
    "wkt": ("roundtrip.v1.WktRequest", None),
    "all_types": ("roundtrip.v1.AllTypes", all_types),
}


def main():
    directory, binpb = sys.argv[1], sys.argv[2]
    all_classes = classes(binpb)
    failed = 0
    for name, (type_name, checker) in CASES.items():
        m = all_classes[type_name]()
        try:
            with open(os.path.join(directory, f"dart_{name}.bin"), "rb") as f:
                m.ParseFromString(f.read())
            if name == "wkt":
                wkt(m, all_classes)
            else:
                checker(m)
            print(f"ok   dart -> python: {name}")
        except Exception as e:  # noqa: BLE001 - report every case
            failed += 1
            print(f"FAIL dart -> python: {name}: {e!r}")
        with open(os.path.join(directory, f"python_{name}.bin"), "wb") as f:
            f.write(m.SerializeToString())
    print(f"xlang python: {len(CASES) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
