//! Async calls: ids, completion exactly once, cancellation, deadlines and
//! the handler's view of its call.
//!
//! A call started by a `*_start` entry point gets an id and a [`Call`]
//! shared by four parties that may race to finish it: the task running the
//! handler's future, `cancel(call_id)`, the deadline timer and shutdown.
//! `Call::complete` lets exactly one of them win (an atomic swap), removes
//! the call from its library's table, invokes the caller's callback once and
//! records the metrics. The losers only wake the task, which sees the call
//! done at its next poll and drops the handler's future there — so a
//! cancelled handler stops at its next `.await` and its destructors run on
//! the executor. The task holds the call's admission ticket until then, so
//! shutdown's drain waits for cancelled futures to be dropped too.
//!
//! Deadlines are kept by the process-wide timer (the `deadlines` module).

use crate::call::inbound::Inbound;
use crate::call::stream::StreamQueue;
use crate::library::def::{MethodDef, ServiceDef};
use crate::observe::metrics::{CallRecord, Rejection};
use crate::policy::admission::{InFlight, OwnTicket};
use crate::sys::shard::Shard;
use crate::{Code, Status};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The completion callback of the `*_start` entry points:
/// `void (*)(void *context, uint64_t call_id, int32_t status, const uint8_t
/// *data, size_t len)`. `data` is valid only during the callback.
pub type CallbackFn = unsafe extern "C" fn(
    context: *mut c_void,
    call_id: u64,
    status: i32,
    data: *const u8,
    len: usize,
);

/// A caller's callback and the context it gets back.
#[derive(Clone, Copy)]
pub(crate) struct Callback {
    f: CallbackFn,
    context: *mut c_void,
}

// SAFETY: the C contract of the `*_start` functions says the callback may be
// invoked on any thread of the library with `context`; the runtime never
// dereferences `context` itself.
unsafe impl Send for Callback {}
// SAFETY: as above; `Callback` is only copied and invoked.
unsafe impl Sync for Callback {}

impl Callback {
    pub(crate) fn new(f: CallbackFn, context: *mut c_void) -> Callback {
        Callback { f, context }
    }

    /// Invokes the callback.
    pub(crate) fn invoke(&self, call_id: u64, status: i32, data: &[u8]) {
        // SAFETY: the caller of `*_start` promised a callable `f` for the
        // call's lifetime; `data` lives across the call. A C callback cannot
        // unwind into us.
        unsafe { (self.f)(self.context, call_id, status, data.as_ptr(), data.len()) }
    }
}

/// The live call `id` of `library`, when there is one.
pub(crate) fn live(library: &crate::Library, id: u64) -> Option<Arc<Call>> {
    library.state.calls.get::<Call>(id)
}

/// The stream `id`, when it is live.
pub(crate) fn stream(library: &crate::Library, id: u64) -> Option<Arc<Call>> {
    live(library, id).filter(|c| c.stream.is_some())
}

/// The client or bidi stream `id`, when it is live.
pub(crate) fn inbound(library: &crate::Library, id: u64) -> Option<Arc<Call>> {
    live(library, id).filter(|c| c.inbound.is_some())
}

/// Completes every live call of `library` whose callback context is
/// `context` with `status` (its caller is gone); returns how many.
pub(crate) fn cancel_context(
    library: &crate::Library,
    context: *mut c_void,
    status: &Status,
) -> usize {
    library
        .state
        .calls
        .select::<Call>(|c| c.callback.context == context)
        .into_iter()
        .filter(|c| c.abort(status.clone()))
        .count()
}

impl crate::library::live::LiveEntry for Call {
    fn shut_down(&self) -> bool {
        self.abort(Status::unavailable(
            "the library shut down before this call finished",
        ))
    }

    fn cancel(&self, status: Status) -> bool {
        self.abort(status)
    }
}

/// [`Call::state`]: the final status was decided (exactly one completer
/// sets it; no event callback starts after it).
const DONE: u32 = 1 << 31;
/// [`Call::state`]: the final waits in [`Call::pending_final`] for the event
/// callbacks still running; the last of them to return delivers it.
const FINAL_PENDING: u32 = 1 << 30;
/// [`Call::state`]: how many event callbacks (doorbells) are running now.
const RUNNING_EVENTS: u32 = FINAL_PENDING - 1;

