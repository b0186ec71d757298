#[allow(unused_imports)]
use proto2ffi::Status;

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui")]
pub trait S {
    #[proto2ffi(burst = 5)]
    fn get(&self, request: ()) -> Result<(), Status>;
}
fn main() {}
