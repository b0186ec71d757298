//! [`Pool<T>`]: a bounded, thread-safe object pool for users' hot paths.
//!
//! Backed by a lock-free bounded queue: `acquire` and release are one atomic
//! operation each, with no global lock. When the pool is empty, [`Pool::acquire`]
//! builds a new object with the factory (it never blocks) and
//! [`Pool::try_acquire`] returns `None`; when it is full, a released object is
//! dropped. Objects are reset before they go back.
//!
//! For hot loops, take a [`LocalPool`] per thread with [`Pool::local`]: it
//! keeps a small stack of objects owned by that thread (no atomics at all on
//! acquire/release) and trades with the shared pool in batches.

use crossbeam_queue::ArrayQueue;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A bounded pool of reusable `T`s.
pub struct Pool<T> {
    queue: ArrayQueue<T>,
    factory: Box<dyn Fn() -> T + Send + Sync>,
    reset: Box<dyn Fn(&mut T) + Send + Sync>,
    created: AtomicU64,
    reused: AtomicU64,
    discarded: AtomicU64,
}

/// Counters of a [`Pool`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Objects built by the factory.
    pub created: u64,
    /// Acquisitions served from the pool.
    pub reused: u64,
    /// Released objects dropped because the pool was full.
    pub discarded: u64,
    /// Objects waiting in the pool now.
    pub idle: usize,
}

impl<T> Pool<T> {
    /// A pool holding at most `capacity` idle objects, built by `factory` and
    /// reset by `reset` when released.
    pub fn new(
        capacity: usize,
        factory: impl Fn() -> T + Send + Sync + 'static,
        reset: impl Fn(&mut T) + Send + Sync + 'static,
    ) -> Pool<T> {
        Pool {
            queue: ArrayQueue::new(capacity.max(1)),
            factory: Box::new(factory),
            reset: Box::new(reset),
            created: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
        }
    }

    /// Fills the pool up to its capacity.
    pub fn prefill(&self) {
        while !self.queue.is_full() {
            self.created.fetch_add(1, Relaxed);
            if self.queue.push((self.factory)()).is_err() {
                break;
            }
        }
    }

    /// An object from the pool, or a new one when the pool is empty.
    #[inline]
    pub fn acquire(&self) -> Pooled<'_, T> {
        let value = match self.queue.pop() {
            Some(v) => {
                self.reused.fetch_add(1, Relaxed);
                v
            }
            None => {
                self.created.fetch_add(1, Relaxed);
                (self.factory)()
            }
        };
        Pooled {
            pool: self,
            value: Some(value),
        }
    }

    /// An object from the pool, or `None` when it is empty (never allocates).
    #[inline]
    pub fn try_acquire(&self) -> Option<Pooled<'_, T>> {
        let value = self.queue.pop()?;
        self.reused.fetch_add(1, Relaxed);
        Some(Pooled {
            pool: self,
            value: Some(value),
        })
    }

    #[inline]
    fn release(&self, mut value: T) {
        (self.reset)(&mut value);
        self.give(value);
    }

    /// Puts an already reset object back, or drops it when the pool is full.
    #[inline]
    fn give(&self, value: T) {
        if self.queue.push(value).is_err() {
            self.discarded.fetch_add(1, Relaxed);
        }
    }

    /// Counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            created: self.created.load(Relaxed),
            reused: self.reused.load(Relaxed),
            discarded: self.discarded.load(Relaxed),
            idle: self.queue.len(),
        }
    }

    /// Maximum idle objects.
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }
}

impl<T> Pool<T> {
    /// A handle for one thread that caches up to `cache` objects locally.
    /// Objects it holds go back to the shared pool when it is dropped.
    pub fn local(&self, cache: usize) -> LocalPool<'_, T> {
        LocalPool {
            pool: self,
            cache: cache.max(1),
            free: std::cell::UnsafeCell::new(Vec::with_capacity(cache.max(1))),
        }
    }
}

