//! The call guard of fixed-layout methods: a request struct in, a response
//! struct out, no encoding.
//!
//! `int32_t f(const Req *request, Resp *response, buffer *error)`. The same
//! guarantees as [`crate::call::guard::unary`], in the same order where they
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

use crate::abi::buffer::Buffer;
use crate::call::guard::{guarded, internal_status, Fail, Failure};
use crate::fixed::layout::FixedMessage;
use crate::library::def::{MethodDef, ServiceDef};
use crate::observe::metrics::CallRecord;
use crate::sys::clock;
use crate::sys::thread::ThreadState;
use crate::{Code, Status};

/// Runs one fixed-layout call through the guard. Called by generated entry
/// points.
///
/// Two paths with the same guarantees: a lean one for the common call (a
/// shard this thread owns, no log sink, no rate limit set, pointers and
/// request well-formed, the implementation registered), inlined into the
/// entry point (a call timed for the latency histogram runs an out-of-line
/// copy of it), and the general one (`full`, out of line and cold) for
/// everything else. The lean path has no side effect before it commits to
/// running the handler except an admission it undoes, so any refusal is
/// left to `full`, which repeats the checks and reports it.
///
/// `peek` finds the registered implementation without running the
/// library's init (the lean path); `resolve` may run it (the general path).
///
/// # Safety
/// `request` is NULL or points at `size_of::<Req>()` readable bytes nothing
/// writes during the call; `response` is NULL or points at
/// `size_of::<Resp>()` writable bytes nothing else accesses during the call;
/// array references inside them point at storage as their [`ArrayRef`]
/// contract says; `error` is NULL or writable for one [`Buffer`].
///
/// [`ArrayRef`]: crate::fixed::layout::ArrayRef
#[inline]
#[allow(clippy::too_many_arguments)]
pub unsafe fn fixed<S, Req, Resp, E, P, R, F>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    peek: P,
    resolve: R,
    handler: F,
    request: *const Req,
    response: *mut Resp,
    error: *mut Buffer,
) -> i32
where
    S: ?Sized + 'static,
    P: FnOnce() -> Option<&'static S> + Copy,
    R: FnOnce() -> Option<&'static S> + Copy,
    F: FnOnce(&'static S, &Req, &mut Resp) -> Result<(), E> + Copy,
    Req: FixedMessage,
    Resp: FixedMessage,
    E: Into<Status>,
{
    debug_assert_eq!(
        method.fixed_sizes,
        Some((size_of::<Req>() as u32, size_of::<Resp>() as u32)),
        "{}: a fixed-layout method's definition states its struct sizes",
        method.name
    );
    crate::sys::thread::with(|thread| {
        let tick = thread.map_or(0, |t| t.next_call());
        match thread {
            // SAFETY: this function's contract, forwarded.
            Some(t) if tick & service.library.fixed_latency_sample_mask() != 0 => unsafe {
                lean::<false, _, _, _, _, _, _, _>(
                    t, tick, service, method, peek, resolve, handler, request, response, error,
                )
            },
            // SAFETY: this function's contract, forwarded.
            Some(t) => unsafe {
                lean_timed(
                    t, tick, service, method, peek, resolve, handler, request, response, error,
                )
            },
            // SAFETY: this function's contract, forwarded.
            None => unsafe {
                full(
                    thread, tick, service, method, resolve, handler, request, response, error,
                )
            },
        }
    })
}

/// [`lean`] for a call timed for the latency histogram (one in
/// `fixed_latency_sample_every`), out of line.
///
/// # Safety
/// As [`fixed`].
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn lean_timed<S, Req, Resp, E, P, R, F>(
    thread: &ThreadState,
    tick: u32,
    service: &'static ServiceDef,
    method: &'static MethodDef,
    peek: P,
    resolve: R,
    handler: F,
    request: *const Req,
    response: *mut Resp,
    error: *mut Buffer,
) -> i32
where
    S: ?Sized + 'static,
    P: FnOnce() -> Option<&'static S> + Copy,
    R: FnOnce() -> Option<&'static S> + Copy,
    F: FnOnce(&'static S, &Req, &mut Resp) -> Result<(), E> + Copy,
    Req: FixedMessage,
    Resp: FixedMessage,
    E: Into<Status>,
{
    // SAFETY: as this function's.
    unsafe {
        lean::<true, _, _, _, _, _, _, _>(
            thread, tick, service, method, peek, resolve, handler, request, response, error,
        )
    }
}

/// The common call; hands anything else to [`full`] before doing anything
/// it would have to undo (an admission aside, which it undoes).
/// `TIMED`: the call's latency goes to the histogram.
///
/// Every way out to [`full`] is a call of that cold function, so the
/// compiler treats them as unlikely and lays out (and inlines into) the
/// common path as the likely one.
///
/// The cold functions take the call's arguments one by one, not bundled in
/// a struct: passed in registers, they cost the common path nothing (a
/// bundle was stored to the stack on every call, ahead of the checks).
///
/// # Safety
/// As [`fixed`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn lean<const TIMED: bool, S, Req, Resp, E, P, R, F>(
    thread: &ThreadState,
    tick: u32,
    service: &'static ServiceDef,
    method: &'static MethodDef,
    peek: P,
    resolve: R,
    handler: F,
    request: *const Req,
    response: *mut Resp,
    error: *mut Buffer,
) -> i32
where
    S: ?Sized + 'static,
    P: FnOnce() -> Option<&'static S> + Copy,
    R: FnOnce() -> Option<&'static S> + Copy,
    F: FnOnce(&'static S, &Req, &mut Resp) -> Result<(), E> + Copy,
    Req: FixedMessage,
    Resp: FixedMessage,
    E: Into<Status>,
{
    // SAFETY: as this function's.
    let bail = move || unsafe {
        full(
            Some(thread),
            tick,
            service,
            method,
            resolve,
            handler,
            request,
            response,
            error,
        )
    };
    let start = if TIMED { clock::raw() } else { 0 };
    let library = service.library;
    let shard = thread.shard();
    if !shard.is_exclusive()
        || (library.switches().any_on()
            && (library.logs().is_enabled()
                || service.rate.is_enabled()
                || method.rate.is_enabled()))
        || !pointers_ok(request, response)
    {
        return bail();
    }
    // Registered already (else `full` runs the library's init).
    let Some(implementation) = peek() else {
        return bail();
    };
    let Some(in_flight) = library.state.admission.admit_owned(shard) else {
        return bail();
    };
    // SAFETY: non-null, aligned and readable per the contract (checked
    // above); `Req: FromBytes` accepts any bytes.
    let req: &Req = unsafe { &*request };
    // SAFETY: array references point at valid storage per the contract.
    if unsafe { req.validate() }.is_err() {
        drop(in_flight);
        return bail();
    }
    // SAFETY: non-null, aligned, writable, not overlapping the request
    // (checked above) and accessed by nothing else.
    let resp: &mut Resp = unsafe { &mut *response };
    // SAFETY: as the request's.
    if Resp::HAS_ARRAY_REFS && unsafe { resp.validate() }.is_err() {
        drop(in_flight);
        return bail();
    }
    // Committed: from here on the call is this path's to report.
    if !error.is_null() {
        // SAFETY: non-null and writable per the contract.
        unsafe { error.write(Buffer::empty()) };
    }
    // No log sink (checked above): nothing to capture.
    let scope = crate::error::panic::InGuard::enter(thread);
    let mut panicked = false;
    // The handler's error is converted inside, so that what crosses
    // `catch_unwind` is a pointer, not the handler's whole `Result`.
    let outcome = guarded(service, method, &mut panicked, || {
        handler(implementation, req, resp).map_err(|e| Failure::of_handler(service, method, e))
    });
    drop(scope);
    let failure = match outcome {
        // SAFETY: as the request's.
        Ok(()) => match unsafe { resp.validate() } {
            Ok(()) => {
                // Bytes: the struct sizes, added by `MethodDef::snapshot`.
                if TIMED {
                    method.metrics.record(
                        shard,
                        &CallRecord {
                            code: Code::Ok,
                            rejection: None,
                            panicked: false,
                            bytes_in: 0,
                            bytes_out: 0,
                            latency_ns: Some(clock::elapsed_ns(start)),
                        },
                    );
                } else {
                    method.metrics.record_fixed_ok_exclusive(shard);
                }
                drop(in_flight);
                return Code::Ok as i32;
            }
            Err(s) => invalid_response(service, method, s),
        },
        Err(f) => f,
    };
    let latency_ns = TIMED.then(|| clock::elapsed_ns(start));
    let code = failed(
        method,
        shard,
        failure,
        panicked,
        size_of::<Req>() as u64,
        latency_ns,
        error,
    );
    drop(in_flight);
    code
}

/// The general path: every case, timed samples and traced calls included.
/// `cold`: the branches that lead here are then known to be unlikely, so
/// the compiler lays the lean path out straight and inlines into it (without
/// it, the handler's `catch_unwind` stayed out of line: the lean path's
/// dozen checks made its last block look rarely taken).
///
/// # Safety
/// As [`fixed`].
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn full<S, Req, Resp, E, R, F>(
    thread: Option<&ThreadState>,
    tick: u32,
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
    #[cfg(test)]
    tests::FULL_CALLS.with(|n| n.set(n.get() + 1));
    let library = service.library;
    let shard = thread.map_or(crate::sys::shard::Shard::SHARED, ThreadState::shard);
    let timed = tick & library.fixed_latency_sample_mask() == 0;
    let start = if timed { clock::raw() } else { 0 };
    if !error.is_null() {
        // SAFETY: non-null and writable per the contract.
        unsafe { error.write(Buffer::empty()) };
    }
    let mut panicked = false;
    let in_flight = library.state.admission.admit(shard);
    let body = || -> Result<(), Fail> {
        let implementation =
            crate::call::guard::admitted(service, method, in_flight.is_some(), resolve)?;
        check_pointers(request, response).map_err(|s| Failure::new(s, None))?;
        crate::call::guard::check_rates(service, method, shard)?;
        // SAFETY: non-null, aligned and readable per the contract
        // (checked above); `Req: FromBytes` accepts any bytes.
        let req: &Req = unsafe { &*request };
        // SAFETY: array references point at valid storage per the
        // contract.
        if let Err(status) = unsafe { req.validate() } {
            let message = format!("request: {}", status.message());
            return Err(Failure::refunded(status.with_message(message), None));
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
                let message = format!("response (before the call): {}", status.message());
                return Err(Failure::refunded(status.with_message(message), None));
            }
        }
        let scope = crate::error::panic::GuardScope::enter(thread, library.logs().is_enabled());
        let outcome = guarded(service, method, &mut panicked, || {
            handler(implementation, req, resp).map_err(|e| Failure::of_handler(service, method, e))
        });
        drop(scope);
        outcome?;
        // SAFETY: as the request's.
        unsafe { resp.validate() }.map_err(|s| invalid_response(service, method, s))
    };
    let trace = library
        .logs()
        .dispatch()
        .map(|d| crate::call::guard::trace_call(d, service, method));
    let result = body();
    crate::call::guard::refund(service, method, &result);
    if let Some(t) = trace {
        t.finish(service, method, &result);
    }
    let latency_ns = timed.then(|| clock::elapsed_ns(start));
    let code = match result {
        Ok(()) => {
            // Bytes: the struct sizes, added by `MethodDef::snapshot`.
            method.metrics.record(
                shard,
                &CallRecord {
                    code: Code::Ok,
                    rejection: None,
                    panicked: false,
                    bytes_in: 0,
                    bytes_out: 0,
                    latency_ns,
                },
            );
            Code::Ok as i32
        }
        Err(f) => {
            let bytes_in = if f.rejection.is_none() && !request.is_null() {
                size_of::<Req>() as u64
            } else {
                0
            };
            failed(method, shard, f, panicked, bytes_in, latency_ns, error)
        }
    };
    drop(in_flight);
    code
}

/// A handler that left its response invalid (e.g. a count above its bound).
#[cold]
#[inline(never)]
fn invalid_response(service: &ServiceDef, method: &MethodDef, s: Status) -> Fail {
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
}

/// Reports a failed call: the status into `*error` (when not NULL), then
/// the metrics. Returns the status code.
#[cold]
#[inline(never)]
// The box is what callers hold: passing it keeps their code one pointer.
#[allow(clippy::boxed_local)]
fn failed(
    method: &MethodDef,
    shard: crate::sys::shard::Shard,
    failure: Fail,
    panicked: bool,
    bytes_in: u64,
    latency_ns: Option<u64>,
    error: *mut Buffer,
) -> i32 {
    let Failure {
        status, rejection, ..
    } = *failure;
    let code = status.code();
    let bytes_out = if error.is_null() {
        0
    } else {
        // SAFETY: non-null and writable per `fixed`'s contract.
        unsafe { status.write_to(error, usize::MAX) }.1 as u64
    };
    method.metrics.record(
        shard,
        &CallRecord {
            code,
            rejection,
            panicked,
            bytes_in,
            bytes_out,
            latency_ns,
        },
    );
    code as i32
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

/// Non-null, aligned and not overlapping.
#[inline]
fn pointers_ok<Req, Resp>(request: *const Req, response: *mut Resp) -> bool {
    let (req, resp) = (request as usize, response as usize);
    // Disjoint: `[req, req + rs)` ends before `resp` or starts after
    // `[resp, resp + ss)`. With wrapping differences that is two
    // comparisons (no object reaches the end of the address space). An
    // empty struct has no bytes to share (decided at compile time).
    let (rs, ss) = (size_of::<Req>(), size_of::<Resp>());
    let disjoint =
        rs == 0 || ss == 0 || (resp.wrapping_sub(req) >= rs && req.wrapping_sub(resp) >= ss);
    req != 0
        && resp != 0
        && req % align_of::<Req>() == 0
        && resp % align_of::<Resp>() == 0
        && disjoint
}

#[inline]
fn check_pointers<Req, Resp>(request: *const Req, response: *mut Resp) -> Result<(), Status> {
    if pointers_ok(request, response) {
        Ok(())
    } else {
        Err(pointer_status(request, response))
    }
}

#[cfg(test)]
mod tests;
