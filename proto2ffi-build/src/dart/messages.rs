//! Dart classes for messages and enums: immutable values with full wire
//! support, equality, `hashCode`, `toString` and `copyWith`. Oneofs become
//! sealed classes; unknown enum values are kept; unknown fields are skipped.

use super::names;
use prost_reflect::{
    DescriptorPool, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, OneofDescriptor,
    Value,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// Naming and docs for one generated messages file.
pub struct MessageFile<'a> {
    /// Dart class name by proto full name.
    pub names: BTreeMap<String, String>,
    /// Doc comments by full name.
    pub docs: &'a HashMap<String, String>,
    messages: Vec<MessageDescriptor>,
    enums: Vec<EnumDescriptor>,
}

fn collect(
    m: &MessageDescriptor,
    messages: &mut BTreeMap<String, MessageDescriptor>,
    enums: &mut BTreeMap<String, EnumDescriptor>,
) {
    if m.is_map_entry() {
        for f in m.fields() {
            collect_kind(&f.kind(), messages, enums);
        }
        return;
    }
    if messages
        .insert(m.full_name().to_string(), m.clone())
        .is_some()
    {
        return;
    }
    for f in m.fields() {
        collect_kind(&f.kind(), messages, enums);
    }
    for n in m.child_messages() {
        collect(&n, messages, enums);
    }
    for e in m.child_enums() {
        enums.insert(e.full_name().to_string(), e);
    }
}

fn collect_kind(
    k: &Kind,
    messages: &mut BTreeMap<String, MessageDescriptor>,
    enums: &mut BTreeMap<String, EnumDescriptor>,
) {
    match k {
        Kind::Message(m) => collect(m, messages, enums),
        Kind::Enum(e) => {
            enums.insert(e.full_name().to_string(), e.clone());
        }
        _ => {}
    }
}

/// The Dart name of a message or enum: nested names joined with `_`, and the
/// package folded in only when two packages declare the same name.
fn local_name(full: &str, package: &str) -> String {
    let local = full
        .strip_prefix(package)
        .map(|s| s.trim_start_matches('.'))
        .unwrap_or(full);
    local
        .split('.')
        .map(names::type_part)
        .collect::<Vec<_>>()
        .join("_")
}

