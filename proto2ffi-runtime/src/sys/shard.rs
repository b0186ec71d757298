//! Thread shards: a process-wide numbering of threads, so per-thread
//! counters (in-flight calls, metrics, rate leases) are cache-padded arrays
//! indexed by the calling thread's shard, touching no line another core
//! writes. A thread owns its shard while it lives ([`Claim`], released by
//! its thread-local destructor); threads beyond the owned shards share the
//! last one with atomic read-modify-writes.

use std::sync::atomic::{AtomicBool, Ordering};

/// Number of shards for per-thread counters (power of two). The last one is
/// shared by threads that found no free shard; the others are owned by one
/// thread at a time.
pub const SHARDS: usize = 32;
const OVERFLOW: usize = SHARDS - 1;

/// A thread's shard of the per-thread counters.
///
/// A thread owns its shard exclusively while it lives (claimed on first use,
/// released by its thread-local destructor), so it can update counters with
/// a plain load and store instead of a locked read-modify-write; readers
/// only sum. Threads beyond `SHARDS - 1` share the last shard and use atomic
/// read-modify-writes, so counts stay exact with any number of threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    // `u32` keeps the whole shard in one register.
    pub(crate) index: u32,
    pub(crate) exclusive: bool,
    /// Exclusive, and the process uses the light side of [`crate::sys::fence`]:
    /// the in-flight count takes a plain store and a compiler fence. Fixed
    /// when the shard is claimed (the fence's state only ever leaves
    /// "unknown" once, and claiming asks it).
    pub(crate) light: bool,
}

impl Shard {
    /// The shared overflow shard (atomic read-modify-writes).
    pub const SHARED: Shard = Shard {
        index: OVERFLOW as u32,
        exclusive: false,
        light: false,
    };

    /// Index in `0..SHARDS`.
    #[inline]
    pub fn index(self) -> usize {
        // Always true; the mask lets the compiler drop bounds checks.
        self.index as usize & (SHARDS - 1)
    }

    /// Whether only this thread writes this shard.
    #[inline]
    pub fn is_exclusive(self) -> bool {
        self.exclusive
    }

    /// Adds `n` to a counter of this shard.
    #[inline]
    pub fn add(self, counter: &std::sync::atomic::AtomicU64, n: u64) {
        if self.exclusive {
            add_owned(counter, n);
        } else {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Adds `n` to a counter of a shard this thread owns: only this thread
/// writes it, so a plain load and store (no lock prefix); readers only sum.
#[inline(always)]
pub(crate) fn add_owned(counter: &std::sync::atomic::AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

static OWNED: [AtomicBool; SHARDS] = [const { AtomicBool::new(false) }; SHARDS];

/// A thread's claim on an exclusive shard (released when the thread ends).
pub(crate) struct Claim(Shard);

impl Claim {
    /// Claims a free exclusive shard, or the shared one.
    pub(crate) fn new() -> Claim {
        for (i, owned) in OWNED.iter().enumerate().take(OVERFLOW) {
            if owned
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Claim(Shard {
                    index: i as u32,
                    exclusive: true,
                    light: crate::sys::fence::light_ready(),
                });
            }
        }
        Claim(Shard::SHARED)
    }
}

impl Claim {
    /// The claimed shard.
    #[inline]
    pub(crate) fn shard(&self) -> Shard {
        self.0
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.0.exclusive {
            OWNED[self.0.index()].store(false, Ordering::Release);
        }
    }
}

/// This thread's shard (the shared one during thread teardown).
#[inline]
pub fn thread_shard() -> Shard {
    crate::sys::thread::with(|t| t.map_or(Shard::SHARED, |t| t.shard()))
}
