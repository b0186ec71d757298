// A service in a crate that forgot `proto2ffi::library!`: the error says
// what to add instead of "could not find `__proto2ffi_library`".
use proto2ffi::Status;

#[proto2ffi::service(prefix = "ui")]
pub trait S {
    fn get(&self, request: ()) -> Result<(), Status>;
}
fn main() {}