impl<'a> MessageFile<'a> {
    /// Every message and enum declared in `files` of `pool`, plus everything
    /// they reference (well-known types included). `class_prefix` is put
    /// before every class name.
    pub fn new(
        pool: &DescriptorPool,
        files: &[String],
        docs: &'a HashMap<String, String>,
        class_prefix: &str,
    ) -> MessageFile<'a> {
        let mut messages = BTreeMap::new();
        let mut enums = BTreeMap::new();
        for name in files {
            if let Some(file) = pool.get_file_by_name(name) {
                for m in file.messages() {
                    collect(&m, &mut messages, &mut enums);
                }
                for e in file.enums() {
                    enums.insert(e.full_name().to_string(), e);
                }
                for s in file.services() {
                    for method in s.methods() {
                        collect(&method.input(), &mut messages, &mut enums);
                        collect(&method.output(), &mut messages, &mut enums);
                    }
                }
            }
        }
        // Names: simple when unique, package-qualified when not.
        let mut simple: HashMap<String, usize> = HashMap::new();
        let all: Vec<(String, String)> = messages
            .values()
            .map(|m| (m.full_name().to_string(), m.package_name().to_string()))
            .chain(
                enums
                    .values()
                    .map(|e| (e.full_name().to_string(), e.package_name().to_string())),
            )
            .collect();
        for (full, package) in &all {
            *simple.entry(local_name(full, package)).or_default() += 1;
        }
        let mut names = BTreeMap::new();
        for (full, package) in &all {
            let local = local_name(full, package);
            let name = if simple[&local] > 1 {
                let pkg: String = package.split('.').map(names::type_part).collect();
                format!("{class_prefix}{pkg}{local}")
            } else {
                format!("{class_prefix}{local}")
            };
            names.insert(full.clone(), name);
        }
        MessageFile {
            names,
            docs,
            messages: messages.into_values().collect(),
            enums: enums.into_values().collect(),
        }
    }

    /// Dart class names of the messages (not enums), in a stable order.
    pub fn message_classes(&self) -> Vec<String> {
        self.messages
            .iter()
            .map(|m| self.class(m.full_name()).to_string())
            .collect()
    }

    /// The Dart class of a message or enum.
    pub fn class(&self, full_name: &str) -> &str {
        self.names
            .get(full_name)
            .map(String::as_str)
            .unwrap_or("UNKNOWN_TYPE")
    }

    fn doc(&self, out: &mut String, full_name: &str, indent: &str) {
        if let Some(d) = self.docs.get(full_name).filter(|d| !d.is_empty()) {
            names::doc(out, d, indent);
        }
    }

    /// The Dart source of all classes (to follow the file's imports).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.enums {
            self.render_enum(&mut out, e);
        }
        for m in &self.messages {
            self.render_message(&mut out, m);
        }
        out
    }

    fn render_enum(&self, out: &mut String, e: &EnumDescriptor) {
        let class = self.class(e.full_name()).to_string();
        self.doc(out, e.full_name(), "");
        if self.docs.get(e.full_name()).is_none_or(|d| d.is_empty()) {
            let _ = writeln!(
                out,
                "/// Enum `{}`. Unknown values are kept.",
                e.full_name()
            );
        }
        let _ = writeln!(out, "final class {class} {{");
        out.push_str("  /// The wire value.\n  final $core.int value;\n\n");
        out.push_str("  /// The proto name, or null for a value this client does not know.\n  final $core.String? name;\n\n");
        let _ = writeln!(out, "  const {class}._(this.value, this.name);\n");
        let mut seen = Vec::new();
        for v in e.values() {
            let dart = names::enum_value(v.name());
            self.doc(out, v.full_name(), "  ");
            let _ = writeln!(
                out,
                "  static const {class} {dart} = {class}._({}, {});\n",
                v.number(),
                names::string_literal(v.name())
            );
            seen.push((v.number(), dart));
        }
        let mut first: Vec<(i32, String)> = Vec::new();
        for (n, d) in &seen {
            if !first.iter().any(|(m, _)| m == n) {
                first.push((*n, d.clone()));
            }
        }
        let _ = writeln!(
            out,
            "  /// Every known value.\n  static const $core.List<{class}> values = [{}];\n",
            first
                .iter()
                .map(|(_, d)| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            out,
            "  /// The value for a wire number (unknown numbers are kept)."
        );
        let _ = writeln!(out, "  static {class} valueOf($core.int value) {{");
        out.push_str("    switch (value) {\n");
        for (n, d) in &first {
            let _ = writeln!(out, "      case {n}:\n        return {d};");
        }
        let _ = writeln!(
            out,
            "      default:\n        return {class}._(value, null);\n    }}\n  }}\n"
        );
        let _ = writeln!(
            out,
            "  @$core.override\n  $core.bool operator ==($core.Object other) => other is {class} && other.value == value;\n"
        );
        out.push_str("  @$core.override\n  $core.int get hashCode => value.hashCode;\n\n");
        let _ = writeln!(
            out,
            "  @$core.override\n  $core.String toString() => name ?? '{class}($value)';\n}}\n"
        );
    }

    fn scalar_type(&self, kind: &Kind) -> String {
        match kind {
            Kind::Double | Kind::Float => "$core.double".into(),
            Kind::Int32
            | Kind::Int64
            | Kind::Uint32
            | Kind::Uint64
            | Kind::Sint32
            | Kind::Sint64
            | Kind::Fixed32
            | Kind::Fixed64
            | Kind::Sfixed32
            | Kind::Sfixed64 => "$core.int".into(),
            Kind::Bool => "$core.bool".into(),
            Kind::String => "$core.String".into(),
            Kind::Bytes => "$typed.Uint8List".into(),
            Kind::Message(m) => self.class(m.full_name()).into(),
            Kind::Enum(e) => self.class(e.full_name()).into(),
        }
    }

    fn field_type(&self, f: &FieldDescriptor) -> String {
        if f.is_map() {
            let Kind::Message(entry) = f.kind() else {
                unreachable!()
            };
            let k = entry.map_entry_key_field().kind();
            let v = entry.map_entry_value_field().kind();
            format!(
                "$core.Map<{}, {}>",
                self.scalar_type(&k),
                self.scalar_type(&v)
            )
        } else if f.is_list() {
            format!("$core.List<{}>", self.scalar_type(&f.kind()))
        } else {
            self.scalar_type(&f.kind())
        }
    }

    fn default_value(&self, kind: &Kind) -> String {
        match kind {
            Kind::Double | Kind::Float => "0.0".into(),
            Kind::Bool => "false".into(),
            Kind::String => "''".into(),
            Kind::Bytes => "$typed.Uint8List(0)".into(),
            Kind::Message(m) => format!("{}()", self.class(m.full_name())),
            Kind::Enum(e) => {
                let first = e.values().next().map(|v| names::enum_value(v.name()));
                match first {
                    Some(v) => format!("{}.{v}", self.class(e.full_name())),
                    None => format!("{}.valueOf(0)", self.class(e.full_name())),
                }
            }
            _ => "0".into(),
        }
    }

    /// Dart expression for a proto2 `[default = ...]` value.
    fn explicit_default(&self, f: &FieldDescriptor) -> Option<String> {
        if f.containing_oneof().is_some() || f.is_list() {
            return None;
        }
        let proto = f.field_descriptor_proto();
        proto.default_value.as_ref()?;
        Some(match (f.default_value(), f.kind()) {
            (Value::String(s), _) => names::string_literal(&s),
            (Value::Bytes(b), _) => format!("$typed.Uint8List.fromList(const {:?})", b.to_vec()),
            (Value::Bool(b), _) => b.to_string(),
            (Value::EnumNumber(n), Kind::Enum(e)) => {
                format!("{}.valueOf({n})", self.class(e.full_name()))
            }
            (Value::F32(v), _) => float(f64::from(v)),
            (Value::F64(v), _) => float(v),
            (Value::I32(v), _) => v.to_string(),
            (Value::I64(v), _) => v.to_string(),
            (Value::U32(v), _) => v.to_string(),
            (Value::U64(v), _) => format!("{}", v as i64),
            _ => return None,
        })
    }

    fn render_message(&self, out: &mut String, m: &MessageDescriptor) {
        let class = self.class(m.full_name()).to_string();
        let fields: Vec<FieldDescriptor> = m.fields().collect();
        let oneofs: Vec<OneofDescriptor> = m.oneofs().filter(|o| !o.is_synthetic()).collect();
        let in_oneof =
            |f: &FieldDescriptor| f.containing_oneof().filter(|o| !o.is_synthetic()).is_some();
        let oneof_class = |o: &OneofDescriptor| format!("{class}_{}", names::type_part(o.name()));
        let case_class = |o: &OneofDescriptor, f: &FieldDescriptor| {
            format!("{}_{}", oneof_class(o), names::type_part(f.name()))
        };

        // Oneof unions.
        for o in &oneofs {
            let union = oneof_class(o);
            self.doc(out, o.full_name(), "");
            let _ = writeln!(
                out,
                "/// The `{}` oneof of [{class}]: exactly one case, or null for none.\nsealed class {union} {{\n  const {union}();\n}}\n",
                o.name()
            );
            for f in o.fields() {
                let case = case_class(o, &f);
                let ty = self.scalar_type(&f.kind());
                let eq = if matches!(f.kind(), Kind::Bytes | Kind::Double | Kind::Float) {
                    "protoEquals(other.value, value)".to_string()
                } else {
                    "other.value == value".to_string()
                };
                let hash = if matches!(f.kind(), Kind::Bytes) {
                    "protoListHash(value)".to_string()
                } else {
                    "value.hashCode".to_string()
                };
                let _ = writeln!(
                    out,
                    "/// Case `{}` of [{union}].\nfinal class {case} extends {union} {{\n  /// The value.\n  final {ty} value;\n\n  /// This case.\n  const {case}(this.value);\n\n  @$core.override\n  $core.bool operator ==($core.Object other) => other is {case} && {eq};\n\n  @$core.override\n  $core.int get hashCode => {hash};\n\n  @$core.override\n  $core.String toString() => '{}($value)';\n}}\n",
                    f.name(),
                    f.name()
                );
            }
        }

        // Class members: plain fields, then one member per oneof.
        struct Member {
            name: String,
            ty: String,
            nullable: bool,
            ctor_default: Option<String>, // const default in the parameter list
            init_default: Option<String>, // non-const default in the initializer list
            eq: &'static str,             // how to compare
            hash_wrap: &'static str,
            doc_key: String,
            extra_getter: Option<String>,
        }
        let mut members: Vec<Member> = Vec::new();
        for f in &fields {
            if in_oneof(f) {
                continue;
            }
            let name = names::field(f.name());
            let ty = self.field_type(f);
            let (eq, hash_wrap) = if f.is_map() {
                ("map", "protoMapHash")
            } else if f.is_list() {
                ("list", "protoListHash")
            } else if matches!(f.kind(), Kind::Bytes | Kind::Double | Kind::Float) {
                (
                    "proto",
                    if matches!(f.kind(), Kind::Bytes) {
                        "bytes"
                    } else {
                        ""
                    },
                )
            } else {
                ("plain", "")
            };
            let presence = !f.is_list() && f.supports_presence();
            let mut mem = Member {
                name: name.clone(),
                ty: ty.clone(),
                nullable: presence,
                ctor_default: None,
                init_default: None,
                eq,
                hash_wrap,
                doc_key: f.full_name().to_string(),
                extra_getter: None,
            };
            if f.is_map() {
                mem.init_default =
                    Some(format!("const {}{{}}", ty.trim_start_matches("$core.Map")));
            } else if f.is_list() {
                mem.init_default = Some(format!("const {}[]", ty.trim_start_matches("$core.List")));
            } else if !presence {
                let d = self.default_value(&f.kind());
                if matches!(f.kind(), Kind::Bytes | Kind::Message(_)) {
                    mem.init_default = Some(d);
                } else {
                    mem.ctor_default = Some(d);
                }
            } else if let Some(d) = self.explicit_default(f) {
                mem.extra_getter = Some(format!(
                    "  /// [{name}], or its declared default when unset.\n  {ty} get {name}OrDefault => {name} ?? {d};\n"
                ));
            }
            members.push(mem);
        }
        for o in &oneofs {
            members.push(Member {
                name: names::field(o.name()),
                ty: oneof_class(o),
                nullable: true,
                ctor_default: None,
                init_default: None,
                eq: "plain",
                hash_wrap: "",
                doc_key: o.full_name().to_string(),
                extra_getter: None,
            });
        }

        self.doc(out, m.full_name(), "");
        if self.docs.get(m.full_name()).is_none_or(|d| d.is_empty()) {
            let _ = writeln!(out, "/// Message `{}`.", m.full_name());
        }
        let _ = writeln!(out, "final class {class} {{");
        for mem in &members {
            self.doc(out, &mem.doc_key, "  ");
            let q = if mem.nullable { "?" } else { "" };
            let _ = writeln!(out, "  final {}{q} {};\n", mem.ty, mem.name);
        }
        // Constructor.
        if members.is_empty() {
            let _ = writeln!(out, "  /// An empty message.\n  {class}();\n");
        } else {
            let _ = writeln!(
                out,
                "  /// A message; omitted fields take their defaults.\n  {class}({{"
            );
            for mem in &members {
                match (&mem.ctor_default, &mem.init_default) {
                    (Some(d), _) => {
                        let _ = writeln!(out, "    this.{} = {d},", mem.name);
                    }
                    (None, Some(_)) => {
                        let _ = writeln!(out, "    {}? {},", mem.ty, mem.name);
                    }
                    (None, None) => {
                        let _ = writeln!(out, "    this.{},", mem.name);
                    }
                }
            }
            let inits: Vec<String> = members
                .iter()
                .filter_map(|mem| {
                    mem.init_default
                        .as_ref()
                        .map(|d| format!("{n} = {n} ?? {d}", n = mem.name))
                })
                .collect();
            if inits.is_empty() {
                out.push_str("  });\n\n");
            } else {
                let _ = writeln!(out, "  }}) : {};\n", inits.join(",\n        "));
            }
        }
        for mem in &members {
            if let Some(g) = &mem.extra_getter {
                out.push_str(g);
                out.push('\n');
            }
        }

        // Decoding.
        let _ = writeln!(
            out,
            "  /// Decodes `bytes`; throws [ProtoDecodeError] when they are not a valid message.\n  static {class} fromBuffer($core.List<$core.int> bytes) =>\n      readFrom(ProtoReader(bytes is $typed.Uint8List ? bytes : $typed.Uint8List.fromList(bytes)));\n"
        );
        let _ = writeln!(out, "  /// Reads a message from `$r` until its end.\n  static {class} readFrom(ProtoReader $$r) {{");
        for mem in &members {
            let q = if mem.nullable { "?" } else { "" };
            match (&mem.ctor_default, &mem.init_default, mem.nullable) {
                (_, _, true) => {
                    let _ = writeln!(out, "    {}{q} ${};", mem.ty, mem.name);
                }
                (Some(d), _, _) => {
                    let _ = writeln!(out, "    {} ${} = {d};", mem.ty, mem.name);
                }
                (None, Some(_), _) if mem.ty.starts_with("$core.List") => {
                    let _ = writeln!(
                        out,
                        "    final ${} = <{}>[];",
                        mem.name,
                        &mem.ty["$core.List<".len()..mem.ty.len() - 1]
                    );
                }
                (None, Some(_), _) if mem.ty.starts_with("$core.Map") => {
                    let _ = writeln!(
                        out,
                        "    final ${} = <{}>{{}};",
                        mem.name,
                        &mem.ty["$core.Map<".len()..mem.ty.len() - 1]
                    );
                }
                (None, Some(_), _) => {
                    let _ = writeln!(out, "    {}? ${};", mem.ty, mem.name);
                }
                (None, None, false) => {
                    let _ = writeln!(out, "    {}? ${};", mem.ty, mem.name);
                }
            }
        }
        out.push_str("    while (!$$r.isAtEnd) {\n      final $$tag = $$r.readTag();\n      switch ($$tag >>> 3) {\n");
        for f in &fields {
            let _ = writeln!(out, "        case {}:", f.number());
            let target = match f.containing_oneof().filter(|o| !o.is_synthetic()) {
                Some(o) => format!("${}", names::field(o.name())),
                None => format!("${}", names::field(f.name())),
            };
            if f.is_map() {
                let Kind::Message(entry) = f.kind() else {
                    unreachable!()
                };
                let kf = entry.map_entry_key_field();
                let vf = entry.map_entry_value_field();
                let _ = writeln!(
                    out,
                    "          $$r.expectWireType($$tag, 2);\n          final $$e = $$r.readMessageReader();\n          var $$k = {};\n          var $$v = {};\n          while (!$$e.isAtEnd) {{\n            final $$t = $$e.readTag();\n            switch ($$t >>> 3) {{\n              case 1:\n                $$k = {};\n              case 2:\n                $$v = {};\n              default:\n                $$e.skipField($$t);\n            }}\n          }}\n          {target}[$$k] = $$v;",
                    self.default_value(&kf.kind()),
                    self.default_value(&vf.kind()),
                    self.read_expr(&kf.kind(), "$$e"),
                    self.read_expr(&vf.kind(), "$$e"),
                );
            } else if f.is_list() {
                if is_packable(&f.kind()) {
                    let _ = writeln!(
                        out,
                        "          $$r.readRepeated($$tag, {target}, ($$x) => {});",
                        self.read_expr(&f.kind(), "$$x")
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "          $$r.expectWireType($$tag, {});\n          {target}.add({});",
                        field_wire_type(f),
                        self.read_field_expr(f, "$$r")
                    );
                }
            } else {
                let value = self.read_field_expr(f, "$$r");
                let value = match f.containing_oneof().filter(|o| !o.is_synthetic()) {
                    Some(o) => format!("{}({value})", case_class(&o, f)),
                    None => value,
                };
                let _ = writeln!(
                    out,
                    "          $$r.expectWireType($$tag, {});\n          {target} = {value};",
                    field_wire_type(f)
                );
            }
        }
        out.push_str("        default:\n          $$r.skipField($$tag);\n      }\n    }\n");
        if members.is_empty() {
            let _ = writeln!(out, "    return {class}();\n  }}\n");
        } else {
            let args: Vec<String> = members
                .iter()
                .map(|m| format!("{n}: ${n}", n = m.name))
                .collect();
            let _ = writeln!(out, "    return {class}({});\n  }}\n", args.join(", "));
        }

        // Encoding.
        out.push_str("  /// Encodes this message.\n  $typed.Uint8List writeToBuffer() {\n    final w = ProtoWriter();\n    writeTo(w);\n    return w.toBytes();\n  }\n\n");
        out.push_str(
            "  /// Appends this message's fields to `w`.\n  void writeTo(ProtoWriter w) {\n",
        );
        let mut written_oneofs = Vec::new();
        let mut sorted = fields.clone();
        sorted.sort_by_key(|f| f.number());
        for f in &sorted {
            if let Some(o) = f.containing_oneof().filter(|o| !o.is_synthetic()) {
                if written_oneofs.contains(&o.name().to_string()) {
                    continue;
                }
                written_oneofs.push(o.name().to_string());
                let _ = writeln!(out, "    switch ({}) {{", names::field(o.name()));
                for of in o.fields() {
                    let _ = writeln!(out, "      case {}(:final value):", case_class(&o, &of));
                    self.write_single(out, &of, "value", "        ");
                }
                out.push_str("      case null:\n        break;\n    }\n");
                continue;
            }
            let name = names::field(f.name());
            if f.is_map() {
                let Kind::Message(entry) = f.kind() else {
                    unreachable!()
                };
                let kf = entry.map_entry_key_field();
                let vf = entry.map_entry_value_field();
                let _ = writeln!(out, "    for (final e in {name}.entries) {{\n      w.writeTag({}, 2);\n      final s = w.beginLength();", f.number());
                self.write_single(out, &kf, "e.key", "      ");
                self.write_single(out, &vf, "e.value", "      ");
                out.push_str("      w.endLength(s);\n    }\n");
            } else if f.is_list() {
                if f.is_packed() && is_packable(&f.kind()) {
                    let _ = writeln!(
                        out,
                        "    if ({name}.isNotEmpty) {{\n      w.writeTag({}, 2);\n      final s = w.beginLength();\n      for (final v in {name}) {{\n        {};\n      }}\n      w.endLength(s);\n    }}",
                        f.number(),
                        self.write_expr(&f.kind(), "v")
                    );
                } else {
                    let _ = writeln!(out, "    for (final v in {name}) {{");
                    self.write_single(out, f, "v", "      ");
                    out.push_str("    }\n");
                }
            } else if f.supports_presence() {
                let _ = writeln!(
                    out,
                    "    final {name}Value = {name};\n    if ({name}Value != null) {{"
                );
                self.write_single(out, f, &format!("{name}Value"), "      ");
                out.push_str("    }\n");
            } else {
                let cond = match f.kind() {
                    Kind::Bool => name.clone(),
                    Kind::String | Kind::Bytes => format!("{name}.isNotEmpty"),
                    Kind::Enum(_) => format!("{name}.value != 0"),
                    Kind::Message(_) => "true".into(),
                    // Presence is by bit pattern: -0.0 is not the default.
                    Kind::Double | Kind::Float => {
                        format!("{name} != 0.0 || {name}.isNaN || {name}.isNegative")
                    }
                    _ => format!("{name} != 0"),
                };
                let _ = writeln!(out, "    if ({cond}) {{");
                self.write_single(out, f, &name, "      ");
                out.push_str("    }\n");
            }
        }
        out.push_str("  }\n\n");

        // copyWith.
        if !members.is_empty() {
            let _ = writeln!(out, "  /// A copy with the given fields replaced (pass `null` to clear a nullable field).");
            let params: Vec<String> = members
                .iter()
                .map(|m| {
                    if m.nullable {
                        format!("$core.Object? {} = protoUnset", m.name)
                    } else {
                        format!("{}? {}", m.ty, m.name)
                    }
                })
                .collect();
            let args: Vec<String> = members
                .iter()
                .map(|m| {
                    if m.nullable {
                        format!(
                            "{n}: $core.identical({n}, protoUnset) ? this.{n} : {n} as {}?",
                            m.ty,
                            n = m.name
                        )
                    } else {
                        format!("{n}: {n} ?? this.{n}", n = m.name)
                    }
                })
                .collect();
            let _ = writeln!(
                out,
                "  {class} copyWith({{{}}}) =>\n      {class}({});\n",
                params.join(", "),
                args.join(", ")
            );
        }

        // Equality, hash, toString.
        let eqs: Vec<String> = members
            .iter()
            .map(|m| match m.eq {
                "map" => format!("protoMapEquals({n}, other.{n})", n = m.name),
                "list" => format!("protoListEquals({n}, other.{n})", n = m.name),
                "proto" => format!("protoEquals({n}, other.{n})", n = m.name),
                _ => format!("{n} == other.{n}", n = m.name),
            })
            .collect();
        let _ = writeln!(
            out,
            "  @$core.override\n  $core.bool operator ==($core.Object other) =>\n      $core.identical(this, other) ||\n      (other is {class}{}{});\n",
            if eqs.is_empty() { "" } else { " &&\n          " },
            eqs.join(" &&\n          ")
        );
        let hashes: Vec<String> = members
            .iter()
            .map(|m| match (m.hash_wrap, m.nullable) {
                ("bytes", true) => format!("{n} == null ? null : protoListHash({n}!)", n = m.name),
                ("bytes", false) => format!("protoListHash({})", m.name),
                ("", _) => m.name.clone(),
                (w, _) => format!("{w}({})", m.name),
            })
            .collect();
        let _ = writeln!(
            out,
            "  @$core.override\n  $core.int get hashCode => $core.Object.hashAll([{}]);\n",
            hashes.join(", ")
        );
        let parts: Vec<String> = members
            .iter()
            .map(|m| format!("{n}: ${{{n}}}", n = m.name))
            .collect();
        let _ = writeln!(
            out,
            "  @$core.override\n  $core.String toString() => '{class}({})';\n}}\n",
            parts.join(", ").replace('\'', "\\'")
        );
    }

    /// Reads one value of field `f` (a group reads up to its end tag).
    fn read_field_expr(&self, f: &FieldDescriptor, r: &str) -> String {
        match f.kind() {
            Kind::Message(m) if f.is_group() => format!(
                "{}.readFrom({r}.readGroupReader($$tag))",
                self.class(m.full_name())
            ),
            k => self.read_expr(&k, r),
        }
    }

    fn read_expr(&self, kind: &Kind, r: &str) -> String {
        match kind {
            Kind::Int32 => format!("{r}.readInt32()"),
            Kind::Int64 | Kind::Uint64 => format!("{r}.readInt64()"),
            Kind::Uint32 => format!("{r}.readUint32()"),
            Kind::Sint32 => format!("{r}.readSint32()"),
            Kind::Sint64 => format!("{r}.readSint64()"),
            Kind::Fixed32 => format!("{r}.readFixed32()"),
            Kind::Sfixed32 => format!("{r}.readSfixed32()"),
            Kind::Fixed64 | Kind::Sfixed64 => format!("{r}.readFixed64()"),
            Kind::Float => format!("{r}.readFloat()"),
            Kind::Double => format!("{r}.readDouble()"),
            Kind::Bool => format!("{r}.readBool()"),
            Kind::String => format!("{r}.readString()"),
            Kind::Bytes => format!("{r}.readBytes()"),
            Kind::Enum(e) => format!("{}.valueOf({r}.readInt32())", self.class(e.full_name())),
            Kind::Message(m) => format!(
                "{}.readFrom({r}.readMessageReader())",
                self.class(m.full_name())
            ),
        }
    }

    fn write_expr(&self, kind: &Kind, v: &str) -> String {
        match kind {
            Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 => format!("w.writeInt({v})"),
            Kind::Sint32 => format!("w.writeSint32({v})"),
            Kind::Sint64 => format!("w.writeSint64({v})"),
            Kind::Fixed32 | Kind::Sfixed32 => format!("w.writeFixed32({v})"),
            Kind::Fixed64 | Kind::Sfixed64 => format!("w.writeFixed64({v})"),
            Kind::Float => format!("w.writeFloat({v})"),
            Kind::Double => format!("w.writeDouble({v})"),
            Kind::Bool => format!("w.writeBool({v})"),
            Kind::String => format!("w.writeString({v})"),
            Kind::Bytes => format!("w.writeBytes({v})"),
            Kind::Enum(_) => format!("w.writeInt({v}.value)"),
            Kind::Message(_) => {
                format!("{{ final s = w.beginLength(); {v}.writeTo(w); w.endLength(s); }}")
            }
        }
    }

    /// Writes one value of field `f` (tag + value).
    fn write_single(&self, out: &mut String, f: &FieldDescriptor, v: &str, indent: &str) {
        if f.is_group() {
            // proto2 groups: start tag, the fields, end tag (wire types 3, 4).
            let _ = writeln!(
                out,
                "{indent}w.writeTag({n}, 3);\n{indent}{v}.writeTo(w);\n{indent}w.writeTag({n}, 4);",
                n = f.number()
            );
            return;
        }
        let _ = writeln!(
            out,
            "{indent}w.writeTag({}, {});",
            f.number(),
            wire_type(&f.kind())
        );
        match f.kind() {
            Kind::Message(_) => {
                let _ = writeln!(out, "{indent}final s{} = w.beginLength();\n{indent}{v}.writeTo(w);\n{indent}w.endLength(s{});", f.number(), f.number());
            }
            k => {
                let _ = writeln!(out, "{indent}{};", self.write_expr(&k, v));
            }
        }
    }
}

fn is_packable(kind: &Kind) -> bool {
    !matches!(kind, Kind::String | Kind::Bytes | Kind::Message(_))
}

/// The wire type of a field's values: 3 (start group) for proto2 groups.
fn field_wire_type(f: &FieldDescriptor) -> u32 {
    if f.is_group() {
        3
    } else {
        wire_type(&f.kind())
    }
}

fn wire_type(kind: &Kind) -> u32 {
    match kind {
        Kind::Fixed64 | Kind::Sfixed64 | Kind::Double => 1,
        Kind::Fixed32 | Kind::Sfixed32 | Kind::Float => 5,
        Kind::String | Kind::Bytes | Kind::Message(_) => 2,
        _ => 0,
    }
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "$core.double.nan".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "$core.double.infinity".into()
        } else {
            "$core.double.negativeInfinity".into()
        }
    } else {
        let s = format!("{v:?}");
        if s.contains(['.', 'e']) {
            s
        } else {
            format!("{s}.0")
        }
    }
}
