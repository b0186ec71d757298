//! Dart names: every rule by which a proto name becomes a Dart identifier,
//! file or import prefix, in one place.
//!
//! - Fields, methods and enum values are `lowerCamelCase`; messages, enums
//!   and services `UpperCamelCase`; nested types are joined with `_`
//!   (`Outer_Inner`), as `protoc_plugin` does.
//! - Only what Dart forbids is escaped, with a trailing `_`: reserved words
//!   everywhere, `await`/`yield` (reserved in async bodies), built-in
//!   identifiers (`get`, `set`, `dynamic`, …) only as type names, and the
//!   members a generated class already has (`hashCode`, `copyWith`, …). A
//!   field `type` stays `type`; `rpc Get` gives `get` and `getAsync`.
//! - Every proto package is one Dart library, `lib/<a>/<b>.pb.dart`,
//!   imported by generated code with the prefix `$a$b`; a class's name never
//!   depends on other packages.

use heck::{ToLowerCamelCase, ToUpperCamelCase};

/// Dart's reserved words: never identifiers.
const RESERVED: &[&str] = &[
    "assert", "break", "case", "catch", "class", "const", "continue", "default", "do", "else",
    "enum", "extends", "false", "final", "finally", "for", "if", "in", "is", "new", "null",
    "rethrow", "return", "super", "switch", "this", "throw", "true", "try", "var", "void", "while",
    "with",
];

/// Reserved inside `async` and generator bodies (generated code has some).
const ASYNC_RESERVED: &[&str] = &["await", "yield"];

/// Built-in identifiers: allowed as member names, not as type names.
const BUILT_IN: &[&str] = &[
    "abstract",
    "as",
    "covariant",
    "deferred",
    "dynamic",
    "export",
    "extension",
    "external",
    "factory",
    "Function",
    "get",
    "implements",
    "import",
    "interface",
    "late",
    "library",
    "mixin",
    "operator",
    "part",
    "required",
    "set",
    "static",
    "typedef",
];

/// Members of `Object`: a field with one of these names would override it.
const OBJECT_MEMBERS: &[&str] = &["hashCode", "toString", "runtimeType", "noSuchMethod"];

/// Members generated on message classes.
pub(crate) const MESSAGE_MEMBERS: &[&str] = &[
    "writeTo",
    "writeToBuffer",
    "copyWith",
    "copyWithout",
    "readFrom",
    "fromBuffer",
    "mergeFromBuffer",
    "qualifiedMessageName",
];

/// Members of generated enums (the sealed class and its Dart `enum`).
const ENUM_MEMBERS: &[&str] = &["value", "name", "values", "valueOf", "index"];

/// Top-level names of `dart:core` (Dart 3): the package barrel never exports
/// a generated class with one of these names, so user code keeps
/// `Duration(seconds: 1)` meaning `dart:core`'s.
pub(crate) const DART_CORE: &[&str] = &[
    "ArgumentError",
    "AssertionError",
    "BidirectionalIterator",
    "BigInt",
    "Comparable",
    "Comparator",
    "ConcurrentModificationError",
    "DateTime",
    "Deprecated",
    "Duration",
    "Enum",
    "Error",
    "Exception",
    "Expando",
    "Finalizable",
    "Finalizer",
    "FormatException",
    "Function",
    "Future",
    "IndexError",
    "IntegerDivisionByZeroException",
    "Invocation",
    "Iterable",
    "Iterator",
    "List",
    "Map",
    "MapEntry",
    "Match",
    "Never",
    "NoSuchMethodError",
    "Null",
    "Object",
    "OutOfMemoryError",
    "Pattern",
    "RangeError",
    "Record",
    "RegExp",
    "RegExpMatch",
    "RuneIterator",
    "Runes",
    "Set",
    "Sink",
    "StackOverflowError",
    "StackTrace",
    "StateError",
    "Stopwatch",
    "Stream",
    "String",
    "StringBuffer",
    "StringSink",
    "Symbol",
    "Type",
    "TypeError",
    "UnimplementedError",
    "UnsupportedError",
    "Uri",
    "UriData",
    "WeakReference",
    "bool",
    "deprecated",
    "double",
    "identical",
    "identityHashCode",
    "int",
    "num",
    "override",
    "pragma",
    "print",
];

fn escape(name: String, extra: &[&[&str]]) -> String {
    let clashes = RESERVED.contains(&name.as_str())
        || ASYNC_RESERVED.contains(&name.as_str())
        || OBJECT_MEMBERS.contains(&name.as_str())
        || extra.iter().any(|list| list.contains(&name.as_str()));
    if clashes {
        format!("{name}_")
    } else {
        name
    }
}

/// A message field's (or oneof's) Dart name.
pub(crate) fn field(proto: &str) -> String {
    escape(proto.to_lower_camel_case(), &[MESSAGE_MEMBERS])
}

/// An enum value's Dart name: `ROLE_ADMIN` → `roleAdmin` (the modern Dart
/// enum style; the value's prefix is kept, so names stay unique and
/// searchable).
pub(crate) fn enum_value(proto: &str) -> String {
    escape(proto.to_lower_camel_case(), &[ENUM_MEMBERS])
}

/// A method's Dart name: `GetUser` → `getUser`, `Get` → `get`.
pub(crate) fn method(proto: &str) -> String {
    escape(proto.to_lower_camel_case(), &[])
}

