#[allow(unused_imports)]
use proto2ffi::Status;

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui")]
pub trait S<T> {
    fn get(&self, request: T) -> Result<(), Status>;
}
fn main() {}
