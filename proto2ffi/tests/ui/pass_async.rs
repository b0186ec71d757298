#[allow(unused_imports)]
use proto2ffi::{Status, StreamSink};

proto2ffi::library!(prefix = "ui", init = || register_jobs(Impl));

#[proto2ffi::service(prefix = "ui")]
pub trait Jobs {
    /// Async unary.
    async fn get(&self, request: ()) -> Result<(), Status>;
    /// Server streaming.
    async fn watch(&self, request: (), sink: StreamSink<()>) -> Result<(), Status>;
    /// Sync methods live next to async ones.
    fn now(&self, request: ()) -> Result<(), Status>;
    /// A default body works too.
    async fn later(&self, _: ()) -> Result<(), Status> {
        Ok(())
    }
}

struct Impl;

impl Jobs for Impl {
    async fn get(&self, request: ()) -> Result<(), Status> {
        // Calling another method of the trait is not ambiguous.
        self.now(request)
    }
    async fn watch(&self, request: (), sink: StreamSink<()>) -> Result<(), Status> {
        sink.send(request).await
    }
    fn now(&self, _: ()) -> Result<(), Status> {
        Ok(())
    }
}

fn main() {}
