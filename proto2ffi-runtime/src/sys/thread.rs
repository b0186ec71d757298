//! Everything the runtime keeps per thread, in one thread-local block.
//!
//! In a `cdylib` every thread-local access is a call to `__tls_get_addr`
//! (the general-dynamic TLS model); the guard used seven of them per call
//! (shard, call counter, panic scope ×4, buffer slot). Now it looks the
//! block up once per call and hands the reference down ([`with`]); freeing
//! a buffer costs one more.
//!
//! The block is a plain `thread_local!`, found through the standard lookup
//! only. (A table keyed by the thread pointer once skipped
//! `__tls_get_addr`; a thread whose first call came from a pthread-key
//! destructor, after its locals were destroyed, left a slot behind that
//! handed its freed block to the next thread with the same thread pointer.
//! Its gain was a nanosecond or two on i686, within noise on x86_64.)

use crate::sys::shard::{Claim, Shard};
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
/// are being destroyed, or already were (a call from another thread-local's
/// or a pthread key's destructor): then callers fall back to shared state.
///
/// `f` has exactly one call site, so the compiler inlines the whole guard
/// into each entry point (calling it from two arms of a lookup made it an
/// out-of-line function, measurably slower per call).
#[inline]
pub fn with<R>(f: impl FnOnce(Option<&ThreadState>) -> R) -> R {
    let state = STATE.try_with(|t| t as *const ThreadState).ok();
    // SAFETY: the pointer is this thread's live `STATE`, from `try_with`
    // just now. It is used only on this thread, inside `f`. A thread-local
    // is destroyed only when its thread exits, one destructor at a time:
    // never while `f` runs (if we are inside another local's destructor,
    // `STATE` is either still alive for the whole of `f` or `try_with`
    // said `None`).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `with` finds this thread's own state, three times running.
    fn finds_its_own() -> bool {
        let Ok(local) = STATE.try_with(|t| t as *const ThreadState) else {
            return false;
        };
        (0..3).all(|_| with(|t| t.map(|t| t as *const ThreadState)) == Some(local))
    }

    #[test]
    fn each_thread_finds_its_own_state() {
        for _ in 0..50 {
            assert!(std::thread::spawn(finds_its_own).join().unwrap());
        }
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| assert!((0..100).all(|_| finds_its_own())));
            }
        });
    }

    #[test]
    #[cfg_attr(miri, ignore = "miri has no pthread keys with destructors")]
    fn threads_after_a_first_use_from_a_key_destructor_find_their_own_state() {
        // A thread whose first use comes after its locals were destroyed
        // (a pthread key's destructor runs after them) gets a state that is
        // never freed (std's thread_local! after teardown); the threads
        // after it, reusing its stack and thread pointer, must each find
        // their own (a lookup keyed by the thread pointer did not).
        static KEY: std::sync::OnceLock<libc::pthread_key_t> = std::sync::OnceLock::new();
        unsafe extern "C" fn late(_: *mut libc::c_void) {
            with(|t| t.map(ThreadState::next_call));
        }
        let key = *KEY.get_or_init(|| {
            let mut key = 0;
            // SAFETY: creates a key with a destructor that only uses `with`.
            assert_eq!(unsafe { libc::pthread_key_create(&mut key, Some(late)) }, 0);
            key
        });
        for _ in 0..20 {
            std::thread::spawn(move || {
                // SAFETY: a non-NULL value makes the destructor run at exit.
                unsafe { libc::pthread_setspecific(key, std::ptr::dangling::<libc::c_void>()) };
            })
            .join()
            .unwrap();
            assert!(std::thread::spawn(finds_its_own).join().unwrap());
        }
    }
}
