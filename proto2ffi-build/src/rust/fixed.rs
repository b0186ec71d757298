//! Rust output for fixed-layout messages: a `pub mod fixed` in each
//! package's generated file with one `#[repr(C)]` struct per message
//! (zerocopy derives prove no padding and no invalid bit patterns), typed
//! accessors, `FixedMessage` (checks and layout fingerprint), compile-time
//! assertions of every offset, conversions to and from the prost message,
//! and the exported layout fingerprint function.

use crate::fixed::{Elem, FixedMessage, FixedSet, Repeat, SlotTy, Text};
use crate::schema::options::rust_ident;
use heck::{ToSnakeCase, ToUpperCamelCase};
use proto2ffi_core::symbols;
use std::fmt::Write as _;

fn segments(package: &str) -> Vec<String> {
    package
        .split('.')
        .filter(|s| !s.is_empty())
        .map(|s| rust_ident(&s.to_snake_case()))
        .collect()
}

/// Path of a prost type (message or enum, by full name and package) from a
/// module `depth` levels below package `from`'s module.
fn prost_path(full_name: &str, package: &str, from: &str, depth: usize) -> String {
    let inner = if package.is_empty() {
        full_name
    } else {
        &full_name[package.len() + 1..]
    };
    let parts: Vec<&str> = inner.split('.').collect();
    let mut path = Vec::new();
    for p in &parts[..parts.len() - 1] {
        path.push(rust_ident(&p.to_snake_case()));
    }
    path.push(parts[parts.len() - 1].to_upper_camel_case());
    let mut up = "super::".repeat(depth);
    if package != from {
        up.push_str(&"super::".repeat(segments(from).len()));
        for s in segments(package) {
            up.push_str(&s);
            up.push_str("::");
        }
    }
    format!("{up}{}", path.join("::"))
}

/// Path of a fixed struct from a module `depth` levels below package
/// `from`'s module (0: the package module itself).
pub fn fixed_path(set: &FixedSet, full_name: &str, from: &str, depth: usize) -> String {
    let m = set.get(full_name).expect("a fixed message");
    if m.package == from {
        if depth == 0 {
            format!("fixed::{}", m.name)
        } else {
            format!("{}{}", "super::".repeat(depth - 1), m.name)
        }
    } else {
        let mut up = "super::".repeat(depth + segments(from).len());
        for s in segments(&m.package) {
            up.push_str(&s);
            up.push_str("::");
        }
        format!("{up}fixed::{}", m.name)
    }
}

struct Ctx<'a> {
    set: &'a FixedSet,
    pool: &'a prost_reflect::DescriptorPool,
    package: &'a str,
}

impl Ctx<'_> {
    /// Rust type of an element as stored in the struct (from `fixed`).
    fn stored(&self, e: &Elem) -> String {
        match e {
            Elem::I32 | Elem::Enum(_) => "i32".into(),
            Elem::U32 => "u32".into(),
            Elem::I64 => "i64".into(),
            Elem::U64 => "u64".into(),
            Elem::F32 => "f32".into(),
            Elem::F64 => "f64".into(),
            Elem::Bool | Elem::Byte => "u8".into(),
            Elem::Message(m) => fixed_path(self.set, m, self.package, 1),
        }
    }

    fn enum_path(&self, full: &str) -> String {
        let e = self.pool.get_enum_by_name(full).expect("enum in pool");
        prost_path(full, e.package_name(), self.package, 1)
    }

    fn prost_message_path(&self, m: &FixedMessage) -> String {
        prost_path(&m.full_name, &m.package, self.package, 1)
    }
}

/// A method or prost field name: snake case, raw for keywords.
fn ident(name: &str) -> String {
    rust_ident(&name.to_snake_case())
}

/// A struct field: the proto name as written (C and Dart use it too).
fn fld(name: &str) -> String {
    rust_ident(name)
}

