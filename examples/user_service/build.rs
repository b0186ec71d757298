fn main() -> Result<(), proto2ffi_build::Error> {
    proto2ffi_build::configure()
        .prefix("users")
        .descriptor_set_out("python/user_service.binpb")
        .c_header("include/user_service.h")
        .dart_out("dart")
        .dart_package("user_service")
        // Entry points call the store directly (no trait object); the
        // demo-only service stays behind one.
        .implementation("user.v1.UserService", "&'static crate::UserStore")
        .compile_protos(&["proto/user.proto", "proto/demo_only.proto"], &["proto"])
}
