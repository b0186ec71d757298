//! The Dart side: finding or setting up a Dart VM, building the libraries
//! the Dart tests load, and running the tests.
//!
//! A VM is, in order: `$PROTO2FFI_DART` (path to a `dart` executable), `dart`
//! on PATH (an x64 SDK: libraries are built for the host), or the linux_ia32
//! VM from the npm package `sass-embedded-linux-ia32` set up under
//! `target/dart-vm` with a private 32-bit glibc (libraries are then built for
//! `i686-unknown-linux-gnu`). See DESIGN.md, "Running Dart here".

use super::{root, run, target_dir, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

const SASS_PACKAGE: &str = "sass-embedded-linux-ia32@1.89.0";
const I686: &str = "i686-unknown-linux-gnu";

/// How to start the Dart VM, and which Rust target its libraries need.
pub struct Vm {
    program: PathBuf,
    prefix_args: Vec<OsString>,
    /// `None`: the host target.
    pub rust_target: Option<&'static str>,
}

impl Vm {
    /// A command that runs `script` on this VM.
    pub fn command(&self, script: &Path) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.prefix_args).arg(script);
        c
    }

    /// [`Vm::command`], with `dir` searched for libraries the program
    /// opens by name (the platform default of `XServiceClient.open()`).
    pub fn command_with_library_dir(&self, script: &Path, dir: &Path) -> Command {
        let mut args = self.prefix_args.clone();
        match args.iter().position(|a| a == "--library-path") {
            // The private loader's own search path replaces LD_LIBRARY_PATH.
            Some(i) if i + 1 < args.len() => {
                let mut joined = args[i + 1].clone();
                joined.push(":");
                joined.push(dir);
                args[i + 1] = joined;
            }
            _ => {}
        }
        let mut c = Command::new(&self.program);
        c.args(&args).arg(script);
        let mut path = OsString::from(dir);
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
            path.push(":");
            path.push(old);
        }
        c.env("LD_LIBRARY_PATH", path);
        c
    }

    /// One line saying what this VM is.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.program.display().to_string()];
        parts.extend(
            self.prefix_args
                .iter()
                .map(|a| a.to_string_lossy().into_owned()),
        );
        format!(
            "{} (libraries for {})",
            parts.join(" "),
            self.rust_target.unwrap_or("the host")
        )
    }
}

fn vm_dir() -> PathBuf {
    target_dir().join("dart-vm")
}

