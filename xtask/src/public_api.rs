//! `cargo xtask public-api`: the public surface of the crates users depend
//! on, one item per line, checked against the committed `public-api/*.txt`
//! so that a change to what users can name shows up in review.
//!
//! The surface comes from rustdoc's JSON (nightly): every item reachable
//! from the crate root through public modules and re-exports, inherent
//! methods and fields included, `#[doc(hidden)]` items (`__private`) left
//! out as rustdoc leaves them out. Items of other crates re-exported whole
//! (`tracing`, `prost`) are listed as their `pub use` line. The rendering is
//! this file's own, not `cargo public-api`'s: enough to see a name, a kind
//! or a signature change, with no tool to install.

use crate::checks::{nightly, nightly_cargo};
use crate::{root, target_dir, Result};
use serde_json::Value;
use std::collections::BTreeSet;

/// The crates whose surface is checked, and where each snapshot lives.
const CRATES: [(&str, &str); 3] = [
    ("proto2ffi", "public-api/proto2ffi.txt"),
    ("proto2ffi-runtime", "public-api/proto2ffi-runtime.txt"),
    ("proto2ffi-build", "public-api/proto2ffi-build.txt"),
];

/// Checks (or, with `PROTO2FFI_BLESS=1`, writes) every snapshot; prints
/// `SKIPPED` without a nightly toolchain, which rustdoc's JSON needs.
pub fn check() -> Result {
    if !nightly() {
        eprintln!("SKIPPED: public API snapshot: no nightly toolchain (rustdoc JSON needs one)");
        return Ok(());
    }
    let bless = std::env::var_os("PROTO2FFI_BLESS").is_some();
    let mut stale = Vec::new();
    for (package, snapshot) in CRATES {
        let surface = surface(package)?;
        let path = root().join(snapshot);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed == surface {
            continue;
        }
        // The rendering follows rustdoc's JSON, whose format moves with
        // nightly: compared across formats, a difference may be the
        // format's, so it is reported, not failed on.
        let format = |text: &str| text.lines().next().map(str::to_string);
        if !bless && !committed.is_empty() && format(&committed) != format(&surface) {
            eprintln!(
                "SKIPPED: public API snapshot {snapshot}: made from another rustdoc JSON \
                 format ({:?}, this nightly: {:?}); re-bless it with this toolchain to compare",
                format(&committed).unwrap_or_default(),
                format(&surface).unwrap_or_default()
            );
            continue;
        }
        if bless {
            std::fs::create_dir_all(path.parent().expect("a folder"))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::write(&path, &surface).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("public-api: wrote {snapshot}");
            continue;
        }
        let old: BTreeSet<&str> = committed.lines().collect();
        let new: BTreeSet<&str> = surface.lines().collect();
        for line in old.difference(&new) {
            eprintln!("- {line}");
        }
        for line in new.difference(&old) {
            eprintln!("+ {line}");
        }
        stale.push(snapshot);
    }
    if stale.is_empty() {
        eprintln!(
            "public-api: the public surface matches {} snapshots",
            CRATES.len()
        );
        Ok(())
    } else {
        Err(format!(
            "the public API changed ({}; the lines above): if that is meant, \
             `PROTO2FFI_BLESS=1 cargo xtask public-api` updates the snapshots",
            stale.join(", ")
        ))
    }
}

