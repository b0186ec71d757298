#[allow(unused_imports)]
use proto2ffi::Status;

proto2ffi::library!(prefix = "ui");

#[proto2ffi::service(prefix = "ui", max_request_bytes = 1024, rate_per_second = 10)]
pub trait Minimal {
    /// Docs are kept.
    #[proto2ffi(max_response_bytes = 64, key = "client", key_rate_per_second = 2.5)]
    fn get(&self, request: Req) -> Result<(), Status>;
    fn r#type(&self, _: ()) -> Result<(), Status> {
        Ok(())
    }
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Req {
    #[prost(string, tag = "1")]
    pub client: String,
}
fn main() {}
