//! Dart identifiers: case conversion and escaping of reserved words.

use heck::{ToLowerCamelCase, ToUpperCamelCase};

/// Reserved words, built-in identifiers and contextual keywords of Dart,
/// plus `dart:core` members every class has. All are escaped with `_`.
const RESERVED: &[&str] = &[
    "abstract",
    "as",
    "assert",
    "async",
    "await",
    "base",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "covariant",
    "default",
    "deferred",
    "do",
    "dynamic",
    "else",
    "enum",
    "export",
    "extends",
    "extension",
    "external",
    "factory",
    "false",
    "final",
    "finally",
    "for",
    "Function",
    "get",
    "hide",
    "if",
    "implements",
    "import",
    "in",
    "interface",
    "is",
    "late",
    "library",
    "mixin",
    "new",
    "null",
    "of",
    "on",
    "operator",
    "part",
    "required",
    "rethrow",
    "return",
    "sealed",
    "set",
    "show",
    "static",
    "super",
    "switch",
    "sync",
    "this",
    "throw",
    "true",
    "try",
    "type",
    "typedef",
    "var",
    "void",
    "when",
    "while",
    "with",
    "yield",
    "hashCode",
    "toString",
    "runtimeType",
    "noSuchMethod",
];

/// Members generated on messages; fields with these names are escaped.
const MESSAGE_MEMBERS: &[&str] = &[
    "writeTo",
    "writeToBuffer",
    "copyWith",
    "readFrom",
    "fromBuffer",
];

/// Members generated on enums.
const ENUM_MEMBERS: &[&str] = &["value", "name", "values", "valueOf"];

fn escape(name: String, extra: &[&str]) -> String {
    if RESERVED.contains(&name.as_str()) || extra.contains(&name.as_str()) {
        format!("{name}_")
    } else {
        name
    }
}

/// A message field's Dart name.
pub fn field(proto: &str) -> String {
    escape(proto.to_lower_camel_case(), MESSAGE_MEMBERS)
}

/// An enum value's Dart name.
pub fn enum_value(proto: &str) -> String {
    escape(proto.to_lower_camel_case(), ENUM_MEMBERS)
}

/// A method's Dart name.
pub fn method(proto: &str) -> String {
    escape(proto.to_lower_camel_case(), &[])
}

/// A type name part (UpperCamel).
pub fn type_part(proto: &str) -> String {
    let s = proto.to_upper_camel_case();
    if s.is_empty() {
        "X".into()
    } else {
        s
    }
}

/// A string literal in Dart (single quotes, escaped).
pub fn string_literal(s: &str) -> String {
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
pub fn doc(out: &mut String, text: &str, indent: &str) {
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
    fn escapes() {
        assert_eq!(field("class"), "class_");
        assert_eq!(field("client_id"), "clientId");
        assert_eq!(field("hash_code"), "hashCode_");
        assert_eq!(enum_value("ROLE_ADMIN"), "roleAdmin");
        assert_eq!(method("GetUser"), "getUser");
        assert_eq!(method("Await"), "await_");
        assert_eq!(string_literal("a'b$c\n"), "'a\\'b\\$c\\n'");
    }
}
