//! Async calls and server streams through the C ABI: the `*_start` entry
//! points, the completion callback, `cancel`, deadlines and `stream_next`,
//! driven as a C caller drives them.

use abi_tests::async_calls::{record, wait_until, Events, StartFn};
use abi_tests::messages::*;
use abi_tests::{fixture, scaled, Code, Status};
use prost::Message;
use std::time::{Duration, Instant};

const RUN: &str = "fx_job_service_run_start";
const COUNT: &str = "fx_job_service_count_start";
const WAIT: Duration = Duration::from_secs(20);

/// Live job futures whose request text is `text`.
fn live_jobs(text: &str) -> i64 {
    fixture().live_jobs(text)
}

fn request(text: &str) -> EchoRequest {
    EchoRequest {
        text: text.into(),
        ..Default::default()
    }
}

#[test]
fn completes_once_with_the_response() {
    let lib = fixture();
    let events = Events::new();
    let id = lib.start(RUN, &request("hello"), 0, events);
    assert_ne!(id, 0);
    let done = events.final_of(id, WAIT);
    assert_eq!(done.status, 0);
    assert_eq!(EchoResponse::decode(&done.data[..]).unwrap().text, "hello");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(events.of(id).len(), 1, "exactly one completion");
    // After completion the call is gone.
    assert_eq!(lib.cancel(id), Code::NotFound as i32);
    // A handler ready at once completes inside `start`, on this thread; one
    // that waits completes on a thread of the executor.
    assert_eq!(done.thread, std::thread::current().id());
    let waiting = EchoRequest {
        text: "later".into(),
        sleep_ms: 5,
        ..Default::default()
    };
    let id = lib.start(RUN, &waiting, 0, events);
    let later = events.final_of(id, WAIT);
    assert_eq!(later.status, 0);
    assert_ne!(later.thread, std::thread::current().id());
}

#[test]
fn errors_and_panics_complete_with_their_status() {
    let lib = fixture();
    let events = Events::new();
    let failing = EchoRequest {
        fail_code: Code::FailedPrecondition as i32,
        fail_message: "not yet".into(),
        sleep_ms: 5,
        ..Default::default()
    };
    let id = lib.start(RUN, &failing, 0, events);
    let e = events.final_of(id, WAIT);
    assert_eq!(e.status, Code::FailedPrecondition as i32);
    assert_eq!(Status::decode(&e.data).unwrap().message(), "not yet");

    let panicking = EchoRequest {
        panic: "boom in a future".into(),
        sleep_ms: 5,
        ..Default::default()
    };
    let id = lib.start(RUN, &panicking, 0, events);
    let e = events.final_of(id, WAIT);
    assert_eq!(e.status, Code::Internal as i32);
    assert!(
        Status::decode(&e.data)
            .unwrap()
            .message()
            .contains("incident"),
        "a panic is reported with an incident id"
    );
    // The library goes on.
    let id = lib.start(RUN, &request("after"), 0, events);
    assert_eq!(events.final_of(id, WAIT).status, 0);
    let m = lib.method_metrics("run");
    assert!(m.panics >= 1, "{m:?}");
}

#[test]
fn refusals_complete_before_start_returns() {
    let lib = fixture();
    let events = Events::new();
    // SAFETY: the start entry point's signature; a NULL request with a
    // length, garbage bytes, and a NULL callback.
    unsafe {
        let start: StartFn = lib.symbol(RUN);
        let id = start(std::ptr::null(), 4, 0, Some(record), events.context());
        let e = events.of(id);
        assert_eq!(e.len(), 1, "completed before start returned");
        assert_eq!(e[0].status, Code::InvalidArgument as i32);
        let garbage = [0xff_u8; 9];
        let id = start(
            garbage.as_ptr(),
            garbage.len(),
            0,
            Some(record),
            events.context(),
        );
        let e = events.of(id);
        assert_eq!(e[0].status, Code::InvalidArgument as i32);
        assert!(Status::decode(&e[0].data)
            .unwrap()
            .message()
            .contains("not a valid message"));
        assert_eq!(start(garbage.as_ptr(), 0, 0, None, events.context()), 0);
    }
}

