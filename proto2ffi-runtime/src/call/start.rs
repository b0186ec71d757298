//! The guard of async and streaming calls: the `*_start` entry points.
//!
//! The same checks as [`crate::call::guard::unary`], in the same order, run on the
//! caller's thread before anything is spawned: admission, NULL and size
//! checks, the decode budget, service and method rate limits, decode, keyed
//! limit. A refusal completes the call through the callback before `start`
//! returns (so the caller has one path for every outcome). An admitted call
//! gets a [`Call`] in its library's table and a task on the executor
//! (`calls::CallTask`): `catch_unwind` around every poll, the
//! response limit on the result, metrics at completion. An async call is
//! admitted on the shared shard: it ends on another thread. A call whose
//! requests are streamed (client streaming, bidi) is admitted with its rate
//! limits only; each request is checked when it is sent
//! ([`crate::call::inbound`]).

use crate::call::calls::{
    self, Blocking, BoxedOutcome, Call, CallTask, Callback, CallbackFn, Ending, Outcome,
};
use crate::call::guard::{self, Failure};
use crate::call::inbound::{self, Inbound, RequestStream};
use crate::call::stream::StreamSink;
use crate::library::def::{MethodDef, ServiceDef};
use crate::policy::rate::{KeyedRateLimiter, Rejected};
use crate::sys::shard::Shard;
use crate::Status;
use prost::Message;
use proto2ffi_core::MethodKind;
use std::ffi::c_void;
use std::future::Future;
use std::sync::Arc;

/// Admission, then `check` (the request's checks, or only the rate limits
/// of a call whose requests are streamed), under `catch_unwind`, logged as
/// the sync guard logs refusals. On refusal the call is completed with the
/// status and `None` is returned.
fn admit<S, T, R, C>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    resolve: R,
    call: &Call,
    check: C,
) -> Option<(crate::policy::admission::InFlight<'static>, &'static S, T)>
where
    S: ?Sized + 'static,
    R: FnOnce() -> Option<&'static S>,
    C: FnOnce() -> Result<T, Box<Failure>>,
{
    let library = service.library;
    let in_flight = library.state.admission.admit(Shard::SHARED);
    let checked = || -> Result<(&'static S, T), Box<Failure>> {
        let implementation = guard::admitted(service, method, in_flight.is_some(), resolve)?;
        Ok((implementation, check()?))
    };
    // Refusals are logged as the sync guard logs them, in the library's
    // dispatcher and a span naming the call.
    let trace = library
        .logs()
        .dispatch()
        .map(|d| guard::trace_async(d, service, method, call.id));
    let outcome = guard::guarded(service, method, &mut false, checked);
    guard::refund(service, method, &outcome);
    if let Some(t) = trace {
        t.finish(service, method, &outcome);
    }
    match outcome {
        Ok((implementation, t)) => {
            let admitted = in_flight.expect("admitted() refuses when not admitted");
            Some((admitted, implementation, t))
        }
        Err(f) => {
            let Failure {
                status, rejection, ..
            } = *f;
            call.fail(
                status,
                Ending {
                    rejection,
                    panicked: false,
                },
            );
            None
        }
    }
}

/// The checks of a request sent with its call: size, decode budget, rate
/// limits, decode, keyed limit (the sync guard's steps 2 to 5).
///
/// # Safety
/// `request` is NULL or points at `request_len` readable bytes.
unsafe fn check_request<Req, K>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    key: &K,
    request: *const u8,
    request_len: usize,
    call: &Call,
) -> Result<Req, Box<Failure>>
where
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
    Req: Message + Default,
{
    let mut read = 0;
    // SAFETY: forwarded contract (the bytes outlive this function).
    let checked = unsafe {
        guard::check_request(
            service,
            method,
            request,
            request_len,
            Shard::SHARED,
            &mut read,
        )
    };
    // As in the sync guard: bytes count once they were read.
    let bytes_in = if checked.is_ok() {
        request_len as u64
    } else {
        read
    };
    call.bytes_in
        .store(bytes_in, std::sync::atomic::Ordering::Relaxed);
    guard::decode_request::<Req, K>(service, method, checked?, key)
}

