use super::*;

#[test]
fn exactly_burst_then_refused() {
    let l = RateLimiter::new(Some(RateLimit {
        per_second: 1.0,
        burst: 5,
    }));
    let now = 1_000;
    for _ in 0..5 {
        assert!(l.check(now).is_ok());
    }
    let r = l.check(now).unwrap_err();
    assert_eq!(r.retry_after_ns, 1_000_000_000);
    // One interval later, exactly one more.
    assert!(l.check(now + 1_000_000_000).is_ok());
    assert!(l.check(now + 1_000_000_000).is_err());
}

/// Runs `calls` at precise times `t`, with the coarse clock lagging by
/// `lag(t)` (never ahead), and returns how many were admitted.
fn admitted(l: &RateLimiter, times: impl Iterator<Item = u64>, lag: impl Fn(u64) -> u64) -> usize {
    times
        .filter(|&t| l.admit_with(|| t - lag(t).min(t), || t).is_ok())
        .count()
}

#[test]
fn coarse_clock_never_refuses_what_the_exact_limiter_admits() {
    // 1000 calls/s, burst 10; calls every 0.5 ms for 1 s (2000 calls):
    // exact admits about 10 + 1000 - a tick lag of up to 4 ms must not
    // lose any of them (a refusal is confirmed with the precise clock).
    let limit = Some(RateLimit {
        per_second: 1000.0,
        burst: 10,
    });
    let times = || (0..2000u64).map(|i| 1_000_000_000 + i * 500_000);
    let exact = admitted(&RateLimiter::new(limit), times(), |_| 0);
    let coarse = admitted(&RateLimiter::new(limit), times(), |t| t % 4_000_000);
    assert!((1009..=1010).contains(&exact), "{exact}");
    assert!(coarse >= exact, "coarse {coarse} < exact {exact}");
    // And at most ceil(lag * rate) = 4 more per idle-to-busy transition
    // (one here).
    assert!(coarse <= exact + 4, "coarse {coarse} vs exact {exact}");
}

#[test]
fn coarse_clock_bursts_exceed_burst_by_at_most_one_tick_of_rate() {
    // Repeated idle periods then bursts, with the worst lag (a full tick):
    // each burst admits at most burst + ceil(4 ms * 1000/s) = 10 + 4.
    let l = RateLimiter::new(Some(RateLimit {
        per_second: 1000.0,
        burst: 10,
    }));
    let tick = 4_000_000;
    for round in 0..20u64 {
        let t = 10_000_000_000 + round * 1_000_000_000;
        let n = admitted(&l, std::iter::repeat_n(t, 100), |_| tick);
        assert!((10..=14).contains(&n), "round {round}: {n} admitted");
    }
    // Without lag the same pattern admits exactly the burst.
    let l = RateLimiter::new(Some(RateLimit {
        per_second: 1000.0,
        burst: 10,
    }));
    for round in 0..20u64 {
        let t = 10_000_000_000 + round * 1_000_000_000;
        assert_eq!(admitted(&l, std::iter::repeat_n(t, 100), |_| 0), 10);
    }
}

/// Calls `admit_on` from `threads` threads (`per_thread` each, exclusive
/// shards) at a fixed time, and returns how many were admitted.
fn admitted_by_threads(l: &RateLimiter, threads: usize, per_thread: usize, now: u64) -> usize {
    let total = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let shard = crate::sys::shard::thread_shard();
                let n = (0..per_thread)
                    .filter(|_| l.admit_on_with(shard, || now, || now).is_ok())
                    .count();
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    total.into_inner()
}

#[test]
fn leases_never_admit_more_than_the_bucket_holds() {
    // burst 1024: leases of 16; no time passes, so nothing refills.
    let l = RateLimiter::new(Some(RateLimit {
        per_second: 1.0,
        burst: 1024,
    }));
    assert_eq!(lease_size(1024), 16);
    let n = admitted_by_threads(&l, 8, 500, 5_000_000_000);
    assert!(n <= 1024, "{n} admitted from a bucket of 1024");
    // At most 15 tokens per thread can sit unused in a lease.
    assert!(n >= 1024 - 8 * 15, "{n} admitted");
}

