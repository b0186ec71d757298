#[allow(unused_imports)]
use proto2ffi::Status;

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui", max_request_bytes = 0)]
pub trait S {
    fn get(&self, request: ()) -> Result<(), Status>;
}
fn main() {}
