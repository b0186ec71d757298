// `init = || setup()` with `setup` returning `()`: the closure returns `()`.
use std::sync::atomic::{AtomicBool, Ordering};

static RAN: AtomicBool = AtomicBool::new(false);

fn setup() {
    RAN.store(true, Ordering::SeqCst);
}

proto2ffi::library!(prefix = "ui", init = || setup());

fn main() {
    assert!(proto2ffi::this_library!().ensure_init().is_ok());
    assert!(RAN.load(Ordering::SeqCst));
}
