//! `cargo xtask <command>`: project automation.
//!
//! | command | what it does |
//! |---|---|
//! | `demo [user-service \| particles]` | builds the example libraries (user-service with its demo-only service) and runs their demo hosts; one when named |
//! | `test` | every test: `cargo test --workspace`, then the Dart VM tests (set up on demand), then the README's Quickstart built from its own code blocks with its Dart program run on the VM |
//! | `dart-vm` | sets up the Dart VM of DESIGN.md under `target/dart-vm` (idempotent) |
//! | `dart-test` | runs the Dart tests (VM or `dart` on PATH) |
//! | `codegen [--check]` | regenerates the files committed in `examples/`; `--check` fails with a diff when they are stale |
//! | `dist --target <triple> [--package <p>] [--features <f>] [--size-profile]` | release build, stripped, with header and Dart package, under `target/dist/<triple>`; `--size-profile`: nightly std without its symbolizer, `opt-level = "s"` |
//! | `valgrind` | runs the ABI tests under valgrind and fails on any invalid access or definitely-lost byte |
//! | `quickstart` | the README's Quickstart built from its code blocks, its Dart program run on the VM, the crates it compiles checked against `xtask/quickstart-dependencies.txt` (`PROTO2FFI_BLESS=1` updates it; part of `test`) |
//! | `public-api` | the public surface of `proto2ffi`, `proto2ffi-runtime` and `proto2ffi-build` (rustdoc JSON, nightly) checked against `public-api/*.txt` (`PROTO2FFI_BLESS=1` updates them; part of `test`) |
//! | `miri` | Miri over the unit tests of the runtime's unsafe modules (nightly; installs the component) |
//! | `sanitize` | the async/stream ABI tests, library and fixtures built with AddressSanitizer (nightly) |
//! | `bench [--quick] [--report-only]` | criterion suite + allocation/scaling report + the Quickstart's cold build + Dart benchmark → `BENCHMARKS.md`, `BENCHMARKS.svg` |
//! | `clients` | builds and runs the examples' C clients (strict gcc; particles also `-m32`) and the Python client |
//! | `cross [--target <triple>]` | the core, runtime and ABI tests and the C clients for aarch64 and armv7 Linux under QEMU user mode (installs QEMU, clang, lld and the cross sysroots), then `phones` |
//! | `phones` | `cargo check` of the runtime, the facade and an example for the Android and iOS targets |
//! | `docs` | checks the guide under `docs/` (links, `SUMMARY.md`, where each Rust block is tested) and builds it with mdBook into `<target>/book` |
//! | `size` | the example library's size as `dist` builds it, by section and by crate → `target/size.md` |
//! | `layouts [N]` | the small-message variants timed over N code layouts of bench-lib (default 7: the default link order and 6 shuffled ones), each layout's ratios and their median |
//! | `fuzz [--seconds N] [--required]` | every cargo-fuzz target under `fuzz/` for N seconds (default 60), from the committed corpus |

mod bench;
mod checks;
mod cross;
mod dart;
mod docs;
mod fuzz;
mod layouts;
mod markdown;
mod public_api;
mod quickstart;
mod size;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type Result<T = ()> = std::result::Result<T, String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Where cargo puts build outputs: `cargo metadata`'s `target_directory`,
/// which honours `CARGO_TARGET_DIR`, `build.target-dir` and workspaces.
fn target_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let out = cargo()
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .stderr(std::process::Stdio::inherit())
            .output();
        out.ok()
            .filter(|o| o.status.success())
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .and_then(|v| v["target_directory"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| root().join("target"))
    })
    .clone()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs a command, echoing it; fails with its exit status.
