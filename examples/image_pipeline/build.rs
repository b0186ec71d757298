fn main() -> Result<(), proto2ffi_build::Error> {
    proto2ffi_build::configure()
        .prefix("image")
        .c_header("include/image_pipeline.h")
        .dart_out("dart")
        .dart_package("image_pipeline")
        .compile_protos(&["proto/image.proto"], &["proto"])
}
