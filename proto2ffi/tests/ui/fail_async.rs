#[allow(unused_imports)]
use proto2ffi::Status;

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui")]
pub trait S {
    async fn get(&self, request: ()) -> Result<(), Status>;
}
fn main() {}
