// A fixed-layout method writes its response struct: it returns Result<(), _>.
#[proto2ffi::service(prefix = "ui")]
pub trait Sim {
    fn step(&self, request: &u32, response: &mut u32) -> Result<u32, proto2ffi::Status>;
}

proto2ffi::library!(prefix = "ui");

fn main() {}
