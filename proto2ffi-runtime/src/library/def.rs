//! A library's state and its static service and method definitions.
//!
//! `proto2ffi::library!` emits one `static` [`Library`] per library (per
//! symbol prefix); `#[proto2ffi::service]` emits one `static` [`ServiceDef`]
//! per trait, pointing at its library, and one [`MethodDef`] per method. All
//! state lives in those statics — registry, init, admission, limits, health
//! flags, rate limiters and metrics — so two proto2ffi libraries linked into
//! one artifact never see each other, and a call never looks anything up.

use crate::error::config::ConfigError;
use crate::observe::metrics::MethodMetrics;
use crate::policy::admission::Admission;
use crate::policy::limits::Limits;
use crate::policy::rate::{LazyKeyed, RateLimit, RateLimiter};
use crate::Status;
use parking_lot::{Mutex, RwLock};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Once;

type Check = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// By default one call in 16 per thread is timed for the latency histogram.
pub(crate) const DEFAULT_LATENCY_SAMPLE_EVERY: u32 = 16;

/// By default one fixed-layout call in 256 per thread is timed. Timing a
/// call costs the same two clock reads whatever the call, several times a
/// whole guarded fixed-layout call but a fraction of a small protobuf one
/// (figures in BENCHMARKS.md): each default keeps timing at about 2% of
/// its kind of call.
pub(crate) const DEFAULT_FIXED_LATENCY_SAMPLE_EVERY: u32 = 256;

/// The most calls one timed call may stand for.
pub(crate) const MAX_LATENCY_SAMPLE_EVERY: u32 = 1 << 16;

/// `every - 1`, or why `every` is not a sampling rate.
fn sample_mask(every: u32) -> Result<u32, ConfigError> {
    if !every.is_power_of_two() || every > MAX_LATENCY_SAMPLE_EVERY {
        return Err(ConfigError::invalid(format!(
            "latency sampling must time one call in a power of two from 1 to \
             {MAX_LATENCY_SAMPLE_EVERY}, not one in {every}"
        )));
    }
    Ok(every - 1)
}

const INIT_NOT_RUN: u8 = 0;
const INIT_OK: u8 = 1;
const INIT_FAILED: u8 = 2;

/// One proto2ffi library: everything its `{prefix}_proto2ffi_*` exports
/// report or control. Reach your own with `proto2ffi::this_library!()`.
///
/// Three parts, each with one kind of writer: what `proto2ffi::library!`
/// and the generated code register (`Registry`), what the user and the
/// host configure at run time (`Config`), and the per-library state the
/// call pipeline reads and writes on every call (`State`).
pub struct Library {
    registry: Registry,
    config: Config,
    pub(crate) state: State,
}

/// What `proto2ffi::library!` fixes and generated code registers: the
/// prefix, the init function and its outcome, the services and pools.
struct Registry {
    prefix: &'static str,
    init_fn: fn() -> Result<(), Status>,
    init_once: Once,
    init_state: AtomicU8,
    init_error: Mutex<Option<Status>>,
    services: Mutex<Vec<&'static ServiceDef>>,
    pools: Mutex<Vec<&'static dyn crate::library::pools::PoolReport>>,
}

/// What the user and the host set at run time: error exposure, latency
/// sampling, byte limits, health, the executor. Each setter refuses a bad
/// value with a [`ConfigError`].
struct Config {
    expose_internal: AtomicBool,
    latency_sample_mask: AtomicU32,
    fixed_latency_sample_mask: AtomicU32,
    limits: Limits,
    healthy: AtomicBool,
    reason: Mutex<String>,
    check: RwLock<Option<Check>>,
    executor: std::sync::OnceLock<Result<Box<dyn crate::library::executor::Executor>, String>>,
}

