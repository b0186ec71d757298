//! The library-wide exports (`{prefix}_proto2ffi_*`), implemented once here
//! and wrapped by the `extern "C"` functions `proto2ffi::library!` emits.
//! Each takes the [`Library`] it reports on.

use crate::abi::buffer::{self, Buffer};
use crate::library::def::Library;
use crate::{report::exposition, report::health, Code, Status};
use prost::Message;
use std::panic::{catch_unwind, AssertUnwindSafe};
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
        Err(p) => Err(Status::internal(format!(
            "panic: {}",
            crate::error::panic::message(p)
        ))),
    };
    match result {
        Ok(v) => {
            // SAFETY: as above.
            unsafe { out.write(Buffer::from_vec(v)) };
            0
        }
        // SAFETY: as above.
        Err(status) => unsafe { status.write_to(out, usize::MAX) }.0 as i32,
    }
}

fn encode(message: &impl Message) -> Vec<u8> {
    let mut v = buffer::take(message.encoded_len());
    message.encode_raw(&mut v);
    v
}

/// `Err` in a forked child (see the fork rule in [`crate::library::def`]).
fn usable(library: &Library) -> Result<(), Status> {
    library.forked_status().map_or(Ok(()), Err)
}

/// `{prefix}_proto2ffi_free`.
///
/// # Safety
/// See [`buffer::free`].
#[inline]
pub unsafe fn free(buffer: *mut Buffer) {
    // Dropping a Vec<u8> cannot panic; no guard needed.
    // SAFETY: this function's contract is `buffer::free`'s.
    unsafe { buffer::free(buffer) }
}

/// `{prefix}_proto2ffi_buffer_detach`.
///
/// # Safety
/// See [`buffer::detach`].
pub unsafe fn buffer_detach(buffer: *mut Buffer) -> *mut std::ffi::c_void {
    // Moving a Buffer into a Box cannot panic but for allocation failure,
    // which aborts; no guard needed.
    // SAFETY: this function's contract is `buffer::detach`'s.
    unsafe { buffer::detach(buffer) }
}

/// `{prefix}_proto2ffi_buffer_release`.
///
/// # Safety
/// See [`buffer::release`].
pub unsafe fn buffer_release(handle: *mut std::ffi::c_void) {
    // Dropping a Vec<u8> cannot panic; no guard needed.
    // SAFETY: this function's contract is `buffer::release`'s.
    unsafe { buffer::release(handle) }
}

/// `{prefix}_proto2ffi_init`.
///
/// # Safety
/// `out` is NULL or writable for one [`Buffer`].
pub unsafe fn init(library: &'static Library, out: *mut Buffer) -> i32 {
    // SAFETY: `out` as this function's contract says, which is `export`'s.
    unsafe { export(out, || library.ensure_init().map(|_| Vec::new())) }
}

/// `{prefix}_proto2ffi_metrics`.
///
/// # Safety
/// `out` is NULL or writable for one [`Buffer`].
pub unsafe fn metrics(library: &'static Library, out: *mut Buffer) -> i32 {
    // SAFETY: `out` as this function's contract says, which is `export`'s.
    unsafe {
        export(out, || {
            usable(library)?;
            Ok(encode(&exposition::collect(library)))
        })
    }
}

/// `{prefix}_proto2ffi_metrics_text`.
///
/// # Safety
/// `out` is NULL or writable for one [`Buffer`].
pub unsafe fn metrics_text(library: &'static Library, out: *mut Buffer) -> i32 {
    // SAFETY: `out` as this function's contract says, which is `export`'s.
    unsafe {
        export(out, || {
            usable(library)?;
            Ok(exposition::prometheus_text(library).into_bytes())
        })
    }
}

/// `{prefix}_proto2ffi_health`.
///
/// # Safety
/// `out` is NULL or writable for one [`Buffer`].
pub unsafe fn health(library: &'static Library, out: *mut Buffer) -> i32 {
    // SAFETY: `out` as this function's contract says, which is `export`'s.
    unsafe {
        export(out, || {
            usable(library)?;
            Ok(encode(&health::collect(library)))
        })
    }
}

