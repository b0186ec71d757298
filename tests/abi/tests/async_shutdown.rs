//! Shutdown with async calls and streams open: it waits for them like for
//! sync calls, completes those still running at the timeout with
//! UNAVAILABLE, drops their futures, and refuses new ones.
//! (Its own test binary: shutdown is library-wide.)

use abi_tests::async_calls::Events;
use abi_tests::messages::*;
use abi_tests::{fixture, Code};
use std::time::{Duration, Instant};

const RUN: &str = "fx_job_service_run_start";
const COUNT: &str = "fx_job_service_count_start";

fn live_jobs(text: &str) -> i64 {
    // SAFETY: the fixture's test hook, `int64_t f(const uint8_t *, size_t)`.
    unsafe {
        fixture().symbol::<unsafe extern "C" fn(*const u8, usize) -> i64>("fx_test_live_jobs_named")(
            text.as_ptr(),
            text.len(),
        )
    }
}

#[test]
fn shutdown_drains_then_cancels_async_calls_and_streams() {
    let lib = fixture();
    let events = Events::new();
    let wait = Duration::from_secs(20);
    // A call that finishes within the drain timeout…
    let short = lib.start(
        RUN,
        &EchoRequest {
            text: "short".into(),
            sleep_ms: 100,
            ..Default::default()
        },
        0,
        events,
    );
    // …one that does not, and a stream nobody drains (its producer waits).
    let long = lib.start(
        RUN,
        &EchoRequest {
            text: "long".into(),
            sleep_ms: 60_000,
            ..Default::default()
        },
        0,
        events,
    );
    let stream = lib.start(
        COUNT,
        &EchoRequest {
            text: "stream".into(),
            repeat: u32::MAX,
            ..Default::default()
        },
        0,
        events,
    );
    let deadline = Instant::now() + wait;
    while live_jobs("long") + live_jobs("stream") < 2 {
        assert!(Instant::now() < deadline, "the jobs never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(lib.metrics().in_flight, 3, "async calls count as in flight");

    // Not drained within 500 ms: the stragglers complete with UNAVAILABLE.
    assert_eq!(lib.shutdown(500), Code::DeadlineExceeded as i32);
    assert_eq!(events.final_of(short, wait).status, 0, "drained in time");
    let e = events.final_of(long, wait);
    assert_eq!(e.status, Code::Unavailable as i32);
    assert_eq!(
        events.final_of(stream, wait).status,
        Code::Unavailable as i32
    );
    // Their futures are dropped, and nothing is in flight any more.
    while live_jobs("long") + live_jobs("stream") > 0 || lib.metrics().in_flight > 0 {
        assert!(
            Instant::now() < deadline,
            "cancelled futures were not dropped"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // New async calls are refused before start returns.
    let refused = lib.start(RUN, &EchoRequest::default(), 0, events);
    let e = events.of(refused);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].status, Code::Unavailable as i32);
    assert_eq!(lib.shutdown(100), 0, "nothing left to drain");
}
