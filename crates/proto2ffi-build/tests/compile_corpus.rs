//! Every corpus schema is compiled for real: a crate is generated in a temp
//! directory, built as a `cdylib` with no `protoc` reachable, loaded with
//! dlopen, and one method per service is called through the C ABI. The
//! generated header is then checked against the library's exports (nm, both
//! directions) and used by a C program that calls every service.

use prost_reflect::DescriptorPool;
use proto2ffi_runtime::Buffer;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn corpus_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

fn proto_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".proto"))
        .collect();
    files.sort();
    files
}

/// The Rust path prost gives a message (from the crate root of the test crate).
fn rust_type(full_name: &str, pool: &DescriptorPool) -> String {
    if full_name == "google.protobuf.Empty" {
        return "()".into();
    }
    if let Some(rest) = full_name.strip_prefix("google.protobuf.") {
        return format!("::proto2ffi::prost_types::{rest}");
    }
    let message = pool.get_message_by_name(full_name).unwrap();
    let package = message.package_name();
    let mut path = vec![module_path(package)];
    let local = &full_name[package.len() + usize::from(!package.is_empty())..];
    let parts: Vec<&str> = local.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            path.push(part.to_string());
        } else {
            path.push(module(&heck::ToSnakeCase::to_snake_case(*part)));
        }
    }
    path.join("::")
}

/// The module prost's include file gives a package.
fn module_path(package: &str) -> String {
    let mut path = vec!["crate".to_string()];
    for seg in package.split('.').filter(|s| !s.is_empty()) {
        path.push(module(seg));
    }
    path.join("::")
}

fn module(name: &str) -> String {
    proto2ffi_build::model::rust_ident(name)
}

fn path_without_protoc() -> String {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !Path::new(d).join("protoc").exists())
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn corpus_compiles_loads_and_answers_through_the_abi() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let krate = tmp.join("corpus-crate");
    let _ = std::fs::remove_dir_all(krate.join("src"));
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let ws = workspace();
    let dirs = corpus_dirs();

    // Generate once here too, for the model (service/method names, types).
    let mut files = Vec::new();
    for d in &dirs {
        for f in proto_files(d) {
            files.push(f);
        }
    }
    let model_out = tempfile::tempdir().unwrap();
    let generated = proto2ffi_build::configure()
        .prefix("corpus")
        .out_dir(model_out.path())
        .emit_rerun_if_changed(false)
        .generate(&files, &dirs)
        .unwrap_or_else(|e| panic!("{e}"));
    let library = &generated.library;

    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            r#"[package]
name = "corpus-lib"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
proto2ffi = {{ path = "{ws}/crates/proto2ffi" }}

[build-dependencies]
proto2ffi-build = {{ path = "{ws}/crates/proto2ffi-build" }}