/// One async call or stream.
pub(crate) struct Call {
    pub(crate) id: u64,
    pub(crate) service: &'static ServiceDef,
    pub(crate) method: &'static MethodDef,
    callback: Callback,
    /// [`DONE`], [`FINAL_PENDING`] and the count of running event callbacks,
    /// in one word so that "is it done?" and "an event starts" are one
    /// atomic decision: the final status is the last callback *started*,
    /// and none is still running when it starts.
    state: AtomicU32,
    /// The final event, parked while event callbacks run.
    pending_final: Mutex<Option<(i32, Vec<u8>)>>,
    /// In its library's table (only calls that waited are).
    registered: AtomicBool,
    /// Its deadline is with the timer (only calls that waited).
    armed: AtomicBool,
    waker: Mutex<Option<Waker>>,
    deadline: Option<Instant>,
    timeout_ms: u32,
    started_ns: u64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) max_response: usize,
    /// The undelivered items of a server (or bidi) stream.
    pub(crate) stream: Option<StreamQueue>,
    /// The requests of a client (or bidi) stream not taken yet.
    pub(crate) inbound: Option<Inbound>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("id", &self.id)
            .field("method", &self.method.name)
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}

/// How a call ended, for its metrics.
#[derive(Default)]
pub(crate) struct Ending {
    pub(crate) rejection: Option<Rejection>,
    pub(crate) panicked: bool,
}

impl Call {
    pub(crate) fn new(
        id: u64,
        service: &'static ServiceDef,
        method: &'static MethodDef,
        callback: Callback,
        timeout_ms: u32,
        stream: bool,
        inbound: Option<Inbound>,
    ) -> Call {
        let library = service.library;
        let max_response = crate::policy::limits::effective_response(
            &method.limits,
            &service.limits,
            library.limits(),
        );
        Call {
            id,
            service,
            method,
            callback,
            state: AtomicU32::new(0),
            pending_final: Mutex::new(None),
            registered: AtomicBool::new(false),
            armed: AtomicBool::new(false),
            waker: Mutex::new(None),
            deadline: (timeout_ms != 0)
                .then(|| Instant::now() + Duration::from_millis(u64::from(timeout_ms))),
            timeout_ms,
            started_ns: crate::sys::clock::now_ns(),
            bytes_in: AtomicU64::new(0),
            max_response,
            stream: stream.then(StreamQueue::new),
            inbound,
        }
    }

    /// Whether items flow in either direction (a server, client or bidi
    /// stream), for the `streams_open` gauge.
    pub(crate) fn is_stream(&self) -> bool {
        self.stream.is_some() || self.inbound.is_some()
    }

