//! `cargo xtask layouts [N]`: the small-message comparison over N code
//! layouts of the same benchmark library.
//!
//! A small protobuf call here runs about a thousand instructions, and the
//! guard adds a dozen or two; where the linker happens to place prost's
//! decode loop moves the time of *every* variant by several percent (seen:
//! the same machine code 133 vs 145 ns after an unrelated change). One build
//! is one sample of that placement. So bench-lib is relinked with the
//! linker's section order shuffled (`lld --shuffle-sections=*=<seed>`; every
//! function is its own section, so this permutes where functions land and
//! nothing else: same code, same instructions), each layout is timed with
//! `profile compare-json`, and the report gives every layout's ratios and
//! their median — layout randomisation in the manner of Mytkowicz et al.,
//! "Producing wrong data without doing anything obviously wrong!" (ASPLOS
//! 2009) and Stabilizer (Curtsinger & Berger, ASPLOS 2013), at link time.
//!
//! Seed 0 is the default layout (no shuffle). Writes
//! `target/bench/layouts.json`, which `cargo xtask bench` reports.

use super::{cargo, root, run, target_dir, Result};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

/// Rounds per layout of `profile compare-json` (500,000 calls per variant
/// and round).
pub const ROUNDS: usize = 11;

/// Builds bench-lib with the given link order (`None`: the default) and
/// copies it to `target/bench/layouts/`.
fn build(seed: Option<u32>) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args(["rustc", "-q", "--release", "-p", "bench-lib", "--lib"]);
    if let Some(seed) = seed {
        cmd.args(["--", "-C"])
            .arg(format!("link-arg=-Wl,--shuffle-sections=*={seed}"));
    }
    run(&mut cmd)?;
    let dir = target_dir().join("bench").join("layouts");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let to = dir.join(format!("bench_lib-{}.so", seed.unwrap_or(0)));
    std::fs::copy(
        super::dylib(&target_dir().join("release"), "bench-lib"),
        &to,
    )
    .map_err(|e| e.to_string())?;
    Ok(to)
}

/// Times every small-message variant in `layouts` layouts (the default and
/// `layouts - 1` shuffled ones) and returns
/// `[{"seed": s, "variants": {"generated": [best, median], …}}, …]`.
pub fn measure(layouts: u32) -> Result<Value> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Err("layouts: needs lld (the default linker of x86_64 Linux)".into());
    }
    let profile = super::bench::profile_binary()?;
    let mut rows = Vec::new();
    for seed in 0..layouts.max(1) {
        let lib = build((seed > 0).then_some(seed))?;
        let out = Command::new(&profile)
            .arg("compare-json")
            .arg(ROUNDS.to_string())
            .env("PROTO2FFI_BENCH_LIB", &lib)
            .current_dir(root())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "profile compare-json on {}: {}",
                lib.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let variants: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        eprintln!("layout {seed}: {variants}");
        rows.push(json!({ "seed": seed, "variants": variants }));
    }
    // Leave the default layout in target/release for everything else.
    build(None)?;
    let value = Value::Array(rows);
    let saved = target_dir().join("bench").join("layouts.json");
    std::fs::write(&saved, value.to_string()).map_err(|e| e.to_string())?;
    Ok(value)
}

/// Best ns of `variant` in one layout's row.
pub fn best(row: &Value, variant: &str) -> Option<f64> {
    row["variants"][variant][0].as_f64()
}

/// The median over layouts of `a ÷ b` (each layout's best rounds).
pub fn median_ratio(rows: &Value, a: &str, b: &str) -> Option<f64> {
    let mut r: Vec<f64> = rows
        .as_array()?
        .iter()
        .filter_map(|row| Some(best(row, a)? / best(row, b)?))
        .collect();
    if r.is_empty() {
        return None;
    }
    r.sort_by(f64::total_cmp);
    let n = r.len();
    Some(if n % 2 == 1 {
        r[n / 2]
    } else {
        (r[n / 2 - 1] + r[n / 2]) / 2.0
    })
}

/// `cargo xtask layouts [N]`: measures and prints each layout's ratios.
pub fn main(layouts: u32) -> Result {
    let rows = measure(layouts)?;
    for row in rows.as_array().into_iter().flatten() {
        let r = |a, b| best(row, a).zip(best(row, b)).map(|(x, y)| x / y);
        println!(
            "layout {}: generated ÷ handwritten {:.3}, no rate limit ÷ handwritten {:.3}, generated ÷ ffi_support {:.3}",
            row["seed"],
            r("generated", "handwritten").unwrap_or(f64::NAN),
            r("unlimited", "handwritten").unwrap_or(f64::NAN),
            r("generated", "ffi_support").unwrap_or(f64::NAN),
        );
    }
    for (a, b) in [
        ("generated", "handwritten"),
        ("unlimited", "handwritten"),
        ("generated", "ffi_support"),
    ] {
        println!(
            "median over {layouts} layouts: {a} ÷ {b} {:.3}",
            median_ratio(&rows, a, b).unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
