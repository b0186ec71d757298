//! The call guard: everything between the C entry point and the handler.
//!
//! Order — cheapest refusal first, and a shared budget is only spent by a
//! call that goes on to run the handler:
//!
//! 1. admission (shutdown → `UNAVAILABLE`, no implementation →
//!    `FAILED_PRECONDITION`);
//! 2. `NULL` with a length → `INVALID_ARGUMENT`; request size limit, before
//!    any byte is read → `RESOURCE_EXHAUSTED`; for generated services, the
//!    decode budget ([`crate::policy::shape`]: estimated decoded size, `max_count`)
//!    → `RESOURCE_EXHAUSTED`;
//! 3. service, then method rate limit → `RESOURCE_EXHAUSTED`;
//! 4. decode → `INVALID_ARGUMENT`;
//! 5. keyed (per-client) rate limit, keyed by a request field;
//! 6. the handler under `catch_unwind`;
//! 7. response size limit on the encoded length, then encode;
//! 8. metrics.
//!
//! The fast path reads no precise clock: latency is timed on one call in
//! `Library::latency_sample_every` per thread (counts, refusals, panics and
//! bytes stay exact), and rate limiters use the coarse clock
//! ([`crate::policy::rate`]). Refusals travel boxed (`Box<Failure>`), so the
//! success path moves a `Vec` and nothing else.
//!
//! A call refused at step 4 or 5 gives its service and method tokens back,
//! so a client refused by its own limit (or sending garbage) cannot drain
//! the budget honest clients share. Error payloads are cut to the method's
//! response limit. Nothing unwinds out of [`unary`].
//!
//! **One pipeline, several shells.** Each step above is one function here,
//! and every kind of call composes the same ones; only the shell around
//! them differs, by what the call carries in and out:
//!
//! | step | function | used by |
//! |---|---|---|
//! | admission | [`admitted`] | sync, fixed (general path), async start |
//! | bytes, decode budget | [`check_bytes`] | sync, async start, each streamed request |
//! | rate limits | [`check_rates`] | sync, fixed, async start |
//! | decode, keyed limit | [`decode_into`] / [`decode_request`] | sync, async start, streamed requests |
//! | user code under `catch_unwind` | [`guarded`] | every kind: sync and fixed handlers, admission's resolver, streamed decoders, and through `calls::guarded` every poll, conversion and `Drop` of an async call |
//! | a panic's status | [`panic_status`], only from [`guarded`] | every kind |
//! | handler error | [`Failure::of_handler`] / [`handler_error`] | sync, fixed, async outcomes |
//! | response limit | [`too_large`] | sync, async outcomes, stream items |
//! | refunds | [`refund`] | sync, fixed, async start |
//! | spans | [`trace_call`] / [`trace_async`] | sync and fixed / async and streams |
//!
//! The shells: [`unary`] (lean and general copies), `fixed::call::fixed`
//! (lean and full), `start`'s `admit` for `*_start`, `inbound`'s batch
//! decoder for streamed requests, and `calls::CallTask` for polled tasks.
//! `tests/one_guard.rs` fails on a shell that catches a panic itself.

use crate::abi::buffer::{self, Buffer};
use crate::library::def::{MethodDef, ServiceDef};
use crate::observe::metrics::{CallRecord, Rejection};
use crate::policy::limits;
use crate::policy::rate::{KeyedRateLimiter, RateLimiter, Rejected};
use crate::sys::clock;
use crate::{Code, Status};
use prost::Message;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A refusal: the status, its cause for metrics, and whether the shared rate
/// budget must be given back. Always boxed ([`Fail`]).
pub(crate) struct Failure {
    pub(crate) status: Status,
    pub(crate) rejection: Option<Rejection>,
    pub(crate) refund: bool,
    pub(crate) key_hash: u64,
}

/// A boxed refusal: keeps `Result<Vec<u8>, Fail>` two words wide.
pub(crate) type Fail = Box<Failure>;