fn run(cmd: &mut Command) -> Result {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(args.get(1).map(String::as_str)),
        Some("test") => test(),
        Some("dart-vm") => dart::ensure_vm().map(|vm| {
            eprintln!("Dart VM ready: {}", vm.describe());
        }),
        Some("dart-test") => dart::test(true),
        Some("codegen") => codegen(args.iter().any(|a| a == "--check")),
        Some("quickstart") => quickstart::check(dart::ensure_vm().ok().as_ref()),
        Some("miri") => checks::miri(),
        Some("sanitize") => checks::sanitize(),
        Some("dist") => dist(&args[1..]),
        Some("valgrind") => valgrind(),
        Some("clients") => clients(),
        Some("cross") => cross::cross(
            args.iter()
                .position(|a| a == "--target")
                .and_then(|i| args.get(i + 1))
                .map(String::as_str),
        ),
        Some("phones") => cross::check_phones(),
        Some("docs") => docs::docs(),
        Some("size") => size::size(),
        Some("public-api") => public_api::check(),
        Some("layouts") => layouts::main(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(7)),
        Some("fuzz") => {
            let seconds = args
                .iter()
                .position(|a| a == "--seconds")
                .and_then(|i| args.get(i + 1))
                .and_then(|s| s.parse().ok())
                .unwrap_or(60);
            fuzz::fuzz(seconds, args.iter().any(|a| a == "--required"))
        }
        Some("bench") => bench::bench(
            args.iter().any(|a| a == "--quick"),
            args.iter().any(|a| a == "--report-only"),
        ),
        _ => {
            eprintln!(
                "usage: cargo xtask <demo [user-service | particles] | test | dart-vm | dart-test | codegen [--check] | dist --target <triple> [--package <p>] [--features <f>] [--size-profile] | quickstart | public-api | valgrind | miri | sanitize | clients | cross [--target <triple>] | phones | docs | size | layouts [N] | fuzz [--seconds N] [--required] | bench [--quick] [--report-only]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs both demos, or the one named (`user-service`, `particles`).
fn demo(only: Option<&str>) -> Result {
    if let Some(o) = only.filter(|o| !matches!(*o, "user-service" | "particles")) {
        return Err(format!("unknown demo `{o}`: user-service or particles"));
    }
    if only != Some("particles") {
        user_service_demo()?;
    }
    if only != Some("user-service") {
        particles_demo()?;
    }
    Ok(())
}

/// Where cargo puts `package`'s cdylib in the profile directory `dir`
/// (`lib<name>.so`, `lib<name>.dylib`, `<name>.dll`).
fn dylib(dir: &Path, package: &str) -> PathBuf {
    dir.join(format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    ))
}

fn user_service_demo() -> Result {
    run(cargo().args(["build", "-q", "-p", "user-service", "--features", "demo"]))?;
    let lib = dylib(&target_dir().join("debug"), "user-service");
    run(cargo()
        .args(["run", "-q", "-p", "user-service-demo", "--"])
        .arg(lib)
        .env("RUST_BACKTRACE", "0"))
}

/// Fixed-layout messages: structs across the boundary, no encoding.
fn particles_demo() -> Result {
    println!("\n#### particles: fixed-layout structs (examples/particles) ####\n");
    // The dev profile (optimised for these packages in the workspace
    // Cargo.toml): no second, release build of every dependency.
    run(cargo().args(["build", "-q", "-p", "particles", "-p", "image-pipeline"]))?;
    let lib = |name: &str| dylib(&target_dir().join("debug"), name);
    run(cargo()
        .args(["run", "-q", "-p", "particles-demo", "--"])
        .arg(lib("particles"))
        .arg(lib("image_pipeline")))
}

fn test() -> Result {
    run(cargo().args(["test", "--workspace"]))?;
    // The runtime's unit tests as a 32-bit program too: its per-target code
    // (the TSC clock of 32-bit x86, 64-bit
    // counters on a 32-bit CPU) runs where the Dart VM here runs.
    if dart::i686_ready() {
        run(cargo().args([
            "test",
            "-q",
            "-p",
            "proto2ffi-runtime",
            "--lib",
            "--target",
            "i686-unknown-linux-gnu",
        ]))?;
    }
    public_api::check()?;
    dart::test(false)?;
    // After the Dart tests, which set up the VM when they can.
    quickstart::check(dart::find_vm().as_ref())
}

/// Files the example's build script writes into the repository.
fn generated_files() -> Vec<PathBuf> {
    let ex = root().join("examples/user_service");
    let particles = root().join("examples/particles");
    let image = root().join("examples/image_pipeline");
    let mut files = vec![
        ex.join("include/user_service.h"),
        ex.join("python/user_service.binpb"),
        particles.join("include/particles.h"),
        image.join("include/image_pipeline.h"),
    ];
    for example in [&ex, &particles, &image] {
        collect(&example.join("dart/lib"), &mut files);
        collect(&example.join("dart/hook"), &mut files);
    }
    files
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                collect(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

fn codegen(check: bool) -> Result {
    let before: Vec<(PathBuf, Option<Vec<u8>>)> = generated_files()
        .into_iter()
        .map(|p| {
            let c = std::fs::read(&p).ok();
            (p, c)
        })
        .collect();
    // The example's build script regenerates everything (writing only what changed).
    run(cargo()
        .args([
            "build",
            "-q",
            "-p",
            "user-service",
            "-p",
            "particles",
            "-p",
            "image-pipeline",
        ])
        .env(
            "PROTO2FFI_FORCE_REGENERATE",
            format!("{:?}", std::time::SystemTime::now()),
        ))?;
    let after = generated_files();
    let mut stale = Vec::new();
    for path in after.iter() {
        let old = before
            .iter()
            .find(|(p, _)| p == path)
            .and_then(|(_, c)| c.clone());
        let new = std::fs::read(path).ok();
        if old != new {
            stale.push((path.clone(), old, new));
        }
    }
    for (path, old) in &before {
        if !after.contains(path) {
            stale.push((path.clone(), old.clone(), None));
        }
    }
    if stale.is_empty() {
        eprintln!("codegen: {} generated files are up to date", after.len());
        return Ok(());
    }
    for (path, old, new) in &stale {
        let rel = path.strip_prefix(root()).unwrap_or(path).display();
        eprintln!("--- {rel} (committed)\n+++ {rel} (generated)");
        print_diff(old.as_deref().unwrap_or(&[]), new.as_deref().unwrap_or(&[]));
    }
    if check {
        // Put the committed versions back: --check never changes the tree.
        for (path, old, _) in &stale {
            match old {
                Some(c) => std::fs::write(path, c).map_err(|e| e.to_string())?,
                None => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        return Err(format!(
            "{} generated file(s) are stale; run `cargo xtask codegen` and commit",
            stale.len()
        ));
    }
    eprintln!("codegen: updated {} file(s)", stale.len());
    Ok(())
}

/// A small line diff (common prefix/suffix trimmed), enough to see what changed.
fn print_diff(old: &[u8], new: &[u8]) {
    let (old, new) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    eprintln!("@@ line {} @@", prefix + 1);
    for l in &a[prefix..a.len() - suffix] {
        eprintln!("-{l}");
    }
    for l in &b[prefix..b.len() - suffix] {
        eprintln!("+{l}");
    }
}

fn dist(args: &[String]) -> Result {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let target =
        value("--target").ok_or("dist needs --target <triple>, e.g. aarch64-linux-android")?;
    let package = value("--package").unwrap_or_else(|| "user-service".into());
    if !target_installed(&target) {
        return Err(format!(
            "the Rust target {target} is not installed: run `rustup target add {target}` (and install its linker/SDK: Android NDK, Xcode, MSVC or mingw as the README's production checklist says)"
        ));
    }
    // `--size-profile`: std rebuilt on nightly without its symbolizer and
    // `opt-level = "s"` (see the guide's production checklist).
    let mut build = if args.iter().any(|a| a == "--size-profile") {
        size::nightly_with_src()?;
        let mut cmd = size::nightly_cargo();
        cmd.args(["build", "--release"]).args(size::SIZE_PROFILE);
        cmd
    } else {
        let mut cmd = cargo();
        cmd.args(["build", "--release"]);
        cmd
    };
    if let Some(features) = value("--features") {
        build.args(["--features", &features]);
    }
    run(build
        .args(["-p", &package, "--target", &target])
        .args(["--config", "profile.release.strip=\"symbols\""])
        .args(size::PROFILE))?;
    let lib_name = package.replace('-', "_");
    let built = target_dir().join(&target).join("release");
    let out = target_dir().join("dist").join(&target);
    std::fs::create_dir_all(out.join("lib")).map_err(|e| e.to_string())?;
    let mut copied = Vec::new();
    for file in [
        format!("lib{lib_name}.so"),
        format!("lib{lib_name}.dylib"),
        format!("{lib_name}.dll"),
        format!("lib{lib_name}.a"),
        format!("{lib_name}.lib"),
    ] {
        let src = built.join(&file);
        if src.exists() {
            std::fs::copy(&src, out.join("lib").join(&file)).map_err(|e| e.to_string())?;
            copied.push(file);
        }
    }
    if package == "user-service" {
        let ex = root().join("examples/user_service");
        std::fs::create_dir_all(out.join("include")).map_err(|e| e.to_string())?;
        std::fs::copy(
            ex.join("include/user_service.h"),
            out.join("include/user_service.h"),
        )
        .map_err(|e| e.to_string())?;
        copy_dir(&ex.join("dart/lib"), &out.join("dart/lib"))?;
        if ex.join("dart/pubspec.yaml").exists() {
            std::fs::copy(ex.join("dart/pubspec.yaml"), out.join("dart/pubspec.yaml"))
                .map_err(|e| e.to_string())?;
        }
    }
    eprintln!(
        "dist: {} -> {} ({})",
        target,
        out.display(),
        copied.join(", ")
    );
    Ok(())
}

/// Whether rustup has the standard library for `target`.
fn target_installed(target: &str) -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == target)
        })
        .unwrap_or(false)
}

fn copy_dir(from: &Path, to: &Path) -> Result {
    if !from.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(from).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), dest).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn valgrind() -> Result {
    if Command::new("valgrind").arg("--version").output().is_err() {
        return Err("valgrind is not installed (apt-get install valgrind)".into());
    }
    // Build the test binaries and learn their paths.
    let out = cargo()
        .args([
            "test",
            "-p",
            "abi-tests",
            "--no-run",
            "--message-format=json",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut binaries: Vec<String> = text
        .lines()
        .filter(|l| l.contains("\"test\":true") && l.contains("\"executable\":\""))
        .filter_map(|l| {
            l.split("\"executable\":\"")
                .nth(1)?
                .split('"')
                .next()
                .map(str::to_string)
        })
        .collect();
    binaries.sort();
    binaries.dedup();
    // `fork` runs forked children that must answer within a deadline;
    // under valgrind (which serialises threads and traces the children)
    // it proves nothing about the library and hangs: it runs natively in
    // `cargo xtask test`.
    binaries.retain(|b| {
        !Path::new(b)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("fork-"))
    });
    if binaries.is_empty() {
        return Err("no ABI test binaries found".into());
    }
    for bin in binaries {
        run(Command::new("valgrind")
            .args([
                "--quiet",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--error-exitcode=99",
            ])
            .arg(format!(
                "--suppressions={}",
                root().join("tests/abi/valgrind.supp").display()
            ))
            .arg(&bin)
            .args(["--test-threads=1"])
            .env("PROTO2FFI_TEST_SCALE", "0.001"))?;
    }
    eprintln!("valgrind: 0 bytes definitely lost in every ABI test binary");
    Ok(())
}

/// Makes `import google.protobuf` work in `python3` (pip-installs it once).
fn ensure_python_protobuf() -> Result {
    let has_protobuf = Command::new("python3")
        .args(["-c", "import google.protobuf"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !has_protobuf {
        run(Command::new("python3").args(["-m", "pip", "install", "-q", "protobuf>=4.21"]))
            .map_err(|e| format!("{e}: Python checks need the `protobuf` package"))?;
    }
    Ok(())
}

fn clients() -> Result {
    run(cargo().args(["build", "-q", "-p", "user-service"]))?;
    let ex = root().join("examples/user_service");
    let lib_dir = target_dir().join("debug");
    let exe = target_dir().join("debug/user-service-c-client");
    run(Command::new("gcc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(ex.join("include"))
        .arg(ex.join("c/main.c"))
        .arg("-L")
        .arg(&lib_dir)
        .arg("-luser_service")
        .arg("-pthread")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-o")
        .arg(&exe))?;
    run(&mut Command::new(&exe))?;
    let lib = dylib(&lib_dir, "user-service");
    ensure_python_protobuf()?;
    run(Command::new("python3")
        .arg(ex.join("python/client.py"))
        .arg(lib))?;
    particles_c_client()
}

/// The particles C client (fixed-layout structs through the header), built
/// with the strict flags and run; also as a 32-bit program when the
/// toolchain can link one (the i686 target and gcc-multilib).
fn particles_c_client() -> Result {
    let ex = root().join("examples/particles");
    let mut targets: Vec<(Option<&str>, &[&str])> = vec![(None, &[])];
    if dart::i686_ready() {
        targets.push((Some("i686-unknown-linux-gnu"), &["-m32"]));
    }
    for (target, flags) in targets {
        let mut build = cargo();
        build.args(["build", "-q", "-p", "particles"]);
        let lib_dir = match target {
            Some(t) => {
                build.args(["--target", t]);
                target_dir().join(t).join("debug")
            }
            None => target_dir().join("debug"),
        };
        run(&mut build)?;
        let exe = lib_dir.join("particles-c-client");
        run(Command::new("gcc")
            .args(flags)
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
            .arg(ex.join("include"))
            .arg(ex.join("c/main.c"))
            .arg("-L")
            .arg(&lib_dir)
            .arg("-lparticles")
            .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
            .arg("-o")
            .arg(&exe))?;
        run(&mut Command::new(&exe))?;
    }
    Ok(())
}
