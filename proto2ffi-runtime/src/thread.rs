//! Everything the runtime keeps per thread, in one thread-local block.
//!
//! In a `cdylib` every thread-local access is a call to `__tls_get_addr`
//! (the general-dynamic TLS model); the guard used seven of them per call
//! (shard, call counter, panic scope ×4, buffer slot). Now it looks the
//! block up once per call and hands the reference down ([`with`]); freeing
//! a buffer costs one more.

use crate::admission::{Claim, Shard};
use crate::thread_table;
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
/// The state is found through [`thread_table`] (a few loads) once the
/// thread has registered it, else through the thread-local (which
/// registers it).
///
/// `f` has exactly one call site, so the compiler inlines the whole guard
/// into each entry point (calling it from both arms of the lookup made it
/// an out-of-line function, measured at +7–30 ns a call).
#[inline]
pub fn with<R>(f: impl FnOnce(Option<&ThreadState>) -> R) -> R {
    let state = if thread_table::SUPPORTED {
        match thread_table::lookup() {
            Some(p) => Some(p),
            None => lookup_slow(),
        }
    } else {
        STATE.try_with(|t| t as *const ThreadState).ok()
    };
    // SAFETY: the pointer is this thread's live `STATE`: from `try_with`
    // just now, or from the table, which only returns a state its own
    // thread registered and has not yet started to destroy (see
    // `thread_table`). It is used only on this thread, inside `f`. A
    // thread-local is destroyed only when its thread exits, one destructor
    // at a time: never while `f` runs (if we are inside another local's
    // destructor, `STATE` is either still alive for the whole of `f` or
    // `try_with` said `None`).
    f(state.map(|p| unsafe { &*p }))
}

/// The thread-local lookup, which also registers the state in the table.
#[cold]
#[inline(never)]
fn lookup_slow() -> Option<*const ThreadState> {
    #[cfg(test)]
    tests::SLOW_LOOKUPS.with(|n| n.set(n.get() + 1));
    let p = STATE.try_with(|t| t as *const ThreadState).ok()?;
    thread_table::register(p);
    Some(p)
}

impl Drop for ThreadState {
    fn drop(&mut self) {
        // Before anything else is torn down: from now on this thread finds
        // its state through `try_with`, which reports it gone.
        thread_table::unregister();
    }
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

    thread_local! {
        /// Lookups that missed the table, on this thread.
        pub(super) static SLOW_LOOKUPS: Cell<u32> = const { Cell::new(0) };
    }

    /// What `with` finds on a new thread, against the thread-local itself:
    /// its thread pointer if right. The first lookup must miss the table: a
    /// hit would be a slot left by a thread that had this thread pointer
    /// before (its state freed, or this one's not yet initialised). Reports
    /// instead of panicking, so that a forked child can use it.
    fn this_thread_ok() -> Option<usize> {
        with(|t| t.is_some()).then_some(())?;
        if thread_table::SUPPORTED && SLOW_LOOKUPS.with(Cell::get) != 1 {
            return None;
        }
        let local = STATE.try_with(|t| t as *const ThreadState).ok()?;
        for _ in 0..3 {
            if with(|t| t.map(|t| t as *const ThreadState)) != Some(local) {
                return None;
            }
        }
        Some(thread_table::thread_pointer())
    }

    fn check_this_thread() -> usize {
        this_thread_ok().expect("a thread found a state that was not its own")
    }

    #[test]
    fn each_thread_finds_its_own_state_even_where_a_dead_one_lived() {
        // Threads one after another reuse the same stack, and so the same
        // thread pointer: a slot left behind by a finished thread would
        // hand its freed state to the next one.
        let mut pointers = Vec::new();
        for _ in 0..200 {
            pointers.push(std::thread::spawn(check_this_thread).join().unwrap());
        }
        if thread_table::SUPPORTED {
            pointers.sort_unstable();
            pointers.dedup();
            assert!(pointers.len() < 200, "no thread pointer was reused");
        }
    }

    #[test]
    fn concurrent_threads_find_their_own_state() {
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    check_this_thread();
                    let own = STATE.try_with(|t| t as *const ThreadState).unwrap();
                    for _ in 0..1000 {
                        assert_eq!(with(|t| t.map(|t| t as *const ThreadState)), Some(own));
                    }
                });
            }
        });
    }

    #[test]
    #[cfg_attr(miri, ignore = "miri cannot fork")]
    fn a_forked_child_forgets_its_parents_threads() {
        // Threads registered in the parent stay alive across the fork; in
        // the child they are gone and new threads may take their control
        // blocks (and thread pointers).
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let done_rx = std::sync::Arc::new(std::sync::Mutex::new(done_rx));
        let parents: Vec<_> = (0..8)
            .map(|_| {
                let (ready, done) = (ready_tx.clone(), done_rx.clone());
                std::thread::spawn(move || {
                    ready.send(check_this_thread()).unwrap();
                    let _ = done.lock().unwrap().recv();
                })
            })
            .collect();
        let parent_pointers: Vec<usize> = (0..8).map(|_| ready_rx.recv().unwrap()).collect();
        // SAFETY: the child only spawns threads, runs the checks and exits
        // with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let mut reused = false;
            let mut ok = true;
            for _ in 0..64 {
                match std::thread::spawn(this_thread_ok).join() {
                    Ok(Some(tp)) => reused |= parent_pointers.contains(&tp),
                    _ => ok = false,
                }
            }
            // Without reuse the check proves nothing.
            let code = if !ok {
                1
            } else if reused || !thread_table::SUPPORTED {
                0
            } else {
                2
            };
            // SAFETY: ends the child without running the parent's exit code.
            unsafe { libc::_exit(code) };
        }
        // A child that hangs (e.g. on a lock another thread held at the
        // fork) fails the test instead of hanging it.
        let mut status = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            // SAFETY: polls the child forked above.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break;
            }
            if std::time::Instant::now() > deadline {
                // SAFETY: kills and reaps our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                panic!("the forked child hung");
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(done_tx);
        for p in parents {
            p.join().unwrap();
        }
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        match libc::WEXITSTATUS(status) {
            0 => {}
            2 => panic!("no parent thread pointer was reused in the child"),
            _ => panic!("a thread in the forked child found a state that was not its own"),
        }
    }
}
