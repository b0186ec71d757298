fn main() -> Result<(), proto2ffi_build::Error> {
    proto2ffi_build::configure()
        .prefix("hfx")
        .dart_build_hook(false)
        .compile_protos(&["proto/host_fixture.proto"], &["proto"])
}
