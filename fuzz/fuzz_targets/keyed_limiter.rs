//! The bounded keyed limiter under arbitrary keys and clocks: never panics,
//! never grows, and a key that was never evicted gets no more than its burst
//! plus what its rate refilled (checked with a single key, which a 16-slot
//! limiter never evicts).
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto2ffi_runtime::__private::rate::KeyedRateLimiter;
use proto2ffi_runtime::RateLimit;

fuzz_target!(|data: &[u8]| {
    let limit = RateLimit {
        per_second: 1000.0,
        burst: 3,
    };
    let limiter = KeyedRateLimiter::new(limit, 16);
    let lone = KeyedRateLimiter::new(limit, 16);
    let memory = limiter.memory_bytes();
    let mut now = 1u64;
    let mut single = 0u64;
    for chunk in data.chunks(3) {
        let key = &chunk[..chunk.len().min(2)];
        now += u64::from(*chunk.last().unwrap_or(&0)) * 1_000;
        let _ = limiter.check(key, now);
        if lone.check("lone", now).is_ok() {
            single += 1;
        }
    }
    assert_eq!(limiter.memory_bytes(), memory);
    // One call per 1,000,000 ns at 1000/s, plus the burst of 3.
    assert!(single <= 3 + now / 1_000_000 + 1, "{single} admitted by {now} ns");
});
