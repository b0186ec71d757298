//! The call guard of fixed-layout methods: a request struct in, a response
//! struct out, no encoding.
//!
//! `int32_t f(const Req *request, Resp *response, buffer *error)`. The same
//! guarantees as [`crate::guard::unary`], in the same order where they
//! apply: admission → NULL, alignment and overlap checks → service and
//! method rate limits → [`FixedMessage::validate`] on the request (and on
//! the response when it holds array references: they lend output storage,
//! e.g. a histogram's bins or an image edited in place) → the handler under
//! `catch_unwind` with `&Req` and `&mut Resp` → the response checked the
//! same way (a handler that writes a count above its bound gets
//! `INTERNAL`, the caller never reads past an array) → metrics (bytes are the
//! struct sizes). On failure, `*error` (when not NULL) receives an encoded
//! `google.rpc.Status`; the response struct may have been partly written.
//! Request and response may not overlap: `&Req` and `&mut Resp` to the same
//! bytes would be undefined behaviour, so the call is refused.

use crate::admission;
use crate::buffer::Buffer;
use crate::clock;
use crate::fixed::FixedMessage;
use crate::guard::{internal_status, panic_status, Fail, Failure};
use crate::library::{MethodDef, ServiceDef};
use crate::metrics::CallRecord;
use crate::{Code, Status};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs one fixed-layout call through the guard. Called by generated entry
/// points.
///
/// # Safety
/// `request` is NULL or points at `size_of::<Req>()` readable bytes nothing
/// writes during the call; `response` is NULL or points at
/// `size_of::<Resp>()` writable bytes nothing else accesses during the call;
/// array references inside them point at storage as their [`ArrayRef`]
/// contract says; `error` is NULL or writable for one [`Buffer`].
///
/// [`ArrayRef`]: crate::fixed::ArrayRef
#[inline]
#[allow(clippy::too_many_arguments)]
pub unsafe fn fixed<S, Req, Resp, E, R, F>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    resolve: R,
    handler: F,
    request: *const Req,
    response: *mut Resp,
    error: *mut Buffer,
) -> i32
where
    S: ?Sized + 'static,
    R: FnOnce() -> Option<&'static S>,
    F: FnOnce(&'static S, &Req, &mut Resp) -> Result<(), E>,
    Req: FixedMessage,
    Resp: FixedMessage,
    E: Into<Status>,
{
    crate::thread::with(|thread| {
        let library = service.library;
        let (shard, tick) = thread.map_or((admission::Shard::SHARED, 0), |t| {
            (t.shard(), t.next_call())
        });
        let timed = tick & library.latency_sample_mask() == 0;
        let start = if timed { clock::raw() } else { 0 };
        if !error.is_null() {
            // SAFETY: non-null and writable per the contract.
            unsafe { error.write(Buffer::empty()) };
        }
        let mut panicked = false;
        let in_flight = library.admission.admit(shard);
        let body = || -> Result<(), Fail> {
            let implementation =
                crate::guard::admitted(service, method, in_flight.is_some(), resolve)?;
            check_pointers(request, response).map_err(|s| Failure::new(s, None))?;
            crate::guard::check_rates(service, method, shard)?;
            // SAFETY: non-null, aligned and readable per the contract
            // (checked above); `Req: FromBytes` accepts any bytes.
            let req: &Req = unsafe { &*request };
            // SAFETY: array references point at valid storage per the
            // contract.
            if let Err(status) = unsafe { req.validate() } {
                service.rate.refund();
                method.rate.refund();
                let message = format!("request: {}", status.message());
                return Err(Failure::new(status.with_message(message), None));
            }
            // SAFETY: non-null, aligned, writable, not overlapping the
            // request (checked above) and accessed by nothing else.
            let resp: &mut Resp = unsafe { &mut *response };
            // A response with array references lends output storage the
            // handler writes through: check those before it runs, so its
            // `…_storage_mut` accessors see only well-formed references.
            if Resp::HAS_ARRAY_REFS {
                // SAFETY: as the request's.
                if let Err(status) = unsafe { resp.validate() } {
                    service.rate.refund();
                    method.rate.refund();
                    let message = format!("response (before the call): {}", status.message());
                    return Err(Failure::new(status.with_message(message), None));
                }
            }
            let scope = crate::panic::GuardScope::enter(thread, library.logs().is_enabled());
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                handler(implementation, req, resp).map_err(|e| {
                    let status: Status = e.into();
                    match status.code() {
                        Code::Ok => Failure::new(
                            Status::unknown(format!(
                                "{}.{} returned an error with code OK: {}",
                                service.name,
                                method.name,
                                status.message()
                            )),
                            None,
                        ),
                        Code::Internal => {
                            Failure::new(internal_status(service, method, status), None)
                        }
                        _ => Failure::new(status, None),
                    }
                })
            }));
            drop(scope);
            match outcome {
                // SAFETY: as the request's.
                Ok(Ok(())) => unsafe { resp.validate() }.map_err(|s| {
                    Failure::new(
                        internal_status(
                            service,
                            method,
                            Status::internal(format!(
                                "{}.{} wrote an invalid response: {}",
                                service.name,
                                method.name,
                                s.message()
                            )),
                        ),
                        None,
                    )
                }),
                Ok(Err(f)) => Err(f),
                Err(payload) => {
                    panicked = true;
                    Err(Failure::new(panic_status(service, method, payload), None))
                }
            }
        };
        let trace = library
            .logs()
            .dispatch()
            .map(|d| crate::guard::trace_call(d, service, method));
        let result = body();
        if let Some(t) = trace {
            t.finish(service, method, &result);
        }
        let (code, rejection, bytes_in, bytes_out) = match result {
            Ok(()) => (
                Code::Ok,
                None,
                std::mem::size_of::<Req>() as u64,
                std::mem::size_of::<Resp>() as u64,
            ),
            Err(f) => {
                let Failure {
                    status, rejection, ..
                } = *f;
                let code = status.code();
                let n = if error.is_null() {
                    0
                } else {
                    // SAFETY: non-null and writable per the contract.
                    unsafe { status.write_to(error, usize::MAX) }.1
                };
                let bytes_in = if rejection.is_none() && !request.is_null() {
                    std::mem::size_of::<Req>() as u64
                } else {
                    0
                };
                (code, rejection, bytes_in, n as u64)
            }
        };
        method.metrics.record(
            shard,
            &CallRecord {
                code,
                rejection,
                panicked,
                bytes_in,
                bytes_out,
                latency_ns: timed.then(|| clock::elapsed_ns(start)),
            },
        );
        drop(in_flight);
        code as i32
    })
}