fn doc(out: &mut String, indent: &str, text: &str) {
    for l in text.lines() {
        if l.is_empty() {
            let _ = writeln!(out, "{indent}///");
        } else {
            let _ = writeln!(out, "{indent}/// {l}");
        }
    }
}

/// The `pub mod fixed { ... }` of one package ("" when it has none).
pub fn module(
    set: &FixedSet,
    pool: &prost_reflect::DescriptorPool,
    docs: &std::collections::HashMap<String, String>,
    package: &str,
) -> String {
    let messages: Vec<&FixedMessage> = set.in_package(package).collect();
    if messages.is_empty() {
        return String::new();
    }
    let ctx = Ctx { set, pool, package };
    let mut out = String::new();
    out.push_str(
        "/// Fixed-layout messages of this package: `repr(C)` structs read in place by Rust, C \
         and Dart\n/// (see the C header for their declarations).\n#[allow(non_camel_case_types, \
         clippy::all)]\npub mod fixed {\n",
    );
    for m in messages {
        struct_item(&mut out, &ctx, m, docs);
    }
    out.push_str("}\n");
    out
}

fn struct_item(
    out: &mut String,
    ctx: &Ctx,
    m: &FixedMessage,
    docs: &std::collections::HashMap<String, String>,
) {
    let name = &m.name;
    if let Some(d) = docs.get(&m.full_name).filter(|d| !d.is_empty()) {
        doc(out, "    ", d);
        out.push_str("    ///\n");
    }
    let _ = writeln!(
        out,
        "    /// Fixed-layout `{}`: {} bytes, C struct `{}`.",
        m.full_name, m.size, m.c_name
    );
    out.push_str(
        "    #[derive(Clone, Copy, Debug, PartialEq, ::proto2ffi::zerocopy::FromBytes, \
         ::proto2ffi::zerocopy::IntoBytes, ::proto2ffi::zerocopy::KnownLayout, \
         ::proto2ffi::zerocopy::Immutable)]\n    #[zerocopy(crate = \"::proto2ffi::zerocopy\")]\n    #[repr(C)]\n",
    );
    let _ = writeln!(out, "    pub struct {name} {{");
    let field_of = |slot: &str| m.fields.iter().find(|f| f.name == slot);
    for s in &m.slots {
        let (vis, ty) = match &s.ty {
            SlotTy::Elem(e @ (Elem::Bool | Elem::Enum(_))) => ("pub(crate) ", ctx.stored(e)),
            SlotTy::Elem(e) => ("pub ", ctx.stored(e)),
            SlotTy::Array(e, n) => ("pub(crate) ", format!("[{}; {n}]", ctx.stored(e))),
            SlotTy::Count => ("pub(crate) ", "u32".into()),
            SlotTy::Pad => ("pub(crate) ", format!("[u8; {}]", s.size)),
            SlotTy::ArrayRef => ("pub(crate) ", "::proto2ffi::fixed::ArrayRef".into()),
        };
        if let Some(f) = field_of(&s.name) {
            if let Some(d) = docs
                .get(&format!("{}.{}", m.full_name, f.name))
                .filter(|d| !d.is_empty())
            {
                doc(out, "        ", d);
            }
        }
        let _ = writeln!(out, "        {vis}{}: {ty},", fld(&s.name));
    }
    out.push_str("    }\n\n");

    // Default: all zero.
    let _ = writeln!(
        out,
        "    impl ::core::default::Default for {name} {{\n        fn default() -> Self {{\n            \
         <Self as ::proto2ffi::zerocopy::FromZeros>::new_zeroed()\n        }}\n    }}\n"
    );

    accessors(out, ctx, m);
    validate(out, ctx, m);
    conversions(out, ctx, m);
    layout_checks(out, m);
}

