//! 8 threads × 100,000 calls: the metrics add up exactly.

use abi_tests::messages::*;
use abi_tests::{fixture, scaled};
use prost::Message;

#[test]
fn metrics_add_up_exactly_under_contention() {
    let lib = fixture();
    let threads = 8u64;
    let per_thread = scaled(100_000);
    lib.init().unwrap();
    let before = lib.method_metrics("type");
    let good = AddRequest { a: 3, b: 4 }.encode_to_vec();
    let bad = [0x08u8, 0xff]; // truncated varint → INVALID_ARGUMENT
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let f = lib.method("fx_echo_service_type");
                for i in 0..per_thread {
                    let (req, expect) = if i % 10 == 0 {
                        (&bad[..], 3)
                    } else {
                        (&good[..], 0)
                    };
                    let (code, _) = lib.call_slice(f, req);
                    assert_eq!(code, expect);
                }
            });
        }
    });
    let after = lib.method_metrics("type");
    let total = threads * per_thread;
    let errors = threads * per_thread.div_ceil(10);
    let count = |m: &abi_tests::MethodMetrics, code: i32| {
        m.codes
            .iter()
            .find(|c| c.code == code)
            .map_or(0, |c| c.count)
    };
    assert_eq!(after.calls - before.calls, total);
    assert_eq!(count(&after, 0) - count(&before, 0), total - errors);
    assert_eq!(count(&after, 3) - count(&before, 3), errors);
    let per_code: u64 = after.codes.iter().map(|c| c.count).sum();
    assert_eq!(per_code, after.calls, "calls = sum over codes");
    let in_buckets: u64 = after.latency_buckets.iter().sum();
    assert_eq!(
        in_buckets, after.latency_samples,
        "every timed call lands in one latency bucket"
    );
    // One call in 16 per thread is timed (each new thread starts with a
    // timed call, so at least total/16 and at most that plus one per thread).
    let timed = after.latency_samples - before.latency_samples;
    assert!(
        timed >= total / 16 && timed <= total / 16 + threads,
        "{timed} timed of {total}"
    );
    let bytes = (total - errors) * good.len() as u64 + errors * bad.len() as u64;
    assert_eq!(after.bytes_in - before.bytes_in, bytes);
}

#[test]
fn metrics_stay_exact_with_more_threads_than_shards() {
    // 48 threads: more than the exclusive shards, so some share the
    // overflow shard (atomic read-modify-writes); counts stay exact.
    let lib = fixture();
    lib.init().unwrap();
    let before = lib.method_metrics("add").calls;
    let threads = 48u64;
    let per_thread = scaled(2_000);
    let req = AddRequest { a: 1, b: 1 }.encode_to_vec();
    let barrier = std::sync::Barrier::new(threads as usize);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let f = lib.method("fx_echo_service_add");
                barrier.wait();
                for _ in 0..per_thread {
                    assert_eq!(lib.call_slice(f, &req).0, 0);
                }
            });
        }
    });
    let after = lib.method_metrics("add");
    assert_eq!(after.calls - before, threads * per_thread);
    assert_eq!(
        after.latency_buckets.iter().sum::<u64>(),
        after.latency_samples
    );
    assert!(after.latency_samples <= after.calls);
}
