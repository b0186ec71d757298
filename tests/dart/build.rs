fn main() -> Result<(), Box<dyn std::error::Error>> {
    proto2ffi_build::configure()
        .prefix("rt")
        .dart_out("dart")
        .dart_package("roundtrip")
        // For the cross-language check with Google's protobuf (xlang/check.py).
        .descriptor_set_out("dart/roundtrip.binpb")
        .compile_protos(
            &["roundtrip.proto", "legacy.proto", "jobs.proto"],
            &["proto"],
        )?;

    // A client generated from a changed schema (AddRequest gains a field):
    // opening it against this library must fail the fingerprint check.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let stale_dir = out.join("proto_stale");
    std::fs::create_dir_all(&stale_dir)?;
    let proto = std::fs::read_to_string("proto/roundtrip.proto")?;
    let changed = proto.replacen("  int64 b = 2;\n", "  int64 b = 2;\n  int64 c = 3;\n", 1);
    assert_ne!(proto, changed, "the stale schema must differ");
    // Rewrite only on change: the file is an input of the next compile.
    let stale = stale_dir.join("roundtrip.proto");
    if std::fs::read_to_string(&stale).ok().as_deref() != Some(changed.as_str()) {
        std::fs::write(&stale, changed)?;
    }
    proto2ffi_build::configure()
        .prefix("rt")
        .out_dir(out.join("stale"))
        .dart_out("dart_stale")
        .dart_package("roundtrip")
        .compile_protos(&["roundtrip.proto"], &[&stale_dir])?;
    Ok(())
}
