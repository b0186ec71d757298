//! Admission: counting calls in flight and graceful shutdown.
//!
//! The in-flight count is sharded per thread (cache-padded), so admitting a
//! call touches no line another core writes. Shutdown raises a flag, then
//! sums the shards until they reach zero. Both sides use `SeqCst`: a call
//! that saw the flag down had already published its increment, so the
//! shutdown's sum sees it.

use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Number of shards for per-thread counters (power of two).
pub const SHARDS: usize = 16;

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

/// This thread's shard index.
#[inline]
pub fn thread_shard() -> usize {
    SHARD.try_with(|s| *s).unwrap_or(0)
}

static IN_FLIGHT: [CachePadded<AtomicI64>; SHARDS] =
    [const { CachePadded::new(AtomicI64::new(0)) }; SHARDS];
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Proof that a call was admitted; leaving the call drops it.
#[derive(Debug)]
pub struct InFlight {
    shard: usize,
}

impl Drop for InFlight {
    #[inline]
    fn drop(&mut self) {
        IN_FLIGHT[self.shard].fetch_sub(1, Ordering::SeqCst);
    }
}

/// Admits a call unless the library is shutting down.
#[inline]
pub fn admit(shard: usize) -> Option<InFlight> {
    IN_FLIGHT[shard].fetch_add(1, Ordering::SeqCst);
    let guard = InFlight { shard };
    if SHUTTING_DOWN.load(Ordering::SeqCst) {
        return None; // guard drops, undoing the increment
    }
    Some(guard)
}

/// Calls in flight now.
pub fn in_flight() -> u64 {
    IN_FLIGHT
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum::<i64>()
        .max(0) as u64
}

/// Whether shutdown has begun.
pub fn is_shutting_down() -> bool {
    SHUTTING_DOWN.load(Ordering::SeqCst)
}

/// Stops admitting calls and waits up to `timeout` for in-flight calls to
/// finish. Returns whether everything drained. Calling it again waits again.
pub fn shutdown(timeout: Duration) -> bool {
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(50);
    loop {
        if in_flight() == 0 {
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

/// Admits calls again after a shutdown (for hosts that restart a library).
pub fn resume() {
    SHUTTING_DOWN.store(false, Ordering::SeqCst);
}