/// What the call pipeline reads and writes: admission, the switches flag,
/// the logs, the live calls, the worker threads, the fork list.
pub(crate) struct State {
    started_ns: AtomicU64,
    switches: crate::sys::switches::Switches,
    pub(crate) admission: Admission,
    logs: crate::observe::log::Logs,
    /// Async calls and streams in flight.
    pub(crate) calls: crate::library::live::LiveTable,
    /// Calls into the host's implementations in flight.
    pub(crate) hosts: crate::library::live::LiveTable,
    /// The host services this library bound or called (for its metrics).
    pub(crate) host_services: crate::library::live::Seen,
    /// The next id of a host binding of this library.
    pub(crate) next_binding: AtomicU64,
    /// Threads for sync handlers awaited by their callers.
    pub(crate) workers: crate::library::workers::Workers,
    /// The next library in the fork handler's list ([`fork`]).
    fork_next: AtomicPtr<Library>,
    /// In the fork handler's list.
    fork_listed: AtomicBool,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("prefix", &self.registry.prefix)
            .field("initialized", &self.is_initialized())
            .finish_non_exhaustive()
    }
}

impl Library {
    /// A library with its symbol prefix, its init function and whether
    /// internal errors (panic messages, `INTERNAL` details) reach callers by
    /// default (used by `proto2ffi::library!`).
    pub const fn new(
        prefix: &'static str,
        init: fn() -> Result<(), Status>,
        expose_internal: bool,
    ) -> Library {
        Library {
            registry: Registry {
                prefix,
                init_fn: init,
                init_once: Once::new(),
                init_state: AtomicU8::new(INIT_NOT_RUN),
                init_error: Mutex::new(None),
                services: Mutex::new(Vec::new()),
                pools: Mutex::new(Vec::new()),
            },
            config: Config {
                expose_internal: AtomicBool::new(expose_internal),
                latency_sample_mask: AtomicU32::new(DEFAULT_LATENCY_SAMPLE_EVERY - 1),
                fixed_latency_sample_mask: AtomicU32::new(DEFAULT_FIXED_LATENCY_SAMPLE_EVERY - 1),
                limits: Limits::inherit(),
                healthy: AtomicBool::new(true),
                reason: Mutex::new(String::new()),
                check: RwLock::new(None),
                executor: std::sync::OnceLock::new(),
            },
            state: State {
                started_ns: AtomicU64::new(0),
                switches: crate::sys::switches::Switches::new(),
                admission: Admission::new(),
                logs: crate::observe::log::Logs::new(),
                calls: crate::library::live::LiveTable::new(),
                hosts: crate::library::live::LiveTable::new(),
                host_services: crate::library::live::Seen::new(),
                next_binding: AtomicU64::new(1),
                workers: crate::library::workers::Workers::new(),
                fork_next: AtomicPtr::new(std::ptr::null_mut()),
                fork_listed: AtomicBool::new(false),
            },
        }
    }

    /// `UNAVAILABLE` in a forked child (see [`fork`]): what the library-wide
    /// exports answer there instead of touching locks a vanished thread may
    /// have held.
    #[cold]
    pub(crate) fn forked_status(&self) -> Option<Status> {
        self.state.admission.is_forked().then(|| {
            Status::unavailable(format!(
                "the library `{}` was used before this process forked: a forked child \
                 cannot use it (its threads did not survive the fork); exec a new \
                 process or load the library in a process that did not fork",
                self.registry.prefix
            ))
        })
    }