/// A per-thread front of a [`Pool`] (see [`Pool::local`]). Not `Sync`: each
/// thread takes its own.
pub struct LocalPool<'a, T> {
    pool: &'a Pool<T>,
    cache: usize,
    // UnsafeCell keeps the handle !Sync. Invariant: a `&mut` to the cache
    // lives only across code that cannot run user code — no factory, no
    // reset, no `Drop` of a `T` — so a `Drop` that re-enters this pool never
    // finds the cache borrowed.
    free: std::cell::UnsafeCell<Vec<T>>,
}

impl<'a, T> LocalPool<'a, T> {
    /// An object from the local cache, else from the shared pool (taking up
    /// to half the cache size at once), else a new one.
    #[inline]
    pub fn acquire(&self) -> LocalPooled<'_, 'a, T> {
        // SAFETY: see the field; the borrow ends before any user code runs.
        let cached = unsafe { (*self.free.get()).pop() };
        let value = match cached {
            Some(v) => v,
            None => {
                let refilled = {
                    // SAFETY: as above (only the lock-free queue runs here).
                    let free = unsafe { &mut *self.free.get() };
                    for _ in 0..self.cache / 2 {
                        match self.pool.queue.pop() {
                            Some(v) => free.push(v),
                            None => break,
                        }
                    }
                    free.pop()
                };
                match refilled {
                    Some(v) => {
                        self.pool.reused.fetch_add(1, Relaxed);
                        v
                    }
                    None => {
                        self.pool.created.fetch_add(1, Relaxed);
                        (self.pool.factory)()
                    }
                }
            }
        };
        LocalPooled {
            local: self,
            value: Some(value),
        }
    }

    #[inline]
    fn release(&self, mut value: T) {
        (self.pool.reset)(&mut value);
        let overflow = {
            // SAFETY: see the field: user code (reset) has already run, and
            // nothing below drops a `T` while this borrow lives (`split_off`
            // and `push` move values; a `T` is never dropped by them).
            let free = unsafe { &mut *self.free.get() };
            let overflow = (free.len() >= self.cache).then(|| free.split_off(self.cache / 2));
            free.push(value);
            overflow
        };
        // Hand half back to the shared pool outside the borrow: `give` drops
        // what the shared pool cannot take, and that `Drop` may re-enter us.
        if let Some(overflow) = overflow {
            for v in overflow {
                self.pool.give(v);
            }
        }
    }
}

impl<T> Drop for LocalPool<'_, T> {
    fn drop(&mut self) {
        for v in std::mem::take(self.free.get_mut()) {
            self.pool.give(v);
        }
    }
}

/// An object borrowed from a [`LocalPool`]; goes back to it when dropped.
pub struct LocalPooled<'l, 'a, T> {
    local: &'l LocalPool<'a, T>,
    value: Option<T>,
}

impl<T> Deref for LocalPooled<'_, '_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_ref().expect("value present until drop")
    }
}

impl<T> DerefMut for LocalPooled<'_, '_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("value present until drop")
    }
}

impl<T> Drop for LocalPooled<'_, '_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(v) = self.value.take() {
            self.local.release(v);
        }
    }
}

impl<T: Default + 'static> Pool<T> {
    /// A pool of `T::default()` objects, reset to default when released.
    pub fn with_default(capacity: usize) -> Pool<T> {
        Pool::new(capacity, T::default, |v| *v = T::default())
    }
}

impl<T> std::fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("stats", &self.stats())
            .finish()
    }
}

/// An object borrowed from a [`Pool`]; goes back when dropped.
pub struct Pooled<'a, T> {
    pool: &'a Pool<T>,
    value: Option<T>,
}

impl<T> Pooled<'_, T> {
    /// Keeps the object instead of returning it to the pool.
    pub fn detach(mut self) -> T {
        self.value.take().expect("value present until drop")
    }
}

impl<T> Deref for Pooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_ref().expect("value present until drop")
    }
}

impl<T> DerefMut for Pooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("value present until drop")
    }
}

