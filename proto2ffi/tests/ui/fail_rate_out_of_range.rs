#[allow(unused_imports)]
use proto2ffi::Status;

proto2ffi::library!(prefix = "ui");

// One call in 11.6 days: so slow that the limiter's arithmetic would saturate
// and admit everything; refused at compile time.
#[proto2ffi::service(prefix = "ui", rate_per_second = 0.000001)]
pub trait S {
    fn get(&self, request: ()) -> Result<(), Status>;
}
fn main() {}
