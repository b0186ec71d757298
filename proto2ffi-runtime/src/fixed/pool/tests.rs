use super::*;
use crate::Code;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
struct P {
    x: f32,
    y: f32,
    tag: u64,
}
impl FixedMessage for P {
    const NAME: &'static str = "test.P";
    const LAYOUT_FINGERPRINT: u64 = 1;
    unsafe fn validate(&self) -> Result<(), Status> {
        Ok(())
    }
}

#[test]
fn exhaustion_returns_none_and_is_counted() {
    static LIB: Library = Library::new("pool_exhaust", || Ok(()), false);
    static POOL: FixedPool<P> = FixedPool::new(&LIB, 3);
    assert_eq!(POOL.counters().created, 0, "nothing before first use");
    let held: Vec<_> = (0..3).map(|_| POOL.acquire().unwrap()).collect();
    assert!(POOL.acquire().is_none());
    assert!(POOL.export_acquire().is_null());
    let s = POOL.counters();
    assert_eq!((s.created, s.in_use, s.acquired, s.exhausted), (3, 3, 3, 2));
    drop(held);
    assert_eq!(POOL.counters().in_use, 0);
    assert!(POOL.acquire().is_some(), "released objects are lent again");
    let stats = LIB.pools();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].message, "test.P");
}

#[test]
fn objects_are_zeroed_aligned_and_distinct() {
    static LIB: Library = Library::new("pool_zero", || Ok(()), false);
    static POOL: FixedPool<P> = FixedPool::new(&LIB, 4);
    let mut a = POOL.acquire().unwrap();
    a.tag = 7;
    a.x = 1.0;
    let addr = a.as_ptr();
    drop(a);
    let b = POOL.acquire().unwrap();
    assert_eq!(b.as_ptr(), addr, "LIFO reuse keeps the object in cache");
    assert_eq!((b.tag, b.x), (0, 0.0), "zeroed on acquire");
    let c = POOL.acquire().unwrap();
    assert_ne!(b.as_ptr(), c.as_ptr());
    assert_eq!(b.as_ptr() as usize % std::mem::align_of::<P>(), 0);
}

#[test]
fn foreign_and_double_releases_are_refused() {
    static LIB: Library = Library::new("pool_refuse", || Ok(()), false);
    static POOL: FixedPool<P> = FixedPool::new(&LIB, 4);
    let mut local = P {
        x: 0.0,
        y: 0.0,
        tag: 0,
    };
    // Before first use, everything is foreign.
    // SAFETY: the pool only compares addresses it did not lend.
    let e = unsafe { POOL.release_raw(&mut local) }.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let p = POOL.acquire_raw().unwrap().as_ptr();
    // SAFETY (all below): addresses are compared before any access.
    unsafe {
        assert!(POOL
            .release_raw(&mut local)
            .unwrap_err()
            .message()
            .contains("did not come from this pool"));
        assert!(POOL.release_raw(std::ptr::null_mut()).is_err());
        assert!(POOL.release_raw(p.cast::<u8>().add(4).cast()).is_err());
        assert!(POOL.release_raw(p.add(4)).is_err(), "one past the end");
        assert!(POOL.release_raw(p.add(1)).is_err(), "a free slot");
        assert_eq!(POOL.export_release(p), 0);
        let twice = POOL.release_raw(p).unwrap_err();
        assert!(twice.message().contains("released twice"), "{twice:?}");
        assert_eq!(POOL.export_release(p), Code::InvalidArgument as i32);
    }
    let s = POOL.counters();
    assert_eq!((s.in_use, s.acquired, s.refused), (0, 1, 8));
    // The refusals did not corrupt the free list: all 4 can be lent.
    let held: Vec<_> = (0..4).map(|_| POOL.acquire().unwrap()).collect();
    let mut addrs: Vec<_> = held.iter().map(|h| h.as_ptr() as usize).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 4);
}