    /// Whether the call has completed (or been cancelled).
    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) & DONE != 0
    }

    /// Completes the call unless something else did first: removes it from
    /// the library's table, records the metrics and delivers `code` and
    /// `data` to the callback — at once, or, when event callbacks of this
    /// call are running on other threads (or this one: a callback that
    /// cancels its own call), by the last of them as it returns. Returns
    /// whether this call completed it.
    pub(crate) fn complete(&self, code: Code, data: &[u8], ending: Ending) -> bool {
        let before = self.state.fetch_or(DONE, Ordering::AcqRel);
        if before & DONE != 0 {
            return false;
        }
        if self.registered.load(Ordering::Acquire) {
            self.service.library.state.calls.remove(self.id);
        }
        if let Some(at) = self.deadline.filter(|_| self.armed.load(Ordering::Acquire)) {
            crate::library::deadlines::remove(self, at);
        }
        if self.is_stream() {
            self.method.metrics.stream_ended();
        }
        // This thread's shard: exclusive to whichever thread completes.
        let shard = crate::sys::thread::with(|t| t.map_or(Shard::SHARED, |t| t.shard()));
        self.method.metrics.record(
            shard,
            &CallRecord {
                code,
                rejection: ending.rejection,
                panicked: ending.panicked,
                bytes_in: self.bytes_in.load(Ordering::Relaxed),
                bytes_out: data.len() as u64,
                latency_ns: Some(crate::sys::clock::now_ns().saturating_sub(self.started_ns)),
            },
        );
        // After the metrics: a caller that saw the completion sees it counted.
        if before & RUNNING_EVENTS == 0 {
            // No event can start any more (DONE is set) and none runs.
            self.callback.invoke(self.id, code as i32, data);
        } else {
            *self.pending_final.lock() = Some((code as i32, data.to_vec()));
            let now = self.state.fetch_or(FINAL_PENDING, Ordering::AcqRel);
            if now & RUNNING_EVENTS == 0 {
                // The events ended before the final was parked: nobody
                // else will deliver it.
                self.deliver_parked();
            }
        }
        true
    }

    /// Delivers the parked final (exactly one thread gets here per call).
    fn deliver_parked(&self) {
        let parked = self.pending_final.lock().take();
        if let Some((status, data)) = parked {
            self.callback.invoke(self.id, status, &data);
        }
    }

    /// Completes the call with an error status (cut to the response limit).
    pub(crate) fn fail(&self, status: Status, ending: Ending) -> bool {
        if self.is_done() {
            return false;
        }
        let status = status.fit(self.max_response);
        self.complete(status.code(), &status.encode_to_vec(), ending)
    }

    /// Fails the call and wakes its task so the handler's future is dropped.
    pub(crate) fn abort(&self, status: Status) -> bool {
        self.abort_with(status, Ending::default())
    }

    /// [`Call::abort`] with how the call ended (a refused streamed request).
    pub(crate) fn abort_with(&self, status: Status, ending: Ending) -> bool {
        let won = self.fail(status, ending);
        self.wake();
        if let Some(s) = &self.stream {
            s.wake_producer();
        }
        if let Some(i) = &self.inbound {
            i.wake_consumer();
        }
        won
    }

    /// Sends a non-final event (a stream's doorbell) unless the call is
    /// done. An event never starts after the final status, and the final
    /// never starts while an event runs (see [`Call::complete`]).
    pub(crate) fn notify(&self, event: i32) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & DONE != 0 {
                return;
            }
            debug_assert!(state & RUNNING_EVENTS < RUNNING_EVENTS);
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        // A guard, so the count is right on every path out.
        struct Running<'a>(&'a Call);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                let before = self.0.state.fetch_sub(1, Ordering::AcqRel);
                if before & FINAL_PENDING != 0 && before & RUNNING_EVENTS == 1 {
                    self.0.deliver_parked();
                }
            }
        }
        let _running = Running(self);
        self.callback.invoke(self.id, event, &[]);
    }

    /// Wakes the task (after a cancellation, a deadline or room in a stream).
    pub(crate) fn wake(&self) {
        if let Some(w) = self.waker.lock().take() {
            w.wake();
        }
    }

    /// Hands the deadline to the timer (calls that wait only).
    fn arm_deadline(self: &Arc<Call>) {
        if let Some(at) = self.deadline {
            self.armed.store(true, Ordering::Release);
            crate::library::deadlines::add(at, self);
        }
    }

    /// The status of a call past its deadline.
    fn deadline_exceeded(&self) -> Status {
        Status::deadline_exceeded(format!(
            "{}.{} did not finish within its deadline of {} ms",
            self.service.name, self.method.name, self.timeout_ms
        ))
    }
}

/// Which call of which library: call ids are numbered per library, and two
/// libraries in one artifact share this runtime's thread-locals.
type CallKey = (usize, u64);

fn call_key(library: &crate::Library, call_id: u64) -> CallKey {
    (library as *const crate::Library as usize, call_id)
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Call>>> = const { RefCell::new(None) };
    /// The call whose first poll runs inline on this thread.
    static INLINE: std::cell::Cell<Option<CallKey>> = const { std::cell::Cell::new(None) };
    /// The final event of the last call that completed inline here, kept by
    /// the Dart callback for `dart_take` instead of posted.
    static KEPT: RefCell<Option<(CallKey, i32, Vec<u8>)>> = const { RefCell::new(None) };
}