fn ia32_vm() -> Option<Vm> {
    let dir = vm_dir();
    let vm = dir.join("package/dart-sass/src/dart");
    let ld = dir.join("libc/lib/i386-linux-gnu/ld-linux.so.2");
    let libs = dir.join("libc/lib/i386-linux-gnu");
    (vm.exists() && ld.exists()).then(|| Vm {
        program: ld,
        prefix_args: vec!["--library-path".into(), libs.into(), vm.into()],
        rust_target: Some(I686),
    })
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// A VM that is already there, if any.
pub fn find_vm() -> Option<Vm> {
    if let Some(p) = std::env::var_os("PROTO2FFI_DART") {
        return Some(Vm {
            program: p.into(),
            prefix_args: vec![],
            rust_target: None,
        });
    }
    if let Some(p) = on_path("dart") {
        return Some(Vm {
            program: p,
            prefix_args: vec![],
            rust_target: None,
        });
    }
    ia32_vm()
}

fn retry(what: &str, attempts: u32, mut f: impl FnMut() -> Result) -> Result {
    let mut last = String::new();
    for i in 0..attempts {
        match f() {
            Ok(()) => return Ok(()),
            Err(e) => {
                eprintln!("{what}: attempt {} failed: {e}", i + 1);
                last = e;
                std::thread::sleep(std::time::Duration::from_secs(2 * u64::from(i + 1)));
            }
        }
    }
    Err(format!("{what} failed after {attempts} attempts: {last}"))
}

/// Finds a VM or sets up the ia32 one (idempotent).
pub fn ensure_vm() -> Result<Vm> {
    if let Some(vm) = find_vm() {
        ensure_rust_target(&vm)?;
        return Ok(vm);
    }
    let dir = vm_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    if !dir.join("package/dart-sass/src/dart").exists() {
        on_path("npm").ok_or(
            "npm is needed to fetch the Dart VM (package sass-embedded-linux-ia32); install Node.js/npm",
        )?;
        retry("npm pack", 3, || {
            run(Command::new("npm")
                .args(["pack", "--silent", SASS_PACKAGE])
                .current_dir(&dir))
        })?;
        let tgz = std::fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "tgz"))
            .ok_or("npm pack produced no .tgz")?;
        run(Command::new("tar").arg("xzf").arg(&tgz).current_dir(&dir))?;
    }
    if !dir.join("libc/lib/i386-linux-gnu/ld-linux.so.2").exists() {
        on_path("apt-get").ok_or("apt-get is needed to fetch the 32-bit C library (libc6:i386)")?;
        let arches = Command::new("dpkg")
            .arg("--print-foreign-architectures")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if !arches.lines().any(|l| l.trim() == "i386") {
            run(Command::new("dpkg").args(["--add-architecture", "i386"]))
                .map_err(|e| format!("{e} (adding the i386 architecture needs root)"))?;
        }
        retry("apt-get download libc6:i386", 4, || {
            let _ = run(Command::new("apt-get").args(["update", "-qq"]));
            run(Command::new("apt-get")
                .args(["download", "-qq", "libc6:i386"])
                .current_dir(&dir))
        })?;
        let deb = std::fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.to_string_lossy().contains("libc6_") && p.extension().is_some_and(|x| x == "deb")
            })
            .ok_or("apt-get download produced no libc6 .deb")?;
        run(Command::new("dpkg")
            .arg("-x")
            .arg(&deb)
            .arg(dir.join("libc")))?;
    }
    let vm = ia32_vm()
        .ok_or("the Dart VM set-up did not produce target/dart-vm/package/dart-sass/src/dart")?;
    ensure_rust_target(&vm)?;
    let mut probe = vm.command(Path::new("--version"));
    let out = probe.output().map_err(|e| e.to_string())?;
    eprintln!(
        "dart-vm: {}",
        String::from_utf8_lossy(&out.stdout).trim().to_string()
            + String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(vm)
}

fn ensure_rust_target(vm: &Vm) -> Result {
    let Some(target) = vm.rust_target else {
        return Ok(());
    };
    if !super::target_installed(target) {
        retry("rustup target add", 3, || {
            run(Command::new("rustup").args(["target", "add", target]))
        })?;
    }
    // Linking i686 code needs the 32-bit C runtime (gcc-multilib).
    let probe = std::env::temp_dir().join("proto2ffi-m32-probe.c");
    std::fs::write(&probe, "int main(void) { return 0; }\n").map_err(|e| e.to_string())?;
    let ok = Command::new("gcc")
        .args(["-m32", "-o"])
        .arg(std::env::temp_dir().join("proto2ffi-m32-probe"))
        .arg(&probe)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        retry("apt-get install gcc-multilib", 3, || {
            let _ = run(Command::new("apt-get").args(["update", "-qq"]));
            run(Command::new("apt-get")
                .args(["install", "-y", "-qq", "gcc-multilib"])
                .env("DEBIAN_FRONTEND", "noninteractive"))
        })
        .map_err(|e| format!("{e}: linking i686 libraries needs gcc-multilib"))?;
    }
    Ok(())
}