/// A type name part (UpperCamel); built-in identifiers are escaped because
/// Dart refuses them as type names.
pub(crate) fn type_part(proto: &str) -> String {
    let s = proto.to_upper_camel_case();
    if s.is_empty() {
        "X".into()
    } else {
        escape(s, &[BUILT_IN])
    }
}

/// The Dart class of a message or enum in its package's library: nested
/// names joined with `_` (`Outer.Inner` → `Outer_Inner`).
pub(crate) fn local_class(full_name: &str, package: &str) -> String {
    let local = if package.is_empty() {
        full_name
    } else {
        full_name
            .strip_prefix(package)
            .map(|s| s.trim_start_matches('.'))
            .unwrap_or(full_name)
    };
    let joined = local
        .split('.')
        .map(|part| {
            let s = part.to_upper_camel_case();
            if s.is_empty() {
                "X".to_string()
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("_");
    escape(joined, &[BUILT_IN])
}

/// The library of a proto package, relative to the Dart package's `lib/`:
/// `acme.user.v1` → `acme/user/v1.pb.dart`; no package → `root.pb.dart`.
pub(crate) fn package_library(package: &str) -> String {
    if package.is_empty() {
        "root.pb.dart".into()
    } else {
        format!("{}.pb.dart", package.replace('.', "/"))
    }
}

/// The import prefix generated code uses for a package's library:
/// `acme.user.v1` → `$acme$user$v1` (`$` cannot occur in proto names, so
/// prefixes never clash with each other or with generated classes).
pub(crate) fn package_alias(package: &str) -> String {
    if package.is_empty() {
        "$root".into()
    } else {
        package.split('.').map(|s| format!("${s}")).collect()
    }
}

/// The Dart `enum` holding an enum's known values: `Role` → `Role$`.
pub(crate) fn known_enum(class: &str) -> String {
    format!("{class}$")
}

/// The class of an enum's unknown values: `Role` → `Role$Unknown`.
pub(crate) fn unknown_enum(class: &str) -> String {
    format!("{class}$Unknown")
}

/// Dart names of `fields` made unique within one class: a later name equal
/// to an earlier one gets its field number appended (`type` and `type_` →
/// `type_`, `type_2`).
pub(crate) fn unique(names: Vec<(String, i64)>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    names
        .into_iter()
        .map(|(name, number)| {
            let chosen = if seen.contains(&name) {
                let mut candidate = format!("{}_{number}", name.trim_end_matches('_'));
                while seen.contains(&candidate) {
                    candidate.push('_');
                }
                candidate
            } else {
                name
            };
            seen.push(chosen.clone());
            chosen
        })
        .collect()
}

/// A string literal in Dart (single quotes, escaped).
pub(crate) fn string_literal(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `///` doc lines at an indent.
pub(crate) fn doc(out: &mut String, text: &str, indent: &str) {
    for line in text.lines() {
        if line.is_empty() {
            out.push_str(&format!("{indent}///\n"));
        } else {
            out.push_str(&format!("{indent}/// {line}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_dart_forbids_is_escaped() {
        assert_eq!(field("class"), "class_");
        assert_eq!(field("client_id"), "clientId");
        assert_eq!(field("hash_code"), "hashCode_");
        assert_eq!(field("type"), "type");
        assert_eq!(field("get"), "get");
        assert_eq!(field("async"), "async");
        assert_eq!(field("await"), "await_");
        assert_eq!(field("copy_with"), "copyWith_");
        assert_eq!(field("value"), "value");
        assert_eq!(enum_value("ROLE_ADMIN"), "roleAdmin");
        assert_eq!(enum_value("VALUES"), "values_");
        assert_eq!(enum_value("NAME"), "name_");
        assert_eq!(method("GetUser"), "getUser");
        assert_eq!(method("Get"), "get");
        assert_eq!(method("Set"), "set");
        assert_eq!(method("Await"), "await_");
        assert_eq!(method("New"), "new_");
    }

    #[test]
    fn type_names() {
        assert_eq!(type_part("user_service"), "UserService");
        assert_eq!(type_part("dynamic"), "Dynamic");
        assert_eq!(local_class("a.v1.Outer.Inner", "a.v1"), "Outer_Inner");
        assert_eq!(local_class("Top", ""), "Top");
        assert_eq!(local_class("a.Type", "a"), "Type");
        assert_eq!(known_enum("Role"), "Role$");
        assert_eq!(unknown_enum("Role"), "Role$Unknown");
    }

    #[test]
    fn libraries_and_prefixes() {
        assert_eq!(package_library("acme.user.v1"), "acme/user/v1.pb.dart");
        assert_eq!(package_library(""), "root.pb.dart");
        assert_eq!(package_alias("acme.user.v1"), "$acme$user$v1");
        assert_ne!(package_alias("a_b.c"), package_alias("a.b_c"));
        assert_eq!(package_alias(""), "$root");
    }

    #[test]
    fn duplicates_get_their_number() {
        assert_eq!(
            unique(vec![
                ("class_".into(), 1),
                ("class_".into(), 2),
                ("x".into(), 3)
            ]),
            vec!["class_", "class_2", "x"]
        );
    }

    #[test]
    fn literals() {
        assert_eq!(string_literal("a'b$c\n"), "'a\\'b\\$c\\n'");
    }
}
