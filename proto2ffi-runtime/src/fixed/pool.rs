//! [`FixedPool<T>`]: the schema-declared pool of a fixed-layout message
//! (`option (proto2ffi.pool_size) = N;`), behind the library's
//! `{prefix}_proto2ffi_pool_{message}_{acquire,release,finalize}` exports.
//!
//! A struct lent across the C ABI needs a stable address, and a release
//! from foreign code must be checked against the pool's own memory. So this
//! pool is a slab: `N` objects in one allocation (64-byte aligned), made on
//! first use, and a lock-free free list of slot indices. Its per-thread
//! caches are a [`PerShard`] entry each, the container every per-thread
//! counter of the runtime uses too.
//!
//! - **Acquire** takes a slot from the calling thread's cache (plain loads
//!   and stores on its exclusive shard), else a batch from the shared list
//!   (compare-and-swap), marks it in use and zeroes the object. When none
//!   is free it returns `None` (NULL in C) and counts the refusal: the pool
//!   never grows, so its memory is exactly what the schema declared.
//!   Clients turn NULL into a typed error.
//! - **Release** refuses, with `INVALID_ARGUMENT` and a count, any address
//!   that is not the start of one of this pool's objects and any object that
//!   is not in use (a double release) — the slot's state is changed with a
//!   compare-and-swap, so two racing releases of one object cannot both win.
//!   Nothing the caller passes is ever dereferenced before it is proven to be
//!   one of the pool's slots.
//!
//! Every pool belongs to one [`Library`] and registers itself there when its
//! slab is made, so that library's metrics and Prometheus text report it
//! from first use on (two libraries in one artifact never see each other's
//! pools).

use crate::fixed::layout::FixedMessage;
use crate::library::pools::{FixedPoolStats, PoolReport};
use crate::sys::shard::{PerShard, Shard, ShardEntry, SHARDS};
use crate::{Library, Status};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

/// A free slot at the end of the free list.
const NIL: u32 = u32::MAX;
/// A slot lent to a caller.
const IN_USE: u32 = u32::MAX - 1;
/// A free slot in a thread's cache.
const CACHED: u32 = u32::MAX - 2;
/// Largest pool (the three values above are slot states, not indices;
/// `proto2ffi-build` refuses a larger `pool_size` with the same bound).
pub const MAX_POOL_SIZE: u32 = u32::MAX - 3;
/// Most free objects a thread keeps for itself (see [`FixedPool`]).
pub const THREAD_CACHE: usize = 16;
/// Alignment of a pool's slab (and so of its first object): a cache line.
pub const SLAB_ALIGN: usize = 64;
/// All thread caches of a pool together hold at most `capacity / 16` free
/// objects (see [`FixedPool::new`]).
pub const CACHE_BUDGET_DIVISOR: u32 = 16;

/// [`ShardCache::mode`] values.
const UNDECIDED: u32 = 0;
const CACHING: u32 = 1;
const NOT_CACHING: u32 = 2;

/// A thread's (shard's) free objects and counters. Only the thread owning
/// an exclusive shard touches its cache, with plain loads and stores; the
/// shared overflow shard never caches and counts with atomic adds.
struct ShardCache {
    /// Whether this shard may cache: [`UNDECIDED`] until its first use,
    /// then [`CACHING`] (it reserved `cache_limit` of the pool's budget) or
    /// [`NOT_CACHING`] (the budget was spent). Only its owner reads it.
    mode: AtomicU32,
    len: AtomicU32,
    slots: [AtomicU32; THREAD_CACHE],
    acquired: AtomicU64,
    released: AtomicU64,
}

impl ShardEntry for ShardCache {
    const EMPTY: ShardCache = ShardCache {
        mode: AtomicU32::new(UNDECIDED),
        len: AtomicU32::new(0),
        slots: [const { AtomicU32::new(0) }; THREAD_CACHE],
        acquired: AtomicU64::new(0),
        released: AtomicU64::new(0),
    };
}

/// Why a release was refused.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    /// Not the address of one of the pool's objects.
    Foreign,
    /// One of its objects, but not lent out.
    NotLent,
}

struct Slab {
    base: NonNull<u8>,
    /// Per slot: the next free index (or [`NIL`]) while free, [`IN_USE`]
    /// while lent.
    next: Box<[AtomicU32]>,
}

// SAFETY: the slab's memory is only reached through slots the free list
// hands out once each; `base` itself is never written after creation.
unsafe impl Send for Slab {}
// SAFETY: as above.
unsafe impl Sync for Slab {}

