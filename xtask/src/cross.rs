//! `cargo xtask cross`: the phones' ABIs. The core, runtime, ABI and image
//! pipeline test suites and the C clients for 64-bit and 32-bit ARM Linux, run under QEMU
//! user-mode emulation, then `cargo check` for the Android and iOS targets.
//!
//! The linker set-up lives with `gcc-multilib` (which the i686 Dart tests
//! need and which Debian's cross gcc packages conflict with): clang and lld
//! link against the cross sysroots (`libc6-dev-<arch>-cross`,
//! `libgcc-12-dev-<arch>-cross`). Programs built for the target run through
//! `qemu-<arch> -L <sysroot>`: cargo's runner for test binaries, and
//! `PROTO2FFI_TEST_RUNNER` for the tests that start a program themselves
//! (no binfmt handler is registered on a CI machine). The C compiler the ABI
//! tests use is `PROTO2FFI_TEST_CC`.
//!
//! Emulation is 5–20× slower than native: the long loops of the ABI tests
//! run at [`SCALE`] of their native counts (`PROTO2FFI_TEST_SCALE`).

use super::{cargo, root, run, target_dir, target_installed, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Loop counts of the ABI tests under emulation, relative to native.
pub const SCALE: &str = "0.05";

/// A Linux target run under QEMU.
pub struct Emulated {
    /// Rust's target triple.
    pub triple: &'static str,
    /// The GNU triple: clang's `--target` and the sysroot's name.
    gnu: &'static str,
    /// QEMU's user-mode emulator.
    qemu: &'static str,
    /// Debian's architecture name for the cross packages.
    debian: &'static str,
}

/// The ARM Linux targets (aarch64: Android's arm64-v8a and every current
/// phone; armv7 hard-float: armeabi-v7a's instruction set and EHABI
/// unwinder).
pub const EMULATED: [Emulated; 2] = [
    Emulated {
        triple: "aarch64-unknown-linux-gnu",
        gnu: "aarch64-linux-gnu",
        qemu: "qemu-aarch64",
        debian: "arm64",
    },
    Emulated {
        triple: "armv7-unknown-linux-gnueabihf",
        gnu: "arm-linux-gnueabihf",
        qemu: "qemu-arm",
        debian: "armhf",
    },
];

/// Targets only type-checked: their std installs with rustup, their linkers
/// (the NDK, Xcode) do not exist here.
pub const CHECKED: [&str; 4] = [
    "aarch64-linux-android",
    "armv7-linux-androideabi",
    "x86_64-linux-android",
    "aarch64-apple-ios",
];

impl Emulated {
    fn sysroot(&self) -> PathBuf {
        PathBuf::from("/usr").join(self.gnu)
    }

    /// The emulator command line that runs a program of this target.
    fn runner(&self) -> String {
        format!("{} -L {}", self.qemu, self.sysroot().display())
    }

    /// The C compiler (and linker) command line for this target.
    fn cc(&self) -> String {
        format!("clang --target={} -fuse-ld=lld", self.gnu)
    }

    /// Cargo's and the tests' environment for this target.
    fn configure(&self, cmd: &mut Command) {
        let upper = self.triple.to_uppercase().replace('-', "_");
        let lower = self.triple.replace('-', "_");
        cmd.env(format!("CARGO_TARGET_{upper}_LINKER"), "clang")
            .env(
                format!("CARGO_TARGET_{upper}_RUSTFLAGS"),
                format!("-Clink-arg=--target={} -Clink-arg=-fuse-ld=lld", self.gnu),
            )
            .env(format!("CARGO_TARGET_{upper}_RUNNER"), self.runner())
            .env(format!("CC_{lower}"), "clang")
            .env(format!("CFLAGS_{lower}"), format!("--target={}", self.gnu))
            .env("PROTO2FFI_TEST_CC", self.cc())
            .env("PROTO2FFI_TEST_RUNNER", self.runner())
            .env("PROTO2FFI_TEST_SCALE", SCALE);
    }

    /// Whether a C program for this target links and runs here.
    fn ready(&self) -> bool {
        let dir = std::env::temp_dir().join(format!("proto2ffi-cross-{}", self.debian));
        let _ = std::fs::create_dir_all(&dir);
        let src = dir.join("probe.c");
        let exe = dir.join("probe");
        std::fs::write(
            &src,
            "#include <stdio.h>\nint main(void) { puts(\"ok\"); return 0; }\n",
        )
        .is_ok()
            && shell(&format!(
                "{} {} -o {}",
                self.cc(),
                src.display(),
                exe.display()
            ))
            .output()
            .is_ok_and(|o| o.status.success())
            && shell(&format!("{} {}", self.runner(), exe.display()))
                .output()
                .is_ok_and(|o| o.status.success() && o.stdout == b"ok\n")
    }
}

/// A command line split at spaces (no quoting: these are ours).
fn shell(line: &str) -> Command {
    let mut words = line.split_whitespace();
    let mut cmd = Command::new(words.next().expect("a program"));
    cmd.args(words);
    cmd
}

/// Installs what emulated testing needs: QEMU, clang, lld, the cross
/// sysroots and the Rust targets.
pub fn setup() -> Result {
    for t in &EMULATED {
        if !target_installed(t.triple) {
            run(Command::new("rustup").args(["target", "add", t.triple]))?;
        }
    }
    if EMULATED.iter().all(Emulated::ready) {
        return Ok(());
    }
    let mut packages = vec!["qemu-user", "clang", "lld"];
    for t in &EMULATED {
        packages.push(match t.debian {
            "arm64" => "libc6-dev-arm64-cross",
            _ => "libc6-dev-armhf-cross",
        });
        packages.push(match t.debian {
            "arm64" => "libgcc-12-dev-arm64-cross",
            _ => "libgcc-12-dev-armhf-cross",
        });
    }
    let _ = run(Command::new("apt-get").args(["update", "-qq"]));
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    match EMULATED.iter().find(|t| !t.ready()) {
        Some(t) => Err(format!(
            "a C program for {} does not build or run under {} after installing {}",
            t.triple,
            t.qemu,
            packages.join(" ")
        )),
        None => Ok(()),
    }
}

/// Everything: the emulated suites and C clients, then the phone checks.
pub fn cross(only: Option<&str>) -> Result {
    setup()?;
    let mut failed = Vec::new();
    for t in EMULATED
        .iter()
        .filter(|t| only.is_none_or(|o| o == t.triple))
    {
        eprintln!("\n=== {} under {} ===", t.triple, t.qemu);
        if let Err(e) = suites(t) {
            failed.push(format!("{}: {e}", t.triple));
        }
        if let Err(e) = c_clients(t) {
            failed.push(format!("{} C clients: {e}", t.triple));
        }
    }
    if only.is_none() {
        if let Err(e) = check_phones() {
            failed.push(e);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

/// The core, runtime and ABI test suites, and the image pipeline's.
fn suites(t: &Emulated) -> Result {
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--target",
        t.triple,
        "-p",
        "proto2ffi-core",
        "-p",
        "proto2ffi-runtime",
        "-p",
        "abi-tests",
        // Its NEON kernels against the scalar ones, byte for byte.
        "-p",
        "image-pipeline",
    ]);
    t.configure(&mut cmd);
    run(&mut cmd)
}

/// The examples' C clients, built with the strict flags for the target and
/// run under the emulator.
fn c_clients(t: &Emulated) -> Result {
    let lib_dir = target_dir().join(t.triple).join("debug");
    for (package, example, lib, extra) in [
        (
            "user-service",
            "user_service",
            "user_service",
            &["-pthread"][..],
        ),
        ("particles", "particles", "particles", &[][..]),
    ] {
        let mut build = cargo();
        build.args(["build", "-q", "-p", package, "--target", t.triple]);
        t.configure(&mut build);
        run(&mut build)?;
        let ex = root().join("examples").join(example);
        let exe = lib_dir.join(format!("{example}-c-client"));
        let mut cc = shell(&t.cc());
        cc.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
            .arg(ex.join("include"))
            .arg(ex.join("c/main.c"))
            .arg("-L")
            .arg(&lib_dir)
            .arg(format!("-l{lib}"))
            .args(extra)
            .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
            .arg("-o")
            .arg(&exe);
        run(&mut cc)?;
        run_on(t, &exe)?;
    }
    Ok(())
}

fn run_on(t: &Emulated, exe: &Path) -> Result {
    let mut cmd = shell(&t.runner());
    cmd.arg(exe);
    run(&mut cmd)
}

/// `cargo check` of the runtime, the facade and an example for the phone
/// targets: a `cfg` mistake for Android or iOS fails here.
pub fn check_phones() -> Result {
    for target in CHECKED {
        if !target_installed(target) {
            run(Command::new("rustup").args(["target", "add", target]))?;
        }
        run(cargo().args([
            "check",
            "-q",
            "--target",
            target,
            "-p",
            "proto2ffi-runtime",
            "-p",
            "proto2ffi",
            "-p",
            "user-service",
        ]))?;
    }
    Ok(())
}