fn accessors(out: &mut String, ctx: &Ctx, m: &FixedMessage) {
    let _ = writeln!(out, "    impl {} {{", m.name);
    for f in &m.fields {
        let fid = fld(&f.name);
        let mid = ident(&f.name);
        let bare = mid.trim_start_matches("r#");
        let t = ctx.stored(&f.elem);
        match (&f.repeat, f.text, &f.elem) {
            (Repeat::One, _, Elem::Bool) => {
                let _ = writeln!(
                    out,
                    "        /// `{0}` (stored as a byte, 0 or 1).\n        pub fn {mid}(&self) -> bool {{ self.{fid} != 0 }}\n        \
                     /// Sets `{0}`.\n        pub fn set_{bare}(&mut self, value: bool) {{ self.{fid} = u8::from(value); }}",
                    f.name
                );
            }
            (Repeat::One, _, Elem::Enum(e)) => {
                let ep = ctx.enum_path(e);
                let _ = writeln!(
                    out,
                    "        /// `{0}`, or the unknown number a newer peer sent.\n        \
                     pub fn {mid}(&self) -> ::core::result::Result<{ep}, ::proto2ffi::prost::UnknownEnumValue> {{ {ep}::try_from(self.{fid}) }}\n        \
                     /// `{0}` as stored.\n        pub fn {bare}_raw(&self) -> i32 {{ self.{fid} }}\n        \
                     /// Sets `{0}`.\n        pub fn set_{bare}(&mut self, value: {ep}) {{ self.{fid} = value as i32; }}\n        \
                     /// Sets `{0}` to any number.\n        pub fn set_{bare}_raw(&mut self, value: i32) {{ self.{fid} = value; }}",
                    f.name
                );
            }
            (Repeat::One, _, _) => {}
            (Repeat::Inline { max }, text, _) => {
                let count = fld(&f.count_name());
                let _ = writeln!(
                    out,
                    "        /// Most elements `{0}` holds.\n        pub const {1}_MAX: usize = {max};",
                    f.name,
                    f.const_stem()
                );
                match text {
                    Some(Text::String) => {
                        let _ = writeln!(
                            out,
                            "        /// `{0}` (UTF-8; a request's is checked before the handler runs).\n        \
                             pub fn {mid}(&self) -> &str {{\n            let bytes = &self.{fid}[..(self.{count} as usize).min({max})];\n            \
                             match ::core::str::from_utf8(bytes) {{ Ok(s) => s, Err(e) => ::core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default() }}\n        }}\n        \
                             /// Sets `{0}`; `INVALID_ARGUMENT` when longer than {max} bytes.\n        \
                             pub fn set_{bare}(&mut self, value: &str) -> ::core::result::Result<(), ::proto2ffi::Status> {{ self.set_{bare}_bytes(value.as_bytes()) }}\n        \
                             fn set_{bare}_bytes(&mut self, value: &[u8]) -> ::core::result::Result<(), ::proto2ffi::Status> {{",
                            f.name
                        );
                    }
                    _ => {
                        let _ = writeln!(
                            out,
                            "        /// `{0}` (the elements in use{1}).\n        \
                             pub fn {mid}(&self) -> &[{t}] {{ &self.{fid}[..(self.{count} as usize).min({max})] }}\n        \
                             /// The elements in use, mutable.\n        \
                             pub fn {bare}_mut(&mut self) -> &mut [{t}] {{ let n = (self.{count} as usize).min({max}); &mut self.{fid}[..n] }}\n        \
                             /// Sets `{0}`; `INVALID_ARGUMENT` when longer than {max}.\n        \
                             pub fn set_{bare}(&mut self, value: &[{t}]) -> ::core::result::Result<(), ::proto2ffi::Status> {{",
                            f.name,
                            match f.elem {
                                Elem::Bool => "; bools are bytes, 0 or 1",
                                Elem::Enum(_) => "; enums as stored",
                                _ => "",
                            }
                        );
                    }
                }
                let _ = writeln!(
                    out,
                    "            if value.len() > {max} {{\n                return ::core::result::Result::Err(::proto2ffi::Status::invalid_argument(\
                     ::std::format!(\"{}.{}: {{}} elements exceed its maximum of {max}\", value.len())));\n            }}\n            \
                     self.{fid}[..value.len()].copy_from_slice(value);\n            self.{fid}[value.len()..].fill(::core::default::Default::default());\n            \
                     self.{count} = value.len() as u32;\n            ::core::result::Result::Ok(())\n        }}",
                    m.name, f.name
                );
            }
            (Repeat::Ref { max, align }, text, _) => {
                let elem_t = if text.is_some() {
                    "u8".to_string()
                } else {
                    t.clone()
                };
                let _ = writeln!(
                    out,
                    "        /// Most elements `{0}` may reference.\n        pub const {1}_MAX: usize = {max};\n        \
                     /// Alignment `{0}`'s storage needs.\n        pub const {1}_ALIGN: usize = {align};\n        \
                     /// The reference itself (address, length, capacity).\n        pub fn {bare}_ref(&self) -> &::proto2ffi::fixed::ArrayRef {{ &self.{fid} }}\n        \
                     /// Points `{0}` at storage (checked by the guard: capacity at most {max}, aligned to {align}).\n        \
                     pub fn set_{bare}_ref(&mut self, r: ::proto2ffi::fixed::ArrayRef) {{ self.{fid} = r; }}\n        \
                     /// Sets how many elements of the storage are in use; `INVALID_ARGUMENT` above the capacity.\n        \
                     pub fn set_{bare}_len(&mut self, len: usize) -> ::core::result::Result<(), ::proto2ffi::Status> {{\n            \
                     if len > self.{fid}.capacity as usize {{ return ::core::result::Result::Err(::proto2ffi::Status::invalid_argument(\
                     ::std::format!(\"{2}.{0}: length {{len}} exceeds the capacity {{}}\", self.{fid}.capacity))); }}\n            \
                     self.{fid}.len = len as u32;\n            ::core::result::Result::Ok(())\n        }}\n        \
                     /// The elements in use.\n        ///\n        /// # Safety\n        /// The reference points at storage as [`::proto2ffi::fixed::ArrayRef`] requires: always true for a request or response inside a handler (the guard checked it).\n        \
                     pub unsafe fn {bare}_slice(&self) -> &[{elem_t}] {{ unsafe {{ self.{fid}.as_slice::<{elem_t}>() }} }}\n        \
                     /// The whole storage (`capacity` elements), to fill before [`Self::set_{bare}_len`].\n        ///\n        /// # Safety\n        /// As the slice getter, and nothing else accesses the storage meanwhile.\n        \
                     pub unsafe fn {bare}_storage_mut(&mut self) -> &mut [{elem_t}] {{ unsafe {{ self.{fid}.storage_mut::<{elem_t}>() }} }}",
                    f.name,
                    f.const_stem(),
                    m.name
                );
                if text == Some(Text::String) {
                    let _ = writeln!(
                        out,
                        "        /// `{0}` as text (checked UTF-8 for requests).\n        ///\n        /// # Safety\n        /// As the slice getter.\n        \
                         pub unsafe fn {bare}_str(&self) -> &str {{ let b = unsafe {{ self.{bare}_slice() }}; ::core::str::from_utf8(b).unwrap_or_default() }}",
                        f.name
                    );
                }
            }
        }
    }
    out.push_str("    }\n\n");
}

