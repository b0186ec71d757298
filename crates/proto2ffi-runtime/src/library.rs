//! The library-wide exports (`{prefix}_proto2ffi_*`), implemented once here
//! and wrapped by the `extern "C"` functions `proto2ffi::library!` emits.

use crate::buffer::{self, Buffer};
use crate::guard::{panic_message, write_status};
use crate::{admission, health, metrics, Code, Status};
use parking_lot::Mutex;
use prost::Message;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::Duration;

/// What an init function may return: `()` or `Result<(), E: Into<Status>>`.
pub trait IntoInitResult {
    /// Converts into the runtime's form.
    fn into_init_result(self) -> Result<(), Status>;
}

impl IntoInitResult for () {
    fn into_init_result(self) -> Result<(), Status> {
        Ok(())
    }
}

impl<E: Into<Status>> IntoInitResult for Result<(), E> {
    fn into_init_result(self) -> Result<(), Status> {
        self.map_err(Into::into)
    }
}

static INIT: Once = Once::new();
static INIT_ERROR: Mutex<Option<Status>> = Mutex::new(None);

/// Runs the library's init function exactly once per process (panics are
/// caught and kept as the init error). Later calls return the first outcome.
pub fn ensure_init(init: fn() -> Result<(), Status>) -> Result<(), Status> {
    INIT.call_once(|| {
        let outcome = match catch_unwind(init) {
            Ok(r) => r,
            Err(p) => Err(Status::internal(format!(
                "init panicked: {}",
                panic_message(p)
            ))),
        };
        if let Err(e) = outcome {
            *INIT_ERROR.lock() = Some(e);
        }
    });
    match INIT_ERROR.lock().as_ref() {
        Some(e) => Err(e.clone()),
        None => Ok(()),
    }
}

/// The init failure, if init ran and failed.
pub fn init_error() -> Option<String> {
    INIT_ERROR.lock().as_ref().map(|s| s.to_string())
}

/// Writes `result` to `*out` and returns its code; guards against NULL `out`
/// and panics in `produce`.
///
/// # Safety
/// `out` is NULL or writable for one [`Buffer`].
unsafe fn export(out: *mut Buffer, produce: impl FnOnce() -> Result<Vec<u8>, Status>) -> i32 {
    if out.is_null() {
        return Code::InvalidArgument as i32;
    }
    // SAFETY: non-null and writable per the contract.
    unsafe { out.write(Buffer::empty()) };
    let result = match catch_unwind(AssertUnwindSafe(produce)) {
        Ok(r) => r,
        Err(p) => Err(Status::internal(format!("panic: {}", panic_message(p)))),
    };
    match result {
        Ok(v) => {
            // SAFETY: as above.
            unsafe { out.write(Buffer::from_vec(v)) };
            0
        }
        Err(status) => {
            write_status(&status, out);
            status.code() as i32
        }
    }
}

fn encode(message: &impl Message) -> Vec<u8> {
    let mut v = buffer::take(message.encoded_len());
    message.encode_raw(&mut v);
    v
}

/// `{prefix}_proto2ffi_free`.
///
/// # Safety
/// See [`buffer::free`].
pub unsafe fn free(buffer: *mut Buffer) {
    // Dropping a Vec<u8> cannot panic; no guard needed.
    unsafe { buffer::free(buffer) }
}

/// `{prefix}_proto2ffi_init`.
///
/// # Safety
/// `out` is NULL or writable for one [`Buffer`].
pub unsafe fn init(out: *mut Buffer, init: fn() -> Result<(), Status>) -> i32 {
    unsafe { export(out, || ensure_init(init).map(|_| Vec::new())) }
}

/// `{prefix}_proto2ffi_metrics`.
///
/// # Safety
/// `out` is NULL or writable for one [`Buffer`].
pub unsafe fn metrics(out: *mut Buffer) -> i32 {
    unsafe { export(out, || Ok(encode(&metrics::collect()))) }
}

/// `{prefix}_proto2ffi_metrics_text`.
///
/// # Safety
/// `out` is NULL or writable for one [`Buffer`].
pub unsafe fn metrics_text(out: *mut Buffer) -> i32 {
    unsafe { export(out, || Ok(metrics::prometheus_text().into_bytes())) }
}

/// `{prefix}_proto2ffi_health`.
///
/// # Safety
/// `out` is NULL or writable for one [`Buffer`].
pub unsafe fn health(out: *mut Buffer) -> i32 {
    unsafe { export(out, || Ok(encode(&health::collect()))) }
}

/// `{prefix}_proto2ffi_shutdown`.
pub fn shutdown(timeout_ms: u32) -> i32 {
    match catch_unwind(|| admission::shutdown(Duration::from_millis(u64::from(timeout_ms)))) {
        Ok(true) => 0,
        Ok(false) => Code::DeadlineExceeded as i32,
        Err(p) => {
            drop(panic_message(p));
            Code::Internal as i32
        }
    }
}
