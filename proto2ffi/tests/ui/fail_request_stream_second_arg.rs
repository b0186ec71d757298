#[allow(unused_imports)]
use proto2ffi::{RequestStream, Status};

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui")]
pub trait S {
    async fn upload(&self, requests: RequestStream<()>, extra: u32) -> Result<(), Status>;
}
fn main() {}