/// `{prefix}_proto2ffi_shutdown`.
pub fn shutdown(library: &'static Library, timeout_ms: u32) -> i32 {
    match catch_unwind(AssertUnwindSafe(|| {
        library.shutdown(Duration::from_millis(u64::from(timeout_ms)))
    })) {
        Ok(true) => 0,
        Ok(false) => Code::DeadlineExceeded as i32,
        Err(p) => {
            crate::error::panic::drop_quietly(p);
            Code::Internal as i32
        }
    }
}

/// `{prefix}_proto2ffi_set_log_sink`.
pub fn set_log_sink(
    library: &'static Library,
    callback: Option<crate::observe::log::LogFn>,
    context: *mut std::ffi::c_void,
) -> i32 {
    if let Some(status) = library.forked_status() {
        return status.code() as i32;
    }
    library.list_for_fork();
    match catch_unwind(AssertUnwindSafe(|| library.set_log_sink(callback, context))) {
        Ok(()) => 0,
        Err(p) => {
            crate::error::panic::drop_quietly(p);
            Code::Internal as i32
        }
    }
}

/// `{prefix}_proto2ffi_set_log_filter`.
///
/// # Safety
/// `filter` is NULL (only with `filter_len == 0`) or points at `filter_len`
/// readable bytes; `out` is NULL or writable for one [`Buffer`].
pub unsafe fn set_log_filter(
    library: &'static Library,
    filter: *const u8,
    filter_len: usize,
    out: *mut Buffer,
) -> i32 {
    // SAFETY: `out` as this function's contract says, which is `export`'s.
    unsafe {
        export(out, || {
            usable(library)?;
            if filter.is_null() && filter_len != 0 {
                return Err(Status::invalid_argument(
                    "filter pointer is NULL but filter_len is not 0",
                ));
            }
            let bytes: &[u8] = if filter_len == 0 {
                &[]
            } else {
                // SAFETY: non-null with `filter_len` readable bytes (contract).
                std::slice::from_raw_parts(filter, filter_len)
            };
            let text = std::str::from_utf8(bytes)
                .map_err(|e| Status::invalid_argument(format!("filter is not UTF-8: {e}")))?;
            library
                .logs()
                .set_filter(text)
                .map(|()| Vec::new())
                .map_err(Status::invalid_argument)
        })
    }
}

/// `{prefix}_proto2ffi_log_record_free`.
///
/// # Safety
/// See `crate::observe::log::free_record`.
pub unsafe fn log_record_free(record: *mut crate::observe::log::LogRecord) {
    // SAFETY: this function's contract is `free_record`'s.
    unsafe { crate::observe::log::free_record(record) }
}

/// `cancel`: completes an async call or stream with `CANCELLED` and drops
/// its future at the next `.await`; `NOT_FOUND` when it is not live.
pub fn cancel(library: &'static Library, call_id: u64) -> i32 {
    code_of(library, || {
        if library.cancel(call_id) {
            Code::Ok as i32
        } else {
            Code::NotFound as i32
        }
    })
}

/// The code `f` returns; `INTERNAL` (the panic dropped quietly) if it
/// panics — the exports that answer with a bare code.
/// In a forked child, `UNAVAILABLE` without running `f` (see the fork rule
/// in [`crate::library::def`]).
fn code_of(library: &'static Library, f: impl FnOnce() -> i32) -> i32 {
    if let Some(status) = library.forked_status() {
        return status.code() as i32;
    }
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(p) => {
            crate::error::panic::drop_quietly(p);
            Code::Internal as i32
        }
    }
}

