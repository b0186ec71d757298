#[allow(unused_imports)]
use proto2ffi::{RequestStream, Status, StreamSink};

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui")]
pub trait S {
    async fn chat(&self, requests: RequestStream<()>, sink: StreamSink<()>) -> Result<u32, Status>;
}
fn main() {}