#[test]
fn threads_never_share_an_object() {
    static LIB: Library = Library::new("pool_threads", || Ok(()), false);
    static POOL: FixedPool<P> = FixedPool::new(&LIB, 8);
    let rounds = if cfg!(miri) { 50 } else { 50_000 };
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut got = 0u64;
                for i in 0..rounds {
                    // Racing double releases on the same object: exactly
                    // one of each pair may succeed.
                    if let Some(mut a) = POOL.acquire() {
                        assert_eq!(a.tag, 0, "zeroed, so no one else wrote it");
                        a.tag = t << 32 | i;
                        std::hint::spin_loop();
                        assert_eq!(a.tag, t << 32 | i, "an object lent twice");
                        a.tag = 0;
                        let p = a.as_ptr();
                        std::mem::forget(a);
                        // SAFETY: we own the slot and drop our use of it.
                        let released = unsafe { POOL.release_raw(p) };
                        assert!(released.is_ok());
                        got += 1;
                    }
                }
                got
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let s = POOL.counters();
    assert_eq!(s.acquired, total);
    assert_eq!(s.in_use, 0);
    assert_eq!(s.acquired + s.exhausted, 4 * rounds);
    let held: Vec<_> = (0..8).map(|_| POOL.acquire().unwrap()).collect();
    assert!(POOL.acquire().is_none(), "still exactly 8 objects");
    drop(held);
}

#[test]
fn thread_caches_lose_nothing_and_count_exactly() {
    static LIB: Library = Library::new("pool_cached", || Ok(()), false);
    static POOL: FixedPool<P> = FixedPool::new(&LIB, 4096);
    assert_eq!(POOL.cache_limit as usize, THREAD_CACHE);
    let rounds = if cfg!(miri) { 5 } else { 300 };
    // Objects acquired on one thread are released on another (through
    // a channel), so caches fill, spill and refill across threads.
    let (tx, rx) = std::sync::mpsc::sync_channel::<usize>(256);
    let producers: Vec<_> = (0..3u64)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..rounds * 10 {
                    let p = POOL.acquire_raw().expect("4096 objects suffice").as_ptr();
                    // SAFETY: lent to this thread until sent.
                    unsafe {
                        assert_eq!((*p).tag, 0, "zeroed");
                        (*p).tag = t << 32 | i;
                    }
                    tx.send(p as usize).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumer = std::thread::spawn(move || {
        let mut n = 0u64;
        for p in rx {
            let p = p as *mut P;
            // SAFETY: handed over by its producer; released once.
            unsafe {
                (*p).tag = 0;
                POOL.release_raw(p).unwrap();
            }
            n += 1;
        }
        n
    });
    for p in producers {
        p.join().unwrap();
    }
    let released = consumer.join().unwrap();
    let s = POOL.counters();
    assert_eq!(s.acquired, released);
    assert_eq!(s.in_use, 0);
    // Everything is still there: this thread can take all but what the
    // other threads' caches may hold.
    let mut held = Vec::new();
    while let Some(p) = POOL.acquire() {
        held.push(p);
    }
    assert!(
        held.len() >= 4096 - (SHARDS - 1) * THREAD_CACHE,
        "{}",
        held.len()
    );
    let mut addrs: Vec<usize> = held.iter().map(|h| h.as_ptr() as usize).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), held.len(), "no object lent twice");
}

#[test]
fn null_means_at_most_a_sixteenth_is_free_whatever_the_threads() {
    // 32 threads each leave objects in their caches; then one thread
    // takes everything it can: at most capacity / 16 may be missing.
    static LIB: Library = Library::new("pool_bound", || Ok(()), false);
    static POOL: FixedPool<P> = FixedPool::new(&LIB, 1024);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (rx, ready) = (rx.clone(), ready_tx.clone());
            std::thread::spawn(move || {
                let held: Vec<_> = (0..24).map(|_| POOL.acquire().unwrap()).collect();
                drop(held);
                ready.send(()).unwrap();
                // Alive (its shard and cache owned) until told.
                let _ = rx.lock().unwrap().recv();
            })
        })
        .collect();
    for _ in 0..32 {
        ready_rx.recv().unwrap();
    }
    let mut taken = Vec::new();
    while let Some(slot) = POOL.acquire() {
        taken.push(slot);
    }
    assert!(
        taken.len() >= 1024 - 1024 / 16,
        "NULL with {} of 1024 free",
        1024 - taken.len()
    );
    drop(tx);
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn racing_double_releases_succeed_once() {
    static LIB: Library = Library::new("pool_race", || Ok(()), false);
    static POOL: FixedPool<P> = FixedPool::new(&LIB, 2);
    for _ in 0..if cfg!(miri) { 10 } else { 2_000 } {
        let p = POOL.acquire_raw().unwrap().as_ptr() as usize;
        let wins: u32 = std::thread::scope(|s| {
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    // SAFETY: the object is not used; at most one
                    // release may succeed, the other is refused.
                    s.spawn(move || u32::from(unsafe { POOL.release_raw(p as *mut P) }.is_ok()))
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
    }
    assert_eq!(POOL.counters().in_use, 0);
}
