//! `cargo xtask` finds build outputs where cargo put them, also under a
//! custom `CARGO_TARGET_DIR` (shared target folders and build caches are
//! common). Before, `demo` built into that folder and then looked under
//! `./target`.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn demo_runs_under_a_custom_cargo_target_dir() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // When this test already runs under a custom target folder (CI sets
    // one: the checkout's `target/` stays empty there), the demo runs in it
    // and reuses its builds. Otherwise it gets a folder under this test's
    // own target folder, so that repeated runs build incrementally; a name
    // no xtask command uses by default.
    let custom = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute() && d != &root.join("target"))
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("custom-target-dir"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        // One demo is enough to prove the paths (both use `target_dir()`);
        // the second would rebuild its dependencies in this cold folder.
        .args(["xtask", "demo", "user-service"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", &custom)
        .output()
        .expect("run cargo xtask demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo xtask demo failed under CARGO_TARGET_DIR={}:\n{stdout}\n{}",
        custom.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(custom.join("debug").is_dir());
    assert!(stdout.contains("user.v1.UserService"), "{stdout}");
}
