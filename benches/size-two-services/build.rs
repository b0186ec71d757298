fn main() -> Result<(), proto2ffi_build::Error> {
    proto2ffi_build::configure()
        .prefix("two")
        .implementation("size.v1.Users", "&'static crate::Store")
        .compile_protos(&["proto/size.proto"], &["proto"])
}