/// One crate's surface, sorted, one line per item.
fn surface(package: &str) -> Result<String> {
    // A target folder of its own: rustdoc JSON needs nightly, whose
    // artifacts would otherwise evict the stable ones.
    let dir = target_dir().join("public-api");
    crate::run(
        nightly_cargo()
            .args(["rustdoc", "-q", "--lib", "-p", package])
            .arg("--target-dir")
            .arg(&dir)
            .args(["--", "-Z", "unstable-options", "--output-format", "json"]),
    )?;
    let file = dir
        .join("doc")
        .join(format!("{}.json", package.replace('-', "_")));
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut lines = BTreeSet::new();
    let root_id = &doc["root"];
    let name = doc["index"][id_key(root_id)]["name"]
        .as_str()
        .unwrap_or(package)
        .to_string();
    let mut walker = Walker {
        doc: &doc,
        lines: &mut lines,
        seen: BTreeSet::new(),
    };
    walker.item(root_id, &name);
    let mut out = format!(
        "# rustdoc JSON format {}; `PROTO2FFI_BLESS=1 cargo xtask public-api` rewrites this file\n",
        doc["format_version"]
    );
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

fn id_key(id: &Value) -> String {
    match id {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

struct Walker<'a> {
    doc: &'a Value,
    lines: &'a mut BTreeSet<String>,
    /// `(item, path)` pairs already listed: a module re-exported under two
    /// names is listed under both, but never twice under one.
    seen: BTreeSet<(String, String)>,
}

impl Walker<'_> {
    fn get(&self, id: &Value) -> Option<&Value> {
        self.doc["index"].get(id_key(id))
    }

    fn push(&mut self, line: String) {
        self.lines.insert(line);
    }

    /// Lists the item `id` under `path` (its full public name).
    fn item(&mut self, id: &Value, path: &str) {
        if !self.seen.insert((id_key(id), path.to_string())) {
            return;
        }
        let Some(item) = self.get(id).cloned() else {
            return;
        };
        let Some((kind, inner)) = item["inner"].as_object().and_then(|o| o.iter().next()) else {
            return;
        };
        let deprecated = if item["deprecation"].is_null() {
            ""
        } else {
            "#[deprecated] "
        };
        match kind.as_str() {
            "module" => {
                if path.contains("::") {
                    self.push(format!("pub mod {path}"));
                }
                for child in inner["items"].as_array().into_iter().flatten() {
                    self.child(child, path);
                }
            }
            "use" => {} // handled by `child`
            "struct" => {
                let generics = generics(&inner["generics"]);
                self.push(format!("{deprecated}pub struct {path}{generics}"));
                let fields = &inner["kind"];
                if let Some(plain) = fields.get("plain") {
                    for f in plain["fields"].as_array().into_iter().flatten() {
                        self.field(f, path);
                    }
                } else if let Some(tuple) = fields.get("tuple") {
                    let shown: Vec<String> = tuple
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|f| match self.get(f) {
                            Some(f) if f["visibility"] == "public" => {
                                ty(&f["inner"]["struct_field"])
                            }
                            _ => "_".to_string(),
                        })
                        .collect();
                    self.push(format!("pub struct {path}({})", shown.join(", ")));
                }
                self.impls(&inner["impls"], path);
            }
            "enum" => {
                self.push(format!(
                    "{deprecated}pub enum {path}{}",
                    generics(&inner["generics"])
                ));
                for v in inner["variants"].as_array().into_iter().flatten() {
                    if let Some(v) = self.get(v) {
                        let name = v["name"].as_str().unwrap_or("?");
                        self.lines.insert(format!("pub variant {path}::{name}"));
                    }
                }
                self.impls(&inner["impls"], path);
            }
            "union" => {
                self.push(format!("pub union {path}"));
                self.impls(&inner["impls"], path);
            }
            "trait" => {
                let unsafety = if inner["is_unsafe"] == true {
                    "unsafe "
                } else {
                    ""
                };
                self.push(format!(
                    "{deprecated}pub {unsafety}trait {path}{}{}",
                    generics(&inner["generics"]),
                    bounds_suffix(&inner["bounds"])
                ));
                for m in inner["items"].as_array().into_iter().flatten() {
                    if let Some(m) = self.get(m).cloned() {
                        let name = m["name"].as_str().unwrap_or("?");
                        self.member(&m, &format!("{path}::{name}"));
                    }
                }
            }
            "function" | "constant" | "static" | "type_alias" | "macro" | "proc_macro"
            | "trait_alias" => self.member(&item, path),
            _ => {}
        }
    }

    /// A child of a module: public items, and re-exports followed to what
    /// they name.
    fn child(&mut self, id: &Value, module: &str) {
        let Some(item) = self.get(id).cloned() else {
            return;
        };
        if item["visibility"] != "public" {
            return;
        }
        if let Some(using) = item["inner"].get("use") {
            let name = using["name"].as_str().unwrap_or("?");
            let source = using["source"].as_str().unwrap_or("?");
            let target = &using["id"];
            let known = !target.is_null() && self.get(target).is_some();
            if using["is_glob"] == true {
                if known {
                    let inner = &self.get(target).expect("known")["inner"];
                    if let Some(m) = inner.get("module") {
                        for c in m["items"].as_array().cloned().unwrap_or_default() {
                            self.child(&c, module);
                        }
                        return;
                    }
                }
                self.push(format!("pub use {module}::{source}::*"));
            } else if known {
                self.item(target, &format!("{module}::{name}"));
            } else if source.rsplit("::").next() == Some(name) {
                self.push(format!("pub use {module}::{name} = {source}"));
            } else {
                self.push(format!("pub use {module}::{name} = {source} (renamed)"));
            }
            return;
        }
        let name = item["name"].as_str().unwrap_or("?");
        self.item(id, &format!("{module}::{name}"));
    }

    fn field(&mut self, id: &Value, owner: &str) {
        let Some(f) = self.get(id) else { return };
        if f["visibility"] != "public" {
            return;
        }
        let line = format!(
            "pub field {owner}::{}: {}",
            f["name"].as_str().unwrap_or("?"),
            ty(&f["inner"]["struct_field"])
        );
        self.push(line);
    }

    /// Inherent methods and constants of a type, and the traits it
    /// implements by hand (not auto traits, not blanket impls).
    fn impls(&mut self, impls: &Value, owner: &str) {
        for i in impls.as_array().cloned().unwrap_or_default() {
            let Some(imp) = self.get(&i).cloned() else {
                continue;
            };
            let inner = &imp["inner"]["impl"];
            if inner["is_synthetic"] == true || !inner["blanket_impl"].is_null() {
                continue;
            }
            if inner["trait"].is_null() {
                for m in inner["items"].as_array().cloned().unwrap_or_default() {
                    if let Some(m) = self.get(&m).cloned() {
                        if m["visibility"] == "public" {
                            let name = m["name"].as_str().unwrap_or("?");
                            self.member(&m, &format!("{owner}::{name}"));
                        }
                    }
                }
            } else {
                let negative = if inner["is_negative"] == true {
                    "!"
                } else {
                    ""
                };
                let line = format!(
                    "impl{} {negative}{} for {owner}",
                    generics(&inner["generics"]),
                    path_ty(&inner["trait"])
                );
                self.push(line);
            }
        }
    }

    /// A function, constant, static, type alias or macro, with its
    /// signature.
    fn member(&mut self, item: &Value, path: &str) {
        let Some((kind, inner)) = item["inner"].as_object().and_then(|o| o.iter().next()) else {
            return;
        };
        let deprecated = if item["deprecation"].is_null() {
            ""
        } else {
            "#[deprecated] "
        };
        let line = match kind.as_str() {
            "function" => {
                let h = &inner["header"];
                let mut quals = String::new();
                if h["is_const"] == true {
                    quals.push_str("const ");
                }
                if h["is_async"] == true {
                    quals.push_str("async ");
                }
                if h["is_unsafe"] == true {
                    quals.push_str("unsafe ");
                }
                if let Some(abi) = abi(&h["abi"]) {
                    quals.push_str(&format!("extern \"{abi}\" "));
                }
                format!(
                    "pub {quals}fn {path}{}{}",
                    generics(&inner["generics"]),
                    signature(&inner["sig"])
                )
            }
            "constant" => format!("pub const {path}: {}", ty(&inner["type"])),
            "assoc_const" => format!("pub const {path}: {}", ty(&inner["type"])),
            "static" => format!(
                "pub static {}{path}: {}",
                if inner["is_mutable"] == true {
                    "mut "
                } else {
                    ""
                },
                ty(&inner["type"])
            ),
            "type_alias" => format!("pub type {path} = {}", ty(&inner["type"])),
            "assoc_type" => format!("pub type {path}"),
            "macro" | "proc_macro" => format!("pub macro {path}!"),
            other => format!("pub {other} {path}"),
        };
        self.push(format!("{deprecated}{line}"));
    }
}

