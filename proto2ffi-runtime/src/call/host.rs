//! Services the host implements and Rust calls: the other direction.
//!
//! A service declared `implemented_by: HOST` gets a generated Rust client
//! (a [`HostServiceDef`] per service, [`HostMethodDef`] per method) and a
//! `{prefix}_{service}_host_bind` export. The host binds one implementation
//! at a time: a C callback and its context ([`HostFn`]). A call from Rust:
//!
//! 1. is refused at once (and counted) when no host is bound, the library
//!    shut down or forked, or the encoded request exceeds its byte limit;
//! 2. gets an id and a pending entry in the library's table, with a
//!    deadline (the one given, capped by the current async call's, else
//!    [`DEFAULT_HOST_TIMEOUT`]);
//! 3. is handed to the callback on the caller's thread; the host completes
//!    it later, from any thread, with `host_complete`.
//!
//! Five parties may race to finish a call: the host's completion, the
//! deadline timer, the Rust caller dropping its future, unbinding (or a
//! new binding) and shutdown. Removal from the table decides: exactly one
//! of them removes the entry and finishes the call (result delivered,
//! metrics recorded, log record written); the others find nothing, so a
//! late or repeated completion is answered `NOT_FOUND`. When the call ends
//! any other way than by the host's answer while the host holds it, the
//! host's callback is told (`method = HOST_CANCELLED`).
//!
//! The callback is invoked under the binding's gate (a read lock); unbinding
//! revokes the binding, then takes the gate for writing, so once
//! `host_unbind` returns the callback is never invoked again and the host
//! may free its context.

use crate::call::calls::CallContext;
use crate::library::def::Library;
use crate::observe::metrics::{CallRecord, MethodMetrics, Rejection};
use crate::policy::limits::{effective_request, effective_response, Limits};
use crate::sys::shard::Shard;
use crate::{Code, Status};
use parking_lot::{Condvar, Mutex, RwLock};
use prost::Message;
use std::ffi::c_void;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The host callback: `int32_t (*)(void *context, uint64_t call_id,
/// int32_t method, const uint8_t *request, size_t request_len)`.
pub type HostFn = unsafe extern "C" fn(
    context: *mut c_void,
    call_id: u64,
    method: i32,
    request: *const u8,
    request_len: usize,
) -> i32;

/// The deadline of a host call made with none, outside any async call
/// that has one.
pub(crate) const DEFAULT_HOST_TIMEOUT: Duration = Duration::from_secs(30);

/// Most bytes of a host's error message kept (longer ones are cut at a
/// character boundary).
const MAX_HOST_MESSAGE: usize = 4096;

/// One method of a service the host implements.
#[derive(Debug)]
pub struct HostMethodDef {
    /// The proto RPC name.
    pub name: &'static str,
    /// Byte limits: the request Rust sends, the response the host returns
    /// (`0` inherits the service's, then the library's).
    pub limits: Limits,
    /// Counters (in their own zero-initialised static).
    pub metrics: &'static MethodMetrics,
    in_flight: AtomicU64,
}

impl HostMethodDef {
    /// A method definition (used by generated code in a `static`).
    pub const fn new(
        name: &'static str,
        limits: Limits,
        metrics: &'static MethodMetrics,
    ) -> HostMethodDef {
        HostMethodDef {
            name,
            limits,
            metrics,
            in_flight: AtomicU64::new(0),
        }
    }

    /// Calls of this method waiting for the host.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// A service the host implements, as generated code declares it.
pub struct HostServiceDef {
    /// The proto full name.
    pub name: &'static str,
    /// The library whose table holds its calls.
    pub library: &'static Library,
    /// The export that binds an implementation (named in errors).
    pub bind_symbol: &'static str,
    /// Service-wide byte limits.
    pub limits: Limits,
    /// The methods, in declaration order (the index the host gets).
    pub methods: &'static [HostMethodDef],
    binding: RwLock<Option<Arc<Binding>>>,
    announced: AtomicBool,
}

impl std::fmt::Debug for HostServiceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostServiceDef")
            .field("name", &self.name)
            .field("bound", &self.is_bound())
            .finish_non_exhaustive()
    }
}

