fn main() -> Result<(), proto2ffi_build::Error> {
    proto2ffi_build::configure()
        .prefix("particles")
        .c_header("include/particles.h")
        .dart_out("dart")
        .dart_package("particles")
        .implementation("particles.v1.Particles", "crate::Sim")
        .compile_protos(&["proto/particles.proto"], &["proto"])
}