fn abi(abi: &Value) -> Option<String> {
    match abi {
        Value::String(s) if s == "Rust" => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.keys().next().cloned(),
        _ => None,
    }
}

fn signature(sig: &Value) -> String {
    let inputs: Vec<String> = sig["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pair| {
            let name = pair[0].as_str().unwrap_or("_");
            let t = ty(&pair[1]);
            match (name, t.as_str()) {
                ("self", "Self") => "self".to_string(),
                ("self", "&Self") => "&self".to_string(),
                ("self", "&mut Self") => "&mut self".to_string(),
                _ => format!("{name}: {t}"),
            }
        })
        .collect();
    let output = if sig["output"].is_null() {
        String::new()
    } else {
        format!(" -> {}", ty(&sig["output"]))
    };
    format!("({}){output}", inputs.join(", "))
}

/// `<T: Bound, const N: usize>` of a declaration, without the parameters
/// rustdoc made up for `impl Trait` arguments; where clauses appended.
fn generics(g: &Value) -> String {
    let mut params = Vec::new();
    for p in g["params"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("?");
        let kind = &p["kind"];
        if let Some(t) = kind.get("type") {
            if t["is_synthetic"] == true {
                continue;
            }
            params.push(format!("{name}{}", bounds_suffix(&t["bounds"])));
        } else if let Some(c) = kind.get("const") {
            params.push(format!("const {name}: {}", ty(&c["type"])));
        } else {
            params.push(name.to_string());
        }
    }
    let mut out = if params.is_empty() {
        String::new()
    } else {
        format!("<{}>", params.join(", "))
    };
    let wheres: Vec<String> = g["where_predicates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| {
            let b = w.get("bound_predicate")?;
            Some(format!("{}{}", ty(&b["type"]), bounds_suffix(&b["bounds"])))
        })
        .collect();
    if !wheres.is_empty() {
        out.push_str(&format!(" where {}", wheres.join(", ")));
    }
    out
}

