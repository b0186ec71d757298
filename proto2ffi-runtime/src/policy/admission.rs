//! Admission: counting a library's calls in flight and graceful shutdown.
//!
//! The in-flight count is sharded per thread (cache-padded, see [`Shard`]),
//! so admitting a call touches no line another core writes. Shutdown raises
//! a flag, then sums the shards until they reach zero. Thread shards are a
//! process-wide numbering of threads; the counters belong to an [`Admission`],
//! one per library. A call publishes its increment, then reads the flag;
//! shutdown raises the flag, then sums: the barrier between each side's
//! write and read is asymmetric where the system allows ([`crate::sys::fence`]:
//! a compiler fence on the call's side, `membarrier` on shutdown's), else a
//! locked read-modify-write — either way a call that saw the flag down had
//! already published its increment, so the shutdown's sum sees it.

use crate::sys::shard::{PerShard, Shard};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// A library's admission state: calls in flight (one cache-padded counter per
/// thread shard) and the shutdown flag. Each library owns one, so shutting
/// one library down never refuses another's calls.
#[derive(Debug)]
pub struct Admission {
    /// Pointer-sized: a locked add on every target (a 64-bit counter costs
    /// a `cmpxchg8b` loop on 32-bit x86).
    in_flight: PerShard<AtomicIsize>,
    shutting_down: AtomicBool,
    /// This is a forked child's copy: shut down for good (see
    /// [`crate::Library`]'s fork rule).
    forked: AtomicBool,
}

/// Proof that a call was admitted; leaving the call drops it.
#[derive(Debug)]
pub struct InFlight<'a> {
    counter: &'a AtomicIsize,
    exclusive: bool,
}

impl Drop for InFlight<'_> {
    #[inline]
    fn drop(&mut self) {
        let c = self.counter;
        if self.exclusive {
            // Release: the shutdown thread's later loads see the call done.
            c.store(c.load(Ordering::Relaxed) - 1, Ordering::Release);
        } else {
            c.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// [`InFlight`] on a shard this thread owns ([`Admission::admit_owned`]).
#[derive(Debug)]
pub(crate) struct OwnedInFlight<'a>(&'a AtomicIsize);

impl Drop for OwnedInFlight<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let c = self.0;
        // Release: the shutdown thread's later loads see the call done.
        c.store(c.load(Ordering::Relaxed) - 1, Ordering::Release);
    }
}

impl Admission {
    /// Nothing in flight, admitting.
    pub const fn new() -> Admission {
        Admission {
            in_flight: PerShard::new(),
            shutting_down: AtomicBool::new(false),
            forked: AtomicBool::new(false),
        }
    }

