//! One guard for every kind of call: the call layers turn a panic in user
//! code into a status in one place, `call/guard.rs`'s `guarded`, and build
//! the `INTERNAL` status of a panic in one place, its `panic_status`. Read
//! from the source, so a shell that catches panics itself fails here with
//! its file.

#[path = "../../tests/layers/check.rs"]
#[allow(dead_code)]
mod check;

use std::path::Path;

/// The folders whose code runs a call's user code: handlers, futures,
/// decoders, conversions and their `Drop`s.
const CALL_LAYERS: &[&str] = &["call", "fixed"];

/// Where a call layer may still catch a panic itself: `(file, count,
/// reason)`. Nothing here runs a call's user code.
const OWN_CATCHES: &[(&str, usize, &str)] = &[
    (
        "call/guard.rs",
        2,
        "`guarded` itself, and a resolver that panics means `not registered`",
    ),
    (
        "call/calls.rs",
        2,
        "the executor's own panics (entering its context, spawning a task)",
    ),
    (
        "fixed/pool.rs",
        2,
        "the pool's C exports, which run no user code",
    ),
];

/// Each call-layer file's code (comments left out), by path under `src`.
fn call_layer_files() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for layer in CALL_LAYERS {
        check::sources(&src.join(layer), &mut files);
    }
    let mut out: Vec<(String, String)> = files
        .iter()
        .filter_map(|f| {
            let rel = f
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            // Unit tests (`tests.rs`, `tests/`) catch panics on purpose.
            if rel
                .split('/')
                .any(|part| part == "tests" || part == "tests.rs")
            {
                return None;
            }
            let text = std::fs::read_to_string(f).unwrap();
            // A file's own `#[cfg(test)] mod tests { … }` comes last.
            let text = match text.find("#[cfg(test)]\nmod tests {") {
                Some(at) => text[..at].to_string(),
                None => text,
            };
            Some((rel, check::code(&text)))
        })
        .collect();
    out.sort();
    assert!(
        out.len() > 5,
        "no call-layer sources found under {}",
        src.display()
    );
    out
}

#[test]
fn only_the_guard_catches_a_calls_panics() {
    let mut wrong = Vec::new();
    for (rel, text) in call_layer_files() {
        let n = text.matches("catch_unwind(").count();
        let allowed = OWN_CATCHES
            .iter()
            .find(|(f, _, _)| *f == rel)
            .map_or(0, |(_, n, _)| *n);
        if n != allowed {
            wrong.push(format!(
                "{rel}: {n} `catch_unwind` calls, {allowed} expected: run user code through \
                 `call::guard::guarded` (or, for an async call, `call::calls::guarded`)"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn only_the_guard_builds_a_panics_status() {
    let wrong: Vec<String> = call_layer_files()
        .into_iter()
        .filter(|(rel, text)| rel != "call/guard.rs" && text.contains("panic_status("))
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        wrong.is_empty(),
        "these build a panic's status themselves instead of through `guard::guarded`: {wrong:?}"
    );
}
