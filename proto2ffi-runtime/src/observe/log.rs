//! Logs the host can see: `tracing` records of a library delivered to a
//! callback the host registered, through a bounded queue.
//!
//! With no sink registered nothing is recorded, printed or queued, and a call
//! pays one relaxed load. With a sink, each call runs inside the library's
//! own `tracing` dispatcher (so two libraries in one artifact keep their logs
//! apart, and a host's global subscriber is not disturbed) in a `call` span
//! (`service`, `method`, `call`); events at or under the filter (`RUST_LOG`
//! syntax without regexes: `info,my_crate=debug`, see `log/filter.rs`) are
//! formatted by the library's own subscriber (`log/subscriber.rs`) and pushed
//! onto a queue of [`QUEUE_CAPACITY`] records. A delivery thread hands them
//! to the callback; when the queue is full, records are dropped and counted
//! (`log_records_dropped` in the metrics) — a handler never blocks on logging.
//! `log`-crate records are bridged into `tracing` once per process.

use crossbeam_queue::ArrayQueue;
use parking_lot::{ReentrantMutex, RwLock};
use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tracing::{Dispatch, Level};

pub(crate) mod filter;
pub(crate) mod subscriber;

use filter::Filter;

/// Records waiting for delivery at most; more are dropped and counted.
pub(crate) const QUEUE_CAPACITY: usize = 1024;

/// The filter until the host sets one.
pub(crate) const DEFAULT_FILTER: &str = "info";

/// One log record handed to the host: `<prefix>_log_record` in the header.
/// The strings are NUL-terminated UTF-8 owned by the record; release it
/// exactly once with `<prefix>_proto2ffi_log_record_free`.
#[repr(C)]
#[derive(Debug)]
pub struct LogRecord {
    /// 1 error, 2 warn, 3 info, 4 debug, 5 trace.
    pub level: i32,
    /// Reserved, 0.
    pub reserved: u32,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The module path or target that logged it.
    pub target: *const c_char,
    /// The message.
    pub message: *const c_char,
    /// Structured fields, `key=value` separated by spaces (span fields first).
    pub fields: *const c_char,
}

// The header's `{prefix}_log_record`, field for field, on this target.
const _: () = assert!(proto2ffi_core::c_structs::LOG_RECORD.matches_target(
    size_of::<LogRecord>(),
    align_of::<LogRecord>(),
    &[
        std::mem::offset_of!(LogRecord, level),
        std::mem::offset_of!(LogRecord, reserved),
        std::mem::offset_of!(LogRecord, timestamp_ms),
        std::mem::offset_of!(LogRecord, target),
        std::mem::offset_of!(LogRecord, message),
        std::mem::offset_of!(LogRecord, fields),
    ],
));

/// The record and the bytes its strings point into (one allocation each).
///
/// The bytes are held as a raw pointer, not a `Box`: moving a `Box` asserts
/// that it is the only way to its bytes, which would invalidate the
/// record's pointers into them (Miri's Stacked Borrows reports it).
#[repr(C)]
pub(crate) struct OwnedRecord {
    record: LogRecord,
    /// From `Box::<[u8]>::into_raw`; freed by `Drop`.
    storage: std::ptr::NonNull<[u8]>,
}

// SAFETY: the pointers point into `storage`, owned by the same value and
// never shared elsewhere: moving the record between threads moves both.
unsafe impl Send for OwnedRecord {}

impl Drop for OwnedRecord {
    fn drop(&mut self) {
        // SAFETY: `storage` came from `Box::into_raw` and is freed once,
        // here; the record's pointers into it die with the record.
        drop(unsafe { Box::from_raw(self.storage.as_ptr()) });
    }
}

impl OwnedRecord {
    pub(crate) fn new(level: i32, target: &str, message: &str, fields: &str) -> Box<OwnedRecord> {
        let mut storage = Vec::with_capacity(target.len() + message.len() + fields.len() + 3);
        let mut offsets = [0usize; 3];
        for (i, s) in [target, message, fields].into_iter().enumerate() {
            offsets[i] = storage.len();
            // Interior NULs would cut the string short for C: replace them.
            storage.extend(s.bytes().map(|b| if b == 0 { b'?' } else { b }));
            storage.push(0);
        }
        let storage = std::ptr::NonNull::from(Box::leak(storage.into_boxed_slice()));
        let base = storage.as_ptr().cast::<u8>().cast_const();
        let timestamp_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Box::new(OwnedRecord {
            record: LogRecord {
                level,
                reserved: 0,
                timestamp_ms,
                // SAFETY: offsets are within `storage`, which nothing moves
                // or reborrows until `Drop`.
                target: unsafe { base.add(offsets[0]) }.cast(),
                // SAFETY: as `target`'s.
                message: unsafe { base.add(offsets[1]) }.cast(),
                // SAFETY: as `target`'s.
                fields: unsafe { base.add(offsets[2]) }.cast(),
            },
            storage,
        })
    }
}

/// Releases a record delivered to the host.
///
/// # Safety
/// `record` is NULL or a record this library delivered and not freed since.
pub(crate) unsafe fn free_record(record: *mut LogRecord) {
    if !record.is_null() {
        // SAFETY: delivered records are `Box<OwnedRecord>` whose first field
        // (repr(C)) is the `LogRecord`.
        drop(unsafe { Box::from_raw(record.cast::<OwnedRecord>()) });
    }
}

/// The host's callback: `void (*)(void *context, <prefix>_log_record *record)`.
/// It owns `record` and must free it with `<prefix>_proto2ffi_log_record_free`.
pub type LogFn = unsafe extern "C" fn(context: *mut c_void, record: *mut LogRecord);