impl Failure {
    #[cold]
    pub(crate) fn new(status: Status, rejection: Option<Rejection>) -> Fail {
        Box::new(Failure {
            status,
            rejection,
            refund: false,
            key_hash: 0,
        })
    }

    /// A refusal after the rate tokens were taken, for a reason that is
    /// not the caller's rate (a malformed request): the tokens go back.
    #[cold]
    pub(crate) fn refunded(status: Status, rejection: Option<Rejection>) -> Fail {
        Box::new(Failure {
            status,
            rejection,
            refund: true,
            key_hash: 0,
        })
    }

    /// A panic as the caller sees it ([`panic_status`]).
    #[cold]
    #[inline(never)]
    pub(crate) fn panicked(
        service: &ServiceDef,
        method: &MethodDef,
        payload: Box<dyn std::any::Any + Send>,
    ) -> Fail {
        Failure::new(panic_status(service, method, payload), None)
    }

    /// A handler's error, of its own type, as the caller sees it
    /// ([`handler_error`]): the one conversion of every kind of call. Out
    /// of line, so the code around a handler call stays small enough to
    /// inline.
    #[cold]
    #[inline(never)]
    pub(crate) fn of_handler<E: Into<Status>>(
        service: &ServiceDef,
        method: &MethodDef,
        error: E,
    ) -> Fail {
        Failure::new(handler_error(service, method, error.into()), None)
    }

    /// A response (or stream item) of `len` bytes over the method's
    /// `max` ([`too_large`]).
    #[cold]
    #[inline(never)]
    pub(crate) fn too_large(
        service: &ServiceDef,
        method: &MethodDef,
        what: &str,
        len: usize,
        max: usize,
    ) -> Fail {
        Failure::new(
            too_large(service, method, what, len, max),
            Some(Rejection::ResponseSize),
        )
    }
}

/// Runs one step of a call that runs user code (a resolver, a decoder's
/// `Drop`, the handler) under `catch_unwind`: a panic becomes the method's
/// `INTERNAL` status ([`panic_status`]) and sets `panicked`. The one place
/// every kind of call turns a panic into its outcome.
#[inline(always)]
pub(crate) fn guarded<T>(
    service: &ServiceDef,
    method: &MethodDef,
    panicked: &mut bool,
    step: impl FnOnce() -> Result<T, Fail>,
) -> Result<T, Fail> {
    match catch_unwind(AssertUnwindSafe(step)) {
        Ok(outcome) => outcome,
        Err(payload) => {
            *panicked = true;
            Err(Failure::panicked(service, method, payload))
        }
    }
}

/// Gives the service's and the method's rate tokens back when `outcome` is
/// a refusal marked for it: the one refund step of every kind of call.
#[inline(always)]
pub(crate) fn refund<T>(service: &ServiceDef, method: &MethodDef, outcome: &Result<T, Fail>) {
    if matches!(outcome, Err(f) if f.refund) {
        service.rate.refund();
        method.rate.refund();
    }
}

/// The status of a response, or a stream item, over the method's limit:
/// `RESOURCE_EXHAUSTED` with both sizes, the same text on every path.
#[cold]
pub(crate) fn too_large(
    service: &ServiceDef,
    method: &MethodDef,
    what: &str,
    len: usize,
    max: usize,
) -> Status {
    Status::resource_exhausted(format!(
        "{what} of {len} bytes exceeds the limit of {max} bytes for {}.{}",
        service.name, method.name
    ))
}

/// Numbers calls for the `call` span (only read when the span is enabled).
pub(crate) static NEXT_CALL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A call running under the library's log dispatcher, in a span naming it
/// (only while a log sink is set). Set up before the guard's body and
/// finished after it, so the body has one call site and is inlined into
/// the entry point either way.
pub(crate) struct CallTrace {
    // Declared first: the span is exited before the dispatcher is restored.
    _span: tracing::span::EnteredSpan,
    _default: tracing::dispatcher::DefaultGuard,
}