/// Keeps the final event of `call_id` when that call of `library` is
/// completing inside its `*_start` on this thread (for `dart_take`);
/// returns whether it did.
pub(crate) fn keep_inline(
    library: &crate::Library,
    call_id: u64,
    status: i32,
    data: &[u8],
) -> bool {
    let key = call_key(library, call_id);
    if status < 0 || INLINE.try_with(|i| i.get()).ok().flatten() != Some(key) {
        return false;
    }
    KEPT.try_with(|k| *k.borrow_mut() = Some((key, status, data.to_vec())))
        .is_ok()
}

/// The kept final event of `library`'s call `call_id`, if it completed
/// inline on this thread.
pub(crate) fn take_inline(library: &crate::Library, call_id: u64) -> Option<(i32, Vec<u8>)> {
    let key = call_key(library, call_id);
    KEPT.try_with(|k| {
        let mut k = k.borrow_mut();
        match k.take() {
            Some((kept, status, data)) if kept == key => Some((status, data)),
            other => {
                *k = other;
                None
            }
        }
    })
    .ok()
    .flatten()
}

/// What an async handler can know about its call: its id, its deadline and
/// whether it was cancelled. Reach it with [`CallContext::current`] inside
/// the handler's future (not in tasks it spawns).
///
/// Cancellation (by the caller, the deadline or shutdown) completes the call
/// at once and drops the handler's future at its next `.await`: put cleanup
/// in `Drop`, and check [`CallContext::is_cancelled`] in long stretches
/// without an `.await`.
#[derive(Clone, Debug)]
pub struct CallContext {
    call: Arc<Call>,
}

impl CallContext {
    /// The call whose future is being polled on this thread, if any.
    pub fn current() -> Option<CallContext> {
        CURRENT.with(|c| c.borrow().clone().map(|call| CallContext { call }))
    }

    /// The id the caller got from `*_start`.
    pub fn call_id(&self) -> u64 {
        self.call.id
    }

    /// When the call's deadline passes (`None`: no deadline).
    pub fn deadline(&self) -> Option<Instant> {
        self.call.deadline
    }

    /// Time left before the deadline (`None`: no deadline).
    pub fn remaining(&self) -> Option<Duration> {
        self.call
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether the call already completed: cancelled, past its deadline or
    /// shut down. The future is dropped at its next `.await`.
    pub fn is_cancelled(&self) -> bool {
        self.call.is_done()
    }
}

/// Whether `call`'s own future is being polled on this thread.
pub(crate) fn is_current(call: &Call) -> bool {
    CURRENT
        .try_with(|c| {
            c.borrow()
                .as_deref()
                .is_some_and(|current| std::ptr::eq(current, call))
        })
        .unwrap_or(false)
}

/// Sets [`CURRENT`] while a call's future is polled.
struct Current(Option<Option<Arc<Call>>>);

impl Current {
    fn enter(call: &Arc<Call>) -> Current {
        // `try_with`: a call started from a thread whose locals are being
        // destroyed runs without a `CallContext`.
        Current(CURRENT.try_with(|c| c.replace(Some(call.clone()))).ok())
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
        }
    }
}

/// What a handler's future ends with, turned into the call's completion.
pub(crate) trait Outcome {
    fn finish(self, call: &Call);
}

impl<Resp: prost::Message, E: Into<Status>> Outcome for Result<Resp, E> {
    fn finish(self, call: &Call) {
        match self {
            Ok(response) => {
                let len = response.encoded_len();
                if len > call.max_response {
                    drop(response);
                    call.fail(
                        crate::call::guard::too_large(
                            call.service,
                            call.method,
                            "response",
                            len,
                            call.max_response,
                        ),
                        Ending {
                            rejection: Some(Rejection::ResponseSize),
                            panicked: false,
                        },
                    );
                    return;
                }
                let bytes = response.encode_to_vec();
                drop(response);
                call.complete(Code::Ok, &bytes, Ending::default());
            }
            Err(e) => {
                let status = crate::call::guard::handler_error(call.service, call.method, e.into());
                call.fail(status, Ending::default());
            }
        }
    }
}

