//! The check behind every crate's `tests/layers.rs`: a module imports only
//! from its own folder and from the layers below it, never from a peer or
//! from above. Read from the source, so a `use` that breaks the order fails
//! with the file and the path it named. Included with `#[path]` by each
//! crate's test, so the rule is written once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Checks the crate whose sources are under `src`: `layers` bottom to top
/// (folders or top-level files on one row are peers), `debt` the imports
/// that point up today as `(file, target layer, reason)`; each must still
/// exist, so the list only shrinks. Root items (`crate::Status`) count as
/// the layer `lib.rs` re-exports them from.
pub fn check(src: &Path, layers: &[&[&str]], debt: &[(&str, &str, &str)]) {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let roots = root_items(layers, &lib);
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut wrong = Vec::new();
    let mut debt_seen = BTreeSet::new();
    for file in &files {
        let rel = file
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "lib.rs" {
            continue;
        }
        let own = rel.split('/').next().unwrap().trim_end_matches(".rs");
        let own_rank = rank(layers, own).unwrap_or_else(|| {
            panic!("{rel}: folder `{own}` is in no layer: add it to LAYERS (and lib.rs's docs)")
        });
        let text = code(&std::fs::read_to_string(file).unwrap());
        for head in crate_paths(&text) {
            let target = roots
                .iter()
                .find(|(name, _)| *name == head)
                .map(|(_, layer)| layer.as_str())
                .unwrap_or(head.as_str());
            let Some(target_rank) = rank(layers, target) else {
                // `crate::__private`, or a root item from another crate.
                continue;
            };
            if target == own || target_rank < own_rank {
                continue;
            }
            if debt.iter().any(|(f, t, _)| *f == rel && *t == target) {
                debt_seen.insert((rel.clone(), target.to_string()));
                continue;
            }
            let how = if target_rank == own_rank {
                "a peer"
            } else {
                "a layer above"
            };
            wrong.push(format!(
                "{rel} imports `crate::{head}` from `{target}`, {how} of `{own}`"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers (bottom to top: {layers:?}):\n{}",
        wrong.join("\n")
    );
    for (file, target, why) in debt {
        assert!(
            debt_seen.contains(&(file.to_string(), target.to_string())),
            "{file} no longer imports from `{target}`: remove it from DEBT ({why})"
        );
    }
}

pub fn rank(layers: &[&[&str]], layer: &str) -> Option<usize> {
    layers.iter().position(|row| row.contains(&layer))
}

/// Every `.rs` file under `dir`.
pub fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code without comments (doc links may point anywhere).
pub fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of every `crate::` path in `text`, the heads of
/// `crate::{a::…, b}` groups included.
pub fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = text[at..].find("crate::") {
        let start = at + found;
        at = start + "crate::".len();
        // `$crate::` and `proto2ffi_runtime::…crate::` are not ours.
        if start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b'$')
        {
            continue;
        }
        if text[at..].starts_with('{') {
            let mut depth = 0;
            let mut segment = String::new();
            let mut expect_head = true;
            for c in text[at..].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        if depth == 1 {
                            expect_head = true;
                            segment.clear();
                        }
                    }
                    '}' => {
                        if depth == 1 && expect_head && !segment.is_empty() {
                            out.insert(segment.clone());
                        }
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        if expect_head && !segment.is_empty() {
                            out.insert(segment.clone());
                        }
                        segment.clear();
                        expect_head = true;
                    }
                    c if depth == 1 && expect_head => {
                        if c.is_alphanumeric() || c == '_' {
                            segment.push(c);
                        } else if !segment.is_empty() {
                            out.insert(segment.clone());
                            expect_head = false;
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

/// Root items (`crate::Status`) resolved to the layer `lib.rs` re-exports
/// them from (`pub use error::status::Status;`).
pub fn root_items(layers: &[&[&str]], lib: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let code = code(lib);
    for line in code
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
    {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((layer, tail)) = rest.split_once("::") else {
            continue;
        };
        if rank(layers, layer).is_none() {
            continue;
        }
        let names = tail
            .rsplit("::")
            .next()
            .unwrap_or("")
            .trim_end_matches(';')
            .trim_matches(|c| c == '{' || c == '}');
        for name in names.split(',') {
            out.push((name.trim().to_string(), layer.to_string()));
        }
    }
    out
}
