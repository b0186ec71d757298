//! The build crate's layers stay layers (the rule: `tests/layers/check.rs`).

#[path = "../../tests/layers/check.rs"]
mod check;

use std::path::Path;

/// Bottom to top: the error type; the schema as read (descriptors,
/// fingerprints, comments and options, Dart names); the fixed-layout
/// model; the library model; the three generators, peers; the builder
/// that runs them and the writer of their files.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["schema"],
    &["fixed"],
    &["model"],
    &["rust", "c_header", "dart"],
    &["write"],
    &["builder"],
];

#[test]
fn imports_point_down_or_stay_in_their_folder() {
    check::check(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        LAYERS,
        &[],
    );
}
