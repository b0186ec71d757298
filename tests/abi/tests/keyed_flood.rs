//! A flood of unique client keys cannot grow the keyed limiter's memory.

use abi_tests::messages::*;
use abi_tests::{fixture, scaled};
use prost::Message;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn one_million_unique_keys_use_bounded_memory() {
    let lib = fixture();
    // SAFETY: fixture test hooks are `uint64_t f(void)`.
    let memory = unsafe { lib.symbol::<extern "C" fn() -> u64>("fx_test_keyed_memory") };
    let allocations = unsafe { lib.symbol::<extern "C" fn() -> u64>("fx_test_allocations") };
    let f = lib.method("fx_echo_service_keyed");
    let mut req = EchoRequest::default();
    let mut buf = Vec::new();
    let mut call = |i: u64| {
        req.client_id = format!("client-{i}");
        buf.clear();
        req.encode(&mut buf).unwrap();
        lib.call_slice(f, &buf).0
    };
    for i in 0..10_000 {
        assert_eq!(call(i), 0);
    }
    let table = memory();
    assert!(table > 0);
    let rss_before = rss_kib();
    let allocs_before = allocations();
    let n = scaled(1_000_000);
    for i in 10_000..10_000 + n {
        // Every key is new: each gets its burst.
        assert_eq!(call(i), 0);
    }
    assert_eq!(memory(), table, "the limiter's table never grows");
    // Allocations per call: the request's client_id string only (decoding),
    // so the count is bounded by a small constant times n, not by the keys.
    let per_call = (allocations() - allocs_before) as f64 / n as f64;
    assert!(per_call <= 2.0, "allocations per call: {per_call}");
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(
        grown < 16 * 1024,
        "RSS grew by {grown} KiB over {n} unique keys"
    );
}
