#[allow(unused_imports)]
use proto2ffi::Status;

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui")]
pub trait S {
    fn get(&self, request: &()) -> Result<(), Status>;
}
fn main() {}
