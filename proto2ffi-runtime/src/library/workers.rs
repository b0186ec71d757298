//! The library's threads for sync handlers its callers await.
//!
//! A sync method started with its `*_start` entry point (Dart's `…Async`
//! of a sync RPC, or a C caller that wants a callback) must not run on the
//! caller's thread, which would block, nor on the async executor's workers,
//! which a blocking handler would starve. It runs on these threads: a pool
//! per library, named `{prefix}-sync`, that starts a thread when a job
//! arrives and none is idle (up to [`Workers::max_threads`]), queues jobs
//! beyond that, and lets a thread exit after [`KEEP_ALIVE`] without work.
//!
//! Invariants: every submitted job is run or refused exactly once; a job
//! waits in the queue only while at least one thread is alive to take it
//! (a thread that times out leaves only when the queue is empty, and a
//! submission that cannot start the first thread refuses what it queued).

use crate::Status;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long an idle thread waits for work before it exits.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The most threads a library runs sync handlers on by default: one per
/// core, and at least 4 (so a few handlers that block on I/O do not hold up
/// the rest), at most 16. More threads than cores cost short handlers a
/// wake-up each: with 100 calls in flight on 2 cores, 16 threads measured
/// 1.1× the time per call of 4 (BENCHMARKS.md has the figures).
fn default_threads() -> usize {
    crate::sys::cores::online_cores().clamp(4, 16)
}

/// Work for a pool thread.
pub(crate) trait Job: Send + 'static {
    /// Runs the job on a pool thread. Must not unwind (a panic is caught
    /// and dropped, but the job's own bookkeeping is its business).
    fn run(self: Box<Self>);
    /// The job will never run: it must finish with `status`.
    fn refuse(self: Box<Self>, status: Status);
}

/// One library's pool of threads for sync handlers.
pub(crate) struct Workers {
    state: Mutex<State>,
    work: Condvar,
    /// Jobs queued (a copy of `state.queue.len()`, written under the lock),
    /// for the spinning thread to watch without taking the lock.
    queued: AtomicUsize,
    max: AtomicUsize,
    /// [`KEEP_ALIVE`]; tests make it long so that only a lost wake-up
    /// could keep a job waiting.
    keep_alive: Duration,
}

struct State {
    queue: VecDeque<Box<dyn Job>>,
    /// Threads alive (or being started).
    threads: usize,
    /// Threads waiting on `work`.
    idle: usize,
    /// Wake-ups sent and not yet taken by a waking thread (≤ `idle`): a
    /// job finds a thread to wake only while `idle > notified`, else it
    /// starts one.
    notified: usize,
    /// Whether a thread is spinning for the next job (at most one: see
    /// `serve`). It takes the first job queued, so that job wakes no one.
    spinning: bool,
}

impl Workers {
    pub(crate) const fn new() -> Workers {
        Workers {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
                spinning: false,
            }),
            work: Condvar::new(),
            queued: AtomicUsize::new(0),
            // 0: the default, resolved on first use.
            max: AtomicUsize::new(0),
            keep_alive: KEEP_ALIVE,
        }
    }

    /// The most threads this pool runs at once.
    pub(crate) fn max_threads(&self) -> usize {
        match self.max.load(Ordering::Relaxed) {
            0 => {
                let n = default_threads();
                // A concurrent `set_max_threads` wins.
                let _ = self
                    .max
                    .compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed);
                self.max.load(Ordering::Relaxed)
            }
            n => n,
        }
    }

    /// Sets the most threads (at least 1); threads above it finish their
    /// job and leave when idle.
    pub(crate) fn set_max_threads(&self, max: usize) {
        self.max.store(max.max(1), Ordering::Relaxed);
    }

    /// Threads alive now.
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.lock().threads
    }

    /// The pool's state. No user code runs under this lock (jobs run and
    /// are refused outside it), so poisoning can only come from an
    /// allocation failure: the state is still consistent then.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `job` on a pool thread, starting one when none is idle and the
    /// pool is below its size; `prefix` names the thread.
    pub(crate) fn submit(&'static self, prefix: &str, job: Box<dyn Job>) {
        let mut state = self.lock();
        state.queue.push_back(job);
        self.queued.store(state.queue.len(), Ordering::Relaxed);
        if state.spinning && state.queue.len() == 1 {
            // The spinning thread takes it: no wake-up for the caller to
            // pay (see `crate::sys::spin`).
            return;
        }
        if state.idle > state.notified {
            state.notified += 1;
            drop(state);
            self.work.notify_one();
            return;
        }
        if state.threads >= self.max_threads() {
            // Every thread is busy: the first to finish takes it.
            return;
        }
        state.threads += 1;
        drop(state);
        let spawned = std::thread::Builder::new()
            .name(format!("{prefix}-sync"))
            .spawn(move || self.serve());
        if let Err(e) = spawned {
            let mut state = self.lock();
            state.threads -= 1;
            // Another thread takes the queue when there is one; with none
            // alive, nothing ever would.
            let refused: Vec<_> = if state.threads == 0 {
                state.queue.drain(..).collect()
            } else {
                Vec::new()
            };
            drop(state);
            for job in refused {
                job.refuse(Status::unavailable(format!(
                    "could not start a thread for the sync handler: {e}"
                )));
            }
        }
    }

    /// A pool thread: jobs until none came for [`KEEP_ALIVE`].
    fn serve(&self) {
        let mut state = self.lock();
        loop {
            if state.threads > self.max_threads() {
                // The pool shrank: leave what is queued to the others
                // (at least one stays: `threads` was above a bound of at
                // least 1). The wake-up this thread may have taken was
                // meant for a queued job: pass it on, or the job would
                // wait for an idle thread's keep-alive to run out.
                state.threads -= 1;
                if !state.queue.is_empty() && state.idle > state.notified {
                    state.notified += 1;
                    self.work.notify_one();
                }
                return;
            }
            if let Some(job) = state.queue.pop_front() {
                self.queued.store(state.queue.len(), Ordering::Relaxed);
                drop(state);
                if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()))
                {
                    crate::error::panic::drop_quietly(p);
                }
                state = self.lock();
                continue;
            }
            if !state.spinning {
                // One thread at a time looks for the next job before it
                // sleeps; a job queued meanwhile is its to take (`submit`
                // wakes no one for it). It sleeps only after clearing the
                // flag and looking at the queue again under the lock.
                state.spinning = true;
                drop(state);
                crate::sys::spin::spin_until(|| self.queued.load(Ordering::Relaxed) > 0);
                state = self.lock();
                state.spinning = false;
                if !state.queue.is_empty() {
                    continue;
                }
            }
            state.idle += 1;
            let (next, waited) = self
                .work
                .wait_timeout(state, self.keep_alive)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            state.idle -= 1;
            state.notified = state.notified.saturating_sub(1).min(state.idle);
            if waited.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
