//! Reading the schema: source comments by path ([`Locations`]), the
//! fields of option messages, and Rust identifiers for proto names.

use prost_reflect::{DescriptorPool, DynamicMessage, FileDescriptor, Value};
use std::collections::HashMap;

/// Source positions and comments of one file, by descriptor path.
pub(crate) struct Locations {
    by_path: HashMap<Vec<i32>, (usize, usize, String)>,
}

impl Locations {
    pub(crate) fn new(file: &FileDescriptor) -> Locations {
        let mut by_path = HashMap::new();
        if let Some(info) = &file.file_descriptor_proto().source_code_info {
            for loc in &info.location {
                let (line, col) = (
                    loc.span.first().copied().unwrap_or(0) as usize + 1,
                    loc.span.get(1).copied().unwrap_or(0) as usize + 1,
                );
                by_path.insert(
                    loc.path.clone(),
                    (line, col, clean_comment(loc.leading_comments())),
                );
            }
        }
        Locations { by_path }
    }

    pub(crate) fn position(&self, path: &[i32]) -> (usize, usize) {
        self.by_path.get(path).map_or((1, 1), |(l, c, _)| (*l, *c))
    }

    pub(crate) fn doc(&self, path: &[i32]) -> String {
        self.by_path
            .get(path)
            .map(|(_, _, d)| d.clone())
            .unwrap_or_default()
    }
}

fn clean_comment(raw: &str) -> String {
    let lines: Vec<&str> = raw
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |e| e + 1);
    lines[start..end].join("\n")
}

pub(crate) fn option_message(
    options: &DynamicMessage,
    pool: &DescriptorPool,
    ext: &str,
) -> Option<DynamicMessage> {
    let ext = pool.get_extension_by_name(ext)?;
    if !options.has_extension(&ext) {
        return None;
    }
    match options.get_extension(&ext).into_owned() {
        Value::Message(m) => Some(m),
        _ => None,
    }
}

pub(crate) fn u64_field(m: &DynamicMessage, name: &str) -> u64 {
    match m.get_field_by_name(name).as_deref() {
        Some(Value::U64(v)) => *v,
        _ => 0,
    }
}

pub(crate) fn u32_field(m: &DynamicMessage, name: &str) -> Option<u32> {
    match m.get_field_by_name(name).as_deref() {
        Some(Value::U32(v)) if *v != 0 => Some(*v),
        _ => None,
    }
}

pub(crate) fn f64_field(m: &DynamicMessage, name: &str) -> Option<f64> {
    match m.get_field_by_name(name).as_deref() {
        Some(Value::F64(v)) if *v != 0.0 => Some(*v),
        _ => None,
    }
}

pub(crate) fn string_field(m: &DynamicMessage, name: &str) -> Option<String> {
    match m.get_field_by_name(name).as_deref() {
        Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
        _ => None,
    }
}

/// Rust identifier for a snake-case name (raw for keywords).
pub fn rust_ident(snake: &str) -> String {
    const RAW: &[&str] = &[
        "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
        "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
        "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "abstract",
        "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
        "virtual", "yield", "async", "await", "dyn", "try", "gen",
    ];
    match snake {
        "self" | "super" | "crate" | "Self" => format!("{snake}_"),
        s if RAW.contains(&s) => format!("r#{s}"),
        s => s.to_string(),
    }
}
