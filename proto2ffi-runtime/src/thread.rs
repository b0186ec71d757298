//! Everything the runtime keeps per thread, in one thread-local block.
//!
//! In a `cdylib` every thread-local access is a call to `__tls_get_addr`
//! (the general-dynamic TLS model); the guard used seven of them per call
//! (shard, call counter, panic scope ×4, buffer slot). Now it looks the
//! block up once per call and hands the reference down ([`with`]); freeing
//! a buffer costs one more.

use crate::admission::{Claim, Shard};
use std::cell::Cell;

/// The runtime's per-thread state.
pub struct ThreadState {
    /// This thread's metrics/in-flight shard, claimed on first use.
    claim: Claim,
    /// Calls made on this thread (wrapping), for sampled timing.
    calls: Cell<u32>,
    /// Guarded calls this thread is inside (nested calls nest).
    pub(crate) in_guard: Cell<u32>,
    /// Whether a panic inside the current guarded call should be reported.
    pub(crate) capture: Cell<bool>,
    /// One response buffer kept for this thread's next call.
    pub(crate) buffer: Cell<Option<Vec<u8>>>,
}

thread_local! {
    static STATE: ThreadState = ThreadState {
        claim: Claim::new(),
        calls: Cell::new(0),
        in_guard: Cell::new(0),
        capture: Cell::new(false),
        buffer: Cell::new(None),
    };
}

/// Runs `f` with this thread's state, or `None` while the thread's locals
/// are being destroyed (a call from another thread-local's destructor):
/// then callers fall back to shared state.
///
/// `f` has exactly one call site, so the compiler inlines the whole guard
/// into each entry point (calling it from both arms of the lookup made it
/// an out-of-line function, measured at +7–30 ns a call).
#[inline]
pub fn with<R>(f: impl FnOnce(Option<&ThreadState>) -> R) -> R {
    let state: Option<*const ThreadState> = STATE.try_with(|t| t as *const ThreadState).ok();
    // SAFETY: the pointer came from this thread's live `STATE` just now and
    // is used only on this thread, inside `f`. A thread-local is destroyed
    // only when its thread exits, one destructor at a time: never while
    // `f` runs (if we are inside another local's destructor, `STATE` is
    // either still alive for the whole of `f` or `try_with` said `None`).
    f(state.map(|p| unsafe { &*p }))
}

impl ThreadState {
    /// This thread's shard.
    #[inline]
    pub fn shard(&self) -> Shard {
        self.claim.shard()
    }

    /// How many calls this thread made before this one; counts this one.
    #[inline]
    pub fn next_call(&self) -> u32 {
        let n = self.calls.get();
        self.calls.set(n.wrapping_add(1));
        n
    }
}