/// Enters `dispatch` and the call's span.
#[cold]
#[inline(never)]
pub(crate) fn trace_call(
    dispatch: &tracing::Dispatch,
    service: &ServiceDef,
    method: &MethodDef,
) -> CallTrace {
    let default = tracing::dispatcher::set_default(dispatch);
    let span = tracing::info_span!(
        target: "proto2ffi",
        "call",
        service = service.name,
        method = method.name,
        call = NEXT_CALL.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
    .entered();
    CallTrace {
        _span: span,
        _default: default,
    }
}

/// Enters `dispatch` and the span of async call `call_id`, for its checks
/// and for every poll of its future: a handler's records reach the host's
/// log sink wherever the executor polls it, tagged with the id the caller
/// got from `*_start` (`async_call`).
#[cold]
#[inline(never)]
pub(crate) fn trace_async(
    dispatch: &tracing::Dispatch,
    service: &ServiceDef,
    method: &MethodDef,
    call_id: u64,
) -> CallTrace {
    let default = tracing::dispatcher::set_default(dispatch);
    let span = tracing::info_span!(
        target: "proto2ffi",
        "call",
        service = service.name,
        method = method.name,
        async_call = call_id
    )
    .entered();
    CallTrace {
        _span: span,
        _default: default,
    }
}

impl CallTrace {
    /// Logs a refusal inside the span, then leaves it and the dispatcher.
    #[cold]
    #[inline(never)]
    pub(crate) fn finish<T>(self, service: &ServiceDef, method: &MethodDef, r: &Result<T, Fail>) {
        if let Err(f) = r {
            log_refusal(service, method, f);
        }
    }
}

/// Logs a refusal at debug level: the cause, the code, and for per-client
/// limits the seeded hash of the key, never the key.
#[cold]
pub(crate) fn log_refusal(service: &ServiceDef, method: &MethodDef, f: &Failure) {
    if let Some(r) = f.rejection {
        tracing::debug!(
            target: "proto2ffi",
            reason = r.label(),
            code = f.status.code().name(),
            key_hash = %format_args!("{:016x}", f.key_hash),
            "{}.{} refused: {}",
            service.name,
            method.name,
            f.status.message()
        );
    }
}

pub(crate) fn rate_status(
    what: &str,
    limiter_rate: Option<crate::RateLimit>,
    r: Rejected,
) -> Status {
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

/// One limiter's check: the admission inlined (with LTO and one codegen
/// unit LLVM otherwise kept this out of line, ~30 instructions a call for
/// each of the two limiters), the refusal out of line.
#[inline(always)]
pub(crate) fn check_rate(
    limiter: &RateLimiter,
    shard: crate::sys::shard::Shard,
    what: impl FnOnce() -> String,
) -> Result<(), Fail> {
    match limiter.admit_on(shard) {
        Ok(()) => Ok(()),
        Err(r) => Err(rate_refusal(limiter, r, what)),
    }
}

#[cold]
#[inline(never)]
fn rate_refusal(limiter: &RateLimiter, r: Rejected, what: impl FnOnce() -> String) -> Fail {
    Failure::new(
        rate_status(&what(), limiter.get(), r),
        Some(Rejection::Rate),
    )
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
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
    F: FnOnce(&'static S, Req) -> Result<Resp, E>,
    Req: Message + Default,
    Resp: Message,
    E: Into<Status>,
{
    // One thread-local lookup per call; everything below uses `thread`.
    crate::sys::thread::with(|thread| {
        let library = service.library;
        let tick = thread.map_or(0, |t| t.next_call());
        let lean = thread.is_some_and(|t| t.shard().is_exclusive())
            && tick & library.latency_sample_mask() != 0
            && !library.logs().is_enabled();
        if lean {
            // SAFETY: forwarded from this function's contract.
            unsafe {
                unary_on::<false, _, _, _, _, _, _, _>(
                    thread,
                    tick,
                    service,
                    method,
                    resolve,
                    key,
                    handler,
                    request,
                    request_len,
                    out,
                )
            }
        } else {
            // SAFETY: forwarded from this function's contract.
            unsafe {
                unary_general(
                    thread,
                    tick,
                    service,
                    method,
                    resolve,
                    key,
                    handler,
                    request,
                    request_len,
                    out,
                )
            }
        }
    })
}

/// [`unary_on`] for a timed call (one in `latency_sample_every` per
/// thread) or one while the library has a log sink: out of line and cold,
/// so that the common call's code holds neither the clock nor the span.
/// (With both in one body, the compiler kept the timing's state across the
/// whole call, which measurably slowed every small call.)
///
/// # Safety
/// As [`unary`].
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn unary_general<S, Req, Resp, E, R, K, F>(
    thread: Option<&crate::sys::thread::ThreadState>,
    tick: u32,
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
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
    F: FnOnce(&'static S, Req) -> Result<Resp, E>,
    Req: Message + Default,
    Resp: Message,
    E: Into<Status>,
{
    // SAFETY: forwarded from this function's contract.
    unsafe {
        unary_on::<true, _, _, _, _, _, _, _>(
            thread,
            tick,
            service,
            method,
            resolve,
            key,
            handler,
            request,
            request_len,
            out,
        )
    }
}

/// [`unary`] with this thread's state looked up (`None` during thread
/// teardown: the shared shard, no buffer slot, no panic report) and its
/// call counted (`tick`). `GENERAL`: the call may be timed and traced (see
/// [`unary_general`]); otherwise it is neither, and the thread owns its
/// shard ([`crate::sys::shard::Shard::is_exclusive`]), so metrics are plain stores
/// and so is admission where the shard is light.
///
/// # Safety
/// As [`unary`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn unary_on<const GENERAL: bool, S, Req, Resp, E, R, K, F>(
    thread: Option<&crate::sys::thread::ThreadState>,
    tick: u32,
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
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
    F: FnOnce(&'static S, Req) -> Result<Resp, E>,
    Req: Message + Default,
    Resp: Message,
    E: Into<Status>,
{
    let library = service.library;
    let shard = thread.map_or(crate::sys::shard::Shard::SHARED, |t| t.shard());
    let timed = GENERAL && tick & library.latency_sample_mask() == 0;
    let start = if timed { clock::raw() } else { 0 };
    let latency = || timed.then(|| clock::elapsed_ns(start));
    if out.is_null() {
        method.metrics.record(
            shard,
            &CallRecord {
                code: Code::InvalidArgument,
                rejection: None,
                panicked: false,
                bytes_in: 0,
                bytes_out: 0,
                latency_ns: latency(),
            },
        );
        return Code::InvalidArgument as i32;
    }
    // SAFETY: `out` is non-null and writable per the contract.
    unsafe { out.write(Buffer::empty()) };

    let mut panicked = false;
    // Bytes actually read: only a request that passed the size checks counts.
    let mut bytes_in = 0u64;
    // One of the two, by path (the other is `None` at compile time).
    let in_flight = if GENERAL {
        library.state.admission.admit(shard)
    } else {
        None
    };
    let owned_in_flight = if GENERAL {
        None
    } else {
        library.state.admission.admit_owned(shard)
    };
    let is_admitted = in_flight.is_some() || owned_in_flight.is_some();
    let max_response =
        limits::effective_response(&method.limits, &service.limits, library.limits());
    let body = || -> Result<Vec<u8>, Fail> {
        let implementation = admitted(service, method, is_admitted, resolve)?;
        // SAFETY: forwarded from this function's contract.
        let bytes =
            unsafe { check_request(service, method, request, request_len, shard, &mut bytes_in)? };
        bytes_in = request_len as u64;
        // The general path may have a log sink, which wants panic reports;
        // the lean one has none (`unary` checked), so it only marks the
        // thread as inside a guard.
        let scope = GENERAL
            .then(|| crate::error::panic::GuardScope::enter(thread, library.logs().is_enabled()));
        let lean_scope = if GENERAL {
            None
        } else {
            thread.map(crate::error::panic::InGuard::enter)
        };
        let outcome = guarded(service, method, &mut panicked, || {
            call_handler(
                thread,
                service,
                method,
                implementation,
                bytes,
                max_response,
                key,
                handler,
            )
        });
        drop((scope, lean_scope));
        refund(service, method, &outcome);
        outcome
    };
    // No sink: nothing is recorded for this library (one relaxed load). A
    // sink: the call runs in the library's own dispatcher and span.
    let result = if GENERAL {
        let trace = library
            .logs()
            .dispatch()
            .map(|d| trace_call(d, service, method));
        let result = body();
        if let Some(t) = trace {
            t.finish(service, method, &result);
        }
        result
    } else {
        body()
    };

    let (code, rejection, bytes_out) = match result {
        Ok(v) => {
            let n = v.len();
            // SAFETY: `out` is non-null and writable (checked above).
            unsafe { out.write(Buffer::from_vec(v)) };
            if !GENERAL {
                // The common case, without building a record.
                method.metrics.record_exclusive(
                    shard,
                    &CallRecord {
                        code: Code::Ok,
                        rejection: None,
                        panicked: false,
                        bytes_in,
                        bytes_out: n as u64,
                        latency_ns: None,
                    },
                );
                drop((in_flight, owned_in_flight));
                return Code::Ok as i32;
            }
            (Code::Ok, None, n)
        }
        Err(f) => {
            let Failure {
                status, rejection, ..
            } = *f;
            // SAFETY: as above.
            let (code, n) = unsafe { status.write_to(out, max_response) };
            (code, rejection, n)
        }
    };
    let record = CallRecord {
        code,
        rejection,
        panicked,
        bytes_in,
        bytes_out: bytes_out as u64,
        latency_ns: latency(),
    };
    if GENERAL {
        method.metrics.record(shard, &record);
    } else {
        method.metrics.record_exclusive(shard, &record);
    }
    drop((in_flight, owned_in_flight));
    code as i32
}

/// Steps 2 and 3 of the guard, shared by sync and async calls: NULL with a
/// length, the request size limit (before any byte is read), the decode
/// budget, then the service and method rate limits (the service's tokens
/// given back when the method refuses). Returns the request's bytes;
/// `bytes_in` counts them once they were read.
///
/// # Safety
/// `request` is NULL or points at `request_len` readable bytes that live
/// for `'a`.
#[inline(always)]
pub(crate) unsafe fn check_request<'a>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    request: *const u8,
    request_len: usize,
    shard: crate::sys::shard::Shard,
    bytes_in: &mut u64,
) -> Result<&'a [u8], Fail> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { check_bytes(service, method, request, request_len, bytes_in) }?;
    check_rates(service, method, shard)?;
    Ok(bytes)
}

/// The service and method rate limits (the service's tokens given back
/// when the method refuses).
#[inline(always)]
pub(crate) fn check_rates(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    shard: crate::sys::shard::Shard,
) -> Result<(), Fail> {
    check_rate(&service.rate, shard, || format!("service {}", service.name))?;
    if let Err(f) = check_rate(&method.rate, shard, || {
        format!("method {}.{}", service.name, method.name)
    }) {
        service.rate.refund();
        return Err(f);
    }
    Ok(())
}

/// The checks of one request's bytes, without the rate limits (which a
/// streamed request paid once, when its call started): NULL with a length,
/// the size limit, the decode budget.
///
/// # Safety
/// As [`check_request`].
#[inline(always)]
pub(crate) unsafe fn check_bytes<'a>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    request: *const u8,
    request_len: usize,
    bytes_in: &mut u64,
) -> Result<&'a [u8], Fail> {
    let library = service.library;
    if request.is_null() && request_len != 0 {
        return Err(Failure::new(
            Status::invalid_argument(format!(
                "request pointer is NULL but request_len is {request_len}"
            )),
            Some(Rejection::RequestSize),
        ));
    }
    let max_request = limits::effective_request(&method.limits, &service.limits, library.limits());
    if request_len > max_request {
        return Err(Failure::new(
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
    if let Some(shape) = method.request_shape {
        let budget = limits::effective_decoded(&method.limits, &service.limits, library.limits());
        if shape.needs_check(request_len, budget) {
            *bytes_in = request_len as u64;
            if let Err(r) = shape.check(bytes, budget) {
                return Err(Failure::new(
                    decode_budget_status(service, method, budget, r),
                    Some(Rejection::RequestSize),
                ));
            }
        }
    }
    Ok(bytes)
}

/// The admission step both guards share: refuses while shutting down
/// (`UNAVAILABLE`) and when no implementation is registered
/// (`FAILED_PRECONDITION`, announcing the service once), else the
/// implementation `resolve` found (running the library's init on first use).
#[inline(always)]
pub(crate) fn admitted<S: ?Sized + 'static>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    admitted: bool,
    resolve: impl FnOnce() -> Option<&'static S>,
) -> Result<&'static S, Fail> {
    if !admitted {
        return Err(shutting_down(service, method));
    }
    match catch_unwind(AssertUnwindSafe(resolve)) {
        Ok(Some(i)) => Ok(i),
        Ok(None) | Err(_) => Err(not_registered(service, method)),
    }
}

#[cold]
#[inline(never)]
fn shutting_down(service: &ServiceDef, method: &MethodDef) -> Fail {
    if let Some(status) = service.library.forked_status() {
        return Failure::new(status, Some(Rejection::Admission));
    }
    Failure::new(
        Status::unavailable(format!(
            "{}.{} refused: the library is shutting down",
            service.name, method.name
        )),
        Some(Rejection::Admission),
    )
}

#[cold]
#[inline(never)]
fn not_registered(service: &'static ServiceDef, method: &MethodDef) -> Fail {
    service.library.announce(service);
    Failure::new(
        Status::failed_precondition(format!(
            "service {} has no registered implementation: call its generated \
             `register_*` function (for example from the init function given to \
             `proto2ffi::library!`) before calling {}",
            service.name, method.symbol
        )),
        Some(Rejection::Admission),
    )
}

#[cold]
pub(crate) fn decode_budget_status(
    service: &ServiceDef,
    method: &MethodDef,
    budget: usize,
    refusal: crate::policy::shape::Refusal,
) -> Status {
    match refusal {
        crate::policy::shape::Refusal::TooLarge { estimate } => {
            Status::resource_exhausted(format!(
                "request to {}.{} would decode to more than {budget} bytes in memory (at least \
             {estimate} estimated; max_decoded_bytes)",
                service.name, method.name
            ))
        }
        crate::policy::shape::Refusal::TooMany {
            message,
            tag,
            max_count,
        } => Status::resource_exhausted(format!(
            "request to {}.{}: field {tag} of {message} holds more than its max_count of \
             {max_count} elements",
            service.name, method.name
        )),
    }
}

/// The `INTERNAL` status for a panic, reported to the library's logs with
/// its location (and backtrace when enabled) under an incident id the caller
/// also gets. Its message reaches the caller only when the library exposes
/// internal errors (it may hold secrets).
#[cold]
pub(crate) fn panic_status(
    service: &ServiceDef,
    method: &MethodDef,
    payload: Box<dyn std::any::Any + Send>,
) -> Status {
    let message = crate::error::panic::message(payload);
    let report = crate::error::panic::take_report().unwrap_or_default();
    let incident = crate::error::panic::incident_id();
    // Left out (not empty) where the platform has no unwinder to ask.
    let frames = report.frames.as_deref();
    match &report.backtrace {
        Some(backtrace) => tracing::error!(
            target: "proto2ffi",
            incident = %incident,
            location = %report.location,
            frames,
            backtrace = %backtrace,
            "panic in {}.{}: {message}",
            service.name,
            method.name
        ),
        None => tracing::error!(
            target: "proto2ffi",
            incident = %incident,
            location = %report.location,
            frames,
            "panic in {}.{}: {message}",
            service.name,
            method.name
        ),
    }
    if service.library.exposes_internal_errors() {
        Status::internal(format!(
            "panic in {}.{}: {message} (incident {incident})",
            service.name, method.name
        ))
    } else {
        Status::internal(format!(
            "internal error in {}.{} (incident {incident})",
            service.name, method.name
        ))
    }
}

/// An `INTERNAL` status a handler returned: logged with its message and
/// log detail under an incident id; the caller gets the message (or the log
/// detail of `Status::internal_sanitized`) only when the library exposes
/// internal errors, else a generic text with the incident id.
#[cold]
pub(crate) fn internal_status(service: &ServiceDef, method: &MethodDef, status: Status) -> Status {
    let incident = crate::error::panic::incident_id();
    let detail = status.log_detail().unwrap_or(status.message()).to_string();
    tracing::error!(
        target: "proto2ffi",
        incident = %incident,
        "internal error in {}.{}: {detail}",
        service.name,
        method.name
    );
    if service.library.exposes_internal_errors() {
        status.with_message(format!("{detail} (incident {incident})"))
    } else {
        status
            .with_message(format!(
                "internal error in {}.{} (incident {incident})",
                service.name, method.name
            ))
            .without_details()
    }
}

/// The status a caller gets for an error a handler returned: `OK` is not an
/// error (→ `UNKNOWN`), `INTERNAL` goes through [`internal_status`].
#[cold]
pub(crate) fn handler_error(service: &ServiceDef, method: &MethodDef, status: Status) -> Status {
    if status.code() == Code::Ok {
        Status::unknown(format!(
            "{}.{} returned an error with code OK: {}",
            service.name,
            method.name,
            status.message()
        ))
    } else if status.code() == Code::Internal {
        internal_status(service, method, status)
    } else {
        status
    }
}

/// A decode error's text with its field path capped: prost repeats the path
/// once per nesting level (`Node.child: Node.child: … recursion limit
/// reached`, ~1.3 KB at the limit); keep the first three levels and the reason.
pub(crate) fn short_decode_error(e: &prost::DecodeError) -> String {
    let text = e.to_string();
    let parts: Vec<&str> = text.split(": ").collect();
    if parts.len() <= 6 {
        return text;
    }
    format!(
        "{}: … ({} more levels) …: {}",
        parts[..4].join(": "),
        parts.len() - 5,
        parts[parts.len() - 1]
    )
}

/// Step 4 and 5 of the guard, shared by sync and async calls: decode, then
/// the keyed (per-client) limit on the decoded request. Refusals are marked
/// for a refund of the service and method tokens.
#[inline(always)]
pub(crate) fn decode_request<Req, K>(
    service: &ServiceDef,
    method: &MethodDef,
    bytes: &[u8],
    key: &K,
) -> Result<Req, Fail>
where
    Req: Message + Default,
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
{
    let mut request = Req::default();
    decode_into(&mut request, service, method, bytes, key)?;
    Ok(request)
}

/// [`decode_request`] into a message the caller holds (`Req::default()`):
/// the sync guard decodes where the handler's argument is built, instead
/// of moving the message out of `Result`s (`Message::decode` returns it by
/// value, and the guard wrapped it again: several copies of the struct per
/// call in the profile).
#[inline(always)]
pub(crate) fn decode_into<Req, K>(
    request: &mut Req,
    service: &ServiceDef,
    method: &MethodDef,
    bytes: &[u8],
    key: &K,
) -> Result<(), Fail>
where
    Req: Message + Default,
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
{
    crate::policy::request_buf::merge(request, bytes, &method.retains_bytes).map_err(|e| {
        Box::new(Failure {
            status: Status::invalid_argument(format!(
                "request to {}.{} is not a valid message: {}",
                service.name,
                method.name,
                short_decode_error(&e)
            )),
            rejection: None,
            refund: true,
            key_hash: 0,
        })
    })?;
    if let Some(keyed) = method.keyed.get() {
        // Coarse time first; a refusal is confirmed with the precise clock.
        key(request, keyed, clock::rate_coarse_ns())
            .or_else(|_| key(request, keyed, clock::rate_precise_ns()))
            .map_err(|r| {
                Box::new(Failure {
                    status: rate_status(
                        &format!("this client of {}.{}", service.name, method.name),
                        Some(keyed.limit()),
                        r,
                    ),
                    rejection: Some(Rejection::Rate),
                    refund: true,
                    key_hash: r.key_hash,
                })
            })?;
    }
    Ok(())
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn call_handler<S, Req, Resp, E, K, F>(
    thread: Option<&crate::sys::thread::ThreadState>,
    service: &'static ServiceDef,
    method: &'static MethodDef,
    implementation: &'static S,
    bytes: &[u8],
    max_response: usize,
    key: K,
    handler: F,
) -> Result<Vec<u8>, Fail>
where
    S: ?Sized + 'static,
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
    F: FnOnce(&'static S, Req) -> Result<Resp, E>,
    Req: Message + Default,
    Resp: Message,
    E: Into<Status>,
{
    let mut request = Req::default();
    decode_into::<Req, K>(&mut request, service, method, bytes, &key)?;
    // The response is read where the handler left it (in its `Result`),
    // not moved out first, and dropped there too: `drop(result)` copied the
    // whole `Result` out first (~10 instructions a call). `owner` drops it
    // in place on every way out, panics included, exactly once.
    let mut result = ManuallyDrop::new(handler(implementation, request));
    let place: *mut Result<Resp, E> = &mut *result;
    let owner = DropInPlace(place);
    // SAFETY: `place` points at the live result until `owner` drops it.
    let response = match unsafe { &*place } {
        Ok(response) => response,
        Err(_) => {
            std::mem::forget(owner);
            // SAFETY: read once; `owner` is forgotten and `result` is a
            // `ManuallyDrop`, so nothing drops the original.
            let Err(e) = (unsafe { place.read() }) else {
                unreachable!("matched Err above")
            };
            return Err(Failure::of_handler(service, method, e));
        }
    };
    let len = response.encoded_len();
    if len > max_response {
        return Err(Failure::too_large(
            service,
            method,
            "response",
            len,
            max_response,
        ));
    }
    let mut v = buffer::take_on(thread, len);
    response.encode_raw(&mut v);
    // Drop the response while `v` is still a local: if its Drop panics, the
    // unwind frees `v` (a panic after the return value is built would leak
    // it, rust-lang/rust#47949).
    drop(owner);
    Ok(v)
}

/// Drops the value at a pointer in place when dropped (see
/// [`call_handler`]).
struct DropInPlace<T>(*mut T);

impl<T> Drop for DropInPlace<T> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: built over a live value nothing else drops (a
        // `ManuallyDrop`), and dropped once.
        unsafe { std::ptr::drop_in_place(self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::short_decode_error;
    use prost::Message;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Node {
        #[prost(message, optional, boxed, tag = "1")]
        child: Option<Box<Node>>,
    }

    #[test]
    fn recursion_errors_are_short() {
        let mut bytes = Vec::new();
        for _ in 0..120 {
            let mut outer = vec![0x0a];
            prost::encoding::encode_varint(bytes.len() as u64, &mut outer);
            outer.extend_from_slice(&bytes);
            bytes = outer;
        }
        let e = Node::decode(&bytes[..]).unwrap_err();
        assert!(e.to_string().len() > 1000, "prost's text repeats the path");
        let short = short_decode_error(&e);
        assert!(short.len() < 200, "{short}");
        assert!(short.ends_with("recursion limit reached"), "{short}");
        assert!(short.contains("more levels"), "{short}");
    }
}