    /// Admits a call unless shutdown has begun.
    #[inline]
    pub fn admit(&self, shard: Shard) -> Option<InFlight<'_>> {
        // A full barrier between publishing the increment and reading the flag
        // (the shutdown side does the mirror image): a locked RMW even when the
        // shard is exclusive. Either the call sees the flag, or shutdown's sum
        // sees the increment.
        let counter = self.in_flight.get(shard);
        let guard = InFlight {
            counter,
            exclusive: shard.exclusive,
        };
        if shard.light {
            // Only this thread writes the shard: a plain store, then a
            // compiler fence; shutdown's membarrier supplies the CPU
            // barrier (see `fence`).
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            if self.shutting_down.load(Ordering::Relaxed) {
                return None; // guard drops, undoing the increment
            }
            return Some(guard);
        }
        counter.fetch_add(1, Ordering::SeqCst);
        if self.shutting_down.load(Ordering::SeqCst) {
            return None; // guard drops, undoing the increment
        }
        Some(guard)
    }

    /// [`Admission::admit`] on a shard this thread owns
    /// ([`Shard::is_exclusive`]): where the shard is light, the plain store
    /// and compiler fence only; elsewhere (no `membarrier`: macOS, iOS,
    /// Windows) a locked increment. Leaving is a plain store either way
    /// (only this thread writes the counter).
    #[inline(always)]
    pub(crate) fn admit_owned(&self, shard: Shard) -> Option<OwnedInFlight<'_>> {
        debug_assert!(shard.exclusive);
        let counter = self.in_flight.get(shard);
        let guard = OwnedInFlight(counter);
        if shard.light {
            // Shutdown's membarrier supplies the CPU barrier (see `fence`).
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            if self.shutting_down.load(Ordering::Relaxed) {
                return None; // guard drops, undoing the increment
            }
        } else {
            counter.fetch_add(1, Ordering::SeqCst);
            if self.shutting_down.load(Ordering::SeqCst) {
                return None; // guard drops, undoing the increment
            }
        }
        Some(guard)
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .sum::<isize>()
            .max(0) as u64
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Stops admitting calls and waits up to `timeout` for in-flight calls to
    /// finish. Returns whether everything drained. Calling it again waits again.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.shutdown_holding(timeout, 0)
    }

    /// [`Admission::shutdown`] by a thread that itself holds `own` tickets
    /// it cannot release before this returns (a completion callback of a
    /// call whose task is on this thread's stack): drained means nothing
    /// else is in flight.
    pub(crate) fn shutdown_holding(&self, timeout: Duration, own: isize) -> bool {
        let own = own.max(0) as u64;
        self.shutting_down.store(true, Ordering::SeqCst);
        // Every thread's admission now either shows in the sum below or
        // sees the flag (see `fence`).
        crate::sys::fence::heavy();
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(50);
        loop {
            if self.in_flight() <= own {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// Admits calls again after a shutdown (for hosts that restart a
    /// library); never in a forked child.
    pub fn resume(&self) {
        if !self.is_forked() {
            self.shutting_down.store(false, Ordering::SeqCst);
        }
    }

    /// Refuses every call from now on, for good: run in a forked child
    /// (from the `pthread_atfork` handler: atomic stores only).
    pub(crate) fn mark_forked(&self) {
        self.forked.store(true, Ordering::SeqCst);
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether this is a forked child's copy of the library.
    pub(crate) fn is_forked(&self) -> bool {
        self.forked.load(Ordering::Relaxed)
    }
}

impl Default for Admission {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    /// The admission (of one library) whose tickets this thread holds
    /// while it delivers final statuses from a call's own task, and how
    /// many.
    static OWN_TICKETS: std::cell::Cell<(usize, isize)> = const { std::cell::Cell::new((0, 0)) };
}

/// Marks this thread as holding one of an admission's tickets it
/// cannot release before the scope ends: a call's task completing it (the
/// final callback runs inside). `shutdown` called from that callback then
/// does not wait for its own call, which would only time out.
pub(crate) struct OwnTicket(Option<(usize, isize)>);

impl OwnTicket {
    pub(crate) fn enter(admission: &Admission) -> OwnTicket {
        let key = admission as *const Admission as usize;
        OwnTicket(
            OWN_TICKETS
                .try_with(|t| {
                    let previous = t.get();
                    let n = if previous.0 == key { previous.1 } else { 0 };
                    t.set((key, n + 1));
                    previous
                })
                .ok(),
        )
    }

    /// Tickets of `admission` held by this thread's scopes.
    pub(crate) fn held(admission: &Admission) -> isize {
        let key = admission as *const Admission as usize;
        OWN_TICKETS
            .try_with(|t| t.get())
            .ok()
            .filter(|t| t.0 == key)
            .map_or(0, |t| t.1)
    }
}

impl Drop for OwnTicket {
    fn drop(&mut self) {
        if let Some(previous) = self.0 {
            let _ = OWN_TICKETS.try_with(|t| t.set(previous));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard this thread owns, on either side of the fence (where
    /// `membarrier` is missing, `light` is false: macOS, iOS, Windows).
    fn owned(index: u32, light: bool) -> Shard {
        Shard {
            index,
            exclusive: true,
            light,
        }
    }

    #[test]
    fn owned_admission_counts_refuses_after_shutdown_and_undoes() {
        for light in [true, false] {
            let a = Admission::new();
            let shard = owned(3, light);
            {
                let first = a.admit_owned(shard).expect("admitted");
                let second = a.admit_owned(shard).expect("nested call admitted");
                assert_eq!(a.in_flight(), 2);
                drop((first, second));
            }
            assert_eq!(a.in_flight(), 0);
            assert!(a.shutdown(Duration::from_millis(10)), "nothing in flight");
            assert!(a.admit_owned(shard).is_none(), "refused after shutdown");
            assert_eq!(a.in_flight(), 0, "the refused admission is undone");
            a.resume();
            assert!(a.admit_owned(shard).is_some());
        }
    }

    #[test]
    fn shutdown_waits_for_an_owned_admission() {
        for light in [true, false] {
            let a = Admission::new();
            let call = a.admit_owned(owned(4, light)).expect("admitted");
            assert!(!a.shutdown(Duration::from_millis(5)), "a call is in flight");
            drop(call);
            assert!(a.shutdown(Duration::from_millis(5)));
        }
    }
}
