//! The C declarations of fixed-layout messages: the structs, rendered from
//! the same slots [`crate::rust::fixed::module`] declares in Rust, followed by compile-time assertions of
//! every size, alignment and offset against the layout model — so a C
//! compiler that lays a struct out differently from Rust (the "alignment
//! bug in nested structures") fails to compile the header.

use crate::fixed::{Elem, FixedSet, Repeat, SlotTy};
use proto2ffi_core::c_structs::{self, c_doc};
use proto2ffi_core::symbols;
use std::collections::HashMap;
use std::fmt::Write as _;

/// The structs and their assertions, or "" with no fixed message.
pub fn declarations(set: &FixedSet, docs: &HashMap<String, String>, prefix: &str) -> String {
    if set.messages.is_empty() {
        return String::new();
    }
    let upper = prefix.to_uppercase();
    let mut out = String::new();
    out.push_str("/* ---- Fixed-layout messages ---- */\n\n");
    out.push_str(
        "/**\n * A large array of a fixed-layout message: the address of storage the\n * caller owns (zero-extended on 32-bit targets), the elements in use and\n * the elements it holds. Checked before a handler runs: len <= capacity\n * <= the field's max_count, data non-zero and aligned when capacity > 0.\n */\n",
    );
    let _ = writeln!(
        out,
        "{}{}",
        c_structs::ARRAY_REF.c_typedef(prefix),
        c_structs::ARRAY_REF.c_assertions(prefix)
    );
    out.push_str(&structs(set, docs, prefix));
    out.push('\n');

    // The assertion macros are in the header's prelude
    // (`c_structs::c_prelude`).
    for m in &set.messages {
        let c = &m.c_name;
        let probe = format!("{prefix}_align_probe_{}", m.name);
        let _ = writeln!(
            out,
            "/* {c}: {} bytes on every target. */\nstruct {probe} {{ char c; {c} v; }};\n{upper}_LAYOUT_ASSERT({}_size, sizeof({c}) == {});\n{upper}_LAYOUT_ASSERT({}_align, offsetof(struct {probe}, v) == ({} < {upper}_ALIGN_U64 ? {} : {upper}_ALIGN_U64));",
            m.size, m.name, m.size, m.name, m.align, m.align
        );
        for s in &m.slots {
            if s.ty == SlotTy::Pad {
                continue;
            }
            let _ = writeln!(
                out,
                "{upper}_LAYOUT_ASSERT({}_{}, offsetof({c}, {}) == {});",
                m.name, s.name, s.name, s.offset
            );
        }
        out.push('\n');
    }
    out
}

/// The C type of an element as stored (a nested message by its C name).
fn c_elem(set: &FixedSet, e: &Elem) -> String {
    match e {
        Elem::I32 | Elem::Enum(_) => "int32_t".into(),
        Elem::U32 => "uint32_t".into(),
        Elem::I64 => "int64_t".into(),
        Elem::U64 => "uint64_t".into(),
        Elem::F32 => "float".into(),
        Elem::F64 => "double".into(),
        Elem::Bool | Elem::Byte => "uint8_t".into(),
        Elem::Message(m) => {
            let nested = set.get(m).expect("a fixed message holds fixed messages");
            format!("struct {}", nested.c_name)
        }
    }
}

/// The C declarations of the structs, in the set's order (a message after
/// the messages it holds), slot by slot as [`super::rust::module`] declares
/// them: the same names, types and explicit padding, so both sides agree
/// by construction and the assertions after them check the C compiler.
/// Each struct is followed by its bounds as `#define`s, named as the Rust
/// associated constants ([`super::Field::const_stem`]).
fn structs(set: &FixedSet, docs: &HashMap<String, String>, prefix: &str) -> String {
    let array_ref = symbols::fixed_array_type(prefix);
    let mut out = String::new();
    for (i, m) in set.messages.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut text = docs
            .get(&m.full_name)
            .filter(|d| !d.is_empty())
            .map(|d| format!("{d}\n\n"))
            .unwrap_or_default();
        let _ = write!(
            text,
            "Fixed-layout `{}`: {} bytes, C struct `{}`.",
            m.full_name, m.size, m.c_name
        );
        out.push_str(&c_doc("", &text));
        let c = &m.c_name;
        let _ = writeln!(out, "typedef struct {c} {{");
        for slot in &m.slots {
            if let Some(d) = docs.get(&format!("{}.{}", m.full_name, slot.name)) {
                if m.fields.iter().any(|f| f.name == slot.name) {
                    out.push_str(&c_doc("  ", d));
                }
            }
            let name = &slot.name;
            let _ = match &slot.ty {
                SlotTy::Elem(e) => writeln!(out, "  {} {name};", c_elem(set, e)),
                SlotTy::Array(e, n) => writeln!(out, "  {} {name}[{n}];", c_elem(set, e)),
                SlotTy::Count => writeln!(out, "  uint32_t {name};"),
                SlotTy::Pad => writeln!(out, "  uint8_t {name}[{}];", slot.size),
                SlotTy::ArrayRef => writeln!(out, "  {array_ref} {name};"),
            };
        }
        let _ = writeln!(out, "}} {c};");
        for f in &m.fields {
            let stem = f.const_stem();
            match f.repeat {
                Repeat::One => {}
                Repeat::Inline { max } => {
                    out.push_str(&c_doc("", &format!("Most elements `{}` holds.", f.name)));
                    let _ = writeln!(out, "#define {c}_{stem}_MAX {max}");
                }
                Repeat::Ref { max, align } => {
                    out.push_str(&c_doc(
                        "",
                        &format!("Most elements `{}` may reference.", f.name),
                    ));
                    let _ = writeln!(out, "#define {c}_{stem}_MAX {max}");
                    out.push_str(&c_doc(
                        "",
                        &format!("Alignment `{}`'s storage needs.", f.name),
                    ));
                    let _ = writeln!(out, "#define {c}_{stem}_ALIGN {align}");
                }
            }
        }
    }
    out
}
