//! Tells the harness which target its tests were built for, so that under
//! `--target <triple>` (sanitizers, cross-testing) it builds the fixture
//! libraries for that target too, into the same folder.

fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rustc-env=ABI_TESTS_TARGET={target}");
}
