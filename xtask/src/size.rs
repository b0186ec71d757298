//! `cargo xtask size`: the size of the example libraries (and of the floor,
//! `benches/size-floor`) built the way `dist` builds them (release, LTO, one codegen unit, stripped), its largest
//! sections, and which crates the code comes from (an unstripped build of
//! the same profile, read with `nm --size-sort`). Writes `target/size.md`,
//! which `cargo xtask bench` puts into BENCHMARKS.md.

use super::{cargo, run, target_dir, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The release profile `cargo xtask dist` ships with (plus `strip`): LTO,
/// one codegen unit.
pub const PROFILE: [&str; 4] = [
    "--config",
    "profile.release.lto=true",
    "--config",
    "profile.release.codegen-units=1",
];

fn build(package: &str, strip: &str, dir: &Path) -> Result<PathBuf> {
    run(cargo()
        .args(["build", "-q", "--release", "-p", package, "--target-dir"])
        .arg(dir)
        .args(PROFILE)
        .args(["--config", &format!("profile.release.strip=\"{strip}\"")]))?;
    Ok(library(package, dir))
}

/// Where cargo puts `package`'s cdylib under the target directory `dir`.
fn library(package: &str, dir: &Path) -> PathBuf {
    super::dylib(&dir.join("release"), package)
}

/// Linker options that shrink the library without changing its code:
/// identical code folding, and relative relocations packed into `.relr.dyn`
/// (loaders: glibc ≥ 2.36, Android API ≥ 30; older ones refuse the library
/// with a clear error, so they are documented options, not the default).
pub const SMALLER_LINK: [&str; 2] = ["-Wl,--icf=all", "-Wl,-z,pack-relative-relocs"];

/// The stripped library relinked with [`SMALLER_LINK`] (lld, the default
/// linker of x86_64 Linux) in the target directory `dir`, which replaces
/// the plain build there (measure that first); `None` elsewhere.
fn relinked_size(package: &str, dir: &Path) -> Result<Option<u64>> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Ok(None);
    }
    let mut cmd = cargo();
    cmd.args([
        "rustc",
        "-q",
        "--release",
        "--lib",
        "-p",
        package,
        "--target-dir",
    ])
    .arg(dir)
    .args(PROFILE)
    .args(["--config", "profile.release.strip=\"symbols\"", "--"]);
    for arg in SMALLER_LINK {
        cmd.arg("-C").arg(format!("link-arg={arg}"));
    }
    run(&mut cmd)?;
    let size = std::fs::metadata(library(package, dir)).map_err(|e| e.to_string())?;
    Ok(Some(size.len()))
}

/// The size profile (`cargo xtask dist --size-profile`): std rebuilt on
/// nightly without its backtrace symbolizer (`-Z build-std`, features
/// `panic-unwind` only: panics still unwind and are caught; panic reports
/// keep their `frames`) and `opt-level = "s"`; no linker options. Returns
/// `None` (with a note) where nightly with `rust-src` is not installed.
fn size_profile_size(package: &str, dir: &Path) -> Result<Option<u64>> {
    const TRIPLE: &str = "x86_64-unknown-linux-gnu";
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Ok(None);
    }
    if let Err(e) = nightly_with_src() {
        eprintln!("size: {e}: the size profile is not measured");
        return Ok(None);
    }
    let mut cmd = nightly_cargo();
    cmd.args(["build", "-q", "--release", "-p", package])
        .args(["--target", TRIPLE, "--target-dir"])
        .arg(dir)
        .args(SIZE_PROFILE)
        .args(PROFILE)
        .args(["--config", "profile.release.strip=\"symbols\""]);
    run(&mut cmd)?;
    let lib = library(package, &dir.join(TRIPLE));
    Ok(Some(
        std::fs::metadata(lib).map_err(|e| e.to_string())?.len(),
    ))
}

/// Nightly's cargo, run from the workspace without the stable toolchain's
/// variables.
pub fn nightly_cargo() -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo"])
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN")
        .current_dir(super::root());
    cmd
}

/// Whether nightly with `rust-src` (what `-Z build-std` needs) is installed.
pub fn nightly_with_src() -> Result {
    let installed = Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", "nightly"])
        .output()
        .map_err(|e| format!("rustup: {e}"))?;
    if installed.status.success() && String::from_utf8_lossy(&installed.stdout).contains("rust-src")
    {
        Ok(())
    } else {
        Err("the size profile needs nightly with rust-src: `rustup toolchain install nightly --component rust-src`".into())
    }
}

