//! A second proto2ffi library with the same trait and method names as
//! `abi-fixture` but the prefix `fxb`: both load into one process and link
//! into one binary without clashing.

use proto2ffi::Status;

proto2ffi::library!(prefix = "fxb", init = || register_echo_service(Echo));

/// Numbers only.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AddRequest {
    /// Left.
    #[prost(int64, tag = "1")]
    pub a: i64,
    /// Right.
    #[prost(int64, tag = "2")]
    pub b: i64,
}

/// Result.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AddResponse {
    /// a - b (so the two libraries answer differently).
    #[prost(int64, tag = "1")]
    pub sum: i64,
}

/// Same name as the other fixture's service.
#[proto2ffi::service(prefix = "fxb")]
pub trait EchoService {
    /// Subtracts.
    fn add(&self, request: AddRequest) -> Result<AddResponse, Status>;
}

struct Echo;

impl EchoService for Echo {
    fn add(&self, request: AddRequest) -> Result<AddResponse, Status> {
        Ok(AddResponse {
            sum: request.a - request.b,
        })
    }
}
