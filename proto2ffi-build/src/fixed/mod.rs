//! Fixed-layout messages: which messages are fixed, the schema rules they
//! follow, and their layout — the one description the Rust, C and Dart
//! writers all read ([`crate::rust::fixed`], [`crate::c_header::fixed`], and `dart::fixed`).
//!
//! A message is fixed-layout when it sets `(proto2ffi.fixed)`,
//! `(proto2ffi.pool_size)` or `(proto2ffi.simd)` (directly or inside
//! `(proto2ffi.message) = {...}`). Its layout: fields in declaration order,
//! each at an offset that is a multiple of its natural alignment (8 for
//! 64-bit values), explicit padding fields where needed, and the size
//! rounded up to the largest alignment. Because the padding is explicit, the
//! offsets and size are the same on every target, including 32-bit ones
//! where C aligns 64-bit fields to 4 (only the struct's own alignment can
//! differ there).
//!
//! | proto field | slots |
//! |---|---|
//! | scalar, enum (`int32_t`), bool (`uint8_t`) | one |
//! | fixed message | the nested struct, inline |
//! | `repeated` with `max_count`, ≤ [`INLINE_LIMIT`] bytes | `uint32_t <name>_count` + `T <name>[max_count]` |
//! | `string`/`bytes` with `max_length`, ≤ [`INLINE_LIMIT`] bytes | `uint32_t <name>_len` + `uint8_t <name>[max_length]` |
//! | larger arrays, and every array of a `simd` message | an [`array_ref`](proto2ffi_core::symbols::fixed_array_type) to storage the caller owns |

use crate::schema::options::{option_message, rust_ident, u32_field, Locations};
use crate::schema::resolver;
use crate::Error;
use prost_reflect::{
    Cardinality, DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value,
};
use proto2ffi_core::{symbols, Fingerprinter};
use std::collections::{BTreeMap, HashMap};

/// Largest inline array or string, in bytes; larger ones become array
/// references so a 16-megapixel image never sits inside a struct.
pub const INLINE_LIMIT: u32 = 1024;

/// Largest `pool_size` (the runtime's `fixed_pool::MAX_POOL_SIZE`: the
/// three largest `u32` values are slot states).
pub const MAX_POOL_SIZE: u32 = u32::MAX - 3;

/// Alignment of arrays of a `simd` message (a cache line; AVX-512 and NEON
/// friendly).
pub const SIMD_ALIGN: u32 = 64;

/// An element type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Elem {
    /// `int32`, `sint32`, `sfixed32`.
    I32,
    /// `uint32`, `fixed32`.
    U32,
    /// `int64`, `sint64`, `sfixed64`.
    I64,
    /// `uint64`, `fixed64`.
    U64,
    /// `float`.
    F32,
    /// `double`.
    F64,
    /// `bool`, stored as a byte (0 or 1).
    Bool,
    /// An enum (full name), stored as `int32_t`.
    Enum(String),
    /// A byte of a `string` or `bytes` field.
    Byte,
    /// A fixed-layout message (full name).
    Message(String),
}

impl Elem {
    /// A short stable name (fingerprints, tests).
    pub fn label(&self) -> String {
        match self {
            Elem::I32 => "i32".into(),
            Elem::U32 => "u32".into(),
            Elem::I64 => "i64".into(),
            Elem::U64 => "u64".into(),
            Elem::F32 => "f32".into(),
            Elem::F64 => "f64".into(),
            Elem::Bool => "bool".into(),
            Elem::Enum(e) => format!("enum {e}"),
            Elem::Byte => "u8".into(),
            Elem::Message(m) => format!("message {m}"),
        }
    }
}

/// How a field is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// One value.
    One,
    /// An inline array of `max` elements with a count.
    Inline {
        /// `max_count` / `max_length`.
        max: u32,
    },
    /// An [`ArrayRef`](proto2ffi_core::symbols::fixed_array_type) of at most `max`.
    Ref {
        /// `max_count` / `max_length`.
        max: u32,
        /// Required alignment of the storage.
        align: u32,
    },
}

/// What a `string`/`bytes` field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    /// UTF-8, checked.
    String,
    /// Any bytes.
    Bytes,
}

