//! The runtime's layers stay layers (the rule: `tests/layers/check.rs`).

#[path = "../../tests/layers/check.rs"]
mod check;

use std::path::Path;

/// Bottom to top; folders on one line are peers and may not import each
/// other. `lib.rs` (the public API) sits above them all.
const LAYERS: &[&[&str]] = &[
    &["sys"],
    &["abi"],
    &["error"],
    &["policy", "observe"],
    &["library"],
    &["call"],
    &["fixed"],
    &["report"],
    &["exports"],
];

/// Imports that point up today, each with the reason and the work that
/// removes it.
const DEBT: &[(&str, &str, &str)] = &[];

#[test]
fn imports_point_down_or_stay_in_their_folder() {
    check::check(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        LAYERS,
        DEBT,
    );
}

#[test]
fn root_items_resolve_to_the_layer_they_come_from() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let roots = check::root_items(LAYERS, &lib);
    assert!(
        roots
            .iter()
            .any(|(name, layer)| name == "Status" && layer == "error"),
        "lib.rs's re-exports were not read: {roots:?}"
    );
}

#[test]
fn the_path_reader_sees_groups_and_skips_other_crates() {
    let paths = check::crate_paths(
        "use crate::{sys::{thread, clock}, error::status::Status, Library};\n\
         let x = crate::policy::rate::X; $crate::call::y; my_crate::z;",
    );
    let got: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_eq!(got, ["Library", "error", "policy", "sys"]);
}
