use proto2ffi::Status;

proto2ffi::library!(prefix = "ui", init = || register_greeter(Quiet));

/// Named as the implementation, but it implements nothing.
pub struct Quiet;

#[proto2ffi::service(prefix = "ui", implementation = crate::Quiet)]
pub trait Greeter {
    fn greet(&self, request: String) -> Result<String, Status>;
}
fn main() {}