/// Whether 32-bit x86 programs can be built here: the i686 Rust target is
/// installed and gcc links `-m32` (gcc-multilib).
pub fn i686_ready() -> bool {
    let target = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("i686-unknown-linux-gnu"));
    if !target {
        return false;
    }
    let dir = std::env::temp_dir().join(format!("proto2ffi-m32-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let src = dir.join("probe.c");
    let ok = std::fs::write(&src, "int main(void) { return 0; }\n").is_ok()
        && Command::new("gcc")
            .arg("-m32")
            .arg(&src)
            .arg("-o")
            .arg(dir.join("probe"))
            .output()
            .is_ok_and(|o| o.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    ok
}

/// Builds `package` as a cdylib for the VM and returns the library path.
pub fn build_library(vm: &Vm, package: &str, features: &[&str]) -> Result<PathBuf> {
    build(vm, package, features, false)
}

/// Like [`build_library`], in release mode when `release`.
pub fn build_library_profile(vm: &Vm, package: &str, release: bool) -> Result<PathBuf> {
    build(vm, package, &[], release)
}

fn build(vm: &Vm, package: &str, features: &[&str], release: bool) -> Result<PathBuf> {
    let mut cmd = super::cargo();
    cmd.args(["build", "-q", "-p", package]);
    if release {
        cmd.arg("--release");
    }
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let profile = if release { "release" } else { "debug" };
    let dir = match vm.rust_target {
        Some(t) => {
            cmd.args(["--target", t]);
            target_dir().join(t).join(profile)
        }
        None => target_dir().join(profile),
    };
    run(&mut cmd)?;
    Ok(super::dylib(&dir, package))
}

/// The Dart test programs and the library each one loads.
fn suites() -> Vec<(PathBuf, &'static str, &'static [&'static str])> {
    let mut out = Vec::new();
    for (dir, package, features) in [
        ("tests/dart/test", "dart-fixture", &[][..]),
        (
            "examples/user_service/dart/test",
            "user-service",
            &["demo"][..],
        ),
        ("examples/particles/dart/test", "particles", &[][..]),
        (
            "examples/image_pipeline/dart/test",
            "image-pipeline",
            &[][..],
        ),
    ] {
        if let Ok(entries) = std::fs::read_dir(root().join(dir)) {
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with("_test.dart"))
                .collect();
            files.sort();
            for f in files {
                out.push((f, package, features));
            }
        }
    }
    out
}

/// Generates the Dart package of every `proto2ffi-build` corpus schema under
/// `target/dart-corpus/<name>` and a program that compiles it and round-trips
/// every message class through bytes; plus, for one schema, the interop-mode
/// client compiled against classes with the `package:protobuf` API
/// (`fromBuffer`/`writeToBuffer`). Returns the programs.
fn corpus_programs() -> Result<Vec<PathBuf>> {
    let corpus = root().join("proto2ffi-build/tests/corpus");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut programs = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".proto"))
            .collect();
        files.sort();
        let out = target_dir().join("dart-corpus").join(&name);
        let _ = std::fs::remove_dir_all(&out);
        let generated = proto2ffi_build::configure()
            .prefix("corpus")
            .out_dir(out.join("rust"))
            .dart_out(out.join("dart"))
            .dart_native_library("corpus_lib")
            .emit_rerun_if_changed(false)
            .generate(&files, &[&dir])
            .map_err(|e| e.to_string())?;
        let lib = &generated.library;
        let refs =
            proto2ffi_build::dart::messages::MessageFile::new(&lib.pool, &lib.files, &lib.docs)
                .message_refs();
        let mut program = String::from("import 'dart:io';\nimport 'dart/lib/corpus.dart';\n");
        let mut imported = std::collections::BTreeSet::new();
        for (path, alias, _) in &refs {
            if imported.insert(alias.clone()) {
                program.push_str(&format!("import 'dart/lib/{path}' as {alias};\n"));
            }
        }
        program.push_str("\nvoid main() {\n  var passed = 0, failed = 0;\n  void check(bool ok, String what) {\n    if (ok) { passed++; } else { failed++; print('FAIL $what'); }\n  }\n");
        for (_, alias, class) in &refs {
            let c = format!("{alias}.{class}");
            let what = c.replace('$', "\\$");
            program.push_str(&format!(
                "  check({c}.fromBuffer({c}().writeToBuffer()) == {c}(), '{what}');\n  check({c}().hashCode == {c}().hashCode, '{what} hash');\n  check({c}().mergeFromBuffer({c}().writeToBuffer()) == {c}(), '{what} merge');\n"
            ));
        }
        // Fixed-layout structs: Dart's size of each equals the layout model's
        // (the ia32 VM aligns 8-byte fields like i386 C does).
        if !lib.fixed.messages.is_empty() {
            program = program.replacen(
                "import 'dart:io';\n",
                "import 'dart:ffi';\nimport 'dart:io';\nimport 'dart/lib/fixed.dart' as $fixed;\n",
                1,
            );
            for m in &lib.fixed.messages {
                program.push_str(&format!(
                    "  check(sizeOf<$fixed.{0}>() == {1} && $fixed.{0}.layoutSize == {1}, 'fixed {0} size');\n",
                    m.name, m.size
                ));
            }
        }
        program.push_str(&format!(
            "  print('corpus {name}: $passed passed, $failed failed');\n  exit(failed == 0 ? 0 : 1);\n}}\n"
        ));
        let script = out.join("corpus_test.dart");
        std::fs::write(&script, program).map_err(|e| e.to_string())?;
        programs.push(script);

        if name == "shapes" {
            // Interop mode: the client imports message classes from another
            // library; our generated classes have the same API as protoc_plugin's.
            let interop = out.join("interop");
            proto2ffi_build::configure()
                .prefix("corpus")
                .out_dir(interop.join("rust"))
                .dart_out(interop.join("dart"))
                .dart_native_library("corpus_lib")
                .dart_protobuf_interop(&["../../../../dart/lib/corpus/shapes.pb.dart"])
                .emit_rerun_if_changed(false)
                .generate(&files, &[&dir])
                .map_err(|e| e.to_string())?;
            let script = interop.join("interop_test.dart");
            std::fs::write(
                &script,
                "import 'dart:io';\nimport 'dart/lib/corpus.dart';\n\nvoid main() {\n  // Compiling this program type-checks the interop client.\n  print(ShapeServiceClient.fingerprint != 0 ? 'interop: 1 passed, 0 failed' : 'interop: 0 passed, 1 failed');\n  exit(0);\n}\n",
            )
            .map_err(|e| e.to_string())?;
            programs.push(script);
        }
    }
    Ok(programs)
}