fn validate(out: &mut String, ctx: &Ctx, m: &FixedMessage) {
    let name = &m.name;
    let _ = writeln!(
        out,
        "    impl ::proto2ffi::fixed::FixedMessage for {name} {{\n        const NAME: &'static str = {:?};\n        \
         const LAYOUT_FINGERPRINT: u64 = {:#018x};\n        const HAS_ARRAY_REFS: bool = {};\n        #[inline]\n        \
         unsafe fn validate(&self) -> ::core::result::Result<(), ::proto2ffi::Status> {{",
        m.full_name, m.fingerprint, m.has_refs
    );
    let mut any = false;
    for f in &m.fields {
        let id = fld(&f.name);
        let fname = &f.name;
        let elem_check = |v: &str| -> Option<String> {
            match &f.elem {
                Elem::Bool => Some(format!(
                    "::proto2ffi::__private::fixed_check::boolean({v}, {name:?}, {fname:?})?;"
                )),
                Elem::Message(_) => Some(format!(
                    "unsafe {{ ::proto2ffi::fixed::FixedMessage::validate({v}) }}?;"
                )),
                _ => None,
            }
        };
        let lines: Vec<String> = match (&f.repeat, f.text) {
            (Repeat::One, _) => elem_check(&if matches!(f.elem, Elem::Bool) {
                format!("self.{id}")
            } else {
                format!("&self.{id}")
            })
            .into_iter()
            .collect(),
            (Repeat::Inline { max }, text) => {
                let count = fld(&f.count_name());
                let mut v = vec![format!(
                    "::proto2ffi::__private::fixed_check::count(self.{count}, {max}, {name:?}, {fname:?})?;"
                )];
                if text == Some(Text::String) {
                    v.push(format!(
                        "::proto2ffi::__private::fixed_check::utf8(&self.{id}[..self.{count} as usize], {name:?}, {fname:?})?;"
                    ));
                } else if let Some(c) = elem_check(if matches!(f.elem, Elem::Bool) {
                    "*e"
                } else {
                    "e"
                }) {
                    v.push(format!(
                        "for e in &self.{id}[..self.{count} as usize] {{ {c} }}"
                    ));
                }
                v
            }
            (Repeat::Ref { max, align }, text) => {
                let t = if text.is_some() {
                    "u8".to_string()
                } else {
                    ctx.stored(&f.elem)
                };
                let mut v = vec![format!(
                    "::proto2ffi::__private::fixed_check::array_ref(&self.{id}, {max}, ::core::mem::size_of::<{t}>(), {align}, {name:?}, {fname:?})?;"
                )];
                if text == Some(Text::String) {
                    v.push(format!(
                        "::proto2ffi::__private::fixed_check::utf8(unsafe {{ self.{id}.as_slice::<u8>() }}, {name:?}, {fname:?})?;"
                    ));
                } else if let Some(c) = elem_check(if matches!(f.elem, Elem::Bool) {
                    "*e"
                } else {
                    "e"
                }) {
                    v.push(format!(
                        "for e in unsafe {{ self.{id}.as_slice::<{t}>() }} {{ {c} }}"
                    ));
                }
                v
            }
        };
        for l in lines {
            any = true;
            let _ = writeln!(out, "            {l}");
        }
    }
    if !any {
        out.push_str("            let _ = self;\n");
    }
    out.push_str("            ::core::result::Result::Ok(())\n        }\n    }\n\n");
}

