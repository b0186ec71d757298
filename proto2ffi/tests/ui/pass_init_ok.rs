// `init = || Ok(())` used to fail type inference (E0282).
proto2ffi::library!(prefix = "ui", init = || Ok(()));

fn main() {
    assert!(proto2ffi::this_library!().ensure_init().is_ok());
}