#[test]
fn cancel_drops_the_future_and_completes_with_cancelled() {
    let lib = fixture();
    let events = Events::new();
    let slow = EchoRequest {
        text: "cancel me".into(),
        sleep_ms: 60_000,
        ..Default::default()
    };
    let before = Instant::now();
    let id = lib.start(RUN, &slow, 0, events);
    wait_until("the job to start", || live_jobs("cancel me") == 1);
    assert_eq!(lib.cancel(id), 0);
    let e = events.final_of(id, WAIT);
    assert_eq!(e.status, Code::Cancelled as i32);
    assert!(before.elapsed() < Duration::from_secs(30));
    // Cancelling twice, or an unknown id, finds nothing.
    assert_eq!(lib.cancel(id), Code::NotFound as i32);
    assert_eq!(lib.cancel(u64::MAX), Code::NotFound as i32);
    assert_eq!(lib.cancel(0), Code::NotFound as i32);
    // The future is dropped (its `Live` guard ran), not left sleeping.
    wait_until("the cancelled future to be dropped", || {
        live_jobs("cancel me") == 0
    });
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(events.of(id).len(), 1, "exactly one completion");
}

#[test]
fn deadlines_complete_with_deadline_exceeded_and_are_visible_to_handlers() {
    let lib = fixture();
    let events = Events::new();
    let slow = EchoRequest {
        sleep_ms: 60_000,
        ..Default::default()
    };
    let started = Instant::now();
    let id = lib.start(RUN, &slow, 50, events);
    let e = events.final_of(id, WAIT);
    assert_eq!(e.status, Code::DeadlineExceeded as i32);
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(Status::decode(&e.data).unwrap().message().contains("50 ms"));
    // A handler sees its deadline.
    let ask = EchoRequest {
        repeat: 1,
        ..Default::default()
    };
    let id = lib.start(RUN, &ask, 5_000, events);
    let e = events.final_of(id, WAIT);
    assert_eq!(e.status, 0);
    let left: u64 = EchoResponse::decode(&e.data[..])
        .unwrap()
        .text
        .parse()
        .unwrap();
    assert!(left > 0 && left <= 5_000, "{left}");
    // Without a deadline the handler sees none (0).
    let id = lib.start(RUN, &ask, 0, events);
    let e = events.final_of(id, WAIT);
    assert_eq!(EchoResponse::decode(&e.data[..]).unwrap().text, "0");
}

#[test]
fn ten_thousand_concurrent_calls_each_complete_once() {
    let lib = fixture();
    let events = Events::new();
    let n = scaled(10_000) as usize;
    let req = EchoRequest {
        text: "x".into(),
        sleep_ms: 20,
        ..Default::default()
    };
    let ids: Vec<u64> = (0..n).map(|_| lib.start(RUN, &req, 0, events)).collect();
    events.wait_finals(n, Duration::from_secs(120));
    for id in ids {
        let e = events.of(id);
        assert_eq!(e.len(), 1, "call {id}");
        assert_eq!(e[0].status, 0, "call {id}");
    }
}