/// One proto field of a fixed message.
#[derive(Clone, Debug)]
pub struct Field {
    /// Proto name.
    pub name: String,
    /// Field number.
    pub number: u32,
    /// Element type.
    pub elem: Elem,
    /// Storage.
    pub repeat: Repeat,
    /// `Some` for `string`/`bytes`.
    pub text: Option<Text>,
    /// Offset of the value (array or single value).
    pub offset: u32,
    /// Offset of the count/length (inline arrays).
    pub count_offset: Option<u32>,
}

impl Field {
    /// The name of the count slot of an inline array: `<name>_count`, or
    /// `<name>_len` for strings and bytes.
    pub fn count_name(&self) -> String {
        if self.text.is_some() {
            format!("{}_len", self.name)
        } else {
            format!("{}_count", self.name)
        }
    }

    /// The stem of its constants, `{STEM}_MAX` and `{STEM}_ALIGN`: the
    /// Rust associated constants and the C header's
    /// `#define {c_name}_{STEM}_MAX` name them alike.
    pub fn const_stem(&self) -> String {
        use heck::ToSnakeCase;
        rust_ident(&self.name.to_snake_case())
            .trim_start_matches("r#")
            .to_uppercase()
    }
}

/// What a slot of the struct holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotTy {
    /// One element.
    Elem(Elem),
    /// An inline array.
    Array(Elem, u32),
    /// A `uint32_t` count or length.
    Count,
    /// Explicit padding (`uint8_t[size]`).
    Pad,
    /// An array reference.
    ArrayRef,
}

/// One physical field of the struct, padding included.
#[derive(Clone, Debug)]
pub struct Slot {
    /// Field name in Rust, C and Dart (`_pad0` for padding).
    pub name: String,
    /// Byte offset.
    pub offset: u32,
    /// Byte size.
    pub size: u32,
    /// Contents.
    pub ty: SlotTy,
}

/// A fixed-layout message.
#[derive(Clone, Debug)]
pub struct FixedMessage {
    /// Proto full name.
    pub full_name: String,
    /// Proto package.
    pub package: String,
    /// Rust and Dart struct name (`Outer_Inner`).
    pub name: String,
    /// C struct name (`{prefix}_Outer_Inner`).
    pub c_name: String,
    /// Size in bytes (the same on every target).
    pub size: u32,
    /// Alignment on targets that align 64-bit values to 8.
    pub align: u32,
    /// Proto fields.
    pub fields: Vec<Field>,
    /// Physical fields.
    pub slots: Vec<Slot>,
    /// `pool_size` (0: none).
    pub pool_size: u32,
    /// `simd`.
    pub simd: bool,
    /// Whether it (or a message inside) holds array references.
    pub has_refs: bool,
    /// Layout fingerprint (exported and checked by clients).
    pub fingerprint: u64,
    /// Symbol of the exported fingerprint function.
    pub layout_symbol: String,
    /// Symbols of its pool's exports (empty without `pool_size`).
    pub pool_symbols: Vec<(symbols::PoolFn, String)>,
    /// `file:line:col` of the declaration.
    pub location: String,
}

/// Every fixed message of a library, dependencies first.
#[derive(Clone, Debug, Default)]
pub struct FixedSet {
    /// In dependency order (a message after the messages it holds).
    pub messages: Vec<FixedMessage>,
}

impl FixedSet {
    /// A message by full name.
    pub fn get(&self, full_name: &str) -> Option<&FixedMessage> {
        self.messages.iter().find(|m| m.full_name == full_name)
    }

    /// Whether a message is fixed-layout.
    pub fn contains(&self, full_name: &str) -> bool {
        self.get(full_name).is_some()
    }

    /// The messages of one package.
    pub fn in_package<'a>(&'a self, package: &'a str) -> impl Iterator<Item = &'a FixedMessage> {
        self.messages.iter().filter(move |m| m.package == package)
    }
}

/// Options of one message, from either spelling.
#[derive(Clone, Copy, Debug, Default)]
struct MessageFlags {
    fixed: bool,
    pool_size: u32,
    simd: bool,
}

fn direct(options: &DynamicMessage, pool: &DescriptorPool, name: &str) -> Option<Value> {
    let ext = pool.get_extension_by_name(name)?;
    options
        .has_extension(&ext)
        .then(|| options.get_extension(&ext).into_owned())
}

