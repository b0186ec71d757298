//! The C declarations of fixed-layout messages: the struct declarations are
//! cbindgen's rendering of the generated Rust structs (the exact text
//! [`super::rust::module`] writes), followed by compile-time assertions of
//! every size, alignment and offset against the layout model — so a C
//! compiler that lays a struct out differently from Rust (the "alignment
//! bug in nested structures") fails to compile the header.

use super::{FixedSet, SlotTy};
use crate::Error;
use proto2ffi_core::{c_structs, symbols};
use std::fmt::Write as _;

/// The structs (cbindgen) and their assertions, or "" with no fixed message.
pub fn declarations(
    set: &FixedSet,
    pool: &prost_reflect::DescriptorPool,
    docs: &std::collections::HashMap<String, String>,
    prefix: &str,
) -> Result<String, Error> {
    if set.messages.is_empty() {
        return Ok(String::new());
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
    out.push_str(&cbindgen_structs(set, pool, docs, prefix)?);
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
    Ok(out)
}

/// cbindgen's C declarations of the generated Rust structs.
fn cbindgen_structs(
    set: &FixedSet,
    pool: &prost_reflect::DescriptorPool,
    docs: &std::collections::HashMap<String, String>,
    prefix: &str,
) -> Result<String, Error> {
    // Every package's `fixed` module, each inside a module of its own (two
    // packages both have a `fixed`); cbindgen resolves types by name, which
    // the model keeps unique per library.
    let mut packages: Vec<&str> = set.messages.iter().map(|m| m.package.as_str()).collect();
    packages.sort();
    packages.dedup();
    let mut source = String::new();
    for (i, p) in packages.iter().enumerate() {
        let _ = writeln!(
            source,
            "pub mod package_{i} {{\n{}\n}}",
            super::rust::module(set, pool, docs, p)
        );
    }
    let mut config = cbindgen::Config {
        language: cbindgen::Language::C,
        no_includes: true,
        style: cbindgen::Style::Both,
        documentation_style: cbindgen::DocumentationStyle::Doxy,
        ..Default::default()
    };
    config.export.item_types = vec![cbindgen::ItemType::Structs];
    config
        .export
        .rename
        .insert("ArrayRef".into(), symbols::fixed_array_type(prefix));
    for m in &set.messages {
        config
            .export
            .rename
            .insert(m.name.clone(), m.c_name.clone());
        config.export.include.push(m.name.clone());
    }
    config.export.exclude.push("ArrayRef".into());
    let dir = std::env::temp_dir().join(format!(
        "proto2ffi-cbindgen-{}-{:x}",
        std::process::id(),
        proto2ffi_core::fnv1a64(source.as_bytes())
    ));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("fixed.rs");
    std::fs::write(&file, &source)?;
    let result = cbindgen::Builder::new()
        .with_config(config)
        .with_src(&file)
        .generate();
    let _ = std::fs::remove_dir_all(&dir);
    let bindings = result.map_err(|e| {
        Error::new(format!(
            "cbindgen could not declare the fixed-layout structs in C: {e}"
        ))
    })?;
    let mut bytes = Vec::new();
    bindings.write(&mut bytes);
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::new("cbindgen wrote a header that is not UTF-8"))?;
    // cbindgen opens with `#include`-free boilerplate lines; keep the
    // declarations.
    Ok(text.trim().to_string() + "\n")
}