/// A bound host implementation.
struct Binding {
    id: u64,
    f: HostFn,
    context: *mut c_void,
    /// Held (shared) while the callback runs; unbinding takes it exclusively.
    gate: RwLock<()>,
    revoked: AtomicBool,
    /// For a C host, the threads known to run its handlers: the one that
    /// bound it and the last one that completed a call. A blocking call
    /// from either would wait for itself.
    bound_on: AtomicUsize,
    completed_on: AtomicUsize,
    /// For a Dart binding, the isolate that bound it (`Dart_CurrentIsolate`
    /// then; 0 for a C host). Isolates move between the VM's threads, so
    /// for Dart the question is which isolate a thread runs, not which
    /// thread it is.
    isolate: usize,
    /// Calls handed to this binding and not finished.
    waiting: AtomicUsize,
    /// A liveness ping is scheduled (see [`PING_EVERY`]).
    pinging: AtomicBool,
    service: &'static HostServiceDef,
}

/// While calls wait for a binding, the library pings it this often
/// (`method = HOST_PING`): a host that vanished without unbinding (a Dart
/// isolate that exited, whose port refuses posts) answers `UNAVAILABLE`,
/// and its waiting calls fail at once instead of at their deadlines.
pub(crate) const PING_EVERY: Duration =
    Duration::from_millis(proto2ffi_core::symbols::HOST_PING_EVERY_MS);

// SAFETY: the bind contract says the callback may be invoked with `context`
// on any thread until unbinding returns; the runtime never dereferences
// `context` itself.
unsafe impl Send for Binding {}
// SAFETY: as above; `f` and `context` are only copied and invoked.
unsafe impl Sync for Binding {}