fn conversions(out: &mut String, ctx: &Ctx, m: &FixedMessage) {
    let name = &m.name;
    let pm = ctx.prost_message_path(m);
    let unsafety = if m.has_refs { "unsafe " } else { "" };
    let _ = writeln!(out, "    impl {name} {{");
    if m.has_refs {
        out.push_str(
            "        /// The prost message with the same content (to encode, log or send it on).\n        \
             ///\n        /// # Safety\n        /// Its array references point at valid storage (true inside a handler).\n",
        );
    } else {
        out.push_str(
            "        /// The prost message with the same content (to encode, log or send it on).\n",
        );
    }
    let _ = writeln!(
        out,
        "        pub {unsafety}fn to_message(&self) -> {pm} {{\n            #[allow(unused_unsafe)]\n            unsafe {{\n            {pm} {{"
    );
    for f in &m.fields {
        let id = fld(&f.name);
        let pf = ident(&f.name);
        let value = match (&f.repeat, f.text, &f.elem) {
            (Repeat::One, _, Elem::Bool) => format!("self.{id} != 0"),
            (Repeat::One, _, Elem::Message(_)) => {
                format!("::core::option::Option::Some(self.{id}.to_message())")
            }
            (Repeat::One, _, _) => format!("self.{id}"),
            (Repeat::Inline { max }, text, elem) => {
                let count = fld(&f.count_name());
                let slice = format!("self.{id}[..(self.{count} as usize).min({max})]");
                match (text, elem) {
                    (Some(Text::String), _) => {
                        format!("::std::string::String::from_utf8_lossy(&{slice}).into_owned()")
                    }
                    (Some(Text::Bytes), _) => format!("{slice}.to_vec().into()"),
                    (_, Elem::Bool) => format!("{slice}.iter().map(|b| *b != 0).collect()"),
                    (_, Elem::Message(_)) => {
                        format!("{slice}.iter().map(|e| e.to_message()).collect()")
                    }
                    _ => format!("{slice}.to_vec()"),
                }
            }
            (Repeat::Ref { .. }, text, elem) => {
                let t = if text.is_some() {
                    "u8".to_string()
                } else {
                    ctx.stored(elem)
                };
                let slice = format!("self.{id}.as_slice::<{t}>()");
                match (text, elem) {
                    (Some(Text::String), _) => {
                        format!("::std::string::String::from_utf8_lossy({slice}).into_owned()")
                    }
                    (Some(Text::Bytes), _) => format!("{slice}.to_vec().into()"),
                    (_, Elem::Bool) => format!("{slice}.iter().map(|b| *b != 0).collect()"),
                    (_, Elem::Message(_)) => {
                        format!("{slice}.iter().map(|e| e.to_message()).collect()")
                    }
                    _ => format!("{slice}.to_vec()"),
                }
            }
        };
        let _ = writeln!(out, "                {pf}: {value},");
    }
    out.push_str("            }\n            }\n        }\n");
    if !m.has_refs {
        let _ = writeln!(
            out,
            "        /// The struct for a prost message; `INVALID_ARGUMENT` when a repeated field or\n        \
             /// string is longer than its bound. Absent message fields become all-zero structs.\n        \
             pub fn from_message(message: &{pm}) -> ::core::result::Result<Self, ::proto2ffi::Status> {{\n            \
             let mut s = <Self as ::core::default::Default>::default();"
        );
        for f in &m.fields {
            let id = fld(&f.name);
            let mid = ident(&f.name);
            let bare = mid.trim_start_matches("r#");
            let line = match (&f.repeat, f.text, &f.elem) {
                (Repeat::One, _, Elem::Bool) => format!("s.{id} = u8::from(message.{mid});"),
                (Repeat::One, _, Elem::Message(n)) => format!(
                    "if let ::core::option::Option::Some(v) = &message.{mid} {{ s.{id} = {}::from_message(v)?; }}",
                    ctx.stored(&Elem::Message(n.clone()))
                ),
                (Repeat::One, _, _) => format!("s.{id} = message.{mid};"),
                (Repeat::Inline { .. }, Some(_), _) => format!("s.set_{bare}(&message.{mid})?;"),
                (Repeat::Inline { .. }, None, Elem::Bool) => format!(
                    "s.set_{bare}(&message.{mid}.iter().map(|b| u8::from(*b)).collect::<::std::vec::Vec<u8>>())?;"
                ),
                (Repeat::Inline { .. }, None, Elem::Message(n)) => format!(
                    "s.set_{bare}(&message.{mid}.iter().map({}::from_message).collect::<::core::result::Result<::std::vec::Vec<_>, _>>()?)?;",
                    ctx.stored(&Elem::Message(n.clone()))
                ),
                (Repeat::Inline { .. }, None, _) => format!("s.set_{bare}(&message.{mid})?;"),
                (Repeat::Ref { .. }, _, _) => unreachable!("no conversion with references"),
            };
            let _ = writeln!(out, "            {line}");
        }
        out.push_str("            ::core::result::Result::Ok(s)\n        }\n");
    }
    out.push_str("    }\n\n");
    if !m.has_refs {
        let _ = writeln!(
            out,
            "    impl ::core::convert::From<&{name}> for {pm} {{\n        fn from(s: &{name}) -> Self {{ s.to_message() }}\n    }}\n\n    \
             impl ::core::convert::TryFrom<&{pm}> for {name} {{\n        type Error = ::proto2ffi::Status;\n        \
             fn try_from(m: &{pm}) -> ::core::result::Result<Self, Self::Error> {{ {name}::from_message(m) }}\n    }}\n"
        );
    }
}