fn flags(m: &MessageDescriptor, pool: &DescriptorPool) -> MessageFlags {
    let o = m.options();
    let mut f = MessageFlags::default();
    if let Some(msg) = option_message(&o, pool, "proto2ffi.message") {
        f.pool_size = u32_field(&msg, "pool_size").unwrap_or(0);
        f.simd = matches!(
            msg.get_field_by_name("simd").as_deref(),
            Some(Value::Bool(true))
        );
        f.fixed = matches!(
            msg.get_field_by_name("fixed").as_deref(),
            Some(Value::Bool(true))
        );
    }
    if let Some(Value::U32(n)) = direct(&o, pool, "proto2ffi.pool_size") {
        f.pool_size = f.pool_size.max(n);
    }
    if let Some(Value::Bool(true)) = direct(&o, pool, "proto2ffi.simd") {
        f.simd = true;
    }
    if let Some(Value::Bool(true)) = direct(&o, pool, "proto2ffi.fixed") {
        f.fixed = true;
    }
    f.fixed |= f.simd || f.pool_size != 0;
    f
}

/// A field's bound from either spelling: `(proto2ffi.max_count)` or
/// `(proto2ffi.field).max_count` (0: none).
pub fn field_bound(field: &FieldDescriptor, pool: &DescriptorPool, name: &str) -> u32 {
    let o = field.options();
    if let Some(Value::U32(n)) = direct(&o, pool, &format!("proto2ffi.{name}")) {
        if n != 0 {
            return n;
        }
    }
    option_message(&o, pool, "proto2ffi.field")
        .and_then(|m| u32_field(&m, name))
        .unwrap_or(0)
}

/// Whether a message is marked fixed-layout.
pub fn is_fixed(m: &MessageDescriptor, pool: &DescriptorPool) -> bool {
    flags(m, pool).fixed
}

/// Source positions of messages and fields, by full name: read from the
/// files' source info on first use (an error to report), not for every
/// build (it was a tenth of generating a large schema without a single
/// fixed-layout message).
struct Positions<'a> {
    pool: &'a DescriptorPool,
    by_name: std::cell::OnceCell<HashMap<String, String>>,
}

