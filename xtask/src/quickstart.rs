//! The README's Quickstart, built from the README's own code blocks: the
//! `users` crate (its `Cargo.toml` fragment, `build.rs`, `.proto` and
//! `src/lib.rs`) with its C header and Dart package, its Dart program run
//! on the VM against the library, and the hand-written-trait crate. A
//! snippet that stops compiling, or a Dart program that stops printing what
//! its comments say, fails `cargo xtask test`.

use super::{dart, root, run, target_dir, Result};
use std::path::Path;

use super::markdown::{fenced_blocks, section, Block};

/// The fenced code blocks of the README section headed `## {name}`.
fn readme_blocks(readme: &str, name: &str) -> Result<Vec<Block>> {
    Ok(fenced_blocks(section(readme, name)?))
}

/// The one block of `lang` whose text contains `marker`.
fn pick<'a>(blocks: &'a [Block], lang: &str, marker: &str) -> Result<&'a str> {
    let mut found = blocks
        .iter()
        .filter(|b| b.lang() == lang && b.text.contains(marker));
    match (found.next(), found.next()) {
        (Some(b), None) => Ok(&b.text),
        (None, _) => Err(format!(
            "the README section has no `{lang}` block containing `{marker}`"
        )),
        _ => Err(format!(
            "the README section has several `{lang}` blocks containing `{marker}`"
        )),
    }
}

fn write(path: &Path, text: &str) -> Result {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A standalone crate's manifest: `[package]`, an empty `[workspace]` (so
/// the crate is its own workspace) and the README's fragment with the
/// published dependencies pointed at this checkout.
fn manifest(name: &str, fragment: &str, crates: &[&str]) -> Result<String> {
    let mut text = fragment.to_string();
    for &krate in crates {
        let dir = krate;
        let published = format!("\n{krate} = \"0.1\"");
        if !text.contains(&published) {
            return Err(format!(
                "the Quickstart's Cargo.toml no longer says `{krate} = \"0.1\"`"
            ));
        }
        let local = format!(
            "\n{krate} = {{ path = {:?} }}",
            root().join(dir).display().to_string()
        );
        text = text.replace(&published, &local);
    }
    Ok(format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n{text}"
    ))
}