/// An [`Outcome`] behind a box: what a sync handler run on the library's
/// worker threads returns ([`Blocking`]), so every sync method shares one
/// task type instead of each monomorphizing the call task.
pub(crate) trait BoxedOutcome: Send {
    fn finish_boxed(self: Box<Self>, call: &Call);
}

impl<T: Outcome + Send> BoxedOutcome for T {
    fn finish_boxed(self: Box<Self>, call: &Call) {
        (*self).finish(call)
    }
}

impl Outcome for Box<dyn BoxedOutcome> {
    fn finish(self, call: &Call) {
        self.finish_boxed(call)
    }
}

/// A sync handler as a future: ready on its first poll, which runs it.
/// Polled only on a worker thread ([`CallTask::spawn_on_workers`]).
pub(crate) struct Blocking(pub(crate) Option<Box<dyn FnOnce() -> Box<dyn BoxedOutcome> + Send>>);

impl Future for Blocking {
    type Output = Box<dyn BoxedOutcome>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let handler = self
            .get_mut()
            .0
            .take()
            .expect("a sync handler's task is polled until it is ready, then never again");
        Poll::Ready(handler())
    }
}

/// How a call's handler ended, kept until a stream's consumer took every
/// item: its output, or the status of its panic.
enum Ended<O> {
    Output(O),
    Panicked(Status),
}

/// The task an executor runs for one call: everything after the request
/// arrived — polling the handler's future, dropping it, turning its output
/// into the response (encode, the error's conversion, the response's
/// `Drop`) — runs under `catch_unwind` with the call's context, span and
/// panic scope set; it stops when the call is done and, for a stream,
/// completes only after its consumer took every item (also after a panic).
pub(crate) struct CallTask<F: Future> {
    call: Arc<Call>,
    inner: Option<F>,
    ended: Option<Ended<F::Output>>,
    _admitted: InFlight<'static>,
}

/// Runs `f`, user code of `call` (a start's future maker, a poll of the
/// handler's future, the output's conversion, either one's `Drop`), as the
/// sync guard runs a handler: in the call's context, the library's log
/// dispatcher and the call's span, the panic scope, and
/// [`guard::guarded`](crate::call::guard::guarded), the one step that turns
/// a panic into the method's `INTERNAL` status (logged in the call's span,
/// with the report the panic scope captured).
pub(crate) fn guarded<R>(call: &Arc<Call>, f: impl FnOnce() -> R) -> Result<R, Status> {
    let _current = Current::enter(call);
    // The handler's records go to the library's log sink, as in a sync
    // call (one relaxed load when none is set).
    let library = call.service.library;
    let _trace = library
        .logs()
        .dispatch()
        .map(|d| crate::call::guard::trace_async(d, call.service, call.method, call.id));
    crate::sys::thread::with(|thread| {
        let _scope = crate::error::panic::GuardScope::enter(thread, library.logs().is_enabled());
        crate::call::guard::guarded(call.service, call.method, &mut false, || Ok(f()))
            .map_err(|f| f.status)
    })
}