impl<'a> Positions<'a> {
    fn new(pool: &'a DescriptorPool) -> Positions<'a> {
        Positions {
            pool,
            by_name: std::cell::OnceCell::new(),
        }
    }

    fn read(pool: &DescriptorPool) -> HashMap<String, String> {
        fn walk(
            m: &MessageDescriptor,
            path: Vec<i32>,
            file: &str,
            loc: &Locations,
            out: &mut HashMap<String, String>,
        ) {
            let (l, c) = loc.position(&path);
            out.insert(m.full_name().to_string(), format!("{file}:{l}:{c}"));
            for (i, f) in m.fields().enumerate() {
                let mut p = path.clone();
                p.extend([2, i as i32]);
                let (l, c) = loc.position(&p);
                out.insert(f.full_name().to_string(), format!("{file}:{l}:{c}"));
            }
            for (i, n) in m.child_messages().enumerate() {
                let mut p = path.clone();
                p.extend([3, i as i32]);
                walk(&n, p, file, loc, out);
            }
        }
        let mut by_name = HashMap::new();
        for file in pool.files() {
            if resolver::is_bundled(file.name()) {
                continue;
            }
            let loc = Locations::new(&file);
            for (i, m) in file.messages().enumerate() {
                walk(&m, vec![4, i as i32], file.name(), &loc, &mut by_name);
            }
        }
        by_name
    }

    fn all(&self) -> &HashMap<String, String> {
        self.by_name.get_or_init(|| Positions::read(self.pool))
    }

    /// `file:line:column` of an element, or its name where unknown.
    fn of(&self, full_name: &str) -> String {
        self.all()
            .get(full_name)
            .cloned()
            .unwrap_or_else(|| full_name.to_string())
    }

    fn at(&self, full_name: &str, message: impl std::fmt::Display) -> Error {
        match self.all().get(full_name) {
            Some(pos) => Error::new(format!("{pos}: {message}")),
            None => Error::new(message.to_string()),
        }
    }
}

/// The message's name inside its package (`Outer.Inner`).
fn name_in_package(m: &MessageDescriptor) -> String {
    let package = m.package_name();
    let full = m.full_name();
    if package.is_empty() {
        full.to_string()
    } else {
        full[package.len() + 1..].to_string()
    }
}

fn all_messages(pool: &DescriptorPool) -> Vec<MessageDescriptor> {
    let mut out = Vec::new();
    for file in pool.files() {
        if resolver::is_bundled(file.name()) {
            continue;
        }
        let mut stack: Vec<MessageDescriptor> = file.messages().collect();
        stack.reverse();
        while let Some(m) = stack.pop() {
            if m.is_map_entry() {
                continue;
            }
            let mut nested: Vec<_> = m.child_messages().collect();
            nested.reverse();
            out.push(m);
            stack.extend(nested);
        }
    }
    out
}

/// Finds, checks and lays out every fixed-layout message of the pool's
/// non-bundled files.
pub fn collect(pool: &DescriptorPool, prefix: &str) -> Result<FixedSet, Error> {
    let positions = Positions::new(pool);
    let marked: BTreeMap<String, (MessageDescriptor, MessageFlags)> = all_messages(pool)
        .into_iter()
        .filter_map(|m| {
            let f = flags(&m, pool);
            f.fixed.then(|| (m.full_name().to_string(), (m, f)))
        })
        .collect();
    let mut laid: HashMap<String, FixedMessage> = HashMap::new();
    let mut order = Vec::new();
    for name in marked.keys() {
        let mut stack = Vec::new();
        lay_out(
            name, &marked, pool, prefix, &positions, &mut laid, &mut order, &mut stack,
        )?;
    }
    let mut c_names: HashMap<String, String> = HashMap::new();
    for name in &order {
        let m = &laid[name];
        if m.pool_size > MAX_POOL_SIZE {
            return Err(positions.at(
                &m.full_name,
                format!(
                    "pool_size {} is too large: a pool holds at most {MAX_POOL_SIZE} structs \
                     (and allocates them all on first use)",
                    m.pool_size
                ),
            ));
        }
        if let Some(other) = c_names.insert(m.c_name.clone(), m.full_name.clone()) {
            return Err(positions.at(
                &m.full_name,
                format!(
                    "fixed-layout messages `{other}` and `{}` would both be the C struct `{}`; \
                     rename one (C has no packages)",
                    m.full_name, m.c_name
                ),
            ));
        }
    }
    Ok(FixedSet {
        messages: order
            .into_iter()
            .map(|n| laid.remove(&n).unwrap())
            .collect(),
    })
}

fn prim(kind: &Kind) -> Option<Elem> {
    Some(match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Elem::I32,
        Kind::Uint32 | Kind::Fixed32 => Elem::U32,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Elem::I64,
        Kind::Uint64 | Kind::Fixed64 => Elem::U64,
        Kind::Float => Elem::F32,
        Kind::Double => Elem::F64,
        Kind::Bool => Elem::Bool,
        Kind::Enum(e) => Elem::Enum(e.full_name().to_string()),
        _ => return None,
    })
}

/// Size and alignment of an element.
fn elem_layout(elem: &Elem, laid: &HashMap<String, FixedMessage>) -> (u32, u32) {
    match elem {
        Elem::Bool | Elem::Byte => (1, 1),
        Elem::I32 | Elem::U32 | Elem::F32 | Elem::Enum(_) => (4, 4),
        Elem::I64 | Elem::U64 | Elem::F64 => (8, 8),
        Elem::Message(m) => (laid[m].size, laid[m].align),
    }
}

