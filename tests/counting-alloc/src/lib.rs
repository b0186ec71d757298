//! A global allocator that forwards to the system allocator and counts
//! allocations and reallocations. The test and benchmark libraries install
//! it with `#[global_allocator]` and export [`allocations`] through a hook,
//! so a foreign caller can check what the library allocates per call.
//!
//! The count is sharded: each thread adds to its own cache line, and
//! [`allocations`] sums them. One shared counter made every allocating call
//! of two threads fight over one cache line, which capped the benchmarks'
//! scaling figure at about 1.2× on two cores whatever the library did.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counter shards (threads beyond this share them, still exactly counted).
const SHARDS: usize = 64;

#[repr(align(128))]
struct Shard(AtomicU64);

static COUNTS: [Shard; SHARDS] = [const { Shard(AtomicU64::new(0)) }; SHARDS];
static NEXT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // A `const`-initialised local without a destructor: reading it never
    // allocates and never fails, even during thread teardown.
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn count() {
    let i = SLOT.with(|s| match s.get() {
        usize::MAX => {
            let i = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            s.set(i);
            i
        }
        i => i,
    });
    COUNTS[i].0.fetch_add(1, Ordering::Relaxed);
}

/// The counting allocator.
pub struct Counting;

// SAFETY: forwards every call to the system allocator unchanged; it only
// increments a counter on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations (and reallocations) so far in this library, on all threads.
pub fn allocations() -> u64 {
    COUNTS.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
}
