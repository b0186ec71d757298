//! Dart output for fixed-layout messages: `lib/fixed.dart`, one
//! `final class X extends Struct` per message with the model's slots
//! (padding included, so the layout is the model's on every ABI), typed
//! accessors, and typed-list views over referenced arrays (no copy).

use super::messages::HEADER;
use crate::fixed::{Elem, FixedMessage, FixedSet, Repeat, SlotTy, Text};
use crate::schema::dart_names as names;
use std::fmt::Write as _;

/// Where the structs go: `lib/fixed.dart` (or `lib/fixed_structs.dart`
/// when the Dart package itself is called `fixed`).
pub fn path(package: &str) -> &'static str {
    if package == "fixed" {
        "lib/fixed_structs.dart"
    } else {
        "lib/fixed.dart"
    }
}

/// Native annotation and Dart type of a scalar element.
fn native(e: &Elem) -> (&'static str, &'static str) {
    match e {
        Elem::I32 | Elem::Enum(_) => ("Int32", "int"),
        Elem::U32 => ("Uint32", "int"),
        Elem::I64 => ("Int64", "int"),
        Elem::U64 => ("Uint64", "int"),
        Elem::F32 => ("Float", "double"),
        Elem::F64 => ("Double", "double"),
        Elem::Bool | Elem::Byte => ("Uint8", "int"),
        Elem::Message(_) => unreachable!("messages are structs"),
    }
}

/// The typed list viewing an array of a scalar element.
fn typed_list(e: &Elem) -> Option<&'static str> {
    Some(match e {
        Elem::I32 | Elem::Enum(_) => "Int32List",
        Elem::U32 => "Uint32List",
        Elem::I64 => "Int64List",
        Elem::U64 => "Uint64List",
        Elem::F32 => "Float32List",
        Elem::F64 => "Float64List",
        Elem::Bool | Elem::Byte => "Uint8List",
        Elem::Message(_) => return None,
    })
}

/// The Dart name of a proto field (lowerCamel, escaped).
fn member(proto: &str) -> String {
    names::field(proto)
}

fn private(proto: &str) -> String {
    format!("_{}", heck::ToLowerCamelCase::to_lower_camel_case(proto))
}

/// The `fixed.dart` library ("" with no fixed message).
pub fn render(set: &FixedSet, docs: &std::collections::HashMap<String, String>) -> String {
    if set.messages.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{HEADER}\n/// Fixed-layout messages: structs Rust, C and Dart read in place.\n///\n/// \
         Allocate them with the library's `alloc…` methods (or any native\n/// memory), pass \
         `Pointer`s to the service clients' methods, and read the\n/// results where they are. \
         Names here may equal protobuf message classes of\n/// the same schema: import this \
         library with a prefix when you need both.\nlibrary;\n\nimport 'dart:convert' show \
         utf8;\nimport 'dart:ffi';\nimport 'dart:typed_data';\n\nimport \
         'src/proto2ffi_runtime.dart' show Proto2ffiArrayRef;\n\n"
    );
    for m in &set.messages {
        struct_class(&mut out, set, m, docs);
    }
    out
}

