//! Thread shards: a process-wide numbering of threads, and [`PerShard`],
//! the one container of per-thread entries in shared objects. Every
//! per-thread counter (in-flight calls, metrics, rate leases) and every
//! per-thread cache of a pool (a fixed-layout pool's free slots) is a
//! `PerShard`: one cache-padded entry per shard, read by the calling
//! thread's shard, so a call touches no line another core writes. A thread
//! owns its shard while it lives ([`Claim`], released by its thread-local
//! destructor); threads beyond the owned shards share the last one with
//! atomic read-modify-writes.
//!
//! What is the thread's own and not any object's — its claim, its call
//! count, its panic scope, the one response buffer it keeps — lives in the
//! thread block ([`crate::sys::thread`]) instead, at a fixed offset from
//! the one thread-local lookup a call makes. (The response buffer in a
//! `PerShard` slot measured 17 more instructions a small call, 1.6%: the
//! slot's address is the static's, read through the GOT, plus the shard's
//! index and its exclusivity, on both the take and the give back.)

use crossbeam_utils::CachePadded;
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

/// The value every entry of a new [`PerShard`] starts with (a `const`, so
/// that a `PerShard` can be built in a `static`).
pub(crate) trait ShardEntry {
    const EMPTY: Self;
}

/// One `T` per shard, each on its own cache line (see the module docs).
pub(crate) struct PerShard<T>([CachePadded<T>; SHARDS]);

impl ShardEntry for std::sync::atomic::AtomicU64 {
    const EMPTY: Self = std::sync::atomic::AtomicU64::new(0);
}

impl ShardEntry for std::sync::atomic::AtomicIsize {
    const EMPTY: Self = std::sync::atomic::AtomicIsize::new(0);
}

impl<T: ShardEntry> PerShard<T> {
    /// Every entry [`ShardEntry::EMPTY`].
    pub(crate) const fn new() -> PerShard<T> {
        PerShard([const { CachePadded::new(T::EMPTY) }; SHARDS])
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PerShard<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> PerShard<T> {
    /// `shard`'s entry.
    #[inline(always)]
    pub(crate) fn get(&self, shard: Shard) -> &T {
        &self.0[shard.index()]
    }

    /// Every entry, the shared one last (for sums).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.0.iter().map(|e| &**e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn entries_are_a_cache_line_apart_and_summed_in_shard_order() {
        static COUNTS: PerShard<AtomicU64> = PerShard::new();
        let one = Shard {
            index: 1,
            exclusive: true,
            light: false,
        };
        let a = COUNTS.get(Shard::SHARED) as *const AtomicU64 as usize;
        let b = COUNTS.get(one) as *const AtomicU64 as usize;
        assert_eq!(
            a - b,
            (SHARDS - 2) * std::mem::size_of::<CachePadded<AtomicU64>>()
        );
        // A cache line as crossbeam sizes it for the target (128 bytes on
        // x86_64 and aarch64, 32 on armv7): at least one entry's worth.
        let line = std::mem::align_of::<CachePadded<AtomicU64>>();
        assert_eq!(std::mem::size_of::<CachePadded<AtomicU64>>(), line);
        assert!(line >= std::mem::size_of::<AtomicU64>() && line >= 32);
        one.add(COUNTS.get(one), 2);
        Shard::SHARED.add(COUNTS.get(Shard::SHARED), 3);
        let seen: Vec<u64> = COUNTS.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(seen.len(), SHARDS);
        assert_eq!((seen[1], seen[SHARDS - 1]), (2, 3));
        assert_eq!(seen.iter().sum::<u64>(), 5);
    }
}
