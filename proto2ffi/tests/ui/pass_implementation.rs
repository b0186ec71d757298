//! `implementation = Type`: entry points call the type directly, and
//! `register_*` takes exactly that type (here a reference to a leaked value).
use proto2ffi::Status;

proto2ffi::library!(
    prefix = "ui",
    init = || register_greeter(Box::leak(Box::new(Loud(1))))
);

pub struct Loud(u32);

impl Greeter for &'static Loud {
    fn greet(&self, request: String) -> Result<String, Status> {
        Ok(format!("{request}{}", "!".repeat(self.0 as usize)))
    }
}

#[proto2ffi::service(prefix = "ui", implementation = "&'static crate::Loud")]
pub trait Greeter {
    fn greet(&self, request: String) -> Result<String, Status>;
}

fn main() {
    assert!(register_greeter(Box::leak(Box::new(Loud(2)))).is_ok());
    // A second registration is refused, as with a trait object.
    assert!(register_greeter(Box::leak(Box::new(Loud(3)))).is_err());
}