fn struct_class(
    out: &mut String,
    set: &FixedSet,
    m: &FixedMessage,
    docs: &std::collections::HashMap<String, String>,
) {
    if let Some(d) = docs.get(&m.full_name).filter(|d| !d.is_empty()) {
        names::doc(out, d, "");
        out.push_str("///\n");
    }
    let _ = writeln!(
        out,
        "/// Fixed-layout `{}` (C `{}`, {} bytes).\nfinal class {} extends Struct {{",
        m.full_name, m.c_name, m.size, m.name
    );
    let field_of = |slot: &str| m.fields.iter().find(|f| f.name == slot);
    for s in &m.slots {
        let decl = match &s.ty {
            SlotTy::Pad => format!("@Array({}) external Array<Uint8> {};", s.size, s.name),
            SlotTy::Count => {
                let f = m
                    .fields
                    .iter()
                    .find(|f| f.count_name() == s.name)
                    .expect("count of a field");
                format!("@Uint32() external int {}Count;", private(&f.name))
            }
            SlotTy::ArrayRef => format!("external Proto2ffiArrayRef {};", private(&s.name)),
            SlotTy::Elem(Elem::Message(n)) => {
                format!("external {} {};", set.get(n).unwrap().name, member(&s.name))
            }
            SlotTy::Elem(e @ Elem::Bool) => {
                format!("@{}() external int {};", native(e).0, private(&s.name))
            }
            SlotTy::Elem(e) => {
                let (n, t) = native(e);
                format!("@{n}() external {t} {};", member(&s.name))
            }
            SlotTy::Array(Elem::Message(n), len) => format!(
                "@Array({len}) external Array<{}> {};",
                set.get(n).unwrap().name,
                private(&s.name)
            ),
            SlotTy::Array(e, len) => format!(
                "@Array({len}) external Array<{}> {};",
                native(e).0,
                private(&s.name)
            ),
        };
        if let Some(f) = field_of(&s.name) {
            if let Some(d) = docs
                .get(&format!("{}.{}", m.full_name, f.name))
                .filter(|d| !d.is_empty())
            {
                names::doc(out, d, "  ");
            }
            if let Elem::Enum(e) = &f.elem {
                let _ = writeln!(out, "  /// Values of `{e}` (unknown numbers are kept).");
            }
        }
        let _ = writeln!(out, "  {decl}");
    }
    let _ = writeln!(
        out,
        "\n  /// Size in bytes (the same on every target).\n  static int get layoutSize => {};\n\n  /// Layout fingerprint; the library's `{}` must return it.\n  static int get layoutFingerprint => {:#018x};\n",
        m.size, m.layout_symbol, m.fingerprint
    );
    for f in &m.fields {
        accessors(out, set, m, f);
    }
    out.push_str("}\n\n");
}