/// A fixed-capacity pool of zeroed `T`s with stable addresses (see the
/// module documentation). Generated code declares one `static` per message
/// with `pool_size`.
pub struct FixedPool<T: 'static> {
    library: &'static Library,
    capacity: u32,
    slab: OnceLock<Option<Slab>>,
    /// Free-list head: slot index (low 32 bits) and a pop count (high 32
    /// bits) so a head that left and came back is not mistaken for the
    /// same one (ABA).
    head: AtomicU64,
    /// Free objects each thread keeps (0: none; see [`FixedPool::new`]).
    cache_limit: u32,
    /// Cache room reserved by shards so far, at most `capacity / 16`.
    reserved: AtomicU32,
    caches: PerShard<ShardCache>,
    exhausted: AtomicU64,
    refused: AtomicU64,
    _t: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for FixedPool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedPool")
            .field("library", &self.library.prefix())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[inline]
const fn pack(index: u32, pops: u32) -> u64 {
    (pops as u64) << 32 | index as u64
}

impl<T: FixedMessage> FixedPool<T> {
    /// A pool of `capacity` objects (at most [`MAX_POOL_SIZE`]) belonging to
    /// `library`; nothing is allocated until first use.
    ///
    /// A thread may keep up to `min(16, capacity / 64)` free objects of its
    /// own (pools under 64 objects keep none), so that acquire and release
    /// on one thread cost no locked instruction except the release's
    /// double-release check; all caches together hold at most
    /// `capacity / 16` (threads past that budget use the shared list only).
    /// `None` therefore means that at least `capacity - capacity / 16`
    /// objects are lent out: whatever is free sits in other threads'
    /// caches, at most 1/16 of the pool whatever the number of threads.
    pub const fn new(library: &'static Library, capacity: u32) -> FixedPool<T> {
        assert!(capacity <= MAX_POOL_SIZE, "pool_size is too large");
        FixedPool {
            library,
            capacity,
            slab: OnceLock::new(),
            head: AtomicU64::new(pack(NIL, 0)),
            cache_limit: {
                let fair = capacity / (2 * SHARDS as u32);
                if fair < THREAD_CACHE as u32 {
                    fair
                } else {
                    THREAD_CACHE as u32
                }
            },
            reserved: AtomicU32::new(0),
            caches: PerShard::new(),
            exhausted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            _t: PhantomData,
        }
    }