impl<F> CallTask<F>
where
    F: Future + Send + Unpin + 'static,
    F::Output: Outcome + Send,
{
    /// Registers the call, polls it once on this thread, then arms its
    /// deadline and hands the task to the library's executor (or fails the
    /// call when there is none).
    pub(crate) fn spawn(call: Arc<Call>, inner: F, admitted: InFlight<'static>) {
        let library = call.service.library;
        let executor = match library.executor() {
            Ok(executor) => executor,
            Err(status) => {
                call.fail(status, Ending::default());
                return;
            }
        };
        let Some(mut task) = CallTask::register(call.clone(), inner, admitted) else {
            return;
        };
        // The first poll runs here, on the caller's thread (as a Dart or
        // JavaScript async function runs until its first await): a future
        // that is ready at once completes without waking another thread,
        // which costs tens of microseconds on a busy or virtualised
        // machine. Only a future that waits goes to the executor, which
        // polls it again (a future registers its latest waker on every
        // poll, so the inline poll's no-op waker is never needed).
        let mut ready = false;
        let mut polled = false;
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        // Only a unary call's final event may be kept for `dart_take`: the
        // Dart client takes it right after `start` (a stream's events
        // always go to the port, in either direction).
        let inline =
            (call.stream.is_none() && call.inbound.is_none()).then(|| call_key(library, call.id));
        let previous = INLINE.try_with(|i| i.replace(inline)).ok().flatten();
        // The executor's own context may be gone (a call from a thread
        // whose locals are being destroyed: tokio's `enter` panics then):
        // the task then goes to the executor unpolled.
        let entered = catch_unwind(AssertUnwindSafe(|| {
            executor.run_inline(&mut || {
                polled = true;
                ready = Pin::new(&mut task).poll(&mut cx).is_ready();
            })
        }));
        let _ = INLINE.try_with(|i| i.set(previous));
        if let Err(p) = entered {
            crate::error::panic::drop_quietly(p);
        }
        if ready || (polled && call.is_done()) {
            // Finished (or cancelled during its first poll): the task's
            // drop releases the future under the guard.
            return;
        }
        // It waits: its deadline is kept by the timer from now on (a call
        // that completed inline never needed it, nor its lock).
        call.arm_deadline();
        if call.deadline.is_some_and(|d| d <= Instant::now()) {
            call.abort(call.deadline_exceeded());
        }
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| executor.spawn(Box::pin(task)))) {
            crate::error::panic::drop_quietly(p);
            call.fail(
                Status::unavailable("the executor refused the call (it panicked)"),
                Ending::default(),
            );
        }
    }
}

impl<F> CallTask<F>
where
    F: Future + Send + Unpin + 'static,
    F::Output: Outcome + Send,
{
    /// The call's task, its call registered in the library's table; `None`
    /// (the call completed with `UNAVAILABLE`) once shutdown closed it.
    fn register(call: Arc<Call>, inner: F, admitted: InFlight<'static>) -> Option<CallTask<F>> {
        let task = CallTask {
            call: call.clone(),
            inner: Some(inner),
            ended: None,
            _admitted: admitted,
        };
        // Registered before the handler first runs: a server stream that
        // sends at once rings its doorbell during the first poll, and the
        // callback may call `stream_next` or `cancel` right there; shutdown
        // must see it too (or have closed the table, then it never runs).
        let registered = call
            .service
            .library
            .state
            .calls
            .insert(call.id, call.clone(), || {
                call.registered.store(true, Ordering::Release)
            });
        if !registered {
            call.fail(
                Status::unavailable(format!(
                    "{}.{} refused: the library shut down",
                    call.service.name, call.method.name
                )),
                Ending {
                    rejection: Some(Rejection::Admission),
                    panicked: false,
                },
            );
            return None;
        }
        Some(task)
    }
}

impl CallTask<Blocking> {
    /// Registers a sync handler's call, arms its deadline and queues it
    /// for the library's worker threads ([`crate::library::workers`]): the caller's
    /// thread never runs the handler. Cancellation and the deadline end a
    /// call still queued without running it; once running, the handler
    /// finishes and its response is dropped.
    pub(crate) fn spawn_on_workers(call: Arc<Call>, inner: Blocking, admitted: InFlight<'static>) {
        let library = call.service.library;
        let Some(task) = CallTask::register(call.clone(), inner, admitted) else {
            return;
        };
        call.arm_deadline();
        library
            .state
            .workers
            .submit(library.prefix(), Box::new(task));
    }
}

impl crate::library::workers::Job for CallTask<Blocking> {
    fn run(mut self: Box<Self>) {
        let waker = noop_waker();
        // `Blocking` is ready on its first poll, so the task is done after
        // this one (also when the call ended while it was queued).
        let done = Pin::new(&mut *self)
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        debug_assert!(done, "a sync handler's task finishes in one poll");
    }