/// A new call (not yet registered) for a `*_start` entry point.
fn new_call(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    callback: CallbackFn,
    context: *mut c_void,
    timeout_ms: u32,
    kind: MethodKind,
    inbound: Option<Inbound>,
) -> Call {
    let library = service.library;
    if kind.streams_requests() || kind.streams_responses() {
        // Every call completes once, refused or not, and each completion
        // of a stream counts it out.
        method.metrics.stream_started();
    }
    Call::new(
        library.state.calls.next_id(),
        service,
        method,
        Callback::new(callback, context),
        timeout_ms,
        kind.streams_responses(),
        inbound,
    )
}

/// The handler's future made by `make` (user code, run as the call's task
/// runs it: [`calls::guarded`]) and handed to the call's task.
fn launch<S, M, Fut>(
    call: Call,
    admitted: crate::policy::admission::InFlight<'static>,
    implementation: &'static S,
    make: M,
) where
    S: ?Sized + 'static,
    M: FnOnce(&'static S, &Arc<Call>) -> Fut,
    Fut: Future + Send + Unpin + 'static,
    Fut::Output: Outcome + Send,
{
    let call = Arc::new(call);
    match calls::guarded(&call, || make(implementation, &call)) {
        Ok(future) => CallTask::spawn(call, future, admitted),
        Err(status) => {
            call.fail(
                status,
                Ending {
                    rejection: None,
                    panicked: true,
                },
            );
        }
    }
}

/// What the start functions with a request share: a new call, the
/// checks, then `go` with the admitted call and the decoded request (the
/// handler's future for async methods and streams, the worker pool for
/// sync ones).
///
/// # Safety
/// As [`start_unary`].
#[allow(clippy::too_many_arguments)]
unsafe fn start<S, Req, R, K, G>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    resolve: R,
    key: K,
    go: G,
    request: *const u8,
    request_len: usize,
    timeout_ms: u32,
    callback: Option<CallbackFn>,
    context: *mut c_void,
    kind: MethodKind,
) -> u64
where
    S: ?Sized + 'static,
    R: FnOnce() -> Option<&'static S>,
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
    G: FnOnce(Call, crate::policy::admission::InFlight<'static>, &'static S, Req),
    Req: Message + Default,
{
    let Some(callback) = callback else { return 0 };
    let call = new_call(service, method, callback, context, timeout_ms, kind, None);
    let id = call.id;
    let check = || {
        // SAFETY: forwarded contract.
        unsafe { check_request::<Req, K>(service, method, &key, request, request_len, &call) }
    };
    if let Some((admitted, implementation, request)) = admit(service, method, resolve, &call, check)
    {
        go(call, admitted, implementation, request);
    }
    id
}