    /// Lists this library for the fork handler (once): when a service
    /// registers, and when a log sink is set (which starts a thread).
    pub(crate) fn list_for_fork(&'static self) {
        if self.state.fork_listed.swap(true, Ordering::AcqRel) {
            return;
        }
        fork::install();
        let me = self as *const Library as *mut Library;
        let mut head = fork::LIBRARIES.load(Ordering::Acquire);
        loop {
            self.state.fork_next.store(head, Ordering::Release);
            match fork::LIBRARIES.compare_exchange_weak(
                head,
                me,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Times one call in `every` per thread for the latency histogram
    /// (`1`: every call), for protobuf, async and streaming methods
    /// (fixed-layout ones: [`Library::set_fixed_latency_sample_every`]).
    /// Each timed call costs two clock reads; counts,
    /// refusals, panics and bytes are exact either way. The histogram, its
    /// `_sum` and its `_count` all describe the timed calls only, so they
    /// stay consistent with each other; `calls` counts all. `every` must be
    /// a power of two from 1 to 65536 (`INVALID_ARGUMENT` otherwise, leaving
    /// the setting as it was).
    pub fn set_latency_sample_every(&self, every: u32) -> Result<(), ConfigError> {
        self.config
            .latency_sample_mask
            .store(sample_mask(every)?, Ordering::Relaxed);
        Ok(())
    }

    /// One call in how many is timed (see
    /// [`Library::set_latency_sample_every`]).
    pub fn latency_sample_every(&self) -> u32 {
        self.latency_sample_mask() + 1
    }

    /// `latency_sample_every() - 1`: a call is timed when its per-thread
    /// number masked with this is 0.
    #[inline]
    pub(crate) fn latency_sample_mask(&self) -> u32 {
        self.config.latency_sample_mask.load(Ordering::Relaxed)
    }

    /// [`Library::set_latency_sample_every`] for fixed-layout methods
    /// (default `DEFAULT_FIXED_LATENCY_SAMPLE_EVERY`): their calls are an
    /// order of magnitude cheaper than the clock reads that time one, so
    /// they are timed more sparsely. Same rules and errors.
    pub fn set_fixed_latency_sample_every(&self, every: u32) -> Result<(), ConfigError> {
        self.config
            .fixed_latency_sample_mask
            .store(sample_mask(every)?, Ordering::Relaxed);
        Ok(())
    }

    /// One fixed-layout call in how many is timed (see
    /// [`Library::set_fixed_latency_sample_every`]).
    pub fn fixed_latency_sample_every(&self) -> u32 {
        self.fixed_latency_sample_mask() + 1
    }

    /// `fixed_latency_sample_every() - 1`.
    #[inline]
    pub(crate) fn fixed_latency_sample_mask(&self) -> u32 {
        self.config
            .fixed_latency_sample_mask
            .load(Ordering::Relaxed)
    }

    /// The sampling rate of one method's histogram: the fixed-layout rate
    /// for a fixed-layout method, the other one for the rest.
    pub(crate) fn latency_sample_every_of(&self, method: &MethodDef) -> u32 {
        if method.fixed_sizes.is_some() {
            self.fixed_latency_sample_every()
        } else {
            self.latency_sample_every()
        }
    }

    /// Registers (or with `None` removes) the host's log callback (what
    /// `{prefix}_proto2ffi_set_log_sink` does). Records are delivered on a
    /// thread of the library, one at a time, in order.
    pub(crate) fn set_log_sink(
        &self,
        callback: Option<crate::observe::log::LogFn>,
        context: *mut std::ffi::c_void,
    ) {
        if callback.is_some() {
            self.state.switches.raise();
        }
        self.state.logs.set_sink(callback, context);
    }

    /// Whether a rate limit or log sink may be on (see `switches`).
    #[inline(always)]
    pub(crate) fn switches(&self) -> &crate::sys::switches::Switches {
        &self.state.switches
    }

    /// The symbol prefix.
    pub const fn prefix(&self) -> &'static str {
        self.registry.prefix
    }

    /// Runs the init function exactly once (panics are caught and kept as the
    /// init error). Later calls return the first outcome.
    pub fn ensure_init(&self) -> Result<(), Status> {
        if self.registry.init_state.load(Ordering::Acquire) == INIT_OK {
            return Ok(());
        }
        self.registry.init_once.call_once(|| {
            // Before the user's init, so a hook the user installs there wins.
            crate::error::panic::install_hook();
            self.state
                .started_ns
                .store(crate::sys::clock::now_ns(), Ordering::Relaxed);
            let outcome = match catch_unwind(self.registry.init_fn) {
                Ok(r) => r,
                Err(p) => Err(Status::internal(format!(
                    "init panicked: {}",
                    crate::error::panic::message(p)
                ))),
            };
            let state = match outcome {
                Ok(()) => INIT_OK,
                Err(e) => {
                    *self.registry.init_error.lock() = Some(e);
                    INIT_FAILED
                }
            };
            self.registry.init_state.store(state, Ordering::Release);
        });
        match self.registry.init_error.lock().as_ref() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Whether init has run (successfully or not).
    pub fn is_initialized(&self) -> bool {
        self.registry.init_state.load(Ordering::Acquire) != INIT_NOT_RUN
    }

    /// The init failure, if init ran and failed.
    pub fn init_error(&self) -> Option<String> {
        self.registry
            .init_error
            .lock()
            .as_ref()
            .map(|s| s.to_string())
    }

    /// Milliseconds since init ran (0 before).
    pub fn uptime_ms(&self) -> u64 {
        match self.state.started_ns.load(Ordering::Relaxed) {
            0 => 0,
            t => crate::sys::clock::now_ns().saturating_sub(t) / 1_000_000,
        }
    }

    /// Library-wide byte limits (`0` = the 4 MiB defaults); services and
    /// methods override them.
    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// Whether internal errors reach the caller: a panic's message, and the
    /// message of an `INTERNAL` status a handler returns (with the detail of
    /// [`Status::internal_sanitized`]). Either way they go to the library's
    /// logs with an incident id the caller also gets. Default: exposed in
    /// debug builds of the library, sanitized in release builds (the text may
    /// hold secrets or internals).
    pub fn set_expose_internal_errors(&self, expose: bool) {
        self.config.expose_internal.store(expose, Ordering::Relaxed);
    }

    /// See [`Library::set_expose_internal_errors`].
    pub fn exposes_internal_errors(&self) -> bool {
        self.config.expose_internal.load(Ordering::Relaxed)
    }

    /// This library's logs: sink, filter, dropped records (see `crate::observe::log`).
    pub(crate) fn logs(&self) -> &crate::observe::log::Logs {
        &self.state.logs
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u64 {
        self.state.admission.in_flight()
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.state.admission.is_shutting_down()
    }

    /// Stops admitting calls (they get `UNAVAILABLE`) and waits up to
    /// `timeout` for calls in flight — async calls and streams included;
    /// returns whether everything drained. Async calls and streams still
    /// running at the timeout are completed with `UNAVAILABLE` and their
    /// futures dropped at their next `.await`.
    ///
    /// Called from a completion callback, it does not wait for the call
    /// being completed (whose task is waiting for the callback to return).
    /// A call admitted before the shutdown but not yet registered when the
    /// stragglers were cancelled is refused when it registers.
    pub fn shutdown(&self, timeout: std::time::Duration) -> bool {
        if self.state.admission.is_forked() {
            // Refusing everything already; nothing here will ever drain.
            return true;
        }
        let own = crate::policy::admission::OwnTicket::held(&self.state.admission);
        let drained = self.state.admission.shutdown_holding(timeout, own);
        if !drained {
            self.state.calls.close();
        }
        // In-flight calls could still ask the host while draining; now
        // nothing will wait for an answer.
        self.state.hosts.close();
        drained
    }

    /// Runs this library's async handlers and server streams on `executor`
    /// instead of the default (a tokio runtime the library builds on first
    /// use, with the `tokio` feature). Call it before the first async call,
    /// e.g. from the init function; `FAILED_PRECONDITION` once an executor
    /// is in place.
    pub fn set_executor(
        &self,
        executor: impl crate::library::executor::Executor,
    ) -> Result<(), ConfigError> {
        self.config
            .executor
            .set(Ok(Box::new(executor)))
            .map_err(|_| {
                ConfigError::too_late(
                    "this library already has an executor (set it before the first async call)",
                )
            })
    }

    /// The executor of async calls (made on first use).
    pub(crate) fn executor(&self) -> Result<&dyn crate::library::executor::Executor, Status> {
        match self
            .config
            .executor
            .get_or_init(|| crate::library::executor::default_executor(self.registry.prefix))
        {
            Ok(e) => Ok(&**e),
            Err(e) => Err(Status::failed_precondition(e.clone())),
        }
    }

    /// Runs the sync handlers that callers await (each sync method's
    /// `*_start` entry point, Dart's `…Async`) on at most `threads` threads
    /// of this library (at least 1; by default one per core, at least 4 and
    /// at most 16). Calls beyond it wait in a queue, their deadlines
    /// running. Raise it for handlers that block on I/O; a handler that
    /// waits for another awaited call of the same library can deadlock a
    /// pool that is full of such handlers.
    /// Threads start when needed and exit after 10 s without work.
    pub fn set_sync_threads(&self, threads: usize) {
        self.state.workers.set_max_threads(threads)
    }

    /// The most threads sync handlers awaited by their callers run on.
    pub fn sync_threads(&self) -> usize {
        self.state.workers.max_threads()
    }

    /// Async calls and streams not completed yet.
    pub fn async_calls(&self) -> usize {
        self.state.calls.len()
    }

    /// Calls into the host's implementations waiting for an answer.
    pub fn host_calls(&self) -> usize {
        self.state.hosts.len()
    }

    /// Cancels an async call or stream by id (see the `cancel` export):
    /// whether it was live and is now completed with `CANCELLED`.
    pub fn cancel(&self, call_id: u64) -> bool {
        self.state.calls.cancel(
            call_id,
            Status::cancelled(format!("call {call_id} was cancelled by the caller")),
        )
    }

    /// Admits calls again after a shutdown (for hosts that restart a library).
    pub fn resume(&self) {
        self.state.calls.reopen();
        self.state.hosts.reopen();
        self.state.admission.resume()
    }

    /// Sets the health flag, with a reason shown while unhealthy.
    pub fn set_healthy(&self, healthy: bool, reason: impl Into<String>) {
        *self.config.reason.lock() = reason.into();
        self.config.healthy.store(healthy, Ordering::Release);
    }

    /// Registers a check run on every health query (replacing any earlier
    /// one). A panicking check reports unhealthy with the panic message.
    pub fn set_health_check(&self, check: impl Fn() -> Result<(), String> + Send + Sync + 'static) {
        *self.config.check.write() = Some(Box::new(check));
    }

    /// The reasons this library is unhealthy, from its flag and its check.
    pub(crate) fn user_health(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if !self.config.healthy.load(Ordering::Acquire) {
            let r = self.config.reason.lock().clone();
            reasons.push(if r.is_empty() {
                "marked unhealthy".to_string()
            } else {
                r
            });
        }
        if let Some(check) = self.config.check.read().as_ref() {
            match catch_unwind(AssertUnwindSafe(check)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => reasons.push(format!("health check failed: {e}")),
                Err(p) => reasons.push(format!(
                    "health check panicked: {}",
                    crate::error::panic::message(p)
                )),
            }
        }
        reasons
    }

    /// Makes a service visible to metrics and health (idempotent).
    pub(crate) fn announce(&self, service: &'static ServiceDef) {
        let mut list = self.registry.services.lock();
        if !list.iter().any(|s| std::ptr::eq(*s, service)) {
            list.push(service);
        }
    }

    /// Makes a schema-declared pool visible to metrics (called once, when
    /// its slab is made).
    pub(crate) fn announce_pool(&self, pool: &'static dyn crate::library::pools::PoolReport) {
        self.registry.pools.lock().push(pool);
    }

    /// Counters of this library's pools that have been used, in the order
    /// of first use.
    pub fn pools(&self) -> Vec<crate::library::pools::FixedPoolStats> {
        self.registry
            .pools
            .lock()
            .iter()
            .map(|p| p.stats())
            .collect()
    }

    /// Every service of this library that was registered or called.
    pub fn services(&self) -> Vec<&'static ServiceDef> {
        self.registry.services.lock().clone()
    }

    /// Names of the registered services.
    pub(crate) fn registered_names(&self) -> Vec<String> {
        self.services()
            .into_iter()
            .filter(|s| s.is_registered())
            .map(|s| s.name.to_string())
            .collect()
    }
}

/// One service of a library.
#[derive(Debug)]
pub struct ServiceDef {
    /// Name (the proto full name, or the trait name when hand-written).
    pub name: &'static str,
    /// Schema fingerprint, exported as `{prefix}_proto2ffi_fingerprint_{service}`.
    pub fingerprint: u64,
    /// The library this service belongs to.
    pub library: &'static Library,
    /// Service-level byte limits (`0` inherits the library's).
    pub limits: Limits,
    /// Service-wide rate limit shared by all of its methods.
    pub rate: RateLimiter,
    /// The methods, in declaration order.
    pub methods: &'static [MethodDef],
    registered: AtomicBool,
}

impl ServiceDef {
    /// A service definition (used by generated code in a `static`).
    pub const fn new(
        name: &'static str,
        fingerprint: u64,
        library: &'static Library,
        limits: Limits,
        rate: Option<RateLimit>,
        methods: &'static [MethodDef],
    ) -> ServiceDef {
        ServiceDef {
            name,
            fingerprint,
            library,
            limits,
            rate: RateLimiter::new(rate),
            methods,
            registered: AtomicBool::new(false),
        }
    }

    /// Whether an implementation is registered.
    pub fn is_registered(&self) -> bool {
        self.registered.load(Ordering::Acquire)
    }

    /// A method by name.
    pub fn method(&self, name: &str) -> Option<&'static MethodDef> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// Called by the generated `register_*` before the implementation
    /// becomes visible to calls: attaches the service's and its methods'
    /// rate limiters to the library, so that a limit on, declared in the
    /// schema or set at any time, raises the library's switches flag (and
    /// the fixed-layout lean path checks it).
    pub fn prepare(&'static self) {
        self.library.list_for_fork();
        self.rate.attach(self.library.switches());
        for m in self.methods {
            m.rate.attach(self.library.switches());
        }
    }

    /// Marks the service as registered (called by the generated `register_*`).
    pub fn register(&'static self) {
        self.registered.store(true, Ordering::Release);
        self.library.announce(self);
    }
}
/// One method of a service, of any [`proto2ffi_core::MethodKind`]: what
/// the guard checks and counts for it.
/// One unary method.
#[derive(Debug)]
pub struct MethodDef {
    /// Name (the proto RPC name, or the Rust method name when hand-written).
    pub name: &'static str,
    /// Its exported symbol.
    pub symbol: &'static str,
    /// Method-level byte limits (`0` inherits the service's).
    pub limits: Limits,
    /// Method-level rate limit.
    pub rate: RateLimiter,
    /// Per-client rate limit, keyed by a request field.
    pub keyed: LazyKeyed,
    /// Counters (in their own zero-initialised static, see the macro).
    pub metrics: &'static MethodMetrics,
    /// The request type's shape, for the decode budget (generated services).
    pub request_shape: Option<&'static crate::policy::shape::Shape>,
    /// For a fixed-layout method, the request and response struct sizes:
    /// its successful calls count no bytes (the fast path adds one
    /// counter, not three), and [`MethodDef::snapshot`] adds these per
    /// successful call.
    pub fixed_sizes: Option<(u32, u32)>,
    /// Set once a decoded request kept a `bytes::Bytes` field: requests are
    /// then decoded with copies, not lent the caller's bytes
    /// ([`crate::policy::request_buf`]).
    pub(crate) retains_bytes: AtomicBool,
}

impl MethodDef {
    /// A method definition (used by generated code in a `static`).
    pub const fn new(
        name: &'static str,
        symbol: &'static str,
        limits: Limits,
        rate: Option<RateLimit>,
        keyed: Option<(RateLimit, usize)>,
        metrics: &'static MethodMetrics,
    ) -> MethodDef {
        MethodDef {
            name,
            symbol,
            limits,
            rate: RateLimiter::new(rate),
            keyed: LazyKeyed::new(keyed),
            metrics,
            request_shape: None,
            fixed_sizes: None,
            retains_bytes: AtomicBool::new(false),
        }
    }

    /// The same definition for a fixed-layout method with these request
    /// and response struct sizes.
    pub const fn with_fixed_sizes(mut self, request: usize, response: usize) -> MethodDef {
        self.fixed_sizes = Some((request as u32, response as u32));
        self
    }

    /// The method's metrics now, with the bytes of successful fixed-layout
    /// calls (their struct sizes) included.
    pub fn snapshot(&self) -> crate::observe::metrics::Snapshot {
        let mut s = self.metrics.snapshot();
        if let Some((request, response)) = self.fixed_sizes {
            let ok = s.codes[crate::Code::Ok as usize];
            s.bytes_in += ok * u64::from(request);
            s.bytes_out += ok * u64::from(response);
        }
        s
    }

    /// The same definition with the request's shape, so that requests are
    /// checked against the decode budget before decoding.
    pub const fn with_request_shape(
        mut self,
        shape: &'static crate::policy::shape::Shape,
    ) -> MethodDef {
        self.request_shape = Some(shape);
        self
    }
}

/// The fork rule: a library used before `fork()` is shut down for good in
/// the child. Only the forking thread survives a fork; the library's other
/// threads (executor, deadline timer, log delivery) are gone, and any lock
/// one of them held stays locked in the child forever. So a
/// `pthread_atfork` child handler marks every library that registered a
/// service as forked: calls are refused with `UNAVAILABLE` at admission
/// (no lock taken, no hot-path cost: the shutdown flag they already read),
/// its logs are switched off, and the library-wide exports answer
/// `UNAVAILABLE` before touching a lock. A child that wants the library
/// execs a new process (or loads a library it never used before forking).
mod fork {
    use super::Library;
    use std::sync::atomic::{AtomicPtr, Ordering};

    /// Libraries that registered a service: a lock-free list through
    /// `Library::fork_next` (libraries are statics, never freed).
    pub(super) static LIBRARIES: AtomicPtr<Library> = AtomicPtr::new(std::ptr::null_mut());

    /// Installs the child handler once per process.
    pub(super) fn install() {
        #[cfg(unix)]
        {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                // SAFETY: registers a child handler that only loads and
                // stores atomics (async-signal-safe, as a child handler must
                // be), and a prepare handler that runs in the parent.
                // Failure (ENOMEM) leaves forked children unprotected, as
                // before this rule.
                let _ = unsafe { libc::pthread_atfork(Some(prepare), None, Some(child)) };
            });
        }
    }

    /// Runs in the parent just before a fork: one-time initialisations the
    /// child's refusal path goes through (the clock) are finished, not left
    /// half done by a thread that will not exist in the child.
    #[cfg(unix)]
    extern "C" fn prepare() {
        crate::sys::clock::ready();
    }

    /// Marks every listed library as forked (runs in the child).
    #[cfg(unix)]
    extern "C" fn child() {
        crate::abi::buffer::forget_pool_after_fork();
        let mut next = LIBRARIES.load(Ordering::Acquire);
        while !next.is_null() {
            // SAFETY: listed libraries are `'static`.
            let library = unsafe { &*next };
            library.state.admission.mark_forked();
            library.state.logs.disable();
            next = library.state.fork_next.load(Ordering::Acquire);
        }
    }
}