/// The size profile's cargo arguments (see [`size_profile_size`]).
pub const SIZE_PROFILE: [&str; 6] = [
    "-Z",
    "build-std=std,panic_unwind",
    "-Z",
    "build-std-features=panic-unwind",
    "--config",
    "profile.release.opt-level=\"s\"",
];

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Sections by size, from `size -A`.
fn sections(lib: &Path) -> Result<Vec<(String, u64)>> {
    let text = output(Command::new("size").arg("-A").arg(lib))?;
    let mut out: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            let size = w.next()?.parse().ok()?;
            name.starts_with('.').then(|| (name.to_string(), size))
        })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.1));
    Ok(out)
}

/// Code and initialised data bytes by crate (the first path segment of each
/// demangled symbol), from `nm -C --size-sort -S`.
fn crates(lib: &Path) -> Result<Vec<(String, u64)>> {
    let text = output(
        Command::new("nm")
            .args(["-C", "--size-sort", "-S"])
            .arg(lib),
    )?;
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    for line in text.lines() {
        let mut w = line.splitn(4, ' ');
        let (_, size, kind, name) = (w.next(), w.next(), w.next(), w.next());
        let (Some(size), Some(name)) = (size, name) else {
            continue;
        };
        // Zero-initialised statics (`.bss`) take memory, not file bytes.
        if matches!(kind, Some("b" | "B")) {
            continue;
        }
        let Ok(size) = u64::from_str_radix(size, 16) else {
            continue;
        };
        let name = name.trim_start_matches('<').trim_start_matches('&');
        let krate = name
            .split_once("::")
            .map(|(c, _)| c)
            .filter(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'))
            .unwrap_or("(other)");
        *by.entry(krate.to_string()).or_default() += size;
    }
    let mut out: Vec<_> = by.into_iter().collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.1));
    Ok(out)
}

/// `n` bytes in KiB, rounded, with the unit.
pub fn kib(n: u64) -> String {
    format!("{:.0} KiB", n as f64 / 1024.0)
}

/// Builds, measures and writes `target/size.md`.
pub fn size() -> Result {
    let dir = target_dir().join("size");
    let mut md = String::new();
    // `size-floor`: one hand-written prost call under `catch_unwind`, the
    // least any library of this kind links; `size-one-method`: the smallest
    // proto2ffi library; `size-two-services`: a user_service-sized one
    // without async (issue 14's 400 KB target).
    for package in [
        "user-service",
        "bench-lib",
        "size-two-services",
        "size-one-method",
        "size-floor",
    ] {
        let stripped = build(package, "symbols", &dir.join("stripped"))?;
        let full = build(package, "none", &dir.join("symbols"))?;
        let bytes = std::fs::metadata(&stripped)
            .map_err(|e| e.to_string())?
            .len();
        let _ = writeln!(
            md,
            "**{package}** (`cdylib`, release, LTO, 1 codegen unit, stripped): **{} bytes ({})**.\n",
            bytes,
            kib(bytes)
        );
        // `.bss` is memory at run time, not bytes in the file.
        let secs: Vec<_> = sections(&stripped)?
            .into_iter()
            .filter(|(n, _)| n != ".bss" && n != ".tbss")
            .collect();
        let _ = writeln!(
            md,
            "Largest sections in the file: {}.\n",
            secs.iter()
                .take(6)
                .map(|(n, s)| format!("`{n}` {}", kib(*s)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let by_crate = crates(&full)?;
        let _ = writeln!(
            md,
            "Symbols by crate: {}.\n",
            by_crate
                .iter()
                .take(12)
                .map(|(c, s)| format!("{c} {}", kib(*s)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(relinked) = relinked_size(package, &dir.join("stripped"))? {
            let _ = writeln!(
                md,
                "Relinked with `{}`: {} bytes ({}, {:+.1}%).\n",
                SMALLER_LINK.join(" "),
                relinked,
                kib(relinked),
                (relinked as f64 / bytes as f64 - 1.0) * 100.0
            );
        }
        if let Some(small) = size_profile_size(package, &dir.join("size-profile"))? {
            let _ = writeln!(
                md,
                "Size profile (`cargo xtask dist --size-profile`: nightly, `{}`; no linker options): {} bytes ({}, {:+.1}%).\n",
                SIZE_PROFILE.join(" "),
                small,
                kib(small),
                (small as f64 / bytes as f64 - 1.0) * 100.0
            );
        }
        eprintln!("size: {package}: {bytes} bytes");
    }
    let out = target_dir().join("size.md");
    std::fs::write(&out, &md).map_err(|e| e.to_string())?;
    print!("{md}");
    eprintln!("size: wrote {}", out.display());
    Ok(())
}
