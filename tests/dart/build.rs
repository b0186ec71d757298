fn main() -> Result<(), proto2ffi_build::Error> {
    proto2ffi_build::configure()
        .prefix("rt")
        .dart_out("dart")
        .dart_package("roundtrip")
        .compile_protos(&["roundtrip.proto"], &["proto"])?;
    // A client generated from a changed schema: opening it against this
    // library must fail the fingerprint check.
    let stale = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("stale");
    proto2ffi_build::configure()
        .prefix("rt")
        .out_dir(stale)
        .dart_out("dart_stale")
        .dart_package("roundtrip")
        .compile_protos(&["roundtrip.proto"], &["proto_stale"])
}