/// `stream_next`: the delivered items of a live stream, length-delimited.
///
/// # Safety
/// `out` is NULL or writable for one [`Buffer`].
pub unsafe fn stream_next(
    library: &'static Library,
    call_id: u64,
    max_items: u32,
    out: *mut Buffer,
) -> i32 {
    // SAFETY: forwarded contract.
    unsafe {
        export(out, || {
            match usable(library).map(|()| crate::call::calls::stream(library, call_id))? {
                Some(call) => Ok(call
                    .stream
                    .as_ref()
                    .expect("filtered to streams")
                    .take(max_items as usize)
                    .0),
                None => Err(Status::not_found(format!(
                    "no live stream with call id {call_id} (it completed, was cancelled, or is \
                 not a stream)"
                ))),
            }
        })
    }
}

/// `stream_send`: checks, decodes and queues one request of a live client
/// or bidi stream; see `crate::call::inbound`.
///
/// # Safety
/// `item` is NULL or points at `item_len` readable bytes.
pub unsafe fn stream_send(
    library: &'static Library,
    call_id: u64,
    item: *const u8,
    item_len: usize,
) -> i32 {
    code_of(library, || {
        match crate::call::calls::inbound(library, call_id) {
            // SAFETY: forwarded contract.
            Some(call) => unsafe {
                call.inbound
                    .as_ref()
                    .expect("filtered to client streams")
                    .send(&call, item, item_len)
            },
            None => Code::NotFound as i32,
        }
    })
}

/// `stream_send_items`: checks, decodes and queues several framed requests
/// of a live client or bidi stream; see `crate::call::inbound`.
///
/// # Safety
/// `items` is NULL or points at `len` readable bytes; `taken` is NULL or
/// writable for one `usize`.
pub unsafe fn stream_send_items(
    library: &'static Library,
    call_id: u64,
    items: *const u8,
    len: usize,
    taken: *mut usize,
) -> i32 {
    let mut queued = 0;
    let code = code_of(library, || {
        match crate::call::calls::inbound(library, call_id) {
            // SAFETY: forwarded contract.
            Some(call) => unsafe {
                call.inbound
                    .as_ref()
                    .expect("filtered to client streams")
                    .send_items(&call, items, len, &mut queued)
            },
            None => Code::NotFound as i32,
        }
    });
    if !taken.is_null() {
        // SAFETY: non-null and writable per the contract.
        unsafe { taken.write(queued) };
    }
    code
}

/// `stream_close_send`: ends the requests of a live client or bidi stream.
pub fn stream_close_send(library: &'static Library, call_id: u64) -> i32 {
    code_of(library, || {
        match crate::call::calls::inbound(library, call_id) {
            Some(call) => {
                call.inbound
                    .as_ref()
                    .expect("filtered to client streams")
                    .close();
                Code::Ok as i32
            }
            None => Code::NotFound as i32,
        }
    })
}

/// `dart_open`: see `crate::call::dart`.
///
/// # Safety
/// As `crate::call::dart::open`.
pub unsafe fn dart_open(post_cobject: *const std::ffi::c_void, port: i64) -> *mut std::ffi::c_void {
    // SAFETY: forwarded contract.
    unsafe { crate::call::dart::open(post_cobject, port) }
}

/// `dart_close`: see `crate::call::dart`. The calls of `library` still waiting
/// with this context are cancelled: their caller (an isolate) is gone, and
/// a call that posts nothing (a client stream waiting for requests) would
/// otherwise never notice.
pub fn dart_close(library: &'static Library, context: *mut std::ffi::c_void) {
    crate::call::dart::close(context);
    if library.forked_status().is_some() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        crate::call::calls::cancel_context(
            library,
            context,
            &Status::cancelled(
                "the Dart isolate that started this call is gone (its completion context \
                 was closed)",
            ),
        )
    }));
}

/// `dart_callback`: posts the event to the context's Dart port; when that
/// fails (closed context, dead isolate), cancels the call.
///
/// # Safety
/// `data` is NULL or points at `len` readable bytes.
pub unsafe fn dart_callback(
    library: &'static Library,
    context: *mut std::ffi::c_void,
    call_id: u64,
    status: i32,
    data: *const u8,
    len: usize,
) {
    let data: &[u8] = if data.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the runtime invokes this callback with its own buffers.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    if crate::call::calls::keep_inline(library, call_id, status, data) {
        return;
    }
    if !crate::call::dart::post(context, call_id, status, data) {
        library.state.calls.cancel(
            call_id,
            Status::cancelled("the Dart isolate waiting for this call is gone"),
        );
    }
}

