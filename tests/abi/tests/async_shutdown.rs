//! Shutdown with async calls and streams (server, client, bidi) open: it
//! waits for them like for sync calls, completes those still running at
//! the timeout with UNAVAILABLE, drops their futures, and refuses new ones.
//! (Its own test binary: shutdown is library-wide.)

use abi_tests::async_calls::Events;
use abi_tests::messages::*;
use abi_tests::{fixture, Code};
use std::time::{Duration, Instant};

const RUN: &str = "fx_job_service_run_start";
const COUNT: &str = "fx_job_service_count_start";

fn live_jobs(text: &str) -> i64 {
    fixture().live_jobs(text)
}

fn item(text: &str) -> Vec<u8> {
    prost::Message::encode_to_vec(&EchoRequest {
        text: text.into(),
        ..Default::default()
    })
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
    // A client stream waiting for more requests, and a bidi stream.
    let upload = lib.start_streaming("fx_job_service_collect_start", 0, events);
    assert_eq!(lib.stream_send(upload, &item("upload")), 0);
    let chat = lib.start_streaming("fx_job_service_chat_start", 0, events);
    assert_eq!(lib.stream_send(chat, &item("chat")), 0);
    let deadline = Instant::now() + wait;
    let live = || live_jobs("long") + live_jobs("stream") + live_jobs("upload") + live_jobs("chat");
    while live() < 4 {
        assert!(Instant::now() < deadline, "the jobs never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Async calls count as in flight: all five, or four when the short one
    // already finished (on a slow machine such as valgrind).
    let in_flight = lib.metrics().in_flight;
    assert!(
        (4..=5).contains(&in_flight),
        "{in_flight} async calls in flight"
    );

    // Not drained within 500 ms: the stragglers complete with UNAVAILABLE.
    assert_eq!(lib.shutdown(500), Code::DeadlineExceeded as i32);
    assert_eq!(events.final_of(short, wait).status, 0, "drained in time");
    let e = events.final_of(long, wait);
    assert_eq!(e.status, Code::Unavailable as i32);
    for id in [stream, upload, chat] {
        assert_eq!(events.final_of(id, wait).status, Code::Unavailable as i32);
    }
    // Requests to the shut-down streams find nothing.
    assert_eq!(
        lib.stream_send(upload, &item("late")),
        Code::NotFound as i32
    );
    // Their futures are dropped, and nothing is in flight any more.
    while live() > 0 || lib.metrics().in_flight > 0 {
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
    let refused = lib.start_streaming("fx_job_service_collect_start", 0, events);
    assert_eq!(events.of(refused)[0].status, Code::Unavailable as i32);
    assert_eq!(lib.shutdown(100), 0, "nothing left to drain");
}
