//! The call guard: everything between the C entry point and the handler.
//!
//! Order (see DESIGN.md): admission (shutdown, registration) → rate limit
//! (service, then method) → request size limit, before any decoding → decode
//! → keyed rate limit (its key is a request field) → handler under
//! `catch_unwind` → encode → response size limit (checked on the encoded
//! length, before encoding) → metrics. Nothing unwinds out of [`unary`].

use crate::admission;
use crate::buffer::{self, Buffer};
use crate::clock;
use crate::limits;
use crate::metrics::{CallRecord, Rejection};
use crate::rate::{KeyedRateLimiter, RateLimiter, Rejected};
use crate::registry::{self, MethodDef, ServiceDef};
use crate::{Code, Status};
use prost::Message;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Extracts the text of a panic payload and drops the payload without
/// letting a panicking `Drop` escape.
pub fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    };
    drop_quietly(payload);
    text
}

fn drop_quietly(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        // The payload's Drop panicked. A string payload drops safely; any
        // other kind is leaked rather than risk a third panic.
        if again.is::<&'static str>() || again.is::<String>() {
            drop(again);
        } else {
            std::mem::forget(again);
        }
    }
}

type Failure = (Status, Option<Rejection>);

fn rate_status(what: &str, limiter_rate: Option<crate::RateLimit>, r: Rejected) -> Status {
    let retry_ms = r.retry_after_ns.div_ceil(1_000_000);
    match limiter_rate {
        Some(l) => Status::resource_exhausted(format!(
            "rate limit exceeded for {what} ({} calls/s, burst {}); retry in {retry_ms} ms",
            l.per_second, l.burst
        )),
        None => Status::resource_exhausted(format!(
            "rate limit exceeded for {what}; retry in {retry_ms} ms"
        )),
    }
}

fn check_rate(
    limiter: &RateLimiter,
    now: u64,
    what: impl FnOnce() -> String,
) -> Result<(), Failure> {
    limiter.check(now).map_err(|r| {
        (
            rate_status(&what(), limiter.get(), r),
            Some(Rejection::Rate),
        )
    })
}

