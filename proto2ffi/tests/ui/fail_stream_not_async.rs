#[allow(unused_imports)]
use proto2ffi::{Status, StreamSink};

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui")]
pub trait S {
    fn watch(&self, request: (), sink: StreamSink<()>) -> Result<(), Status>;
}
fn main() {}