#[test]
fn small_bursts_never_lease_and_stay_exact() {
    let l = RateLimiter::new(Some(RateLimit {
        per_second: 1.0,
        burst: 100,
    }));
    assert!(lease_size(100) < 2);
    assert_eq!(admitted_by_threads(&l, 4, 100, 5_000_000_000), 100);
    assert!(l.leases.get().is_none(), "no lease slots were allocated");
}

#[test]
fn set_voids_outstanding_leases() {
    let l = RateLimiter::new(Some(RateLimit {
        per_second: 1.0,
        burst: 4096,
    }));
    std::thread::scope(|s| {
        s.spawn(|| {
            let shard = crate::sys::shard::thread_shard();
            let now = 5_000_000_000;
            assert!(l.admit_on_with(shard, || now, || now).is_ok());
            // This thread now holds a lease of 63 more tokens; a new limit
            // of burst 1 must not let them through.
            l.set(Some(RateLimit {
                per_second: 1.0,
                burst: 1,
            }))
            .unwrap();
            assert!(l.admit_on_with(shard, || now, || now).is_ok());
            assert!(l.admit_on_with(shard, || now, || now).is_err());
        });
    });
}

#[test]
fn disabled_limiter_reads_no_clock() {
    let l = RateLimiter::new(None);
    assert!(l
        .admit_with(
            || panic!("coarse clock read"),
            || panic!("precise clock read")
        )
        .is_ok());
}

#[test]
fn disabled_admits_everything() {
    let l = RateLimiter::new(None);
    for _ in 0..1000 {
        assert!(l.check(1).is_ok());
    }
    l.set(Some(RateLimit {
        per_second: 10.0,
        burst: 2,
    }))
    .unwrap();
    assert!(l.check(5).is_ok());
    assert!(l.check(5).is_ok());
    assert!(l.check(5).is_err());
    assert_eq!(l.get().unwrap().burst, 2);
}

#[test]
fn keyed_limits_each_key_and_stays_bounded() {
    let k = KeyedRateLimiter::new(
        RateLimit {
            per_second: 1.0,
            burst: 2,
        },
        64,
    );
    let before = k.memory_bytes();
    assert!(k.check("a", 10).is_ok());
    assert!(k.check("a", 10).is_ok());
    assert!(k.check("a", 10).is_err());
    assert!(k.check("b", 10).is_ok());
    for i in 0..100_000u64 {
        let _ = k.check(&i, 10 + i);
    }
    assert_eq!(k.memory_bytes(), before);
    assert_eq!(k.capacity(), 64);
}

#[test]
fn invalid_rates_set_at_run_time_are_refused_and_change_nothing() {
    let l = RateLimiter::new(Some(RateLimit {
        per_second: 1.0,
        burst: 1,
    }));
    for (per_second, burst) in [
        (0.0, 1),
        (-5.0, 1),
        (f64::NAN, 1),
        (f64::INFINITY, 1),
        (1e-30, 1),
        (10.0, 0),
    ] {
        let e = l
            .set(Some(RateLimit { per_second, burst }))
            .expect_err("must be refused");
        assert_eq!(e.code(), crate::Code::InvalidArgument, "{e}");
    }
    // Still the original limit: one call, then refused.
    assert!(l.check(10).is_ok());
    assert!(l.check(10).is_err());
}

#[test]
fn refund_gives_one_call_back() {
    let l = RateLimiter::new(Some(RateLimit {
        per_second: 1.0,
        burst: 2,
    }));
    assert!(l.check(10).is_ok());
    assert!(l.check(10).is_ok());
    assert!(l.check(10).is_err());
    l.refund();
    assert!(l.check(10).is_ok());
    assert!(l.check(10).is_err());
}