#[derive(Clone, Copy)]
struct Sink {
    callback: LogFn,
    context: usize,
}

pub(crate) struct Shared {
    pub(crate) queue: ArrayQueue<Box<OwnedRecord>>,
    pub(crate) dropped: AtomicU64,
    /// The sink, held by the delivery thread for the whole of each
    /// callback: replacing or removing it waits for a callback in progress,
    /// so once `set_sink` returns the old sink is never called again.
    /// Reentrant: the callback itself may replace or remove the sink.
    sink: ReentrantMutex<Cell<Option<Sink>>>,
    pub(crate) worker: OnceLock<std::thread::Thread>,
}

struct Active {
    dispatch: Dispatch,
    filter: Arc<RwLock<Filter>>,
    shared: Arc<Shared>,
}

/// A library's log state (see the module docs).
pub(crate) struct Logs {
    enabled: AtomicBool,
    active: OnceLock<Active>,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logs")
            .field("enabled", &self.is_enabled())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Default for Logs {
    fn default() -> Self {
        Self::new()
    }
}

impl Logs {
    /// No sink.
    pub(crate) const fn new() -> Logs {
        Logs {
            enabled: AtomicBool::new(false),
            active: OnceLock::new(),
        }
    }

    /// Whether a sink is registered.
    #[inline]
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// The dispatcher calls run in while a sink is registered.
    #[inline]
    pub(crate) fn dispatch(&self) -> Option<&Dispatch> {
        if self.is_enabled() {
            self.active.get().map(|a| &a.dispatch)
        } else {
            None
        }
    }

    /// Stops recording (a forked child, whose delivery thread is gone):
    /// one atomic store.
    pub(crate) fn disable(&self) {
        self.enabled.store(false, Ordering::Relaxed);
    }

    /// Records dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.active
            .get()
            .map_or(0, |a| a.shared.dropped.load(Ordering::Relaxed))
    }

    fn active(&self) -> &Active {
        self.active.get_or_init(|| {
            bridge_log_crate();
            keep_interest_global();
            let shared = Arc::new(Shared {
                queue: ArrayQueue::new(QUEUE_CAPACITY),
                dropped: AtomicU64::new(0),
                sink: ReentrantMutex::new(Cell::new(None)),
                worker: OnceLock::new(),
            });
            let filter = Filter::parse(DEFAULT_FILTER).expect("the default filter parses");
            let filter = Arc::new(RwLock::new(filter));
            let subscriber = subscriber::QueueSubscriber::new(filter.clone(), shared.clone());
            Active {
                dispatch: Dispatch::new(subscriber),
                filter,
                shared,
            }
        })
    }

    /// Registers (or with `None` removes) the host's callback. Records are
    /// delivered on a thread of the library, one at a time, in order.
    /// Returns once the sink it replaced will never be called again (after
    /// a callback of it in progress on another thread returned; from inside
    /// the callback itself, at once). Reached through
    /// [`crate::Library::set_log_sink`], which also tells the library's fast
    /// paths that a sink may be on.
    pub(crate) fn set_sink(&self, callback: Option<LogFn>, context: *mut c_void) {
        let active = self.active();
        active.shared.sink.lock().set(callback.map(|callback| Sink {
            callback,
            context: context as usize,
        }));
        if callback.is_some() {
            let shared = active.shared.clone();
            active.shared.worker.get_or_init(|| {
                std::thread::Builder::new()
                    .name("proto2ffi-logs".into())
                    .spawn(move || deliver(&shared))
                    .expect("spawn the log delivery thread")
                    .thread()
                    .clone()
            });
        }
        self.enabled.store(callback.is_some(), Ordering::Release);
    }

    /// Sets the filter (syntax in `log/filter.rs`: `warn`, `info,my_crate=debug`).
    pub(crate) fn set_filter(&self, filter: &str) -> Result<(), String> {
        let parsed =
            Filter::parse(filter).map_err(|e| format!("invalid log filter {filter:?}: {e}"))?;
        *self.active().filter.write() = parsed;
        // Callsites cached their interest under the old filter.
        tracing::callsite::rebuild_interest_cache();
        Ok(())
    }
}

fn deliver(shared: &Shared) {
    loop {
        match shared.queue.pop() {
            Some(record) => {
                // Held across the callback (see `Shared::sink`).
                let sink = shared.sink.lock();
                match sink.get() {
                    Some(s) => {
                        let raw = Box::into_raw(record).cast::<LogRecord>();
                        // SAFETY: the host registered this callback with this
                        // context; the record's ownership passes to it.
                        let delivered = std::panic::catch_unwind(|| unsafe {
                            (s.callback)(s.context as *mut c_void, raw)
                        });
                        drop(delivered);
                    }
                    None => {
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            None => std::thread::park_timeout(std::time::Duration::from_millis(100)),
        }
    }
}

/// `tracing-core` rebuilds callsite interest against the *calling thread's*
/// dispatcher while only one dispatcher is registered; ours is scoped to
/// calls, so a filter change (or a callsite first hit) outside a call would
/// be judged by "no subscriber" and cached as never enabled. A second,
/// permanent (no-op) dispatcher makes every rebuild ask all dispatchers.
fn keep_interest_global() {
    static ANCHOR: OnceLock<Dispatch> = OnceLock::new();
    ANCHOR.get_or_init(|| Dispatch::new(tracing::subscriber::NoSubscriber::default()));
}

/// Bridges the `log` crate into `tracing` (once per process; a no-op when
/// the host already installed a `log` logger).
fn bridge_log_crate() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_log::LogTracer::init();
    });
}

/// The record's level: 1 error … 5 trace.
pub(crate) fn level_number(level: &Level) -> i32 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}
