//! The host generates its own message types from the same .proto (as any
//! foreign client would); it shares no Rust code with the library.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fds = proto2ffi_build::descriptor_set(&["user.proto", "demo_only.proto"], &["../proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    println!("cargo:rerun-if-changed=../proto");
    Ok(())
}
