//! Token leases through the ABI: threads calling one rate-limited method
//! spend leased tokens, and the total admitted never exceeds the bucket.
//! (Its own process: it sets the echo method's rate.)

use abi_tests::messages::*;
use abi_tests::{fixture, Code};
use prost::Message;

#[test]
fn threads_sharing_a_limit_never_exceed_its_burst() {
    let lib = fixture();
    lib.init().unwrap();
    // SAFETY: the fixture's hook has this signature.
    let set_rate = unsafe { lib.symbol::<extern "C" fn(f64, u32) -> i32>("fx_test_set_echo_rate") };
    // One call per second refills nothing that matters during the test; a
    // burst of 512 leases 8 tokens at a time.
    assert_eq!(set_rate(1.0, 512), 0);
    let req = EchoRequest {
        text: "x".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let before = lib.method_metrics("echo");
    let threads = 4;
    let per_thread = 300;
    let admitted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let f = lib.method("fx_echo_service_echo");
                for _ in 0..per_thread {
                    match lib.call_slice(f, &req).0 {
                        0 => {
                            admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        code => assert_eq!(code, Code::ResourceExhausted as i32),
                    }
                }
            });
        }
    });
    let admitted = admitted.into_inner();
    // Never more than the bucket (+ what refills while the test runs), and
    // at most 7 tokens per thread left unspent in a lease.
    assert!(admitted <= 512 + 5, "{admitted} admitted");
    assert!(admitted >= 512 - threads * 7, "{admitted} admitted");
    let after = lib.method_metrics("echo");
    assert_eq!(
        (after.rejected_rate_limit - before.rejected_rate_limit) as usize,
        threads * per_thread - admitted,
        "every refusal is counted"
    );
    // A new limit takes effect on the next call (leases of the old one are
    // void; `rate.rs` tests a thread that holds one).
    assert_eq!(set_rate(1.0, 1), 0);
    assert_eq!(lib.call_bytes("fx_echo_service_echo", &req).0, 0);
    assert_eq!(
        lib.call_bytes("fx_echo_service_echo", &req).0,
        Code::ResourceExhausted as i32
    );
    assert_eq!(set_rate(0.0, 0), 0);
}
