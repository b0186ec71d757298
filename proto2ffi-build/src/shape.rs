//! Request shapes for the decode budget: each request type's message tree,
//! flattened into a table of fields with the estimated in-memory cost of
//! their elements, emitted as a `static proto2ffi::shape::Shape` next to the
//! service trait (see `proto2ffi_runtime::shape` for how it is used).

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use std::collections::HashMap;
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

struct Sizes<'a> {
    memo: HashMap<String, u32>,
    in_progress: Vec<String>,
    _pool: &'a DescriptorPool,
}

impl Sizes<'_> {
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

/// The Rust expression of a request type's shape.
pub fn render(request: &MessageDescriptor, pool: &DescriptorPool) -> String {
    let mut sizes = Sizes {
        memo: HashMap::new(),
        in_progress: Vec::new(),
        _pool: pool,
    };
    let mut order: Vec<MessageDescriptor> = vec![request.clone()];
    let mut index: HashMap<String, usize> = HashMap::from([(request.full_name().to_string(), 0)]);
    let mut tables = Vec::new();
    let mut max_ratio = 1u32;
    let mut min_max_count = 0u32;
    let mut i = 0;
    while i < order.len() {
        let m = order[i].clone();
        let mut fields: Vec<FieldDescriptor> = m.fields().collect();
        fields.sort_by_key(|f| f.number());
        let mut rows = String::new();
        for f in &fields {
            let mut nested = |target: MessageDescriptor| -> usize {
                let name = target.full_name().to_string();
                *index.entry(name).or_insert_with(|| {
                    order.push(target);
                    order.len() - 1
                })
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
                "::proto2ffi::shape::FieldShape {{ tag: {}, kind: ::proto2ffi::shape::FieldKind::{kind}, cost: {cost}, max_count: {} }}, ",
                f.number(),
                limit
            );
        }
        tables.push(format!(
            "::proto2ffi::shape::MessageShape {{ name: {:?}, fields: &[{rows}] }}",
            m.full_name()
        ));
        i += 1;
    }
    format!(
        "::proto2ffi::shape::Shape {{ messages: &[{}], max_ratio: {}, min_max_count: {min_max_count} }}",
        tables.join(", "),
        max_ratio + 1
    )
}