/// NULL, misaligned and overlapping pointers are refused before any byte
/// is read.
#[cold]
fn pointer_status<Req, Resp>(request: *const Req, response: *mut Resp) -> Status {
    let (req, resp) = (request as usize, response as usize);
    if req == 0 || resp == 0 {
        return Status::invalid_argument(format!(
            "{} pointer is NULL",
            if req == 0 { "request" } else { "response" }
        ));
    }
    let (ra, sa) = (std::mem::align_of::<Req>(), std::mem::align_of::<Resp>());
    if req % ra != 0 {
        return Status::invalid_argument(format!(
            "request pointer {req:#x} is not aligned to {ra} bytes"
        ));
    }
    if resp % sa != 0 {
        return Status::invalid_argument(format!(
            "response pointer {resp:#x} is not aligned to {sa} bytes"
        ));
    }
    Status::invalid_argument(
        "request and response overlap: pass two separate structs (copy the request first to \
         update in place)",
    )
}

#[inline]
fn check_pointers<Req, Resp>(request: *const Req, response: *mut Resp) -> Result<(), Status> {
    let (req, resp) = (request as usize, response as usize);
    let (rs, ss) = (std::mem::size_of::<Req>(), std::mem::size_of::<Resp>());
    let ok = req != 0
        && resp != 0
        && req % std::mem::align_of::<Req>() == 0
        && resp % std::mem::align_of::<Resp>() == 0
        && (req.saturating_add(rs) <= resp || resp.saturating_add(ss) <= req);
    if ok {
        Ok(())
    } else {
        Err(pointer_status(request, response))
    }
}
