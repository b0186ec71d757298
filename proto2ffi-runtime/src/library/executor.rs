//! Where async handlers and server streams run.
//!
//! A library runs its futures on an [`Executor`]: by default (feature
//! `tokio`, on by default) a multi-thread tokio runtime the library builds
//! on its first async call, with `min(available cores, 4)` workers named
//! `{prefix}-async`, so handlers may use tokio's timers, and its I/O
//! (`tokio::net`, HTTP clients built on it) when their crate enables
//! tokio's `net` feature. A library
//! that already has a runtime, or uses another one, hands it over with
//! [`crate::Library::set_executor`] before the first async call (from its
//! init function, say): anything that can spawn a `Send` future works.

use std::future::Future;
use std::pin::Pin;

/// A boxed future the executor drives to completion.
pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Spawns the library's futures. The runtime wraps every call in a task
/// that completes it exactly once, also when the executor drops the task
/// unpolled (the call then completes with `CANCELLED`).
pub trait Executor: Send + Sync + 'static {
    /// Runs `task` to completion in the background; must not block.
    fn spawn(&self, task: Task);

    /// Runs `f` on the calling thread inside the executor's context, so a
    /// handler's first poll (made inline by `*_start`, see
    /// `crate::call::calls`) can use the executor's timers and spawn tasks.
    /// The default runs `f` as is. An executor that cannot enter its
    /// context on this thread (the thread is exiting and its locals are
    /// gone) may return without calling `f`, or panic: the task is then
    /// handed to [`Executor::spawn`] unpolled.
    fn run_inline(&self, f: &mut dyn FnMut()) {
        f()
    }
}

impl<F: Fn(Task) + Send + Sync + 'static> Executor for F {
    fn spawn(&self, task: Task) {
        self(task)
    }
}

/// A tokio runtime handle as an executor (`Library::set_executor(handle)`).
#[cfg(feature = "tokio")]
impl Executor for tokio::runtime::Handle {
    fn spawn(&self, task: Task) {
        drop(tokio::runtime::Handle::spawn(self, task));
    }

    fn run_inline(&self, f: &mut dyn FnMut()) {
        if !tokio_context_gone() {
            let _context = self.enter();
            f()
        }
    }
}

/// Whether this thread's tokio context was destroyed (a call from a thread
/// that is exiting): `enter` would panic.
#[cfg(feature = "tokio")]
fn tokio_context_gone() -> bool {
    matches!(tokio::runtime::Handle::try_current(), Err(e) if e.is_thread_local_destroyed())
}

/// The runtime a library builds for itself, kept in the library's static
/// for the life of the process.
#[cfg(feature = "tokio")]
struct OwnedRuntime(tokio::runtime::Runtime);

#[cfg(feature = "tokio")]
impl Executor for OwnedRuntime {
    fn spawn(&self, task: Task) {
        drop(self.0.spawn(task));
    }

    fn run_inline(&self, f: &mut dyn FnMut()) {
        if !tokio_context_gone() {
            let _context = self.0.enter();
            f()
        }
    }
}

/// The default executor: a tokio multi-thread runtime owned by the library.
#[cfg(feature = "tokio")]
pub(crate) fn default_executor(prefix: &str) -> Result<Box<dyn Executor>, String> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(format!("{prefix}-async"))
        // Timers always; tokio's I/O driver whenever the build has tokio's
        // `net`, `process` or `signal` (features unify: a library that
        // uses `tokio::net` in a handler turns them on) — `enable_all`
        // enables exactly what was compiled in.
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the async runtime: {e}"))?;
    Ok(Box::new(OwnedRuntime(runtime)))
}

/// Without tokio there is no default: the library must set one.
#[cfg(not(feature = "tokio"))]
pub(crate) fn default_executor(_prefix: &str) -> Result<Box<dyn Executor>, String> {
    Err(
        "no executor: this library is built without proto2ffi's `tokio` feature; \
         call Library::set_executor from its init function"
            .to_string(),
    )
}
