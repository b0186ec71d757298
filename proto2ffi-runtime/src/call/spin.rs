//! Spinning before parking: a task that waits for the other side of a
//! stream polls again at once for a while before it registers its waker.
//!
//! Waking a parked executor thread is the waker's cost, paid on the thread
//! that wakes: for a client stream the sender's, inside
//! `stream_send_items`; for a server stream the consumer's, inside
//! `stream_next` — a Dart isolate's thread either way. It is a system call
//! and a cross-core interrupt, which can cost several times the checks and
//! decoding of a send's 128 requests (BENCHMARKS.md, "Spin before
//! parking"). The other side usually comes back within microseconds (the
//! next batch, the next take), so a task that parked at once would be
//! woken, at that price, between every two batches. Spinning costs the
//! waiting task's own thread up to [`SPIN_NS`] per pause, never the other
//! side's: each poll re-queues the task with its own wake, so the
//! executor's other tasks still run. On one core the other side cannot run
//! while this one spins: there a task parks at once.

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
