//! Two proto2ffi libraries with the same service names load into one
//! process side by side: every symbol carries its library's prefix.

use abi_tests::messages::*;
use abi_tests::{fixture, fixture_b};

#[test]
fn two_libraries_in_one_process() {
    let a = fixture();
    let b = fixture_b();
    let ra: AddResponse = a
        .call("fx_echo_service_add", &AddRequest { a: 5, b: 3 })
        .unwrap();
    let rb: AddResponse = b
        .call("fxb_echo_service_add", &AddRequest { a: 5, b: 3 })
        .unwrap();
    assert_eq!((ra.sum, rb.sum), (8, 2));
    assert!(!b.has("fx_echo_service_add"));
    // Separate runtimes: separate metrics and health.
    assert_eq!(b.metrics().methods.len(), 1);
    assert!(a.metrics().methods.len() > 1);
    assert_eq!(b.health().services, vec!["EchoService".to_string()]);
}
