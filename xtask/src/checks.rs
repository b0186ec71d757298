//! Standing checks that need the nightly toolchain, as the runtimes we
//! measure ourselves against run them: Miri over the unit tests of the
//! runtime's unsafe modules, and the async/stream ABI tests (the races of
//! issue 28, each a stress test) under AddressSanitizer. Without nightly
//! each says `SKIPPED` and why.

use super::{root, run, target_dir, Result};
use std::process::Command;

/// `cargo` of the nightly toolchain (the `+nightly` shorthand needs the
/// rustup proxy, which `$CARGO` is not).
pub(crate) fn nightly_cargo() -> Command {
    let mut c = Command::new("rustup");
    c.args(["run", "nightly", "cargo"]).current_dir(root());
    // The stable toolchain xtask runs under must not leak into the child.
    c.env_remove("RUSTUP_TOOLCHAIN").env_remove("CARGO");
    c
}

/// Whether `rustup run nightly` works here.
pub(crate) fn nightly() -> bool {
    Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The runtime's modules with `unsafe` code whose unit tests Miri can run
/// (no inline assembly, FFI or `fork` on their paths; tests that need
/// those say `ignore` under Miri).
const MIRI_MODULES: &[&str] = &[
    "buffer::",
    "dart::",
    "request_buf::",
    "fixed::pool::",
    "log::",
];

/// `cargo xtask miri`.
pub fn miri() -> Result {
    if !nightly() {
        eprintln!("SKIPPED: miri: no nightly toolchain on this machine");
        return Ok(());
    }
    // Installs with rustup like any component (a no-op when present).
    run(Command::new("rustup").args([
        "component",
        "add",
        "miri",
        "rust-src",
        "--toolchain",
        "nightly",
    ]))?;
    let mut cmd = nightly_cargo();
    cmd.args(["miri", "test", "-p", "proto2ffi-runtime", "--lib", "--"])
        .args(MIRI_MODULES)
        .env("CARGO_TARGET_DIR", target_dir().join("miri"))
        // Real time for the tests' timeouts.
        .env("MIRIFLAGS", "-Zmiri-disable-isolation");
    run(&mut cmd)?;
    // Calls into the host start the process-wide deadline thread, and the
    // worker pool's threads wait 10 s for work: both outlive the tests by
    // design: Miri may not wait for them (its leak
    // check would also report that thread's allocations), so these run
    // apart, without the leak check, from the same build.
    let mut cmd = nightly_cargo();
    cmd.args([
        "miri",
        "test",
        "-p",
        "proto2ffi-runtime",
        "--lib",
        "--",
        "host::",
        "workers::",
    ])
    .env("CARGO_TARGET_DIR", target_dir().join("miri"))
    .env("MIRIFLAGS", "-Zmiri-disable-isolation -Zmiri-ignore-leaks");
    run(&mut cmd)
}

/// The ABI test binaries of async calls and streams: every race of the
/// async engine has its stress test among them, and so do calls into
/// the host.
const SANITIZED_TESTS: &[&str] = &[
    "async_calls",
    "async_races",
    "async_shutdown",
    "client_streams",
    "host_calls",
    "host_shutdown",
    "shutdown_races",
    "sync_awaited",
    "log_sink_swaps",
    "thread_exit",
];

/// `cargo xtask sanitize`: the tests above, library and fixtures built
/// with AddressSanitizer (a use after free — an event after a final that
/// freed its context, a sink called after its removal — aborts the test).
pub fn sanitize() -> Result {
    if !nightly() {
        eprintln!("SKIPPED: sanitize: no nightly toolchain on this machine");
        return Ok(());
    }
    let host = "x86_64-unknown-linux-gnu";
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        eprintln!("SKIPPED: sanitize: AddressSanitizer runs here on {host} only");
        return Ok(());
    }
    let mut cmd = nightly_cargo();
    cmd.args(["test", "-p", "abi-tests", "--target", host]);
    for t in SANITIZED_TESTS {
        cmd.args(["--test", t]);
    }
    // `--target` keeps the flags off build scripts and proc macros; the
    // ABI harness builds its fixtures for the same target with the same
    // flags (inherited).
    // The test binaries carry the ASan runtime; `--export-dynamic` lets the
    // fixtures they dlopen resolve its symbols.
    cmd.env(
        "RUSTFLAGS",
        "-Zsanitizer=address -Clink-arg=-Wl,--export-dynamic",
    )
    .env("RUSTDOCFLAGS", "-Zsanitizer=address")
    .env("CARGO_TARGET_DIR", target_dir().join("asan"))
    // Leaks are valgrind's job (`cargo xtask valgrind`); the tests
    // leak their callback contexts on purpose.
    .env("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1")
    .env("PROTO2FFI_TEST_SCALE", "0.3");
    run(&mut cmd)
}