/// `start`'s `go` for a handler's future made by `make`.
fn launching<S, Req, M, Fut>(
    make: M,
) -> impl FnOnce(Call, crate::policy::admission::InFlight<'static>, &'static S, Req)
where
    S: ?Sized + 'static,
    M: FnOnce(&'static S, Req, &Arc<Call>) -> Fut,
    Fut: Future + Send + Unpin + 'static,
    Fut::Output: Outcome + Send,
{
    move |call, admitted, implementation, request| {
        launch(call, admitted, implementation, |i, call: &Arc<Call>| {
            make(i, request, call)
        })
    }
}

/// What the start functions of streamed requests share: admission and
/// the rate limits (each request is checked when it is sent), then the
/// handler's future.
#[allow(clippy::too_many_arguments)]
fn start_streaming<S, Req, R, K, M, Fut>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    resolve: R,
    key: K,
    make: M,
    timeout_ms: u32,
    callback: Option<CallbackFn>,
    context: *mut c_void,
    kind: MethodKind,
) -> u64
where
    S: ?Sized + 'static,
    R: FnOnce() -> Option<&'static S>,
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected> + Send + Sync + 'static,
    M: FnOnce(&'static S, &Arc<Call>) -> Fut,
    Fut: Future + Send + Unpin + 'static,
    Fut::Output: Outcome + Send,
    Req: Message + Default + Send + 'static,
{
    let Some(callback) = callback else { return 0 };
    debug_assert!(kind.streams_requests());
    let inbound = Inbound::new(inbound::decoder::<Req, K>(service, method, key));
    let call = new_call(
        service,
        method,
        callback,
        context,
        timeout_ms,
        kind,
        Some(inbound),
    );
    let id = call.id;
    let check = || guard::check_rates(service, method, Shard::SHARED);
    if let Some((admitted, implementation, ())) = admit(service, method, resolve, &call, check) {
        launch(call, admitted, implementation, make);
    }
    id
}

/// Starts one async unary call. Called by generated `*_start` entry points.
///
/// Returns the call id, or 0 when `callback` is NULL (nothing can be
/// reported then). The callback runs exactly once, possibly before this
/// returns, with the status and the encoded response (or the encoded
/// `google.rpc.Status`).
///
/// # Safety
/// `request` is NULL or points at `request_len` readable bytes; `callback`
/// may be called with `context` from any thread until it has been called
/// once with a final status.
#[allow(clippy::too_many_arguments)]
pub unsafe fn start_unary<S, Req, Resp, E, R, K, F, Fut>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    resolve: R,
    key: K,
    handler: F,
    request: *const u8,
    request_len: usize,
    timeout_ms: u32,
    callback: Option<CallbackFn>,
    context: *mut c_void,
) -> u64
where
    S: ?Sized + 'static,
    R: FnOnce() -> Option<&'static S>,
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
    F: FnOnce(&'static S, Req) -> Fut,
    Fut: Future<Output = Result<Resp, E>> + Send + Unpin + 'static,
    Req: Message + Default,
    Resp: Message + Send + 'static,
    E: Into<Status> + Send + 'static,
{
    let make = |implementation, request, _: &Arc<Call>| handler(implementation, request);
    // SAFETY: forwarded contract.
    unsafe {
        start(
            service,
            method,
            resolve,
            key,
            launching(make),
            request,
            request_len,
            timeout_ms,
            callback,
            context,
            MethodKind::AsyncUnary,
        )
    }
}

/// Starts one call of a sync unary method (its `*_start` entry point):
/// the request is checked and decoded on the caller's thread as by
/// [`start_unary`], then the handler runs on one of the library's worker
/// threads ([`crate::Library::set_sync_threads`]), never on the caller's;
/// the callback runs exactly once with the outcome, from that thread (or
/// before this returns, for a refused request).
///
/// # Safety
/// As [`start_unary`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn start_blocking<S, Req, Resp, E, R, K, F>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    resolve: R,
    key: K,
    handler: F,
    request: *const u8,
    request_len: usize,
    timeout_ms: u32,
    callback: Option<CallbackFn>,
    context: *mut c_void,
) -> u64
where
    S: ?Sized + Sync + 'static,
    R: FnOnce() -> Option<&'static S>,
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
    F: FnOnce(&'static S, Req) -> Result<Resp, E> + Send + 'static,
    Req: Message + Default + Send + 'static,
    Resp: Message + Send + 'static,
    E: Into<Status> + Send + 'static,
{
    // Boxed, so that every sync method shares one task type.
    let go = |call, admitted, implementation: &'static S, request: Req| {
        let run: Box<dyn FnOnce() -> Box<dyn BoxedOutcome> + Send> =
            Box::new(move || Box::new(handler(implementation, request)));
        CallTask::spawn_on_workers(Arc::new(call), Blocking(Some(run)), admitted);
    };
    // SAFETY: forwarded contract.
    unsafe {
        start(
            service,
            method,
            resolve,
            key,
            go,
            request,
            request_len,
            timeout_ms,
            callback,
            context,
            MethodKind::Unary,
        )
    }
}