/// The pool of a message with `pool_size`: a static and its three exports.
fn pool(out: &mut String, m: &FixedMessage) {
    if m.pool_symbols.is_empty() {
        return;
    }
    let name = &m.name;
    let _ = writeln!(
        out,
        "    impl {name} {{\n        /// The pool `option (proto2ffi.pool_size) = {size};` declares: {size} zeroed\n        \
         /// objects with stable addresses, lent by `acquire` (`None` when all are in use) and\n        \
         /// returned when the `PoolSlot` drops. The C exports below lend from the same pool.\n        \
         pub fn pool() -> &'static ::proto2ffi::FixedPool<{name}> {{\n            \
         static POOL: ::proto2ffi::FixedPool<{name}> = ::proto2ffi::FixedPool::new({{\n                \
         // The crate's library (from `proto2ffi::library!`), or the runtime's\n                \
         // stand-in when there is none (then no metrics export reads it).\n                \
         #[allow(unused_imports)]\n                \
         use ::proto2ffi::__private::fallback::__proto2ffi_library;\n                \
         {{\n                    \
         #[allow(unused_imports)]\n                    \
         use crate::*;\n                    \
         &__proto2ffi_library::LIBRARY\n                \
         }}\n            \
         }}, {size});\n            \
         &POOL\n        }}\n    }}\n",
        size = m.pool_size
    );
    for (f, symbol) in &m.pool_symbols {
        let body = match f {
            symbols::PoolFn::Acquire => format!(
                "pub extern \"C\" fn {symbol}() -> *mut {name} {{\n        {name}::pool().export_acquire()\n    }}"
            ),
            symbols::PoolFn::Release => format!(
                "pub unsafe extern \"C\" fn {symbol}(object: *mut {name}) -> i32 {{\n        \
                 // SAFETY: the caller stops using the object (the C contract); the\n        \
                 // address is checked against the pool before anything touches it.\n        \
                 unsafe {{ {name}::pool().export_release(object) }}\n    }}"
            ),
            symbols::PoolFn::Finalize => format!(
                "pub unsafe extern \"C\" fn {symbol}(object: *mut ::core::ffi::c_void) {{\n        \
                 // SAFETY: as the release export; refusals are counted.\n        \
                 let _ = unsafe {{ {name}::pool().export_release(object.cast()) }};\n    }}"
            ),
        };
        let _ = writeln!(
            out,
            "    /// `{symbol}`: {}\n    #[unsafe(no_mangle)]\n    {body}\n",
            f.doc()
        );
    }
}

fn layout_checks(out: &mut String, m: &FixedMessage) {
    let name = &m.name;
    let _ = writeln!(
        out,
        "    // The layout the header and the Dart structs assert, checked against rustc's.\n    \
         const _: () = {{\n        assert!(::core::mem::size_of::<{name}>() == {});\n        \
         assert!(::core::mem::align_of::<{name}>() == if {1} < ::core::mem::align_of::<u64>() {{ {1} }} else {{ ::core::mem::align_of::<u64>() }});",
        m.size, m.align
    );
    for s in &m.slots {
        let _ = writeln!(
            out,
            "        assert!(::core::mem::offset_of!({name}, {}) == {});",
            fld(&s.name),
            s.offset
        );
    }
    out.push_str("    };\n\n");
    let _ = writeln!(
        out,
        "    /// Layout fingerprint of `{0}` (`uint64_t {1}(void)`), compared by clients on open.\n    \
         #[unsafe(no_mangle)]\n    pub extern \"C\" fn {1}() -> u64 {{\n        \
         <{name} as ::proto2ffi::fixed::FixedMessage>::LAYOUT_FINGERPRINT\n    }}\n",
        m.full_name, m.layout_symbol
    );
    pool(out, m);
}
