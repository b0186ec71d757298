//! The smallest proto2ffi library: one unary method (a string in, the same
//! string out) with every guard and every library-wide export (metrics and
//! their Prometheus text, health, logs, shutdown, buffers). Its size minus
//! `size-floor`'s is what the runtime costs a library before its own code.

use proto2ffi::Status;

proto2ffi::library!(prefix = "one", init = || register_greeter(Echo));

/// The implementation.
pub struct Echo;

impl Greeter for Echo {
    fn greet(&self, request: String) -> Result<String, Status> {
        Ok(request)
    }
}

/// One method.
#[proto2ffi::service(prefix = "one", implementation = crate::Echo)]
pub trait Greeter {
    /// Returns the request.
    fn greet(&self, request: String) -> Result<String, Status>;
}