[workspace]
"#,
            ws = ws.display()
        ),
    )
    .unwrap();
    let includes: Vec<String> = dirs
        .iter()
        .map(|d| format!("{:?}", d.display().to_string()))
        .collect();
    let protos: Vec<String> = files.iter().map(|f| format!("{f:?}")).collect();
    std::fs::write(
        krate.join("build.rs"),
        format!(
            "fn main() -> Result<(), proto2ffi_build::Error> {{\n    proto2ffi_build::configure()\n        .prefix(\"corpus\")\n        .include_file(\"_includes.rs\")\n        .c_header(\"corpus.h\")\n        .compile_protos(&[{}], &[{}])\n}}\n",
            protos.join(", "),
            includes.join(", ")
        ),
    )
    .unwrap();

    let mut lib = String::from(
        "#![allow(clippy::all)]\ninclude!(concat!(env!(\"OUT_DIR\"), \"/_includes.rs\"));\n\nproto2ffi::library!(prefix = \"corpus\", init = init);\n\n",
    );
    let mut init = String::from("fn init() -> Result<(), ::proto2ffi::Status> {\n");
    for s in &library.services {
        let service = library.pool.get_service_by_name(&s.full_name).unwrap();
        let module_path = module_path(&s.package);
        let _ = writeln!(lib, "struct Impl{};", s.name);
        let _ = writeln!(lib, "impl {module_path}::{} for Impl{} {{", s.name, s.name);
        for (m, d) in s.methods.iter().zip(service.methods()) {
            let _ = writeln!(
                lib,
                "    fn {}(&self, _request: {}) -> Result<{}, ::proto2ffi::Status> {{ Ok(Default::default()) }}",
                m.rust_name,
                rust_type(d.input().full_name(), &library.pool),
                rust_type(d.output().full_name(), &library.pool)
            );
        }
        lib.push_str("}\n");
        let _ = writeln!(
            init,
            "    {module_path}::register_{}(Impl{})?;",
            proto2ffi_core::symbols::snake(&s.name),
            s.name
        );
    }
    init.push_str("    Ok(())\n}\n");
    lib.push_str(&init);
    std::fs::write(krate.join("src/lib.rs"), lib).unwrap();

    let target = tmp.join("corpus-target");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-q", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env("PATH", path_without_protoc())
        .env("PROTOC", "/nonexistent/protoc-must-not-be-used")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the generated corpus crate failed to build"
    );
    let so = target.join("debug").join(format!(
        "{}corpus_lib{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));

    // dlopen and call one method per service with an all-default request.
    // SAFETY: a proto2ffi library built just above.
    let loaded = unsafe { libloading::Library::new(&so) }.unwrap();
    type MethodFn = unsafe extern "C" fn(*const u8, usize, *mut Buffer) -> i32;
    // SAFETY: the library-wide free function has this signature.
    let free = unsafe {
        *loaded
            .get::<unsafe extern "C" fn(*mut Buffer)>(b"corpus_proto2ffi_free")
            .unwrap()
    };
    for s in &library.services {
        // SAFETY: fingerprint getters are `uint64_t f(void)`.
        let fp = unsafe {
            *loaded
                .get::<extern "C" fn() -> u64>(s.fingerprint_symbol.as_bytes())
                .unwrap()
        };
        assert_eq!(fp(), s.fingerprint, "{}", s.full_name);
        let m = &s.methods[0];
        // SAFETY: method symbols have the MethodFn signature.
        let f = unsafe { *loaded.get::<MethodFn>(m.symbol.as_bytes()).unwrap() };
        let mut out = Buffer::empty();
        // SAFETY: NULL with length 0 is the all-default request.
        let code = unsafe { f(std::ptr::null(), 0, &mut out) };
        let payload = unsafe { out.as_slice() }.to_vec();
        unsafe { free(&mut out) };
        let detail = if code == 0 {
            String::new()
        } else {
            proto2ffi_runtime::Status::decode(&payload)
                .unwrap()
                .to_string()
        };
        assert_eq!(code, 0, "{}: {detail}", m.symbol);
    }

    // Header ⇄ exports, both directions.
    let header = std::fs::read_to_string(krate.join("corpus.h")).unwrap();
    assert_eq!(header, generated.header);
    let declared: BTreeSet<String> = header
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && l.ends_with(");"))
        .filter_map(|l| l.split('(').next())
        .filter_map(|l| l.rsplit([' ', '*']).next())
        .map(str::to_string)
        .collect();
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
        .unwrap();
    assert!(nm.status.success());
    let exported: BTreeSet<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            (kind == "T").then(|| name.to_string())
        })
        .filter(|n| n.starts_with("corpus_"))
        .collect();
    assert_eq!(
        declared, exported,
        "header declarations vs exported symbols"
    );

    // A C program that includes the header, calls every service and frees.
    let mut c = String::from("#include <stdio.h>\n#include \"corpus.h\"\n\nint main(void) {\n    corpus_buffer out = {0};\n    int failures = 0;\n    if (corpus_proto2ffi_abi_version() != CORPUS_ABI_VERSION) return 2;\n");
    for s in &library.services {
        let m = &s.methods[0];
        let _ = writeln!(
            c,
            "    if ({}(NULL, 0, &out) != CORPUS_STATUS_OK) {{ printf(\"{} failed\\n\"); failures++; }}\n    corpus_proto2ffi_free(&out);\n    if ({}() != {}) failures++;",
            m.symbol,
            m.symbol,
            s.fingerprint_symbol,
            proto2ffi_build::c_header::fingerprint_macro("corpus", &s.name)
        );
    }
    c.push_str("    printf(\"%d failures\\n\", failures);\n    return failures;\n}\n");
    std::fs::write(krate.join("main.c"), c).unwrap();
    let lib_dir = target.join("debug");
    let exe = krate.join("main");
    let cc = Command::new("gcc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg(krate.join("main.c"))
        .arg("-I")
        .arg(&krate)
        .arg("-L")
        .arg(&lib_dir)
        .arg("-lcorpus_lib")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(
        run.status.success(),
        "C client failed: {}",
        String::from_utf8_lossy(&run.stdout)
    );
}
