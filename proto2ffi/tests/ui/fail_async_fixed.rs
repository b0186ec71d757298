#[allow(unused_imports)]
use proto2ffi::Status;

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui")]
pub trait S {
    async fn step(&self, request: &u32, response: &mut u32) -> Result<(), Status>;
}
fn main() {}