/// Takes every item of a stream until its final event; returns the items
/// and the final status. `pause` sleeps between takes (a slow consumer),
/// and the undelivered count is checked against the window each time.
fn drain(id: u64, events: &Events, pause: Duration, max_items: u32) -> (Vec<u64>, i32) {
    let lib = fixture();
    let mut items = Vec::new();
    loop {
        let (code, batch) = lib.stream_next(id, max_items);
        if code == Code::NotFound as i32 {
            let e = events.final_of(id, WAIT);
            return (items, e.status);
        }
        assert_eq!(code, 0);
        let took = batch.len();
        items.extend(
            batch
                .iter()
                .map(|b| EchoResponse::decode(&b[..]).unwrap().calls),
        );
        if took == 0 {
            events.wait_any(Duration::from_millis(5));
        } else if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

/// Batches a consumer took from inside its callback, one per doorbell.
static TAKEN_IN_CALLBACK: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());

/// A consumer that takes every waiting item from inside the doorbell
/// callback itself, then records the event as `record` does.
unsafe extern "C" fn take_in_callback(
    context: *mut std::ffi::c_void,
    id: u64,
    status: i32,
    data: *const u8,
    len: usize,
) {
    if status == -1 {
        let (code, batch) = fixture().stream_next(id, 0);
        assert_eq!(code, 0);
        TAKEN_IN_CALLBACK.lock().unwrap().push(batch.len());
    }
    // SAFETY: forwarded.
    unsafe { record(context, id, status, data, len) };
}

#[test]
fn a_handlers_burst_rings_the_doorbell_once() {
    // `count` sends its ten items in one poll (nothing waits). The doorbell
    // is owed from the first and rung when the poll ends, so a consumer
    // that takes from inside its callback gets all ten at once — not one
    // doorbell and one crossing per item.
    let lib = fixture();
    let events = Events::new();
    let req = EchoRequest {
        repeat: 10,
        ..Default::default()
    };
    // SAFETY: the callback and its context live for the process.
    let id = unsafe { lib.start_with(COUNT, &req, 0, take_in_callback, events.context()) };
    assert_eq!(events.final_of(id, WAIT).status, 0);
    assert_eq!(*TAKEN_IN_CALLBACK.lock().unwrap(), vec![10]);
}

#[test]
fn an_item_whose_encoded_len_lies_is_refused_and_the_stream_stays_whole() {
    let lib = fixture();
    let events = Events::new();
    let id = lib.start("fx_job_service_liar_start", &request("liar"), 0, events);
    let (items, status) = drain(id, events, Duration::ZERO, 0);
    // The lying item never reached the queue; the ones around it decode.
    assert_eq!(items, vec![1000, 3000]);
    assert_eq!(status, Code::Internal as i32);
    let message = Status::decode(&events.final_of(id, WAIT).data)
        .unwrap()
        .message()
        .to_string();
    assert!(message.contains("encoded_len"), "{message}");
}

#[test]
fn a_stream_delivers_every_item_in_order_then_its_status() {
    let lib = fixture();
    let events = Events::new();
    let req = EchoRequest {
        repeat: 1_000,
        ..Default::default()
    };
    let id = lib.start(COUNT, &req, 0, events);
    let (items, status) = drain(id, events, Duration::ZERO, 0);
    assert_eq!(status, 0);
    assert_eq!(items, (0..1_000).collect::<Vec<u64>>());
    // Doorbells (-1) came before the final status, and far fewer than items.
    let e = events.of(id);
    let finals: Vec<_> = e.iter().filter(|e| e.status >= 0).collect();
    assert_eq!(finals.len(), 1);
    assert_eq!(e.last().unwrap().status, 0);
    assert!(e.iter().all(|e| e.status == -1 || e.status == 0));

    // A failing stream: items first, then the error.
    let failing = EchoRequest {
        repeat: 3,
        fail_code: Code::Aborted as i32,
        fail_message: "stopped".into(),
        ..Default::default()
    };
    let id = lib.start(COUNT, &failing, 0, events);
    let (items, status) = drain(id, events, Duration::ZERO, 0);
    assert_eq!(items, vec![0, 1, 2]);
    assert_eq!(status, Code::Aborted as i32);
}

#[test]
fn a_slow_consumer_pauses_the_producer_and_memory_stays_bounded() {
    let lib = fixture();
    let events = Events::new();
    let n = scaled(1_000_000);
    let req = EchoRequest {
        repeat: n as u32,
        ..Default::default()
    };
    lib.init().unwrap();
    let sent = || lib.method_metrics("flood").stream_items;
    let before = sent();
    let id = lib.start("fx_job_service_flood_start", &req, 0, events);
    // Nobody takes anything: the producer stops at the window.
    wait_until("the window to fill", || sent() - before >= 256);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(sent() - before, 256, "at most 256 items wait undelivered");
    // A slow consumer taking 1,000 at a time: never more than the window
    // in between, and every item arrives in order.
    let mut got = 0u64;
    let mut takes = 0u32;
    loop {
        let (code, batch) = lib.stream_next(id, 1_000);
        if code != 0 {
            break;
        }
        for b in &batch {
            assert_eq!(EchoResponse::decode(&b[..]).unwrap().calls, got);
            got += 1;
        }
        let waiting = sent() - before - got;
        assert!(waiting <= 256, "{waiting} items undelivered");
        takes += 1;
        if takes.is_multiple_of(256) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if batch.is_empty() {
            events.wait_any(Duration::from_millis(2));
        }
    }
    assert_eq!(got, n);
    assert_eq!(events.final_of(id, WAIT).status, 0);
    assert_eq!(lib.method_metrics("flood").streams_open, 0);
}

#[test]
fn cancelling_a_stream_stops_its_producer() {
    let lib = fixture();
    let events = Events::new();
    let endless = EchoRequest {
        text: "endless".into(),
        repeat: u32::MAX,
        sleep_ms: 1,
        ..Default::default()
    };
    let id = lib.start(COUNT, &endless, 0, events);
    wait_until("items", || events.of(id).iter().any(|e| e.status == -1));
    let (code, _) = lib.stream_next(id, 0);
    assert_eq!(code, 0);
    assert_eq!(lib.cancel(id), 0);
    assert_eq!(events.final_of(id, WAIT).status, Code::Cancelled as i32);
    assert_eq!(lib.stream_next(id, 0).0, Code::NotFound as i32);
    wait_until("the producer to be dropped", || live_jobs("endless") == 0);
    // A stream with a deadline ends with DEADLINE_EXCEEDED.
    let id = lib.start(COUNT, &endless, 30, events);
    let (_, status) = drain(id, events, Duration::ZERO, 0);
    assert_eq!(status, Code::DeadlineExceeded as i32);
    // stream_next on a unary call finds no stream.
    let slow = EchoRequest {
        sleep_ms: 200,
        ..Default::default()
    };
    let id = lib.start(RUN, &slow, 0, events);
    assert_eq!(lib.stream_next(id, 0).0, Code::NotFound as i32);
    events.final_of(id, WAIT);
}

#[test]
fn async_metrics_are_in_the_prometheus_text() {
    let lib = fixture();
    let events = Events::new();
    let id = lib.start(
        COUNT,
        &EchoRequest {
            repeat: 2,
            ..Default::default()
        },
        0,
        events,
    );
    drain(id, events, Duration::ZERO, 0);
    let text = lib.metrics_text();
    assert!(
        text.contains("proto2ffi_stream_items_total{service=\"JobService\",method=\"count\"}"),
        "{text}"
    );
    assert!(text.contains("proto2ffi_streams_open{"), "{text}");
}

/// What the fixture's `run` answers for these bytes, when that is certain:
/// undecodable bytes are INVALID_ARGUMENT; a request with no sleep panics
/// (INTERNAL), fails with its code, or succeeds. A sleeping one may also
/// meet its deadline, so anything but a crash or a second completion goes.
fn expected_status(bytes: &[u8]) -> Option<i32> {
    let Ok(r) = EchoRequest::decode(bytes) else {
        return Some(Code::InvalidArgument as i32);
    };
    if r.sleep_ms != 0 {
        return None;
    }
    if !r.panic.is_empty() {
        return Some(Code::Internal as i32);
    }
    if r.fail_code != 0 {
        // A handler's error with code OK is reported as UNKNOWN.
        let code = Code::from_i32(r.fail_code);
        return Some(if code == Code::Ok {
            Code::Unknown as i32
        } else {
            code as i32
        });
    }
    Some(0)
}

#[test]
fn hostile_bytes_to_a_start_function_complete_once_each() {
    let lib = fixture();
    let events = Events::new();
    // SAFETY: the start entry point's signature.
    let start: StartFn = unsafe { lib.symbol(RUN) };
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid = EchoRequest {
        text: "fuzz".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let n = scaled(10_000) as usize;
    let mut calls = Vec::with_capacity(n);
    for i in 0..n {
        let mut bytes = if i % 2 == 0 {
            valid.clone()
        } else {
            (0..next() % 40).map(|_| next() as u8).collect()
        };
        if !bytes.is_empty() && i % 3 == 0 {
            let at = next() as usize % bytes.len();
            bytes[at] ^= 1 << (next() % 8);
        }
        // A 5 ms deadline bounds whatever sleep the bytes decode to.
        // SAFETY: `bytes` is live for the call; the collector is static.
        let id = unsafe {
            start(
                bytes.as_ptr(),
                bytes.len(),
                5,
                Some(record),
                events.context(),
            )
        };
        calls.push((id, expected_status(&bytes)));
    }
    events.wait_finals(n, Duration::from_secs(120));
    for (id, expected) in calls {
        let e = events.of(id);
        assert_eq!(e.len(), 1, "call {id} completed once");
        if let Some(code) = expected {
            assert_eq!(e[0].status, code, "call {id}");
        }
    }
}

/// Not a test: prints the round-trip time of async calls one by one
/// (`cargo test --release -p abi-tests --test async_calls -- --ignored --nocapture`).
#[test]
#[ignore]
fn round_trip_timing() {
    let lib = fixture();
    let events = Events::new();
    let req = request("t");
    for _ in 0..1000 {
        let id = lib.start(RUN, &req, 0, events);
        events.final_of(id, WAIT);
    }
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        let id = lib.start(RUN, &req, 0, events);
        events.final_of(id, WAIT);
    }
    println!(
        "one by one: {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