    /// Objects the pool holds.
    pub const fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The slab, made on first use (`None` when memory for it could not be
    /// allocated: every acquisition then reports exhaustion).
    #[inline]
    fn slab(&'static self) -> Option<&'static Slab> {
        self.slab.get_or_init(|| self.make_slab()).as_ref()
    }

    #[cold]
    fn make_slab(&'static self) -> Option<Slab> {
        let n = self.capacity as usize;
        let layout = std::alloc::Layout::array::<T>(n)
            .and_then(|l| l.align_to(SLAB_ALIGN))
            .ok()
            .filter(|l| l.size() > 0)?;
        // SAFETY: the layout has a non-zero size.
        let base = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        // Slot i links to i + 1; the last ends the list.
        let next: Box<[AtomicU32]> = (0..self.capacity)
            .map(|i| AtomicU32::new(if i + 1 == self.capacity { NIL } else { i + 1 }))
            .collect();
        self.head.store(pack(0, 0), Ordering::Release);
        self.library.announce_pool(self);
        Some(Slab { base, next })
    }

    #[inline]
    fn slot_ptr(slab: &Slab, index: u32) -> *mut T {
        // SAFETY: index < capacity, so the offset stays inside the slab.
        unsafe { slab.base.as_ptr().cast::<T>().add(index as usize) }
    }

    /// Pops a slot index from the shared free list.
    #[inline]
    fn pop_shared(&self, slab: &Slab) -> Option<u32> {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let index = head as u32;
            if index == NIL {
                return None;
            }
            // A stale read is harmless: the head then changed and the
            // exchange below fails.
            let next = slab.next[index as usize].load(Ordering::Relaxed);
            let popped = pack(next, ((head >> 32) as u32).wrapping_add(1));
            match self.head.compare_exchange_weak(
                head,
                popped,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(index),
                Err(now) => head = now,
            }
        }
    }

    /// Pushes a free slot (whose state is no longer [`IN_USE`], so no one
    /// else links it) onto the shared free list.
    #[inline]
    fn push_shared(&self, slab: &Slab, index: u32) {
        let state = &slab.next[index as usize];
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            state.store(head as u32, Ordering::Relaxed);
            let pushed = pack(index, (head >> 32) as u32);
            match self.head.compare_exchange_weak(
                head,
                pushed,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Whether `shard` caches: an exclusive shard of a pool with caches
    /// whose reservation of `cache_limit` objects fit the budget (decided
    /// on its first use, for good: the budget is never given back).
    #[inline]
    fn caches(&self, shard: Shard) -> bool {
        if !shard.is_exclusive() || self.cache_limit == 0 {
            return false;
        }
        match self.caches.get(shard).mode.load(Ordering::Relaxed) {
            CACHING => true,
            NOT_CACHING => false,
            _ => self.reserve(shard),
        }
    }

    #[cold]
    fn reserve(&self, shard: Shard) -> bool {
        let budget = self.capacity / CACHE_BUDGET_DIVISOR;
        let granted = self
            .reserved
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                (r + self.cache_limit <= budget).then_some(r + self.cache_limit)
            })
            .is_ok();
        let mode = if granted { CACHING } else { NOT_CACHING };
        self.caches.get(shard).mode.store(mode, Ordering::Relaxed);
        granted
    }

    /// A free slot for the calling thread: from its cache, else a batch
    /// from the shared list (keeping half the cache's worth), else none.
    #[inline]
    fn take(&self, slab: &Slab, shard: Shard) -> Option<u32> {
        let c = self.caches.get(shard);
        if !self.caches(shard) {
            return self.pop_shared(slab);
        }
        let len = c.len.load(Ordering::Relaxed);
        if len > 0 {
            c.len.store(len - 1, Ordering::Relaxed);
            return Some(c.slots[len as usize - 1].load(Ordering::Relaxed));
        }
        let got = self.pop_shared(slab)?;
        let mut n = 0;
        while n < self.cache_limit / 2 {
            let Some(i) = self.pop_shared(slab) else {
                break;
            };
            slab.next[i as usize].store(CACHED, Ordering::Relaxed);
            c.slots[n as usize].store(i, Ordering::Relaxed);
            n += 1;
        }
        c.len.store(n, Ordering::Relaxed);
        Some(got)
    }

    /// Gives a free slot back: to the calling thread's cache, spilling half
    /// of a full cache to the shared list, or straight to the shared list.
    #[inline]
    fn give(&self, slab: &Slab, shard: Shard, index: u32) {
        let c = self.caches.get(shard);
        if !self.caches(shard) {
            self.push_shared(slab, index);
            return;
        }
        let mut len = c.len.load(Ordering::Relaxed);
        if len == self.cache_limit {
            let keep = self.cache_limit / 2;
            for k in keep..len {
                self.push_shared(slab, c.slots[k as usize].load(Ordering::Relaxed));
            }
            len = keep;
        }
        c.slots[len as usize].store(index, Ordering::Relaxed);
        c.len.store(len + 1, Ordering::Relaxed);
    }

    /// A zeroed object, or `None` when no object is free (see
    /// [`FixedPool::new`] for what other threads' caches hold). The pointer
    /// stays valid until it is given to [`FixedPool::release_raw`].
    #[inline]
    pub fn acquire_raw(&'static self) -> Option<NonNull<T>> {
        let Some(slab) = self.slab() else {
            self.exhausted.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let taken = crate::sys::thread::with(|t| {
            let shard = t.map_or(Shard::SHARED, |t| t.shard());
            let index = self.take(slab, shard)?;
            shard.add(&self.caches.get(shard).acquired, 1);
            Some(index)
        });
        let Some(index) = taken else {
            self.exhausted.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        slab.next[index as usize].store(IN_USE, Ordering::Relaxed);
        let p = Self::slot_ptr(slab, index);
        // SAFETY: the slot is ours alone (just taken from a free list),
        // inside the slab, aligned; `T: FromBytes` makes zero valid.
        unsafe { p.write_bytes(0, 1) };
        // SAFETY: inside a non-null allocation.
        Some(unsafe { NonNull::new_unchecked(p) })
    }

    /// Returns `object` to the pool.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` when `object` is not the address of one of this
    /// pool's objects, or that object is not lent out (a double release);
    /// NULL is also refused. Refusals are counted and change nothing.
    ///
    /// # Safety
    /// No reference to the object outlives this call (the pool may lend it
    /// out again at once). The address itself may be anything: it is only
    /// compared, never read, until it is proven to be a lent slot.
    pub unsafe fn release_raw(&'static self, object: *mut T) -> Result<(), Status> {
        // SAFETY: forwarded contract.
        match unsafe { self.release_fast(object) } {
            Ok(()) => Ok(()),
            Err(r) => Err(self.refusal(r, object)),
        }
    }

    /// The release without building an error message: the exports' path.
    ///
    /// # Safety
    /// As [`FixedPool::release_raw`].
    #[inline]
    unsafe fn release_fast(&'static self, object: *mut T) -> Result<(), Refusal> {
        let Some(Some(slab)) = self.slab.get() else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Foreign);
        };
        let Some(index) = self.index_of(slab, object) else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Foreign);
        };
        // Claim the release: only one caller can move a slot out of
        // IN_USE, so two racing releases of one object cannot both win.
        if slab.next[index as usize]
            .compare_exchange(IN_USE, CACHED, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::NotLent);
        }
        crate::sys::thread::with(|t| {
            let shard = t.map_or(Shard::SHARED, |t| t.shard());
            self.give(slab, shard, index);
            shard.add(&self.caches.get(shard).released, 1);
        });
        Ok(())
    }

    #[cold]
    fn refusal(&self, r: Refusal, object: *mut T) -> Status {
        Status::invalid_argument(match r {
            Refusal::Foreign => format!("{}: {object:p} did not come from this pool", T::NAME),
            Refusal::NotLent => format!(
                "{}: {object:p} is not lent out by this pool (released twice?)",
                T::NAME
            ),
        })
    }

    /// The slot index of `object`, if it is the start of one of our slots.
    #[inline]
    fn index_of(&self, slab: &Slab, object: *mut T) -> Option<u32> {
        let size = std::mem::size_of::<T>();
        let offset = (object as usize).wrapping_sub(slab.base.as_ptr() as usize);
        if size == 0 || offset % size != 0 || offset / size >= self.capacity as usize {
            return None;
        }
        Some((offset / size) as u32)
    }

    /// Counters.
    pub fn counters(&self) -> FixedPoolStats {
        let (acquired, released) = self.caches.iter().fold((0u64, 0u64), |(a, r), c| {
            (
                a + c.acquired.load(Ordering::Relaxed),
                r + c.released.load(Ordering::Relaxed),
            )
        });
        FixedPoolStats {
            message: T::NAME,
            capacity: self.capacity,
            created: match self.slab.get() {
                Some(Some(_)) => u64::from(self.capacity),
                _ => 0,
            },
            in_use: acquired.saturating_sub(released),
            acquired,
            exhausted: self.exhausted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// A zeroed object that goes back to the pool when dropped, or `None`
    /// when the pool is exhausted. The safe way to use the pool from Rust.
    pub fn acquire(&'static self) -> Option<PoolSlot<T>> {
        self.acquire_raw().map(|ptr| PoolSlot { pool: self, ptr })
    }

    /// The body of the `…_acquire` export: the object, or NULL when the
    /// pool is exhausted. Never unwinds.
    #[inline]
    #[doc(hidden)] // generated exports only
    pub fn export_acquire(&'static self) -> *mut T {
        // Nothing in `acquire_raw` is expected to panic (a slab that cannot
        // be allocated makes it return None; the library's pool list is a
        // parking_lot lock, which does not poison): the guard only makes
        // sure no unwind crosses the C ABI, and costs nothing on this path.
        // AssertUnwindSafe: as in `export_release`.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.acquire_raw()))
            .ok()
            .flatten()
            .map_or(std::ptr::null_mut(), NonNull::as_ptr)
    }

    /// The body of the `…_release` export: 0, or `INVALID_ARGUMENT` (3).
    ///
    /// # Safety
    /// As [`FixedPool::release_raw`] (the caller stops using the object).
    #[inline]
    #[doc(hidden)] // generated exports only
    pub unsafe fn export_release(&'static self, object: *mut T) -> i32 {
        // AssertUnwindSafe: the pool's state is atomics, consistent at every
        // step. SAFETY: forwarded contract.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
            self.release_fast(object)
        })) {
            Ok(Ok(())) => 0,
            Ok(Err(_)) => crate::Code::InvalidArgument as i32,
            Err(_) => crate::Code::Internal as i32,
        }
    }
}

impl<T: FixedMessage> PoolReport for FixedPool<T> {
    fn stats(&self) -> FixedPoolStats {
        self.counters()
    }
}

/// An object lent by a [`FixedPool`]; goes back when dropped.
pub struct PoolSlot<T: FixedMessage + 'static> {
    pool: &'static FixedPool<T>,
    ptr: NonNull<T>,
}

impl<T: FixedMessage> PoolSlot<T> {
    /// The object's address, e.g. to pass to a fixed-layout entry point.
    pub fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }
}

impl<T: FixedMessage> std::ops::Deref for PoolSlot<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the slot is lent to this handle alone until it drops.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: FixedMessage> std::ops::DerefMut for PoolSlot<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes the borrow unique.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T: FixedMessage> Drop for PoolSlot<T> {
    fn drop(&mut self) {
        // SAFETY: no borrow of the object outlives the handle.
        let released = unsafe { self.pool.release_raw(self.ptr.as_ptr()) };
        debug_assert!(released.is_ok(), "a PoolSlot is released exactly once");
    }
}

#[cfg(test)]
mod tests;
