//! Spinning before parking: whatever waits for the other side of a
//! stream or a queue keeps looking for a while before it sleeps.
//!
//! Waking a parked thread is the waker's cost, paid on the thread that
//! wakes: for a client stream the sender's, inside `stream_send_items`;
//! for a server stream the consumer's, inside `stream_next`; for a sync
//! handler awaited by its caller, the caller's, inside `*_start` — a Dart
//! isolate's thread every time. It is a system call and a cross-core
//! interrupt, which can cost several times the checks and decoding of a
//! send's 128 requests (BENCHMARKS.md, "Spin before parking"). The other
//! side usually comes back within microseconds (the next batch, the next
//! take, the next call), so a waiter that parked at once would be woken, at
//! that price, between every two of them. Spinning costs the waiter's own
//! thread up to [`SPIN_NS`] per pause, never the other side's. A task
//! spins by waking itself, so its executor's other tasks still run
//! ([`Spin`]); a pool thread spins on a flag ([`spin_until`]). On one core
//! the other side cannot run while this one spins: there nothing spins.

use crate::sys::{clock, cores};

/// How long a waiting task keeps polling before it parks.
pub(crate) const SPIN_NS: u64 = 50_000;

/// How long one task has been waiting, for [`Spin::spins`].
#[derive(Debug, Default)]
pub(crate) struct Spin {
    /// When the wait began, as a raw clock reading (`0`: not waiting).
    since: u64,
}

impl Spin {
    /// Not waiting.
    pub(crate) const fn new() -> Spin {
        Spin { since: 0 }
    }

    /// Whether the task should poll again at once rather than park: on
    /// more than one core, until [`SPIN_NS`] after the wait began.
    pub(crate) fn spins(&self) -> bool {
        cores::online_cores() > 1 && (self.since == 0 || clock::elapsed_ns(self.since) < SPIN_NS)
    }

    /// Whether the wait began with this poll (it was not waiting before).
    pub(crate) fn is_new(&self) -> bool {
        self.since == 0
    }

    /// The task found nothing this poll: its wait begins, or goes on.
    pub(crate) fn wait(&mut self) {
        if self.since == 0 {
            self.since = clock::raw().max(1);
        }
    }
}

/// Spins until `ready` holds or [`SPIN_NS`] passed; whether it holds. On
/// one core, `false` at once.
pub(crate) fn spin_until(mut ready: impl FnMut() -> bool) -> bool {
    if cores::online_cores() < 2 {
        return false;
    }
    let start = clock::raw();
    loop {
        if ready() {
            return true;
        }
        if clock::elapsed_ns(start) >= SPIN_NS {
            return false;
        }
        std::hint::spin_loop();
    }
}