    fn refuse(self: Box<Self>, status: Status) {
        self.call.fail(status, Ending::default());
    }
}

impl<F: Future> CallTask<F> {
    /// Drops the handler's future under the guard (its destructors are user
    /// code): a panic there fails the call unless it already completed.
    fn drop_inner(&mut self) {
        if let Some(inner) = self.inner.take() {
            if let Err(status) = guarded(&self.call, move || drop(inner)) {
                if self.ended.is_some() || !self.call.is_done() {
                    // The output (if any) is dropped under the guard too.
                    self.drop_ended();
                    self.ended = Some(Ended::Panicked(status));
                }
            }
        }
    }
}

// Nothing in a `CallTask` is pinned structurally: `inner` is `Unpin` and
// polled through `Pin::new`, `ended` is a plain value.
impl<F: Future> Unpin for CallTask<F> {}

impl<F> Future for CallTask<F>
where
    F: Future + Unpin,
    F::Output: Outcome,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let call = this.call.clone();
        // Register first, then check: a cancellation after the check wakes
        // this waker.
        *call.waker.lock() = Some(cx.waker().clone());
        if call.is_done() {
            this.drop_inner();
            this.drop_ended();
            return Poll::Ready(());
        }
        if let Some(inner) = this.inner.as_mut() {
            let polled = guarded(&call, || Pin::new(inner).poll(cx));
            // The doorbell the handler's sends deferred to the end of its
            // poll, whatever the poll's outcome: the consumer must take the
            // items, also before a final status.
            if let Some(stream) = &call.stream {
                if stream.take_deferred() {
                    call.notify(proto2ffi_core::symbols::STREAM_ITEMS);
                }
            }
            match polled {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(output)) => this.ended = Some(Ended::Output(output)),
                Err(status) => this.ended = Some(Ended::Panicked(status)),
            }
            this.drop_inner();
        }
        if let Some(stream) = &call.stream {
            // Items `send` accepted are delivered before the final status,
            // whichever way the handler ended.
            if !stream.drained(cx.waker()) && !call.is_done() {
                return Poll::Pending;
            }
        }
        // The final callback runs inside: a `shutdown` it makes must not
        // wait for the ticket this task holds.
        let _own = OwnTicket::enter(&call.service.library.state.admission);
        match this.ended.take() {
            Some(Ended::Output(output)) => {
                if let Err(status) = guarded(&call, || output.finish(&call)) {
                    call.fail(
                        status,
                        Ending {
                            rejection: None,
                            panicked: true,
                        },
                    );
                }
            }
            Some(Ended::Panicked(status)) => {
                call.fail(
                    status,
                    Ending {
                        rejection: None,
                        panicked: true,
                    },
                );
            }
            None => {}
        }
        Poll::Ready(())
    }
}

impl<F: Future> CallTask<F> {
    /// Drops an output the call no longer needs, under the guard.
    fn drop_ended(&mut self) {
        if let Some(Ended::Output(output)) = self.ended.take() {
            // A panic there is logged; the call ended already.
            let _ = guarded(&self.call, move || drop(output));
        }
    }
}

impl<F: Future> Drop for CallTask<F> {
    fn drop(&mut self) {
        self.drop_inner();
        self.drop_ended();
        // An executor that drops a task unfinished (its runtime shut down)
        // still completes the call.
        if !self.call.is_done() {
            self.call.fail(
                Status::cancelled("the executor dropped the call before it finished"),
                Ending::default(),
            );
        }
    }
}

/// A waker that does nothing (`Waker::noop` needs Rust 1.85).
fn noop_waker() -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    const VTABLE: RawWakerVTable = RawWakerVTable::new(|_| RAW, |_| {}, |_| {}, |_| {});
    const RAW: RawWaker = RawWaker::new(std::ptr::null(), &VTABLE);
    // SAFETY: every vtable function ignores the (null) data pointer and
    // clone returns the same no-op waker.
    unsafe { Waker::from_raw(RAW) }
}

impl crate::library::deadlines::Expire for Call {
    fn expire(&self) {
        self.abort(self.deadline_exceeded());
    }
}