#[allow(clippy::too_many_arguments)]
fn lay_out(
    name: &str,
    marked: &BTreeMap<String, (MessageDescriptor, MessageFlags)>,
    pool: &DescriptorPool,
    prefix: &str,
    positions: &Positions,
    laid: &mut HashMap<String, FixedMessage>,
    order: &mut Vec<String>,
    stack: &mut Vec<String>,
) -> Result<(), Error> {
    if laid.contains_key(name) {
        return Ok(());
    }
    let (m, flags) = &marked[name];
    if let Some(start) = stack.iter().position(|s| s == name) {
        let cycle = stack[start..].join(" → ");
        return Err(positions.at(
            name,
            format!(
                "fixed-layout message `{name}` contains itself ({cycle} → {name}): a struct \
                 cannot hold itself. Store the nodes in one array and refer to them by index \
                 (e.g. `repeated Node nodes = 1 [(proto2ffi.max_count) = 256];` with \
                 `uint32 first_child`/`uint32 next_sibling` in Node) — the index/arena pattern"
            ),
        ));
    }
    stack.push(name.to_string());
    let mut fields = Vec::new();
    for f in m.fields() {
        let at = |msg: String| positions.at(f.full_name(), msg);
        let fname = f.name().to_string();
        if proto2ffi_core::c_structs::C_KEYWORDS.contains(&fname.as_str()) {
            // The C header declares the struct with the proto field names.
            return Err(at(format!(
                "field `{fname}` of fixed-layout message `{name}` is named like a C or C++ \
                 keyword, which the C header cannot declare as a struct member; rename the \
                 proto field"
            )));
        }
        if f.is_map() {
            return Err(at(format!(
                "field `{fname}` of fixed-layout message `{name}` is a map; maps have no fixed \
                 layout. Use `repeated Entry {fname} = {} [(proto2ffi.max_count) = N];` with a \
                 fixed-layout `Entry {{ key, value }}` message",
                f.number()
            )));
        }
        if f.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
            return Err(at(format!(
                "field `{fname}` of fixed-layout message `{name}` is in a oneof; a struct holds \
                 every field at once. Use plain fields and an enum saying which one is set"
            )));
        }
        if f.cardinality() != Cardinality::Repeated
            && f.supports_presence()
            && !matches!(f.kind(), Kind::Message(_))
        {
            return Err(at(format!(
                "field `{fname}` of fixed-layout message `{name}` is `optional`; a struct field \
                 always holds a value. Drop `optional`, or add a `bool has_{fname}` field"
            )));
        }
        let kind = f.kind();
        let (elem, text) = match &kind {
            Kind::String => (Elem::Byte, Some(Text::String)),
            Kind::Bytes => (Elem::Byte, Some(Text::Bytes)),
            Kind::Message(nested) => {
                let nested_name = nested.full_name().to_string();
                if !marked.contains_key(&nested_name) {
                    return Err(at(format!(
                        "field `{fname}` of fixed-layout message `{name}` holds `{nested_name}`, \
                         which is not fixed-layout; mark it with `option (proto2ffi.fixed) = \
                         true;` (its fields must follow the same rules) or make `{name}` a \
                         protobuf message"
                    )));
                }
                lay_out(
                    &nested_name,
                    marked,
                    pool,
                    prefix,
                    positions,
                    laid,
                    order,
                    stack,
                )?;
                (Elem::Message(nested_name), None)
            }
            k => (prim(k).expect("every other kind is a scalar"), None),
        };
        let (size, elem_align) = elem_layout(&elem, laid);
        let repeat = if let Some(t) = text {
            if f.is_list() {
                return Err(at(format!(
                    "field `{fname}` of fixed-layout message `{name}` is a repeated {}; put it \
                     in a fixed-layout message and repeat that",
                    if t == Text::String { "string" } else { "bytes" }
                )));
            }
            let max = field_bound(&f, pool, "max_length");
            if max == 0 {
                return Err(at(format!(
                    "{} field `{fname}` of fixed-layout message `{name}` needs a maximum \
                     length: add `[(proto2ffi.max_length) = 64]` (bytes, UTF-8 for strings)",
                    if t == Text::String { "string" } else { "bytes" }
                )));
            }
            // SIMD alignment is for numeric arrays; text stays inline when small.
            array_repeat(max, 1, 1, false)
        } else if f.is_list() {
            let max = field_bound(&f, pool, "max_count");
            if max == 0 {
                return Err(at(format!(
                    "repeated field `{fname}` of fixed-layout message `{name}` needs a bound: \
                     add `[(proto2ffi.max_count) = N]` (arrays of up to {INLINE_LIMIT} bytes \
                     sit inside the struct, larger ones are referenced)"
                )));
            }
            array_repeat(max, size, elem_align, flags.simd)
        } else {
            Repeat::One
        };
        fields.push(Field {
            name: fname,
            number: f.number(),
            elem,
            repeat,
            text,
            offset: 0,
            count_offset: None,
        });
    }
    stack.pop();

    // Physical layout.
    let mut slots = Vec::new();
    let mut offset = 0u32;
    let mut align = 1u32;
    let mut pads = 0;
    let mut has_refs = false;
    let mut push = |slots: &mut Vec<Slot>, offset: &mut u32, name: String, size, a, ty| {
        let aligned = offset.div_ceil(a) * a;
        if aligned > *offset {
            slots.push(Slot {
                name: format!("_pad{pads}"),
                offset: *offset,
                size: aligned - *offset,
                ty: SlotTy::Pad,
            });
            pads += 1;
        }
        slots.push(Slot {
            name,
            offset: aligned,
            size,
            ty,
        });
        align = align.max(a);
        *offset = aligned + size;
        aligned
    };
    for field in &mut fields {
        let (size, a) = elem_layout(&field.elem, laid);
        if let Elem::Message(n) = &field.elem {
            has_refs |= laid[n].has_refs;
        }
        match field.repeat {
            Repeat::One => {
                field.offset = push(
                    &mut slots,
                    &mut offset,
                    field.name.clone(),
                    size,
                    a,
                    SlotTy::Elem(field.elem.clone()),
                );
            }
            Repeat::Inline { max } => {
                field.count_offset = Some(push(
                    &mut slots,
                    &mut offset,
                    field.count_name(),
                    4,
                    4,
                    SlotTy::Count,
                ));
                field.offset = push(
                    &mut slots,
                    &mut offset,
                    field.name.clone(),
                    size * max,
                    a,
                    SlotTy::Array(field.elem.clone(), max),
                );
            }
            Repeat::Ref { .. } => {
                has_refs = true;
                field.offset = push(
                    &mut slots,
                    &mut offset,
                    field.name.clone(),
                    16,
                    8,
                    SlotTy::ArrayRef,
                );
            }
        }
    }
    let size = offset.div_ceil(align) * align;
    if size > offset {
        slots.push(Slot {
            name: format!("_pad{pads}"),
            offset,
            size: size - offset,
            ty: SlotTy::Pad,
        });
    }
    // Names the generated slots add must not clash with proto fields.
    let mut seen = HashMap::new();
    for s in &slots {
        if let Some(()) = seen.insert(s.name.clone(), ()) {
            return Err(positions.at(
                name,
                format!(
                    "fixed-layout message `{name}` would have two fields named `{}` (the \
                     count/length of an array is `<field>_count`/`<field>_len`, padding is \
                     `_padN`); rename the proto field",
                    s.name
                ),
            ));
        }
    }
    let size = size.max(1);
    let mut fp = Fingerprinter::new();
    fp.field(name).number(u64::from(size));
    for s in &slots {
        let ty = match &s.ty {
            SlotTy::Elem(e) => e.label(),
            SlotTy::Array(e, n) => format!("[{}; {n}]", e.label()),
            SlotTy::Count => "count".into(),
            SlotTy::Pad => "pad".into(),
            SlotTy::ArrayRef => "array_ref".into(),
        };
        fp.field(&s.name)
            .number(u64::from(s.offset))
            .number(u64::from(s.size))
            .field(&ty);
    }
    for f in &fields {
        if let Repeat::Ref { max, align } = f.repeat {
            fp.field(&f.name)
                .number(u64::from(max))
                .number(u64::from(align));
        }
    }
    let short = symbols::fixed_name(&name_in_package(m));
    let location = positions.of(name);
    laid.insert(
        name.to_string(),
        FixedMessage {
            full_name: name.to_string(),
            package: m.package_name().to_string(),
            c_name: symbols::fixed_struct_type(prefix, &short),
            layout_symbol: symbols::fixed_layout_symbol(prefix, &short),
            pool_symbols: if flags.pool_size == 0 {
                Vec::new()
            } else {
                symbols::PoolFn::ALL
                    .iter()
                    .map(|f| (*f, symbols::fixed_pool_symbol(prefix, &short, *f)))
                    .collect()
            },
            name: short,
            size,
            align,
            fields,
            slots,
            pool_size: flags.pool_size,
            simd: flags.simd,
            has_refs,
            fingerprint: fp.finish(),
            location,
        },
    );
    order.push(name.to_string());
    Ok(())
}

fn array_repeat(max: u32, elem_size: u32, elem_align: u32, simd: bool) -> Repeat {
    if simd || u64::from(max) * u64::from(elem_size) > u64::from(INLINE_LIMIT) {
        Repeat::Ref {
            max,
            align: if simd { SIMD_ALIGN } else { elem_align },
        }
    } else {
        Repeat::Inline { max }
    }
}