impl<T> Drop for Pooled<'_, T> {
    fn drop(&mut self) {
        if let Some(v) = self.value.take() {
            self.pool.release(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_bounds_and_reset() {
        let pool: Pool<Vec<u8>> = Pool::new(2, || Vec::with_capacity(16), |v| v.clear());
        {
            let mut a = pool.acquire();
            a.push(1);
            let _b = pool.acquire();
            let _c = pool.acquire();
        }
        let s = pool.stats();
        assert_eq!((s.created, s.reused, s.discarded, s.idle), (3, 0, 1, 2));
        let a = pool.try_acquire().unwrap();
        assert!(a.is_empty(), "released objects are reset");
        let _b = pool.try_acquire().unwrap();
        assert!(pool.try_acquire().is_none());
        let kept = a.detach();
        assert_eq!(kept.capacity(), 16);
    }

    #[test]
    fn local_handles_cache_and_return_objects() {
        let pool: Pool<Vec<u8>> = Pool::new(8, Vec::new, |v| v.clear());
        pool.prefill();
        {
            let local = pool.local(4);
            for _ in 0..100 {
                let mut v = local.acquire();
                v.push(1);
            }
            // Only the batch it took from the shared pool is cached here.
            assert_eq!(pool.stats().idle, 6);
            let held: Vec<_> = (0..10).map(|_| local.acquire()).collect();
            assert!(held.iter().all(|v| v.is_empty()), "objects come back reset");
        }
        let s = pool.stats();
        assert_eq!(s.idle, 8, "dropping the handle returns its objects");
        assert_eq!(s.created, 8 + 2, "10 held at once: 8 pooled + 2 new");
        assert_eq!(s.discarded, 2, "the shared pool keeps at most 8");
    }

    #[test]
    fn threads_share_one_pool() {
        let pool = std::sync::Arc::new(Pool::<Vec<u8>>::with_default(8));
        pool.prefill();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let p = pool.clone();
                std::thread::spawn(move || {
                    for _ in 0..if cfg!(miri) { 50 } else { 10_000 } {
                        let mut v = p.acquire();
                        v.push(1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = pool.stats();
        assert_eq!(
            s.reused + s.created,
            if cfg!(miri) { 200 } else { 40_000 } + 8
        );
        assert!(s.idle <= 8);
    }
}

/// Objects whose `Drop` re-enters the pool they came from (a tree node giving
/// its children back, say) must not alias the local cache: `release` used to
/// drop overflowing objects while it held `&mut` to the cache, so a
/// re-entrant release gave one object two owners (a double free) from safe
/// code.
#[cfg(test)]
mod reentrant_drop {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static DEPTH: Cell<u32> = const { Cell::new(0) };
        static LOCAL: LocalPool<'static, Node> = POOL.local(4);
    }
    static POOL: std::sync::LazyLock<Pool<Node>> =
        std::sync::LazyLock::new(|| Pool::new(1, || Node(vec![0; 8]), |n| n.0.fill(0)));

    struct Node(Vec<u8>);

    impl Drop for Node {
        fn drop(&mut self) {
            // Re-enter the same local pool from inside a drop (bounded depth).
            let depth = DEPTH.with(|d| d.get());
            if depth < 3 {
                DEPTH.with(|d| d.set(depth + 1));
                let _ = LOCAL.try_with(|l| {
                    let held: Vec<_> = (0..6).map(|_| l.acquire()).collect();
                    drop(held);
                });
                DEPTH.with(|d| d.set(depth));
            }
        }
    }

    #[test]
    fn drop_that_reenters_the_local_pool_is_sound() {
        // Also run under Miri (`cargo +nightly miri test -p proto2ffi-runtime pool::`).
        let rounds = if cfg!(miri) { 3 } else { 200 };
        for _ in 0..rounds {
            LOCAL.with(|l| {
                let held: Vec<_> = (0..9).map(|_| l.acquire()).collect();
                drop(held);
            });
        }
        let s = POOL.stats();
        assert!(s.idle <= 1);
        assert!(s.created > 0);
    }
}
