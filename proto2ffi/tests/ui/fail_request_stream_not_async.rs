#[allow(unused_imports)]
use proto2ffi::{RequestStream, Status};

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui")]
pub trait S {
    fn upload(&self, requests: RequestStream<()>) -> Result<(), Status>;
}
fn main() {}