fn bounds_suffix(bounds: &Value) -> String {
    let b = bounds_list(bounds);
    if b.is_empty() {
        String::new()
    } else {
        format!(": {b}")
    }
}

fn bounds_list(bounds: &Value) -> String {
    bounds
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            if let Some(t) = b.get("trait_bound") {
                let modifier = match t["modifier"].as_str() {
                    Some("maybe") => "?",
                    Some("maybe_const") => "~const ",
                    _ => "",
                };
                format!("{modifier}{}", path_ty(&t["trait"]))
            } else if let Some(l) = b.get("outlives") {
                l.as_str().unwrap_or("'_").to_string()
            } else {
                "?".to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// A path with its generic arguments: `Result<(), Status>`, `Fn(u8) -> u8`.
fn path_ty(p: &Value) -> String {
    let name = p["path"]
        .as_str()
        .or_else(|| p["name"].as_str())
        .unwrap_or("?");
    format!("{name}{}", args(&p["args"]))
}

fn args(a: &Value) -> String {
    if let Some(angle) = a.get("angle_bracketed") {
        let mut parts: Vec<String> = angle["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|arg| {
                if let Some(t) = arg.get("type") {
                    ty(t)
                } else if let Some(l) = arg.get("lifetime") {
                    l.as_str().unwrap_or("'_").to_string()
                } else if let Some(c) = arg.get("const") {
                    c["expr"].as_str().unwrap_or("_").to_string()
                } else {
                    "_".to_string()
                }
            })
            .collect();
        for c in angle["constraints"].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or("?");
            if let Some(t) = c["binding"].get("equality").and_then(|e| e.get("type")) {
                parts.push(format!("{name} = {}", ty(t)));
            } else if let Some(b) = c["binding"].get("constraint") {
                parts.push(format!("{name}: {}", bounds_list(b)));
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("<{}>", parts.join(", "))
        }
    } else if let Some(p) = a.get("parenthesized") {
        let inputs: Vec<String> = p["inputs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(ty)
            .collect();
        let output = if p["output"].is_null() {
            String::new()
        } else {
            format!(" -> {}", ty(&p["output"]))
        };
        format!("({}){output}", inputs.join(", "))
    } else {
        String::new()
    }
}

/// A type as written in Rust.
fn ty(t: &Value) -> String {
    let Some((kind, v)) = t.as_object().and_then(|o| o.iter().next()) else {
        return match t.as_str() {
            Some("infer") => "_".into(),
            Some(other) => other.into(),
            None => "?".into(),
        };
    };
    match kind.as_str() {
        "resolved_path" => path_ty(v),
        "generic" | "primitive" => v.as_str().unwrap_or("?").to_string(),
        "borrowed_ref" => format!(
            "&{}{}{}",
            v["lifetime"]
                .as_str()
                .map(|l| format!("{l} "))
                .unwrap_or_default(),
            if v["is_mutable"] == true { "mut " } else { "" },
            ty(&v["type"])
        ),
        "raw_pointer" => format!(
            "*{} {}",
            if v["is_mutable"] == true {
                "mut"
            } else {
                "const"
            },
            ty(&v["type"])
        ),
        "slice" => format!("[{}]", ty(v)),
        "array" => format!("[{}; {}]", ty(&v["type"]), v["len"].as_str().unwrap_or("_")),
        "tuple" => {
            let parts: Vec<String> = v.as_array().into_iter().flatten().map(ty).collect();
            if parts.len() == 1 {
                format!("({},)", parts[0])
            } else {
                format!("({})", parts.join(", "))
            }
        }
        "impl_trait" => format!("impl {}", bounds_list(v)),
        "dyn_trait" => {
            let traits: Vec<String> = v["traits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| path_ty(&p["trait"]))
                .collect();
            let lifetime = v["lifetime"]
                .as_str()
                .map(|l| format!(" + {l}"))
                .unwrap_or_default();
            format!("dyn {}{lifetime}", traits.join(" + "))
        }
        "qualified_path" => {
            let self_ty = ty(&v["self_type"]);
            let name = v["name"].as_str().unwrap_or("?");
            if v["trait"].is_null() {
                format!("{self_ty}::{name}")
            } else {
                format!("<{self_ty} as {}>::{name}", path_ty(&v["trait"]))
            }
        }
        "function_pointer" => {
            let h = &v["header"];
            let mut quals = String::new();
            if h["is_unsafe"] == true {
                quals.push_str("unsafe ");
            }
            if let Some(abi) = abi(&h["abi"]) {
                quals.push_str(&format!("extern \"{abi}\" "));
            }
            format!("{quals}fn{}", signature(&v["sig"]))
        }
        "pat" => ty(&v["type"]),
        other => format!("<{other}>"),
    }
}
