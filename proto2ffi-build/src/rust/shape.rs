//! Request shapes for the decode budget: each message's fields with the
//! estimated in-memory cost of their elements, one `static MessageShape` per
//! message, and per request type a `static proto2ffi::__private::shape::Shape` naming
//! its root, emitted next to the service trait (see
//! `proto2ffi-runtime/src/policy/shape.rs` for how it is used).

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// Estimated bytes of a `Vec`/`String` header, a map's, and a scalar slot.
const VEC: u32 = 24;
const MAP: u32 = 48;
const SCALAR: u32 = 8;
/// Per-entry overhead of a hash map beyond the key and value.
const MAP_ENTRY: u32 = 32;

/// The name of the `static` holding a request type's shape.
pub fn static_name(message_full_name: &str) -> String {
    let mut name = String::from("__PROTO2FFI_SHAPE_");
    for c in message_full_name.chars() {
        name.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        });
    }
    name
}

/// The `max_count` of a field, either spelling (0: none).
pub fn max_count(field: &FieldDescriptor, pool: &DescriptorPool) -> u32 {
    crate::fixed::field_bound(field, pool, "max_count")
}

struct Sizes {
    memo: HashMap<String, u32>,
    in_progress: Vec<String>,
}

impl Sizes {
    /// Estimated inline size of a message value (≥ 8).
    fn inline(&mut self, m: &MessageDescriptor) -> u32 {
        let name = m.full_name().to_string();
        if let Some(s) = self.memo.get(&name) {
            return *s;
        }
        if self.in_progress.contains(&name) {
            // Recursive: prost boxes the field.
            return SCALAR;
        }
        self.in_progress.push(name.clone());
        let mut size = 0u32;
        for f in m.fields() {
            size = size.saturating_add(self.field(&f));
        }
        self.in_progress.pop();
        let size = size.max(SCALAR).div_ceil(8) * 8;
        self.memo.insert(name, size);
        size
    }

    fn field(&mut self, f: &FieldDescriptor) -> u32 {
        if f.is_map() {
            return MAP;
        }
        if f.is_list() {
            return VEC;
        }
        match f.kind() {
            Kind::String | Kind::Bytes => VEC,
            Kind::Message(m) => SCALAR + self.inline(&m),
            _ => SCALAR,
        }
    }
}

/// The name of the `static` holding one message's field table.
fn message_static(message_full_name: &str) -> String {
    static_name(message_full_name).replacen("__PROTO2FFI_SHAPE_", "__PROTO2FFI_MSG_", 1)
}

/// One message's part of a shape, computed once per message.
struct Row {
    /// Its `MessageShape` static.
    code: String,
    /// The messages its fields hold.
    children: Vec<MessageDescriptor>,
    /// The largest estimated bytes per wire byte among its fields.
    max_ratio: u32,
    /// The smallest `max_count` among its fields (0: none).
    min_max_count: u32,
}

/// Request shapes of one library: each message's row is computed once and
/// shared by every request whose tree holds it.
pub struct Shapes {
    sizes: Sizes,
    rows: HashMap<String, Row>,
}

impl Default for Shapes {
    fn default() -> Shapes {
        Shapes {
            sizes: Sizes {
                memo: HashMap::new(),
                in_progress: Vec::new(),
            },
            rows: HashMap::new(),
        }
    }
}

impl Shapes {
    fn row(&mut self, m: &MessageDescriptor, pool: &DescriptorPool) -> &Row {
        let name = m.full_name().to_string();
        if !self.rows.contains_key(&name) {
            let row = self.compute(m, pool);
            self.rows.insert(name.clone(), row);
        }
        &self.rows[&name]
    }