fn accessors(out: &mut String, set: &FixedSet, m: &FixedMessage, f: &crate::fixed::Field) {
    let name = member(&f.name);
    let p = private(&f.name);
    let what = format!("{}.{}", m.name, f.name);
    match (&f.repeat, f.text, &f.elem) {
        (Repeat::One, _, Elem::Bool) => {
            let _ = writeln!(
                out,
                "  /// `{0}` (a byte, 0 or 1).\n  bool get {name} => {p} != 0;\n  set {name}(bool value) => {p} = value ? 1 : 0;\n",
                f.name
            );
        }
        (Repeat::One, _, _) => {}
        (Repeat::Inline { max }, text, elem) => {
            let _ = writeln!(
                out,
                "  /// Most elements `{0}` holds.\n  static int get {name}Max => {max};\n\n  /// Elements of `{0}` in use.\n  int get {name}Count => {p}Count;\n  set {name}Count(int n) {{\n    if (n < 0 || n > {max}) throw RangeError.range(n, 0, {max}, '{what}');\n    {p}Count = n;\n  }}\n",
                f.name
            );
            let n = format!("({p}Count < {max} ? {p}Count : {max})");
            match (text, elem) {
                (Some(t), _) => {
                    let (ty, get, set_arg, set_bytes) = if t == Text::String {
                        (
                            "String",
                            format!("utf8.decode(_{name}Bytes(), allowMalformed: true)"),
                            "String value",
                            "utf8.encode(value)",
                        )
                    } else {
                        (
                            "Uint8List",
                            format!("_{name}Bytes()"),
                            "List<int> value",
                            "value",
                        )
                    };
                    let _ = writeln!(
                        out,
                        "  Uint8List _{name}Bytes() => Uint8List.fromList([for (var i = 0; i < {n}; i++) {p}[i]]);\n\n  /// `{0}` (at most {max} bytes).\n  {ty} get {name} => {get};\n  set {name}({set_arg}) {{\n    final bytes = {set_bytes};\n    if (bytes.length > {max}) {{\n      throw ArgumentError.value(value, '{what}', 'longer than {max} bytes');\n    }}\n    for (var i = 0; i < {max}; i++) {{\n      {p}[i] = i < bytes.length ? bytes[i] : 0;\n    }}\n    {p}Count = bytes.length;\n  }}\n",
                        f.name
                    );
                }
                (None, Elem::Message(n2)) => {
                    let class = &set.get(n2).unwrap().name;
                    let _ = writeln!(
                        out,
                        "  /// Element [i] of `{0}` (in place; `i` below {name}Max).\n  {class} {name}At(int i) {{\n    RangeError.checkValidIndex(i, null, '{what}', {max});\n    return {p}[i];\n  }}\n",
                        f.name
                    );
                }
                (None, e) => {
                    let (dart_t, read, write) = match e {
                        Elem::Bool => ("bool", format!("{p}[i] != 0"), "value[i] ? 1 : 0"),
                        Elem::F32 | Elem::F64 => ("double", format!("{p}[i]"), "value[i]"),
                        _ => ("int", format!("{p}[i]"), "value[i]"),
                    };
                    let zero = match e {
                        Elem::F32 | Elem::F64 => "0.0",
                        _ => "0",
                    };
                    let _ = writeln!(
                        out,
                        "  /// `{0}`: the elements in use (a copy).\n  List<{dart_t}> get {name} => [for (var i = 0; i < {n}; i++) {read}];\n  set {name}(List<{dart_t}> value) {{\n    if (value.length > {max}) {{\n      throw ArgumentError.value(value.length, '{what}', 'more than {max} elements');\n    }}\n    for (var i = 0; i < {max}; i++) {{\n      {p}[i] = i < value.length ? {write} : {zero};\n    }}\n    {p}Count = value.length;\n  }}\n",
                        f.name
                    );
                }
            }
        }
        (Repeat::Ref { max, align }, text, elem) => {
            let _ = writeln!(
                out,
                "  /// Most elements `{0}` may reference.\n  static int get {name}Max => {max};\n\n  /// Alignment `{0}`'s storage needs.\n  static int get {name}Align => {align};\n\n  /// Elements of `{0}` in use.\n  int get {name}Len => {p}.len;\n  set {name}Len(int n) {{\n    if (n < 0 || n > {p}.capacity) throw RangeError.range(n, 0, {p}.capacity, '{what}');\n    {p}.len = n;\n  }}\n\n  /// Elements `{0}`'s storage holds.\n  int get {name}Capacity => {p}.capacity;\n",
                f.name
            );
            match (text, typed_list(elem)) {
                (_, Some(list)) => {
                    let native_t = if text.is_some() {
                        "Uint8"
                    } else {
                        native(elem).0
                    };
                    let _ = writeln!(
                        out,
                        "  /// Points `{0}` at [storage] of [capacity] elements ([len] in use):\n  /// memory the caller owns and keeps alive during calls, aligned to\n  /// {name}Align (the library's `alloc` gives such memory).\n  void {name}Attach(Pointer<{native_t}> storage, int capacity, [int len = 0]) {{\n    if (capacity < 0 || capacity > {max}) throw RangeError.range(capacity, 0, {max}, '{what}');\n    if (len < 0 || len > capacity) throw RangeError.range(len, 0, capacity, '{what}');\n    {p}\n      ..data = storage.address\n      ..len = len\n      ..capacity = capacity;\n  }}\n\n  /// The elements in use, viewed in place (no copy).\n  {list} get {name} => {p}.data == 0 || {p}.len == 0\n      ? {list}(0)\n      : Pointer<{native_t}>.fromAddress({p}.data).asTypedList({p}.len);\n\n  /// The whole storage, viewed in place (fill it, then set {name}Len).\n  {list} get {name}Storage => {p}.data == 0 || {p}.capacity == 0\n      ? {list}(0)\n      : Pointer<{native_t}>.fromAddress({p}.data).asTypedList({p}.capacity);\n",
                        f.name
                    );
                    if text == Some(Text::String) {
                        let _ = writeln!(
                            out,
                            "  /// `{0}` as text.\n  String get {name}Text => utf8.decode({name}, allowMalformed: true);\n",
                            f.name
                        );
                    }
                }
                (_, None) => {
                    let Elem::Message(n2) = elem else {
                        unreachable!()
                    };
                    let class = &set.get(n2).unwrap().name;
                    let _ = writeln!(
                        out,
                        "  /// Points `{0}` at [storage] of [capacity] structs ([len] in use).\n  void {name}Attach(Pointer<{class}> storage, int capacity, [int len = 0]) {{\n    if (capacity < 0 || capacity > {max}) throw RangeError.range(capacity, 0, {max}, '{what}');\n    if (len < 0 || len > capacity) throw RangeError.range(len, 0, capacity, '{what}');\n    {p}\n      ..data = storage.address\n      ..len = len\n      ..capacity = capacity;\n  }}\n\n  /// Element [i] of the storage, in place.\n  {class} {name}At(int i) {{\n    RangeError.checkValidIndex(i, null, '{what}', {p}.capacity);\n    return Pointer<{class}>.fromAddress({p}.data)[i];\n  }}\n",
                        f.name
                    );
                }
            }
        }
    }
}
