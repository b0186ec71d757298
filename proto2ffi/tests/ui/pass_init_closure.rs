// `init` as a closure with `?` and a final `Ok(())` needs no type
// annotation: the macro reads it as returning `Result<(), Status>`.
use proto2ffi::Status;

proto2ffi::library!(
    prefix = "ui",
    init = || {
        register_a(Impl)?;
        register_b(Impl)?;
        Ok(())
    }
);

#[proto2ffi::service(prefix = "ui")]
pub trait A {
    fn get(&self, request: ()) -> Result<(), Status>;
}

#[proto2ffi::service(prefix = "ui")]
pub trait B {
    fn put(&self, request: ()) -> Result<(), Status>;
}

struct Impl;

impl A for Impl {
    fn get(&self, _: ()) -> Result<(), Status> {
        Ok(())
    }
}

impl B for Impl {
    fn put(&self, _: ()) -> Result<(), Status> {
        Ok(())
    }
}

mod plain {
    // `this_library!` reaches the crate's library from any module.
    pub fn health() {
        proto2ffi::this_library!().set_healthy(true, "");
    }
}

fn main() {
    plain::health();
    assert_eq!(proto2ffi::this_library!().prefix(), "ui");
    assert!(proto2ffi::this_library!().ensure_init().is_ok());
}
