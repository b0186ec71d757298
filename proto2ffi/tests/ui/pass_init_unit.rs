// `init = || ()`: nothing to do, and it says so.
proto2ffi::library!(prefix = "ui", init = || ());

fn main() {
    assert!(proto2ffi::this_library!().ensure_init().is_ok());
}
