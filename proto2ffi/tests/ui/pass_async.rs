#[allow(unused_imports)]
use proto2ffi::{RequestStream, Status, StreamSink};

proto2ffi::library!(prefix = "ui", init = || register_jobs(Impl));

#[proto2ffi::service(prefix = "ui")]
pub trait Jobs {
    /// Async unary.
    async fn get(&self, request: ()) -> Result<(), Status>;
    /// Server streaming.
    async fn watch(&self, request: (), sink: StreamSink<()>) -> Result<(), Status>;
    /// Client streaming.
    async fn upload(&self, requests: RequestStream<()>) -> Result<(), Status>;
    /// Bidirectional.
    async fn chat(&self, requests: RequestStream<()>, sink: StreamSink<()>) -> Result<(), Status>;
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
    async fn upload(&self, mut requests: RequestStream<()>) -> Result<(), Status> {
        while let Some(r) = requests.next().await {
            self.now(r)?;
        }
        Ok(())
    }
    async fn chat(&self, mut requests: RequestStream<()>, sink: StreamSink<()>) -> Result<(), Status> {
        while let Some(r) = requests.next().await {
            sink.send(r).await?;
        }
        Ok(())
    }
    fn now(&self, _: ()) -> Result<(), Status> {
        Ok(())
    }
}

fn main() {}