    fn compute(&mut self, m: &MessageDescriptor, pool: &DescriptorPool) -> Row {
        let sizes = &mut self.sizes;
        let mut fields: Vec<FieldDescriptor> = m.fields().collect();
        fields.sort_by_key(|f| f.number());
        let mut rows = String::new();
        let mut children = Vec::new();
        let mut max_ratio = 1u32;
        let mut min_max_count = 0u32;
        for f in &fields {
            let mut nested = |target: MessageDescriptor| -> String {
                let name = format!("&{}", message_static(target.full_name()));
                children.push(target);
                name
            };
            let (kind, cost, ratio) = if f.is_map() {
                let Kind::Message(entry) = f.kind() else {
                    unreachable!("a map field's kind is its entry message")
                };
                let key_value: u32 = entry.fields().map(|kv| sizes.field(&kv)).sum();
                let cost = key_value + MAP_ENTRY;
                (
                    format!("RepeatedMessage({})", nested(entry)),
                    cost,
                    cost.div_ceil(2),
                )
            } else {
                match (f.kind(), f.is_list()) {
                    (Kind::Message(t), false) => (format!("Message({})", nested(t)), 0, 1),
                    (Kind::Message(t), true) => {
                        let cost = sizes.inline(&t);
                        (
                            format!("RepeatedMessage({})", nested(t)),
                            cost,
                            cost.div_ceil(2),
                        )
                    }
                    (Kind::String | Kind::Bytes, false) => ("Bytes".to_string(), 0, 1),
                    (Kind::String | Kind::Bytes, true) => {
                        ("RepeatedBytes".to_string(), VEC, VEC.div_ceil(2))
                    }
                    (_, false) => ("Scalar".to_string(), 0, 1),
                    (k, true) => {
                        let (width, packed) = match k {
                            Kind::Fixed32 | Kind::Sfixed32 | Kind::Float => (4, 1),
                            Kind::Fixed64 | Kind::Sfixed64 | Kind::Double => (8, 1),
                            _ => (SCALAR, 8),
                        };
                        (
                            format!("RepeatedScalar {{ packed_cost: {packed} }}"),
                            width,
                            packed.max(SCALAR.div_ceil(2)),
                        )
                    }
                }
            };
            max_ratio = max_ratio.max(ratio);
            let limit = max_count(f, pool);
            if limit != 0 && (min_max_count == 0 || limit < min_max_count) {
                min_max_count = limit;
            }
            let _ = write!(
                rows,
                "::proto2ffi::__private::shape::FieldShape {{ tag: {}, kind: ::proto2ffi::__private::shape::FieldKind::{kind}, cost: {cost}, max_count: {} }}, ",
                f.number(),
                limit
            );
        }
        Row {
            code: format!(
                "#[doc(hidden)]\n#[allow(non_upper_case_globals)]\nstatic {}: ::proto2ffi::__private::shape::MessageShape = ::proto2ffi::__private::shape::MessageShape {{ name: {:?}, fields: &[{rows}] }};\n",
                message_static(m.full_name()),
                m.full_name()
            ),
            children,
            max_ratio,
            min_max_count,
        }
    }

    /// The statics of a request type's shape: a `MessageShape` for each
    /// message of its tree not in `emitted` yet (each message once per
    /// generated file, shared by every request that reaches it: output
    /// grows with the schema, not with the square of a chain of nested
    /// messages), then the request's `Shape` under [`static_name`], with the
    /// tree's bounds.
    pub fn render(
        &mut self,
        request: &MessageDescriptor,
        pool: &DescriptorPool,
        emitted: &mut HashSet<String>,
    ) -> String {
        let mut out = String::new();
        let mut order: Vec<MessageDescriptor> = vec![request.clone()];
        let mut seen: HashSet<String> = HashSet::from([request.full_name().to_string()]);
        let mut max_ratio = 1u32;
        let mut min_max_count = 0u32;
        let mut i = 0;
        while i < order.len() {
            let m = order[i].clone();
            let row = self.row(&m, pool);
            max_ratio = max_ratio.max(row.max_ratio);
            if row.min_max_count != 0 && (min_max_count == 0 || row.min_max_count < min_max_count) {
                min_max_count = row.min_max_count;
            }
            if emitted.insert(m.full_name().to_string()) {
                out.push_str(&row.code);
            }
            for child in &row.children {
                if seen.insert(child.full_name().to_string()) {
                    order.push(child.clone());
                }
            }
            i += 1;
        }
        let _ = writeln!(
            out,
            "#[doc(hidden)]\n#[allow(non_upper_case_globals)]\nstatic {}: ::proto2ffi::__private::shape::Shape = ::proto2ffi::__private::shape::Shape {{ root: &{}, max_ratio: {}, min_max_count: {min_max_count} }};",
            static_name(request.full_name()),
            message_static(request.full_name()),
            max_ratio + 1
        );
        out
    }
}
