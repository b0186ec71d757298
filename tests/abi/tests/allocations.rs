//! In steady state the runtime allocates nothing per call: the fixture's
//! counting allocator sees zero allocations across many calls of a method
//! whose request decoding and handler need none.

use abi_tests::fixture;
use abi_tests::messages::*;
use prost::Message;

#[test]
fn steady_state_calls_allocate_nothing() {
    let lib = fixture();
    // SAFETY: the fixture's test hook is `uint64_t f(void)`.
    let allocations = unsafe { lib.symbol::<extern "C" fn() -> u64>("fx_test_allocations") };
    let f = lib.method("fx_echo_service_add");
    let req = AddRequest { a: 1, b: 2 }.encode_to_vec();
    // Warm up: clock calibration, pool buffers, thread-local shard.
    for _ in 0..100 {
        assert_eq!(lib.call_slice(f, &req).0, 0);
    }
    let before = allocations();
    for _ in 0..10_000 {
        assert_eq!(lib.call_slice(f, &req).0, 0);
    }
    let after = allocations();
    assert_eq!(after - before, 0, "allocations per 10,000 calls");

    // The counter is live: a call whose decoding allocates a String is
    // counted. (In the same test: the counter is process-wide, so a test
    // running in parallel would pollute the measurement above.)
    let before = allocations();
    let _: EchoResponse = lib
        .call(
            "fx_echo_service_echo",
            &EchoRequest {
                text: "allocates".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(allocations() > before);
}