thread_local! {
    static MARK: u8 = const { 0 };
    /// The binding whose callback this thread is inside, by address (0:
    /// none). Not by id: ids are numbered per library, and two libraries
    /// in one artifact share this thread-local.
    static IN_CALLBACK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A number naming this thread while it lives (0 while its locals are torn
/// down).
fn thread_mark() -> usize {
    MARK.try_with(|m| m as *const u8 as usize).unwrap_or(0)
}

impl Binding {
    fn is_host_thread(&self, mark: usize) -> bool {
        if self.isolate != 0 {
            return crate::call::dart::current_isolate() == self.isolate;
        }
        mark != 0
            && (self.bound_on.load(Ordering::Relaxed) == mark
                || self.completed_on.load(Ordering::Relaxed) == mark)
    }

    /// Invokes the callback unless revoked; `None` when revoked.
    fn invoke(&self, call_id: u64, method: i32, data: &[u8]) -> Option<i32> {
        let _gate = self.gate.read_recursive();
        if self.revoked.load(Ordering::Acquire) {
            return None;
        }
        let outer = IN_CALLBACK
            .try_with(|c| c.replace(self as *const Binding as usize))
            .unwrap_or(0);
        struct Restore(usize);
        impl Drop for Restore {
            fn drop(&mut self) {
                let _ = IN_CALLBACK.try_with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(outer);
        // SAFETY: the host promised a callable `f` for `context` until
        // unbinding returns, which waits for this gate; `data` outlives the
        // call. A C callback cannot unwind into us.
        Some(unsafe { (self.f)(self.context, call_id, method, data.as_ptr(), data.len()) })
    }

    /// A call was handed to this binding: ping it while calls wait.
    fn keep_pinging(self: &Arc<Binding>) {
        if !self.pinging.swap(true, Ordering::AcqRel) {
            crate::library::deadlines::add(Instant::now() + PING_EVERY, self);
        }
    }

    /// Revokes the binding and waits for callbacks in progress (unless this
    /// thread is inside one of them, which cannot be waited for).
    fn revoke(&self) {
        self.revoked.store(true, Ordering::Release);
        let inside = IN_CALLBACK
            .try_with(|c| c.get() == self as *const Binding as usize)
            .unwrap_or(false);
        if !inside {
            drop(self.gate.write());
        }
    }
}

/// The host services `library` used so far (bound or called), for the
/// metrics.
pub(crate) fn services(library: &Library) -> Vec<&'static HostServiceDef> {
    library.state.host_services.all::<HostServiceDef>()
}

impl crate::library::live::LiveEntry for Pending {
    /// Completes the call with `UNAVAILABLE` (the host is told).
    fn shut_down(&self) -> bool {
        self.finish(
            Err(Status::unavailable(format!(
                "the library shut down while {}.{} waited for the host",
                self.service.name, self.method.name
            ))),
            None,
            true,
        )
    }

    fn cancel(&self, status: Status) -> bool {
        self.finish(Err(status), None, true)
    }
}

/// Finishes `library`'s pending calls handed to `binding` with
/// `UNAVAILABLE`.
fn fail_binding(library: &Library, binding: u64, why: &str) {
    let gone = library
        .state
        .hosts
        .select::<Pending>(|p| p.binding.id == binding);
    for p in gone {
        p.finish(
            Err(Status::unavailable(format!(
                "{}.{}: {why}",
                p.service.name, p.method.name
            ))),
            None,
            false,
        );
    }
}

/// `host_unbind`: whether `binding` was bound in `library` (it is not any
/// more).
pub(crate) fn unbind(library: &Library, binding: u64) -> bool {
    for s in services(library) {
        let mut slot = s.binding.write();
        if slot.as_ref().is_some_and(|b| b.id == binding) {
            let b = slot.take().expect("checked");
            drop(slot);
            b.revoke();
            fail_binding(library, b.id, "the host unbound its implementation");
            return true;
        }
    }
    false
}

/// `host_complete`: the host's answer to call `id`.
pub(crate) fn complete(library: &Library, id: u64, status: i32, data: &[u8]) -> Code {
    if !(0..Code::COUNT as i32).contains(&status) {
        return Code::InvalidArgument;
    }
    let Some(p) = library.state.hosts.get::<Pending>(id) else {
        return Code::NotFound;
    };
    p.binding
        .completed_on
        .store(thread_mark(), Ordering::Relaxed);
    let code = Code::from_i32(status);
    let (result, answer, rejection) = if code == Code::Ok {
        let limit = effective_response(
            &p.method.limits,
            &p.service.limits,
            p.service.library.limits(),
        );
        if data.len() > limit {
            let status = Status::resource_exhausted(format!(
                "the host answered {}.{} with {} bytes, over the limit of {limit}",
                p.service.name,
                p.method.name,
                data.len()
            ));
            (
                Err(status),
                Code::ResourceExhausted,
                Some(Rejection::ResponseSize),
            )
        } else {
            (Ok(data.to_vec()), Code::Ok, None)
        }
    } else {
        (Err(Status::new(code, host_message(data))), Code::Ok, None)
    };
    if p.finish(result, rejection, false) {
        answer
    } else {
        Code::NotFound
    }
}

/// A host's error message: UTF-8 (invalid sequences replaced), at most
/// [`MAX_HOST_MESSAGE`] bytes.
fn host_message(data: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(data).into_owned();
    if text.len() > MAX_HOST_MESSAGE {
        let mut end = MAX_HOST_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

impl HostServiceDef {
    /// A service definition (used by generated code in a `static`).
    pub const fn new(
        name: &'static str,
        library: &'static Library,
        bind_symbol: &'static str,
        limits: Limits,
        methods: &'static [HostMethodDef],
    ) -> HostServiceDef {
        HostServiceDef {
            name,
            library,
            bind_symbol,
            limits,
            methods,
            binding: RwLock::new(None),
            announced: AtomicBool::new(false),
        }
    }

    /// Whether an implementation is bound now.
    pub fn is_bound(&self) -> bool {
        self.binding.read().is_some()
    }

    fn announce(&'static self) {
        if !self.announced.swap(true, Ordering::AcqRel) {
            self.library.state.host_services.push(self);
        }
    }

    /// `*_host_bind`: binds `callback` with `context`, replacing (and
    /// unbinding) the previous binding; the new binding's id, or 0.
    pub fn bind(&'static self, callback: Option<HostFn>, context: *mut c_void) -> u64 {
        let Some(f) = callback else { return 0 };
        if self.library.forked_status().is_some() {
            return 0;
        }
        self.announce();
        let id = self
            .library
            .state
            .next_binding
            .fetch_add(1, Ordering::Relaxed);
        if id > usize::MAX as u64 {
            // Ids travel as pointers (`host_finalize`); never reached in practice.
            return 0;
        }
        let binding = Arc::new(Binding {
            id,
            f,
            context,
            gate: RwLock::new(()),
            revoked: AtomicBool::new(false),
            bound_on: AtomicUsize::new(thread_mark()),
            completed_on: AtomicUsize::new(0),
            isolate: crate::call::dart::current_isolate(),
            waiting: AtomicUsize::new(0),
            pinging: AtomicBool::new(false),
            service: self,
        });
        let old = self.binding.write().replace(binding);
        if let Some(old) = old {
            old.revoke();
            fail_binding(
                self.library,
                old.id,
                "a new host implementation replaced the one called",
            );
        }
        id
    }

    fn refuse(
        &self,
        method: &HostMethodDef,
        status: Status,
        rejection: Option<Rejection>,
    ) -> Status {
        method.metrics.record(
            shard(),
            &CallRecord {
                code: status.code(),
                rejection,
                panicked: false,
                bytes_in: 0,
                bytes_out: 0,
                latency_ns: None,
            },
        );
        status
    }

    /// Sends a call to the host: the pending call, or why it was refused.
    fn start(
        &'static self,
        index: usize,
        request: &dyn EncodeRequest,
        timeout: Option<Duration>,
        blocking: bool,
    ) -> Result<Arc<Pending>, Status> {
        self.announce();
        let method = &self.methods[index];
        let hosts = &self.library.state.hosts;
        if let Some(status) = self.library.forked_status() {
            return Err(self.refuse(method, status, Some(Rejection::Admission)));
        }
        if hosts.is_closed() {
            let status = Status::unavailable(format!(
                "{}.{}: the library shut down; it calls the host no more",
                self.name, method.name
            ));
            return Err(self.refuse(method, status, Some(Rejection::Admission)));
        }
        let Some(binding) = self.binding.read().clone() else {
            let status = Status::unavailable(format!(
                "{}.{}: no host implementation is bound; the host binds one with {} \
                 (Dart: the generated client's bind method)",
                self.name, method.name, self.bind_symbol
            ));
            return Err(self.refuse(method, status, Some(Rejection::Admission)));
        };
        if blocking && binding.is_host_thread(thread_mark()) {
            let status = Status::failed_precondition(format!(
                "{}.{}: a blocking call from the thread that runs the host's implementation \
                 would wait for itself; call it from another thread, or await the async method",
                self.name, method.name
            ));
            return Err(self.refuse(method, status, None));
        }
        let bytes = request.encode();
        let limit = effective_request(&method.limits, &self.limits, self.library.limits());
        if bytes.len() > limit {
            let status = Status::resource_exhausted(format!(
                "{}.{}: the request is {} bytes, over the limit of {limit}",
                self.name,
                method.name,
                bytes.len()
            ));
            return Err(self.refuse(method, status, Some(Rejection::RequestSize)));
        }
        let mut budget = timeout.unwrap_or(DEFAULT_HOST_TIMEOUT);
        if let Some(left) = CallContext::current().and_then(|c| c.remaining()) {
            budget = budget.min(left);
        }
        let started = Instant::now();
        let id = hosts.next_id();
        let pending = Arc::new(Pending {
            id,
            service: self,
            method,
            binding: binding.clone(),
            started,
            deadline: started + budget,
            timed: !blocking,
            request_bytes: bytes.len() as u64,
            state: Mutex::new(Outcome {
                result: None,
                waker: None,
            }),
            done: Condvar::new(),
        });
        // Counted before anyone can find, and so finish, it (under the
        // table's lock).
        let inserted = hosts.insert(id, pending.clone(), || {
            binding.waiting.fetch_add(1, Ordering::AcqRel);
            method.in_flight.fetch_add(1, Ordering::Relaxed);
        });
        if !inserted {
            let status = Status::unavailable(format!(
                "{}.{}: the library shut down; it calls the host no more",
                self.name, method.name
            ));
            return Err(self.refuse(method, status, Some(Rejection::Admission)));
        }
        binding.keep_pinging();
        if pending.timed {
            crate::library::deadlines::add(pending.deadline, &pending);
        }
        pending.trace(None);
        match binding.invoke(id, index as i32, &bytes) {
            Some(0) => {}
            Some(code) => {
                let code = Code::from_i32(code);
                let code = if code == Code::Ok {
                    Code::Unknown
                } else {
                    code
                };
                pending.finish(
                    Err(Status::new(
                        code,
                        format!("{}.{}: the host refused the call", self.name, method.name),
                    )),
                    None,
                    false,
                );
                if code == Code::Unavailable {
                    // The host says it is gone (Dart: its isolate exited).
                    unbind(self.library, binding.id);
                }
            }
            None => {
                pending.finish(
                    Err(Status::unavailable(format!(
                        "{}.{}: the host unbound its implementation",
                        self.name, method.name
                    ))),
                    None,
                    false,
                );
            }
        }
        Ok(pending)
    }

    /// Calls method `index` with `request`: a future of the host's answer,
    /// within `timeout` (else [`DEFAULT_HOST_TIMEOUT`]; either way at most
    /// the current async call's remaining time). Dropping the future
    /// cancels the call (the host is told).
    pub fn call<R: Message + Default>(
        &'static self,
        index: usize,
        request: &impl Message,
        timeout: Option<Duration>,
    ) -> HostCall<R> {
        HostCall {
            pending: self.start(index, &request, timeout, false).map_err(Some),
            _response: PhantomData,
        }
    }

    /// Calls method `index` and waits for the answer on this thread, at
    /// most `timeout` (then `DEADLINE_EXCEEDED`, and the host is told).
    /// `FAILED_PRECONDITION` at once when called on a thread that runs the
    /// host's implementation (it would wait for itself).
    pub fn call_blocking<R: Message + Default>(
        &'static self,
        index: usize,
        request: &impl Message,
        timeout: Duration,
    ) -> Result<R, Status> {
        let pending = self.start(index, &request, Some(timeout), true)?;
        let mut state = pending.state.lock();
        loop {
            if let Some(result) = state.result.take() {
                drop(state);
                return pending.decode(result);
            }
            if Instant::now() >= pending.deadline {
                drop(state);
                pending.finish(Err(pending.deadline_exceeded()), None, true);
                state = pending.state.lock();
                continue;
            }
            let deadline = pending.deadline;
            pending.done.wait_until(&mut state, deadline);
        }
    }
}

/// A request the runtime can encode without knowing its type.
trait EncodeRequest {
    fn encode(&self) -> Vec<u8>;
}

impl<M: Message> EncodeRequest for &M {
    fn encode(&self) -> Vec<u8> {
        self.encode_to_vec()
    }
}

fn shard() -> Shard {
    crate::sys::thread::with(|t| t.map_or(Shard::SHARED, |t| t.shard()))
}

/// One call waiting for the host.
struct Pending {
    id: u64,
    service: &'static HostServiceDef,
    method: &'static HostMethodDef,
    binding: Arc<Binding>,
    started: Instant,
    deadline: Instant,
    /// The deadline is with the timer (async calls; a blocking caller
    /// watches its own).
    timed: bool,
    request_bytes: u64,
    state: Mutex<Outcome>,
    done: Condvar,
}

struct Outcome {
    result: Option<Result<Vec<u8>, Status>>,
    waker: Option<Waker>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("id", &self.id)
            .field("service", &self.service.name)
            .field("method", &self.method.name)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// Finishes the call unless something else did first: removes it from
    /// the table, records the metrics, delivers `result` to the caller and,
    /// with `tell_host`, tells the host it may stop. Whether this finished it.
    fn finish(
        &self,
        result: Result<Vec<u8>, Status>,
        rejection: Option<Rejection>,
        tell_host: bool,
    ) -> bool {
        if !self.service.library.state.hosts.remove(self.id) {
            return false;
        }
        if self.timed {
            crate::library::deadlines::remove(self, self.deadline);
        }
        self.method.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.binding.waiting.fetch_sub(1, Ordering::AcqRel);
        let (code, response_bytes) = match &result {
            Ok(v) => (Code::Ok, v.len() as u64),
            Err(s) => (s.code(), 0),
        };
        let latency = self.started.elapsed();
        self.method.metrics.record(
            shard(),
            &CallRecord {
                code,
                rejection,
                panicked: false,
                // As for the library's methods: request bytes in,
                // response bytes out.
                bytes_in: self.request_bytes,
                bytes_out: response_bytes,
                latency_ns: Some(latency.as_nanos().min(u64::MAX as u128) as u64),
            },
        );
        self.trace(Some((code, latency)));
        // The host first: a caller that sees the call end knows the host
        // was told.
        if tell_host {
            let _ = self
                .binding
                .invoke(self.id, proto2ffi_core::symbols::HOST_CANCELLED, &[]);
        }
        let waker = {
            let mut state = self.state.lock();
            state.result = Some(result);
            state.waker.take()
        };
        self.done.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    fn deadline_exceeded(&self) -> Status {
        Status::deadline_exceeded(format!(
            "{}.{}: the host did not answer within {} ms",
            self.service.name,
            self.method.name,
            self.deadline
                .saturating_duration_since(self.started)
                .as_millis()
        ))
    }

    fn decode<R: Message + Default>(&self, result: Result<Vec<u8>, Status>) -> Result<R, Status> {
        let bytes = result?;
        R::decode(bytes.as_slice()).map_err(|e| {
            Status::internal_sanitized(format!(
                "the host's response to {}.{} did not decode: {e}",
                self.service.name, self.method.name
            ))
        })
    }

    /// A debug record in a `host_call` span, when the library has a sink:
    /// the call was sent (`None`), or how it ended.
    fn trace(&self, end: Option<(Code, Duration)>) {
        let Some(dispatch) = self.service.library.logs().dispatch() else {
            return;
        };
        tracing::dispatcher::with_default(dispatch, || {
            let span = tracing::debug_span!(
                target: "proto2ffi",
                "host_call",
                service = self.service.name,
                method = self.method.name,
                host_call = self.id
            );
            let _entered = span.enter();
            match end {
                None => tracing::debug!(target: "proto2ffi", "host call sent"),
                Some((code, latency)) => tracing::debug!(
                    target: "proto2ffi",
                    code = code.name(),
                    latency_us = latency.as_micros() as u64,
                    "host call finished"
                ),
            }
        });
    }
}

impl crate::library::deadlines::Expire for Binding {
    /// The ping: on the timer thread, while calls wait.
    fn expire(&self) {
        if self.revoked.load(Ordering::Acquire) {
            return;
        }
        if self.waiting.load(Ordering::Acquire) == 0 {
            self.pinging.store(false, Ordering::Release);
            // A call that started meanwhile saw `pinging` set and armed
            // nothing: arm for it.
            if self.waiting.load(Ordering::Acquire) == 0
                || self.pinging.swap(true, Ordering::AcqRel)
            {
                return;
            }
        } else if self.invoke(0, proto2ffi_core::symbols::HOST_PING, &[])
            == Some(Code::Unavailable as i32)
        {
            unbind(self.service.library, self.id);
            return;
        }
        // The timer holds only a weak reference: re-arm through the
        // service's strong one (when this binding is still the bound one).
        let current = self.service.binding.read().clone();
        if let Some(me) = current.filter(|b| b.id == self.id) {
            crate::library::deadlines::add(Instant::now() + PING_EVERY, &me);
        } else {
            self.pinging.store(false, Ordering::Release);
        }
    }
}

impl crate::library::deadlines::Expire for Pending {
    fn expire(&self) {
        self.finish(Err(self.deadline_exceeded()), None, true);
    }
}

/// The host's answer to one call: a future returned by the generated
/// client's methods. Dropping it before it completes cancels the call (the
/// host's callback gets `HOST_CANCELLED`).
#[must_use = "a host call does nothing useful unless awaited; dropping it cancels it"]
pub struct HostCall<R> {
    pending: Result<Arc<Pending>, Option<Status>>,
    _response: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for HostCall<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pending {
            Ok(p) => f.debug_tuple("HostCall").field(p).finish(),
            Err(s) => f.debug_tuple("HostCall").field(s).finish(),
        }
    }
}

impl<R> HostCall<R> {
    /// The id the host got for this call (`None` when it was refused before
    /// reaching the host).
    pub fn call_id(&self) -> Option<u64> {
        self.pending.as_ref().ok().map(|p| p.id)
    }
}

impl<R: Message + Default> Future for HostCall<R> {
    type Output = Result<R, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let pending = match &mut this.pending {
            Err(refused) => {
                return Poll::Ready(Err(refused.take().unwrap_or_else(|| {
                    Status::failed_precondition("host call polled after it completed")
                })))
            }
            Ok(p) => p,
        };
        let mut state = pending.state.lock();
        match state.result.take() {
            Some(result) => {
                drop(state);
                let out = pending.decode(result);
                this.pending = Err(None);
                Poll::Ready(out)
            }
            None => {
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl<R> Drop for HostCall<R> {
    fn drop(&mut self) {
        if let Ok(p) = &self.pending {
            p.finish(
                Err(Status::cancelled(format!(
                    "{}.{}: the caller dropped the call",
                    p.service.name, p.method.name
                ))),
                None,
                true,
            );
        }
    }
}

#[cfg(test)]
mod tests;