/// Starts one server-streaming call: as [`start_unary`], and the callback
/// also gets `STREAM_ITEMS` (-1) events when items wait for
/// `stream_next`; the final status comes after the last item was taken.
///
/// # Safety
/// As [`start_unary`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn start_stream<S, Req, Item, E, R, K, F, Fut>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    resolve: R,
    key: K,
    handler: F,
    request: *const u8,
    request_len: usize,
    timeout_ms: u32,
    callback: Option<CallbackFn>,
    context: *mut c_void,
) -> u64
where
    S: ?Sized + 'static,
    R: FnOnce() -> Option<&'static S>,
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected>,
    F: FnOnce(&'static S, Req, StreamSink<Item>) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + Unpin + 'static,
    Req: Message + Default,
    Item: Message,
    E: Into<Status> + Send + 'static,
{
    let make = |implementation, request, call: &Arc<Call>| {
        handler(implementation, request, StreamSink::new(call.clone()))
    };
    // SAFETY: forwarded contract.
    unsafe {
        start(
            service,
            method,
            resolve,
            key,
            launching(make),
            request,
            request_len,
            timeout_ms,
            callback,
            context,
            MethodKind::ServerStream,
        )
    }
}

/// Starts one client-streaming call: the caller sends its requests with
/// `stream_send` (each checked before that returns) and ends them with
/// `stream_close_send`; the handler reads them from a [`RequestStream`]
/// and returns one response, delivered as by [`start_unary`] (never kept
/// for `dart_take`).
///
/// # Safety
/// `callback` may be called with `context` from any thread until it has
/// been called once with a final status.
#[allow(clippy::too_many_arguments)]
pub unsafe fn start_client_stream<S, Req, Resp, E, R, K, F, Fut>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    resolve: R,
    key: K,
    handler: F,
    timeout_ms: u32,
    callback: Option<CallbackFn>,
    context: *mut c_void,
) -> u64
where
    S: ?Sized + 'static,
    R: FnOnce() -> Option<&'static S>,
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected> + Send + Sync + 'static,
    F: FnOnce(&'static S, RequestStream<Req>) -> Fut,
    Fut: Future<Output = Result<Resp, E>> + Send + Unpin + 'static,
    Req: Message + Default + Send + 'static,
    Resp: Message + Send + 'static,
    E: Into<Status> + Send + 'static,
{
    let make = |implementation, call: &Arc<Call>| {
        handler(implementation, RequestStream::new(call.clone()))
    };
    start_streaming(
        service,
        method,
        resolve,
        key,
        make,
        timeout_ms,
        callback,
        context,
        MethodKind::ClientStream,
    )
}

/// Starts one bidirectional call: requests as by [`start_client_stream`],
/// responses as by [`start_stream`]; the two directions are independent
/// (each with its own window), and the final status comes after the last
/// response was taken.
///
/// # Safety
/// As [`start_client_stream`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn start_bidi<S, Req, Item, E, R, K, F, Fut>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
    resolve: R,
    key: K,
    handler: F,
    timeout_ms: u32,
    callback: Option<CallbackFn>,
    context: *mut c_void,
) -> u64
where
    S: ?Sized + 'static,
    R: FnOnce() -> Option<&'static S>,
    K: Fn(&Req, &KeyedRateLimiter, u64) -> Result<(), Rejected> + Send + Sync + 'static,
    F: FnOnce(&'static S, RequestStream<Req>, StreamSink<Item>) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + Unpin + 'static,
    Req: Message + Default + Send + 'static,
    Item: Message,
    E: Into<Status> + Send + 'static,
{
    let make = |implementation, call: &Arc<Call>| {
        handler(
            implementation,
            RequestStream::new(call.clone()),
            StreamSink::new(call.clone()),
        )
    };
    start_streaming(
        service,
        method,
        resolve,
        key,
        make,
        timeout_ms,
        callback,
        context,
        MethodKind::Bidi,
    )
}

#[cfg(test)]
mod tests {
    //! A library with its own executor (the `set_executor` hook): a closure
    //! that runs each task to completion on a thread of its own.
    use super::*;
    use crate::observe::metrics::MethodMetrics;
    use crate::{Library, Limits};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::task::{Context, Poll, Wake, Waker};

    static LIB: Library = Library::new("t", || Ok(()), true);
    static METRICS: [MethodMetrics; 1] = [const { MethodMetrics::new() }];
    static METHODS: [MethodDef; 1] = [MethodDef::new(
        "Echo",
        "t_s_echo_start",
        Limits::new(0, 0),
        None,
        None,
        &METRICS[0],
    )];
    static SERVICE: ServiceDef = ServiceDef::new("S", 1, &LIB, Limits::new(0, 0), None, &METHODS);

    static SPAWNED: AtomicUsize = AtomicUsize::new(0);
    static EVENTS: Mutex<Vec<(u64, i32, Vec<u8>)>> = Mutex::new(Vec::new());

    unsafe extern "C" fn record(_: *mut c_void, id: u64, status: i32, data: *const u8, len: usize) {
        // SAFETY: the runtime passes its own `len` bytes.
        let data = unsafe { std::slice::from_raw_parts(data, len) }.to_vec();
        EVENTS.lock().unwrap().push((id, status, data));
    }

    /// Unparks the thread that polls.
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    fn block_on(mut task: crate::library::executor::Task) {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        while task.as_mut().poll(&mut cx).is_pending() {
            std::thread::park();
        }
    }

    /// Pending once (waking itself), then the value.
    struct YieldOnce(Option<u64>, bool);
    impl Future for YieldOnce {
        type Output = Result<u64, Status>;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            if !self.1 {
                self.1 = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Ok(self.0.take().unwrap_or_default()))
        }
    }

    fn wait_for(id: u64) -> (i32, Vec<u8>) {
        for _ in 0..2000 {
            if let Some((_, s, d)) = EVENTS.lock().unwrap().iter().find(|e| e.0 == id) {
                return (*s, d.clone());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("call {id} never completed");
    }

    #[test]
    fn a_library_can_bring_its_own_executor() {
        LIB.set_executor(|task| {
            SPAWNED.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || block_on(task));
        })
        .unwrap();
        assert!(LIB.set_executor(|_| {}).is_err(), "set once");
        SERVICE.register();
        let request = 42u64.encode_to_vec();
        let start = |request: &[u8], timeout_ms: u32| {
            // SAFETY: `request` is live for the call; `record` ignores the context.
            unsafe {
                start_unary(
                    &SERVICE,
                    &METHODS[0],
                    || Some(&()),
                    |_: &u64, _: &KeyedRateLimiter, _: u64| Ok(()),
                    |_: &'static (), n: u64| YieldOnce(Some(n + 1), false),
                    request.as_ptr(),
                    request.len(),
                    timeout_ms,
                    Some(record),
                    std::ptr::null_mut(),
                )
            }
        };
        // The handler waits once, so the call moves to the executor; its
        // one-minute deadline leaves the timer when it completes.
        let id = start(&request, 60_000);
        let (status, data) = wait_for(id);
        assert_eq!(status, 0);
        assert_eq!(u64::decode(&data[..]).unwrap(), 43);
        assert_eq!(SPAWNED.load(Ordering::SeqCst), 1);
        // (Other tests keep deadlines of at most 30 s.)
        let after = std::time::Instant::now() + std::time::Duration::from_secs(45);
        assert_eq!(
            crate::library::deadlines::pending_after(after),
            0,
            "no deadline kept"
        );
        // A refusal never reaches the executor.
        let id = start(&[0xff], 0);
        assert_eq!(wait_for(id).0, crate::Code::InvalidArgument as i32);
        assert_eq!(SPAWNED.load(Ordering::SeqCst), 1);
        assert_eq!(LIB.async_calls(), 0);
    }
}