/// The cross-language wire check: Dart writes, Google's protobuf (Python)
/// decodes, checks and writes back, Dart reads (`tests/dart/xlang`).
fn xlang(vm: &Vm, failed: &mut Vec<String>) -> Result {
    let dir = root().join("tests/dart/xlang");
    let work = target_dir().join("xlang");
    let _ = std::fs::remove_dir_all(&work);
    if let Err(e) = crate::ensure_python_protobuf() {
        if std::env::var_os("CI").is_some() {
            return Err(e);
        }
        eprintln!("\nSKIPPED: cross-language check: {e}\n");
        return Ok(());
    }
    eprintln!("\n== xlang: Dart -> Python (protobuf) -> Dart ==");
    let script = dir.join("xlang.dart");
    let steps: [(&str, Command); 3] = [
        ("xlang write", {
            let mut c = vm.command(&script);
            c.arg("write").arg(&work);
            c
        }),
        ("xlang python", {
            let mut c = Command::new("python3");
            c.arg(dir.join("check.py"))
                .arg(&work)
                .arg(root().join("tests/dart/dart/roundtrip.binpb"));
            c
        }),
        ("xlang read", {
            let mut c = vm.command(&script);
            c.arg("read").arg(&work);
            c
        }),
    ];
    for (what, mut cmd) in steps {
        let ok = cmd
            .current_dir(&dir)
            .status()
            .map_err(|e| format!("{what}: {e}"))?
            .success();
        if !ok {
            failed.push(what.to_string());
            break;
        }
    }
    Ok(())
}

