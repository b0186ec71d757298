//! The header asserts the layout of every struct C sees, for the ABI it is
//! compiled for: the generated headers compile on each ABI a compiler here
//! can target, and a header whose struct drifted from the library's layout
//! does not compile.

use std::path::{Path, PathBuf};
use std::process::Command;

fn header(example: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(example)
        .join("include")
        .join(format!("{example}.h"))
}

/// The C compilers for each ABI that can compile for it on this machine.
fn compilers() -> Vec<(&'static str, Vec<&'static str>)> {
    let candidates: [(&str, &[&str]); 4] = [
        ("x86_64", &["gcc", "-m64"]),
        ("i386", &["gcc", "-m32"]),
        ("armv7", &["clang", "--target=arm-linux-gnueabihf"]),
        ("aarch64", &["clang", "--target=aarch64-linux-gnu"]),
    ];
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let probe = dir.join("probe.c");
    std::fs::write(&probe, "#include <stddef.h>\n#include <stdint.h>\nint x;\n").unwrap();
    candidates
        .into_iter()
        .filter(|(abi, cmd)| {
            let ok = Command::new(cmd[0])
                .args(&cmd[1..])
                .args(["-fsyntax-only", "-c"])
                .arg(&probe)
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                eprintln!("SKIPPED: no C compiler for {abi} here ({})", cmd.join(" "));
            }
            ok
        })
        .map(|(abi, cmd)| (abi, cmd.to_vec()))
        .collect()
}

/// Compiles `text` as a C file including nothing else; the compiler's
/// output on failure.
fn compile(cmd: &[&str], name: &str, text: &str) -> Result<(), String> {
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&file, text).unwrap();
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .args([
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-fsyntax-only",
            "-x",
            "c",
        ])
        .arg(&file)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn every_generated_header_compiles_on_every_abi_here() {
    let compilers = compilers();
    assert!(!compilers.is_empty(), "gcc is required");
    for example in ["user_service", "particles", "image_pipeline"] {
        let text = std::fs::read_to_string(header(example)).unwrap();
        for (abi, cmd) in &compilers {
            compile(cmd, &format!("{example}-{abi}.c"), &text)
                .unwrap_or_else(|e| panic!("{example}.h on {abi}: {e}"));
        }
    }
}

#[test]
fn a_header_whose_struct_drifted_does_not_compile() {
    let text = std::fs::read_to_string(header("particles")).unwrap();
    // Each edit changes one struct's layout on some ABI: a field widened,
    // and the buffer's last `size_t` narrowed (on 64-bit, the padding keeps
    // the struct's size and every offset: only the field's size tells).
    let drifts = [
        ("uint32_t reserved;", "uint64_t reserved;", "log_record"),
        ("    size_t capacity;", "    uint32_t capacity;", "buffer"),
        (
            "    uint32_t capacity;\n} particles_array_ref;",
            "    uint64_t capacity;\n} particles_array_ref;",
            "array_ref",
        ),
    ];
    for (abi, cmd) in compilers() {
        for (from, to, which) in drifts {
            assert!(text.contains(from), "{from:?} is in the header");
            let drifted = text.replacen(from, to, 1);
            let err = match compile(&cmd, &format!("drift-{which}-{abi}.c"), &drifted) {
                // On 32-bit targets `size_t` is `uint32_t`: no drift.
                Ok(()) if which == "buffer" && (abi == "i386" || abi == "armv7") => continue,
                Ok(()) => panic!("{which} drifted on {abi}, yet the header compiled"),
                Err(e) => e,
            };
            assert!(
                err.contains(&format!("layout_assert_{which}_")),
                "the failing assertion names {which}: {err}"
            );
        }
    }
}
