//! Limits and rate limits changed at run time (through the `<SERVICE>_DEF`
//! statics the macro emits) take effect on the next call.

use abi_tests::messages::*;
use abi_tests::{fixture, Code};
use prost::Message;

#[test]
fn limits_and_rates_change_at_run_time() {
    let lib = fixture();
    // SAFETY: the fixture's hooks have these signatures.
    let set_limit = unsafe { lib.symbol::<extern "C" fn(u64)>("fx_test_set_small_request_limit") };
    let set_rate = unsafe { lib.symbol::<extern "C" fn(f64, u32) -> i32>("fx_test_set_echo_rate") };
    let req = EchoRequest {
        text: "twenty bytes of text".into(),
        ..Default::default()
    }
    .encode_to_vec();
    assert!(req.len() > 10 && req.len() < 64);
    assert_eq!(lib.call_bytes("fx_echo_service_small", &req).0, 0);
    set_limit(10);
    assert_eq!(
        lib.call_bytes("fx_echo_service_small", &req).0,
        Code::ResourceExhausted as i32
    );
    set_limit(64);
    assert_eq!(lib.call_bytes("fx_echo_service_small", &req).0, 0);

    assert_eq!(set_rate(1.0, 2), 0);
    let codes: Vec<i32> = (0..4)
        .map(|_| lib.call_bytes("fx_echo_service_echo", &req).0)
        .collect();
    assert_eq!(codes, [0, 0, 8, 8]);
    assert_eq!(set_rate(0.0, 0), 0);
    assert_eq!(lib.call_bytes("fx_echo_service_echo", &req).0, 0);
}

/// A rate set at run time with 0, a negative, NaN or a tiny rate used to fail
/// open (every call admitted); it is refused and changes nothing.
#[test]
fn invalid_rates_set_at_run_time_are_refused() {
    let lib = fixture();
    // SAFETY: the fixture's hook has this signature.
    let set_rate = unsafe { lib.symbol::<extern "C" fn(f64, u32) -> i32>("fx_test_set_echo_rate") };
    let invalid = Code::InvalidArgument as i32;
    assert_eq!(set_rate(0.0, 5), invalid);
    assert_eq!(set_rate(-10.0, 5), invalid);
    assert_eq!(set_rate(f64::NAN, 5), invalid);
    assert_eq!(set_rate(1e-30, 5), invalid);
    assert_eq!(set_rate(1.0, 0), invalid);
}