/// Builds the crate at `dir` (sharing the workspace's target folder and
/// lock file, so nothing already built is built again) for `target`.
fn build(dir: &Path, target: Option<&str>) -> Result {
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock"))
        .map_err(|e| format!("copy Cargo.lock: {e}"))?;
    let mut cmd = super::cargo();
    cmd.current_dir(dir)
        .args(["build", "-q", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir());
    if let Some(t) = target {
        cmd.args(["--target", t]);
    }
    run(&mut cmd)
}

/// The committed list of the crates a user's build compiles.
const DEPENDENCIES: &str = "xtask/quickstart-dependencies.txt";

/// The crates a build of the crate at `dir` compiles (`cargo tree`: normal
/// and build dependencies, for this machine), one `name major` a line
/// (`0.x` for 0.x versions), checked against [`DEPENDENCIES`]: a crate
/// added, or a second version of one, fails the tests until the list is
/// updated with `PROTO2FFI_BLESS=1 cargo xtask quickstart`, so the user's
/// cold build (BENCHMARKS.md) cannot grow unnoticed.
fn dependencies(dir: &Path) -> Result {
    let out = super::cargo()
        .current_dir(dir)
        .args(["tree", "-q", "-e", "normal,build"])
        .args(["--prefix", "none", "--format", "{p}", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .output()
        .map_err(|e| format!("cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut crates: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let (name, version) = (words.next()?, words.next()?.trim_start_matches('v'));
            let mut parts = version.split('.');
            let major = parts.next()?;
            let series = if major == "0" {
                format!("0.{}", parts.next()?)
            } else {
                major.to_string()
            };
            Some(format!("{name} {series}"))
        })
        .filter(|l| !l.starts_with("users ") && !l.starts_with("proto2ffi"))
        .collect();
    crates.sort();
    crates.dedup();
    let now = format!(
        "# The crates a build of the README's Quickstart compiles besides proto2ffi's own\n# (normal and build dependencies; checked by `cargo xtask quickstart`;\n# update with PROTO2FFI_BLESS=1 after weighing what a new one costs).\n{}\n",
        crates.join("\n")
    );
    let path = root().join(DEPENDENCIES);
    if std::env::var_os("PROTO2FFI_BLESS").is_some() {
        return std::fs::write(&path, now).map_err(|e| e.to_string());
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == now {
        return Ok(());
    }
    let old: Vec<&str> = committed.lines().filter(|l| !l.starts_with('#')).collect();
    let new: Vec<&str> = now.lines().filter(|l| !l.starts_with('#')).collect();
    let added: Vec<&str> = new.iter().filter(|c| !old.contains(c)).copied().collect();
    let gone: Vec<&str> = old.iter().filter(|c| !new.contains(c)).copied().collect();
    Err(format!(
        "the Quickstart's dependencies changed (added: {added:?}; gone: {gone:?}): weigh what they cost the user's cold build, then `PROTO2FFI_BLESS=1 cargo xtask quickstart` updates {DEPENDENCIES}"
    ))
}

/// Builds both Quickstart crates and runs the Dart program (when a VM is
/// there: `cargo xtask test` has set one up, or said why not).
pub fn check(vm: Option<&dart::Vm>) -> Result {
    let readme = std::fs::read_to_string(root().join("README.md")).map_err(|e| e.to_string())?;
    let blocks = readme_blocks(&readme, "Quickstart")?;
    let work = target_dir().join("quickstart");

    // The `users` crate, exactly as the README writes it.
    let users = work.join("users");
    let _ = std::fs::remove_dir_all(&users);
    write(
        &users.join("Cargo.toml"),
        &manifest(
            "users",
            pick(&blocks, "toml", "[dependencies]")?,
            &["proto2ffi-build", "proto2ffi"],
        )?,
    )?;
    write(
        &users.join("build.rs"),
        pick(&blocks, "rust", "proto2ffi_build::configure()")?,
    )?;
    write(
        &users.join("proto/user.proto"),
        pick(&blocks, "proto", "service UserService")?,
    )?;
    write(
        &users.join("src/lib.rs"),
        pick(&blocks, "rust", "include_proto!")?,
    )?;
    eprintln!("\n== quickstart: the README's `users` crate ==");
    build(&users, vm.and_then(|vm| vm.rust_target))?;
    dependencies(&users)?;
    for generated in [
        "include/users.h",
        "dart/lib/users.dart",
        "dart/pubspec.yaml",
        "dart/hook/build.dart",
        "dart/hook/proto2ffi_cargo.dart",
    ] {
        if !users.join(generated).exists() {
            return Err(format!(
                "the Quickstart's build.rs did not write {generated}"
            ));
        }
    }

    // The guide's "Use from Flutter": the Quickstart's crate with that
    // page's build.rs; its hook must build this crate with the feature it
    // names.
    let guide = root().join("docs/src/flutter.md");
    let flutter = fenced_blocks(
        &std::fs::read_to_string(&guide).map_err(|e| format!("{}: {e}", guide.display()))?,
    );
    let hooked = work.join("users-hook");
    let _ = std::fs::remove_dir_all(&hooked);
    write(
        &hooked.join("Cargo.toml"),
        &manifest(
            "users-hook",
            &format!(
                "{}\n[features]\nmobile = []\n",
                pick(&blocks, "toml", "[dependencies]")?
            ),
            &["proto2ffi-build", "proto2ffi"],
        )?,
    )?;
    write(
        &hooked.join("build.rs"),
        pick(&flutter, "rust", "proto2ffi_build::configure()")?,
    )?;
    write(
        &hooked.join("proto/user.proto"),
        pick(&blocks, "proto", "service UserService")?,
    )?;
    write(
        &hooked.join("src/lib.rs"),
        pick(&blocks, "rust", "include_proto!")?,
    )?;
    eprintln!("\n== quickstart: the build.rs of \"Use from Flutter\" ==");
    build(&hooked, None)?;
    let hook = std::fs::read_to_string(hooked.join("dart/hook/build.dart"))
        .map_err(|e| format!("the Use from Flutter build.rs wrote no hook: {e}"))?;
    for expected in [
        "const crateDir = '..';",
        "const cargoPackage = 'users-hook';",
        "const libraryName = 'users_hook';",
        "const features = <String>['mobile'];",
    ] {
        if !hook.contains(expected) {
            return Err(format!(
                "the hook of the Use from Flutter build.rs lacks `{expected}`"
            ));
        }
    }

    // The hand-written trait, in a crate of its own (no build.rs).
    let echo = work.join("echo");
    let _ = std::fs::remove_dir_all(&echo);
    write(
        &echo.join("Cargo.toml"),
        &manifest(
            "echo",
            "[lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n[dependencies]\nproto2ffi = \"0.1\"\n",
            &["proto2ffi"],
        )?,
    )?;
    write(
        &echo.join("src/lib.rs"),
        pick(&blocks, "rust", "pub trait Echo")?,
    )?;
    eprintln!("\n== quickstart: the README's hand-written trait ==");
    build(&echo, None)?;

    let Some(vm) = vm else {
        eprintln!("\nSKIPPED: the Quickstart's Dart program: no Dart VM\n");
        return Ok(());
    };
    // The app: its program is the README's, its package config points
    // `package:users` at the generated package (what `pub get` writes for
    // a path dependency).
    let app = work.join("app");
    let _ = std::fs::remove_dir_all(&app);
    let program = app.join("bin/main.dart");
    write(&program, pick(&blocks, "dart", "package:users/users.dart")?)?;
    write(
        &app.join(".dart_tool/package_config.json"),
        &format!(
            "{{\"configVersion\": 2, \"packages\": [{{\"name\": \"users\", \"rootUri\": {:?}, \"packageUri\": \"lib/\", \"languageVersion\": \"3.0\"}}]}}\n",
            format!("file://{}/", users.join("dart").display())
        ),
    )?;
    let profile = match vm.rust_target {
        Some(t) => target_dir().join(t).join("debug"),
        None => target_dir().join("debug"),
    };
    eprintln!("\n== quickstart: the README's Dart program ==");
    let out = vm
        .command_with_library_dir(&program, &profile)
        .current_dir(&app)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprint!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let expected = ["Ada", "StatusCode.notFound: user 8 does not exist", "Ada"];
    let lines: Vec<&str> = stdout.lines().collect();
    if !out.status.success() || lines != expected {
        return Err(format!(
            "the Quickstart's Dart program printed {lines:?} ({}), not {expected:?} as its comments say",
            out.status
        ));
    }
    eprintln!("quickstart: 1 passed, 0 failed");
    Ok(())
}
