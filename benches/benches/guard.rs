//! The parts of the call guard: rate-limit check (one thread, two threads
//! contending; with the coarse clock as the guard calls it), metrics record,
//! clock reads (`Instant`, `quanta`, the coarse clock) and the admission
//! check.

use criterion::{criterion_group, criterion_main, Criterion};
use proto2ffi_runtime::__private::metrics::{CallRecord, MethodMetrics};
use proto2ffi_runtime::__private::rate::{RateLimit, RateLimiter};
use proto2ffi_runtime::__private::{admission, shard};
use proto2ffi_runtime::Code;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};

fn guard(c: &mut Criterion) {
    let mut g = c.benchmark_group("guard");
    let limiter = RateLimiter::new(Some(RateLimit {
        per_second: 1e9,
        burst: 1_000_000_000,
    }));
    let mut now = 1u64;
    g.bench_function("rate_limit_check", |b| {
        b.iter(|| {
            now += 10;
            black_box(limiter.check(black_box(now)))
        })
    });
    g.bench_function("rate_limit_check_2_threads", |b| {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut t = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    t += 10;
                    let _ = black_box(limiter.check(t));
                }
            });
            b.iter(|| {
                now += 10;
                black_box(limiter.check(black_box(now)))
            });
            stop.store(true, Ordering::Relaxed);
        });
    });
    g.bench_function("rate_limit_admit", |b| {
        b.iter(|| black_box(limiter.admit()))
    });
    let leased = RateLimiter::new(Some(RateLimit {
        per_second: 1e9,
        burst: 1_000_000_000,
    }));
    let shard = shard::thread_shard();
    g.bench_function("rate_limit_admit_leased", |b| {
        b.iter(|| black_box(leased.admit_on(black_box(shard))))
    });
    g.bench_function("rate_limit_admit_leased_2_threads", |b| {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let other = shard::thread_shard();
                while !stop.load(Ordering::Relaxed) {
                    let _ = black_box(leased.admit_on(other));
                }
            });
            b.iter(|| black_box(leased.admit_on(black_box(shard))));
            stop.store(true, Ordering::Relaxed);
        });
    });
    g.bench_function("clock_rate_coarse", |b| {
        b.iter(|| black_box(proto2ffi_runtime::__private::clock::rate_coarse_ns()))
    });
    let disabled = RateLimiter::new(None);
    g.bench_function("rate_limit_disabled", |b| {
        b.iter(|| black_box(disabled.check(black_box(5))))
    });
    let metrics = MethodMetrics::new();
    let record = CallRecord {
        code: Code::Ok,
        rejection: None,
        panicked: false,
        bytes_in: 12,
        bytes_out: 12,
        latency_ns: Some(800),
    };
    g.bench_function("metrics_record", |b| {
        b.iter(|| metrics.record(black_box(shard), black_box(&record)))
    });
    g.bench_function("clock_std_instant", |b| {
        b.iter(|| black_box(std::time::Instant::now()))
    });
    let clock = quanta::Clock::new();
    g.bench_function("clock_quanta", |b| b.iter(|| black_box(clock.now())));
    g.bench_function("clock_runtime_now_ns", |b| {
        b.iter(|| black_box(proto2ffi_runtime::__private::clock::now_ns()))
    });
    let gate = admission::Admission::new();
    g.bench_function("admission_check", |b| {
        b.iter(|| black_box(gate.admit(black_box(shard))))
    });
    g.finish();
}

criterion_group!(benches, guard);
criterion_main!(benches);
