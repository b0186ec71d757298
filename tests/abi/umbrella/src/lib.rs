//! One artifact exporting two proto2ffi libraries (`fx` and `fxb`): the
//! crates are linked whole so their `#[no_mangle]` exports stay in the cdylib.

pub use abi_fixture;
pub use abi_fixture_b;
