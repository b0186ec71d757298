#[allow(unused_imports)]
use proto2ffi::Status;

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui")]
#[allow(non_snake_case)]
pub trait S {
    fn get_user(&self, request: ()) -> Result<(), Status>;
    fn getUser(&self, request: ()) -> Result<(), Status>;
}
fn main() {}
