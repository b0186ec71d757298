//! `cargo xtask fuzz --seconds N`: every cargo-fuzz target under `fuzz/`
//! for N seconds each, starting from the committed corpus.
//!
//! Needs a nightly toolchain (cargo fuzz builds with sanitizers) and
//! `cargo-fuzz`; without them it says so and, unless `required`, skips.
//! New inputs the fuzzer finds go to `<target dir>/fuzz-corpus/<target>`,
//! never into the repository; a crash fails the command and leaves its
//! reproducer under `fuzz/artifacts/<target>/`.

use super::{root, run, target_dir, Result};
use std::process::Command;

fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn has_cargo_fuzz() -> bool {
    Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The fuzz targets (file stems under `fuzz/fuzz_targets`), sorted.
fn targets() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("fuzz/fuzz_targets"))
        .map_err(|e| format!("fuzz/fuzz_targets: {e}"))?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".rs")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Runs every target for `seconds`.
pub fn fuzz(seconds: u64, required: bool) -> Result {
    if !has_nightly() || !has_cargo_fuzz() {
        let why = "cargo fuzz needs a nightly toolchain and cargo-fuzz \
                   (`rustup toolchain install nightly`, `cargo install cargo-fuzz --locked`)";
        if required {
            return Err(why.into());
        }
        eprintln!("SKIPPED: fuzzing: {why}");
        return Ok(());
    }
    let targets = targets()?;
    for t in &targets {
        let work = target_dir().join("fuzz-corpus").join(t);
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        let seeds = root().join("fuzz/corpus").join(t);
        let mut cmd = Command::new("cargo");
        cmd.current_dir(root())
            .args(["+nightly", "fuzz", "run", t])
            .arg(&work)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1");
        run(&mut cmd)?;
    }
    eprintln!(
        "fuzz: {} target(s) ran {seconds} s each with no crash",
        targets.len()
    );
    Ok(())
}