/// Runs one unary call through the guard. Called by generated entry points.
///
/// - `resolve` finds the registered implementation (running the library's
///   init on first use); `None` means "not registered".
/// - `key` checks the keyed limiter with the request's key field; it is only
///   called when the method has a keyed limit.
/// - `handler` calls the trait method.
///
/// # Safety
/// `request` is NULL or points at `request_len` readable bytes; `out` is NULL
/// or points at writable memory for one [`Buffer`] (its old content is
/// overwritten, not freed).
#[inline]
#[allow(clippy::too_many_arguments)]
pub unsafe fn unary<S, Req, Resp, E, R, K, F>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    resolve: R,
    key: K,
    handler: F,
    request: *const u8,
    request_len: usize,
    out: *mut Buffer,
) -> i32
where
    S: ?Sized + 'static,
    R: FnOnce() -> Option<&'static S>,
    K: FnOnce(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
    F: FnOnce(&'static S, Req) -> Result<Resp, E>,
    Req: Message + Default,
    Resp: Message,
    E: Into<Status>,
{
    let shard = admission::thread_shard();
    let start = clock::now_ns();
    if out.is_null() {
        method.metrics.record(
            shard,
            &CallRecord {
                code: Code::InvalidArgument,
                rejection: None,
                panicked: false,
                bytes_in: 0,
                bytes_out: 0,
                latency_ns: clock::now_ns().saturating_sub(start),
            },
        );
        return Code::InvalidArgument as i32;
    }
    // SAFETY: `out` is non-null and writable per the contract.
    unsafe { out.write(Buffer::empty()) };

    let mut panicked = false;
    let in_flight = admission::admit(shard);
    let result: Result<Vec<u8>, Failure> = (|| {
        if in_flight.is_none() {
            return Err((
                Status::unavailable(format!(
                    "{}.{} refused: the library is shutting down",
                    service.name, method.name
                )),
                Some(Rejection::Admission),
            ));
        }
        let implementation = match catch_unwind(AssertUnwindSafe(resolve)) {
            Ok(Some(i)) => i,
            Ok(None) | Err(_) => {
                registry::announce(service);
                return Err((
                    Status::failed_precondition(format!(
                        "service {} has no registered implementation: call its generated \
                         `register_*` function (for example from the init function given to \
                         `proto2ffi::library!`) before calling {}",
                        service.name, method.symbol
                    )),
                    Some(Rejection::Admission),
                ));
            }
        };
        check_rate(&service.rate, start, || format!("service {}", service.name))?;
        check_rate(&method.rate, start, || {
            format!("method {}.{}", service.name, method.name)
        })?;
        if request.is_null() && request_len != 0 {
            return Err((
                Status::invalid_argument(format!(
                    "request pointer is NULL but request_len is {request_len}"
                )),
                None,
            ));
        }
        let max_request = limits::effective_request(&method.limits, &service.limits);
        if request_len > max_request {
            return Err((
                Status::resource_exhausted(format!(
                    "request of {request_len} bytes exceeds the limit of {max_request} bytes \
                     for {}.{}",
                    service.name, method.name
                )),
                Some(Rejection::RequestSize),
            ));
        }
        let bytes: &[u8] = if request_len == 0 {
            &[]
        } else {
            // SAFETY: non-null (checked above) and `request_len` readable bytes
            // per the contract.
            unsafe { std::slice::from_raw_parts(request, request_len) }
        };
        match catch_unwind(AssertUnwindSafe(|| {
            call_handler(service, method, implementation, bytes, start, key, handler)
        })) {
            Ok(r) => r,
            Err(payload) => {
                panicked = true;
                Err((
                    Status::internal(format!(
                        "panic in {}.{}: {}",
                        service.name,
                        method.name,
                        panic_message(payload)
                    )),
                    None,
                ))
            }
        }
    })();

    let (code, rejection, bytes_out) = match result {
        Ok(v) => {
            let n = v.len();
            // SAFETY: `out` is non-null and writable (checked above).
            unsafe { out.write(Buffer::from_vec(v)) };
            (Code::Ok, None, n)
        }
        Err((status, rejection)) => {
            let n = write_status(&status, out);
            (status.code(), rejection, n)
        }
    };
    method.metrics.record(
        shard,
        &CallRecord {
            code,
            rejection,
            panicked,
            bytes_in: request_len as u64,
            bytes_out: bytes_out as u64,
            latency_ns: clock::now_ns().saturating_sub(start),
        },
    );
    drop(in_flight);
    code as i32
}

#[inline]
fn call_handler<S, Req, Resp, E, K, F>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    implementation: &'static S,
    bytes: &[u8],
    now: u64,
    key: K,
    handler: F,
) -> Result<Vec<u8>, Failure>
where
    S: ?Sized + 'static,
    K: FnOnce(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
    F: FnOnce(&'static S, Req) -> Result<Resp, E>,
    Req: Message + Default,
    Resp: Message,
    E: Into<Status>,
{
    let request = Req::decode(bytes).map_err(|e| {
        (
            Status::invalid_argument(format!(
                "request to {}.{} is not a valid message: {e}",
                service.name, method.name
            )),
            None,
        )
    })?;
    if let Some(keyed) = method.keyed.get() {
        key(&request, keyed, now).map_err(|r| {
            (
                rate_status(
                    &format!("this client of {}.{}", service.name, method.name),
                    Some(keyed.limit()),
                    r,
                ),
                Some(Rejection::Rate),
            )
        })?;
    }
    let response = handler(implementation, request).map_err(|e| {
        let status: Status = e.into();
        if status.code() == Code::Ok {
            (
                Status::unknown(format!(
                    "{}.{} returned an error with code OK: {}",
                    service.name,
                    method.name,
                    status.message()
                )),
                None,
            )
        } else {
            (status, None)
        }
    })?;
    let len = response.encoded_len();
    let max_response = limits::effective_response(&method.limits, &service.limits);
    if len > max_response {
        return Err((
            Status::resource_exhausted(format!(
                "response of {len} bytes exceeds the limit of {max_response} bytes for {}.{}",
                service.name, method.name
            )),
            Some(Rejection::ResponseSize),
        ));
    }
    let mut v = buffer::take(len);
    response.encode_raw(&mut v);
    // Drop the response while `v` is still a local: if its Drop panics, the
    // unwind frees `v` (a panic after the return value is built would leak
    // it, rust-lang/rust#47949).
    drop(response);
    Ok(v)
}

/// Encodes `status` into a pooled buffer written to `*out`; returns its length.
pub(crate) fn write_status(status: &Status, out: *mut Buffer) -> usize {
    let mut v = buffer::take(status.encoded_len());
    status.encode(&mut v);
    let n = v.len();
    // SAFETY: callers pass a non-null, writable `out`.
    unsafe { out.write(Buffer::from_vec(v)) };
    n
}
