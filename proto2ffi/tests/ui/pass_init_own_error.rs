// `init = || my_init()` returning `Result<(), MyError>` with
// `MyError: Into<Status>`: the error reaches the caller as its status.
use proto2ffi::{Code, Status};

struct MyError(&'static str);

impl From<MyError> for Status {
    fn from(e: MyError) -> Status {
        Status::failed_precondition(e.0)
    }
}

fn my_init() -> Result<(), MyError> {
    Err(MyError("no config"))
}

proto2ffi::library!(prefix = "ui", init = || my_init());

fn main() {
    let e = proto2ffi::this_library!().ensure_init().unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(e.message(), "no config");
}