/// `dart_take`: the final event of a call that completed inside its
/// `*_start` on this thread (its status, data in `*out`), or -1.
///
/// # Safety
/// `out` is NULL or writable for one [`Buffer`].
pub unsafe fn dart_take(library: &'static Library, call_id: u64, out: *mut Buffer) -> i32 {
    if out.is_null() {
        return Code::InvalidArgument as i32;
    }
    match crate::call::calls::take_inline(library, call_id) {
        Some((status, data)) => {
            // SAFETY: non-null and writable per the contract.
            unsafe { out.write(Buffer::from_vec(data)) };
            status
        }
        None => {
            // SAFETY: as above.
            unsafe { out.write(Buffer::empty()) };
            -1
        }
    }
}

/// `*_host_bind`: binds the host's implementation of `service`.
///
/// # Safety
/// `callback` is NULL or callable with `context` from any thread until
/// `host_unbind` of the returned binding returns (or a later bind replaced
/// it and returned).
pub unsafe fn host_bind(
    service: &'static crate::call::host::HostServiceDef,
    callback: Option<crate::call::host::HostFn>,
    context: *mut std::ffi::c_void,
) -> u64 {
    // `bind` refuses in a forked child itself (before taking a lock).
    catch_unwind(AssertUnwindSafe(|| service.bind(callback, context))).unwrap_or_else(|p| {
        crate::error::panic::drop_quietly(p);
        0
    })
}

/// `host_unbind`: removes a binding; `NOT_FOUND` when it is not bound.
pub fn host_unbind(library: &'static Library, binding: u64) -> i32 {
    code_of(library, || {
        if crate::call::host::unbind(library, binding) {
            Code::Ok as i32
        } else {
            Code::NotFound as i32
        }
    })
}

/// `host_finalize`: `host_unbind` with the binding as a pointer, no result.
pub fn host_finalize(library: &'static Library, binding: *mut std::ffi::c_void) {
    let _ = host_unbind(library, binding as usize as u64);
}

/// `host_complete`: the host's answer to a call (see `crate::call::host`).
///
/// # Safety
/// `data` is NULL (only with `len == 0`) or points at `len` readable bytes.
pub unsafe fn host_complete(
    library: &'static Library,
    call_id: u64,
    status: i32,
    data: *const u8,
    len: usize,
) -> i32 {
    if data.is_null() && len != 0 {
        return Code::InvalidArgument as i32;
    }
    let data: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: non-null with `len` readable bytes per the contract.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    code_of(library, || {
        crate::call::host::complete(library, call_id, status, data) as i32
    })
}

/// `dart_host_callback`: posts a host request (or a cancellation) to the
/// Dart port of `context`; `UNAVAILABLE` when that fails (the isolate is
/// gone, and the binding is then removed).
///
/// # Safety
/// `data` is NULL or points at `len` readable bytes.
pub unsafe fn dart_host_callback(
    context: *mut std::ffi::c_void,
    call_id: u64,
    method: i32,
    data: *const u8,
    len: usize,
) -> i32 {
    let data: &[u8] = if data.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the runtime invokes this callback with its own buffers.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    if crate::call::dart::post(context, call_id, method, data) {
        0
    } else {
        Code::Unavailable as i32
    }
}

/// `dart_init_api`: lets the library ask the VM which isolate a thread
/// runs (see `crate::call::dart::init_api`).
///
/// # Safety
/// `data` is NULL or `NativeApi.initializeApiDLData` of the running VM.
pub unsafe fn dart_init_api(data: *mut std::ffi::c_void) -> i32 {
    // SAFETY: forwarded contract.
    if unsafe { crate::call::dart::init_api(data) } {
        Code::Ok as i32
    } else {
        Code::FailedPrecondition as i32
    }
}
