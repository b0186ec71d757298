//! Graceful shutdown drains calls in flight and refuses new ones.
//! (Its own test binary: shutdown is process-wide for the library.)

use abi_tests::messages::*;
use abi_tests::{fixture, Code};
use std::time::{Duration, Instant};

#[test]
fn shutdown_drains_in_flight_calls_then_refuses() {
    let lib = fixture();
    let slow = EchoRequest {
        text: "slow".into(),
        sleep_ms: 400,
        ..Default::default()
    };
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..3)
            .map(|_| s.spawn(|| lib.call::<_, EchoResponse>("fx_echo_service_echo", &slow)))
            .collect();
        // Wait until all three are in flight.
        let deadline = Instant::now() + Duration::from_secs(10);
        while lib.metrics().in_flight < 3 {
            assert!(Instant::now() < deadline, "calls never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        // A timeout shorter than the calls: not drained.
        assert_eq!(lib.shutdown(10), Code::DeadlineExceeded as i32);
        // New calls are refused while the old ones run.
        let e = lib
            .call::<_, EchoResponse>("fx_echo_service_echo", &EchoRequest::default())
            .unwrap_err();
        assert_eq!(e.code(), Code::Unavailable);
        assert!(e.message().contains("shutting down"), "{e}");
        assert!(lib.health().shutting_down);
        // A long enough timeout drains them.
        assert_eq!(lib.shutdown(5_000), 0);
        for w in workers {
            assert_eq!(w.join().unwrap().unwrap().text, "slow");
        }
    });
    assert_eq!(lib.metrics().in_flight, 0);
    let h = lib.health();
    assert!(!h.healthy);
    assert!(h.reason.contains("shutting down"));
    assert!(lib.method_metrics("echo").rejected_admission >= 1);
}