/// The build hook's cargo half (`hook/proto2ffi_cargo.dart`) on the VM: its
/// tables, and a real build for the VM's platform that the client then
/// calls. (`hook/build.dart` itself needs Dart 3.10 and `package:hooks`
/// from pub, neither of which this machine has.)
fn hook_cargo(vm: &Vm, failed: &mut Vec<String>) -> Result {
    if !cfg!(target_os = "linux") {
        eprintln!("\nSKIPPED: the hook's cargo test runs on Linux hosts");
        return Ok(());
    }
    let script = root().join("examples/user_service/dart/tool/hook_cargo_test.dart");
    eprintln!("\n== dart examples/user_service/dart/tool/hook_cargo_test.dart ==");
    let arch = match vm.rust_target {
        Some(I686) => "ia32",
        _ if cfg!(target_arch = "aarch64") => "arm64",
        _ => "x64",
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = vm
        .command(&script)
        .arg(target_dir())
        .arg(cargo)
        .args(["linux", arch])
        .current_dir(root())
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        failed.push("hook_cargo_test.dart".into());
    }
    Ok(())
}

/// Runs every Dart test program. Without a VM: fails when `required` or in
/// CI, else says visibly that the Dart tests were skipped.
pub fn test(required: bool) -> Result {
    let in_ci = std::env::var_os("CI").is_some();
    let vm = match ensure_vm() {
        Ok(vm) => vm,
        Err(e) if !(required || in_ci) => {
            eprintln!("\nSKIPPED: Dart tests: no Dart VM could be found or set up ({e}).\nInstall a Dart SDK or run `cargo xtask dart-vm` to run them.\n");
            return Ok(());
        }
        Err(e) => return Err(format!("Dart tests need a VM: {e}")),
    };
    eprintln!("dart: using {}", vm.describe());
    let suites = suites();
    if suites.is_empty() {
        return Err("no Dart test programs found".into());
    }
    let mut failed = Vec::new();
    // `bundled`: the client binds the code asset through `@Native` (what a
    // build hook gives a Flutter app); with no native-assets build here, the
    // VM resolves those functions in the process, where LD_PRELOAD put the
    // library.
    let mut run_program =
        |script: &Path, lib: Option<&Path>, cwd: &Path, bundled: bool| -> Result {
            let mut rel = script
                .strip_prefix(root())
                .unwrap_or(script)
                .display()
                .to_string();
            if bundled {
                rel.push_str(" --bundled");
            }
            eprintln!("\n== dart {rel} ==");
            let mut cmd = vm.command(script);
            match lib {
                Some(lib) if bundled => {
                    cmd.arg("--bundled").env("LD_PRELOAD", lib);
                }
                Some(lib) => {
                    cmd.arg(lib);
                }
                None => {}
            }
            let status = cmd.current_dir(cwd).status().map_err(|e| e.to_string())?;
            if !status.success() {
                failed.push(rel);
            }
            Ok(())
        };
    for (script, package, features) in &suites {
        let lib = build_library(&vm, package, features)?;
        let cwd = script
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&root())
            .to_path_buf();
        run_program(script, Some(&lib), &cwd, false)?;
        if cfg!(target_os = "linux") {
            run_program(script, Some(&lib), &cwd, true)?;
        }
    }
    let corpus = corpus_programs()?;
    for script in &corpus {
        run_program(script, None, script.parent().unwrap_or(&root()), false)?;
    }
    hook_cargo(&vm, &mut failed)?;
    xlang(&vm, &mut failed)?;
    if failed.is_empty() {
        eprintln!(
            "\ndart: {} test program(s) passed",
            2 * suites.len() + corpus.len() + 1
        );
        Ok(())
    } else {
        Err(format!("Dart tests failed: {}", failed.join(", ")))
    }
}
