//! Snapshot tests of the generated Rust and C for the corpus, plus header
//! compilation with strict C and C++ compilers.

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> Vec<(String, PathBuf, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut entries: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|dir| {
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".proto"))
                .collect();
            files.sort();
            (
                dir.file_name().unwrap().to_string_lossy().into_owned(),
                dir,
                files,
            )
        })
        .collect()
}

fn generate(dir: &Path, files: &[String], out: &Path) -> proto2ffi_build::Generated {
    // The build hook builds the crate `out` stands for (a path relative to
    // the Dart package, the same on every machine).
    std::fs::write(out.join("Cargo.toml"), "[package]\nname = \"corpus-lib\"\n").unwrap();
    proto2ffi_build::configure()
        .prefix("corpus")
        .out_dir(out)
        .dart_out(out.join("dart"))
        .dart_hook_crate(out)
        .dart_native_library("corpus_lib")
        .emit_rerun_if_changed(false)
        .generate(files, &[dir])
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn generated_rust_and_c_match_snapshots() {
    for (name, dir, files) in corpus() {
        let out = tempfile::tempdir().unwrap();
        let generated = generate(&dir, &files, out.path());
        let mut outputs: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && !p.ends_with("Cargo.toml"))
            .collect();
        outputs.sort();
        for path in outputs {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let content = std::fs::read_to_string(&path).unwrap();
            insta::assert_snapshot!(format!("{name}__{file}"), content);
        }
        insta::assert_snapshot!(format!("{name}__header"), generated.header);
        for (path, content) in &generated.dart {
            // The runtime is the same for every schema: one snapshot below.
            // So is the hook's cargo half (tested on the VM by
            // examples/user_service/dart/tool/hook_cargo_test.dart).
            if path.ends_with("proto2ffi_runtime.dart")
                || path.ends_with("proto2ffi_v1.dart")
                || path.ends_with("proto2ffi_cargo.dart")
            {
                continue;
            }
            let file = path.trim_start_matches("lib/").replace('/', ".");
            insta::assert_snapshot!(format!("{name}__dart__{file}"), content);
        }
    }
}

#[test]
fn dart_runtime_matches_snapshot() {
    let (_, dir, files) = corpus().into_iter().next().unwrap();
    let out = tempfile::tempdir().unwrap();
    let generated = generate(&dir, &files, out.path());
    for (path, content) in &generated.dart {
        if path.ends_with("proto2ffi_runtime.dart") || path.ends_with("proto2ffi_v1.dart") {
            let file = path.rsplit('/').next().unwrap();
            insta::assert_snapshot!(format!("dart__{file}"), content);
        }
    }
    // pubspec.yaml is written once, for a new package.
    assert!(out.path().join("dart/pubspec.yaml").exists());
}

#[test]
fn output_is_deterministic_and_rewritten_only_on_change() {
    let (_, dir, files) = corpus().into_iter().find(|c| c.0 == "shapes").unwrap();
    let out = tempfile::tempdir().unwrap();
    let header = out.path().join("include/shapes.h");
    let build = || {
        proto2ffi_build::configure()
            .prefix("corpus")
            .out_dir(out.path())
            .c_header(&header)
            .emit_rerun_if_changed(false)
            .generate(&files, &[&dir])
            .unwrap()
    };
    let first = build();
    let rs = out.path().join("corpus.shapes.rs");
    let (rs_time, h_time) = (
        std::fs::metadata(&rs).unwrap().modified().unwrap(),
        std::fs::metadata(&header).unwrap().modified().unwrap(),
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = build();
    assert_eq!(first.header, second.header);
    assert_eq!(std::fs::metadata(&rs).unwrap().modified().unwrap(), rs_time);
    assert_eq!(
        std::fs::metadata(&header).unwrap().modified().unwrap(),
        h_time
    );
    assert_eq!(
        first.library.services[0].fingerprint,
        second.library.services[0].fingerprint
    );
    // Every file read from disk is reported for rerun-if-changed.
    assert_eq!(first.inputs.len(), 1);
    assert!(first.inputs[0].ends_with("shapes.proto"));
}

#[test]
fn imports_are_reported_as_inputs() {
    let (_, dir, _) = corpus().into_iter().find(|c| c.0 == "multi").unwrap();
    let out = tempfile::tempdir().unwrap();
    // Only billing.proto is asked for; its imports are read too.
    let generated = generate(&dir, &["billing.proto".to_string()], out.path());
    let mut names: Vec<String> = generated
        .inputs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["billing.proto", "common.proto", "inventory.proto"]);
    // Only the requested file's services are exported.
    let services: Vec<_> = generated
        .library
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(services, ["BillingService"]);
}

fn compile_header(header: &str, compiler: &str, args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gen.h"), header).unwrap();
    let ext = if compiler == "g++" { "cpp" } else { "c" };
    let main = dir.path().join(format!("main.{ext}"));
    std::fs::write(&main, "#include \"gen.h\"\nint main(void) { return 0; }\n").unwrap();
    let output = Command::new(compiler)
        .args(args)
        .arg("-c")
        .arg(&main)
        .arg("-o")
        .arg(dir.path().join("main.o"))
        .output()
        .unwrap_or_else(|e| panic!("{compiler} not runnable: {e}"));
    assert!(
        output.status.success(),
        "{compiler} {args:?} rejected the header:\n{}\n{header}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn headers_compile_with_strict_c_and_cpp() {
    for (_, dir, files) in corpus() {
        let out = tempfile::tempdir().unwrap();
        let generated = generate(&dir, &files, out.path());
        compile_header(
            &generated.header,
            "gcc",
            &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"],
        );
        compile_header(&generated.header, "g++", &["-Wall", "-Wextra", "-Werror"]);
        // The layout assertions of fixed-layout structs on a 32-bit ABI,
        // where C aligns 64-bit fields to 4 (needs gcc-multilib, which
        // `cargo xtask dart-setup` installs for the ia32 Dart VM).
        if m32_works() {
            compile_header(
                &generated.header,
                "gcc",
                &[
                    "-m32",
                    "-std=c99",
                    "-Wall",
                    "-Wextra",
                    "-Werror",
                    "-pedantic",
                ],
            );
            compile_header(
                &generated.header,
                "g++",
                &["-m32", "-Wall", "-Wextra", "-Werror"],
            );
        } else {
            eprintln!("note: gcc -m32 is not available here; 32-bit header checks skipped");
        }
    }
}

fn m32_works() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("probe.c");
    std::fs::write(&src, "#include <stdint.h>\nint main(void) { return 0; }\n").unwrap();
    std::process::Command::new("gcc")
        .args(["-m32", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(dir.path().join("probe.o"))
        .output()
        .is_ok_and(|o| o.status.success())
}
