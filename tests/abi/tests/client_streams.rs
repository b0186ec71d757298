//! Client-streaming and bidirectional calls through the C ABI: the
//! request-less `*_start`, `stream_send` with its window and
//! `STREAM_WRITABLE`, `stream_close_send`, refused items, cancellation,
//! deadlines and early answers — driven as a C caller drives them.

use abi_tests::async_calls::{wait_until, Events, StreamingStartFn};
use abi_tests::messages::*;
use abi_tests::{fixture, scaled, Code, Status};
use prost::Message;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const COLLECT: &str = "fx_job_service_collect_start";
const CHAT: &str = "fx_job_service_chat_start";
const WAIT: Duration = Duration::from_secs(20);
/// `STREAM_WRITABLE`: the window is full (from `stream_send`), or has room
/// again (the event).
const WRITABLE: i32 = -2;
const WINDOW: usize = 256;

/// `collect`'s metrics count every test's requests: the tests that call it
/// take turns, so the ones that count see only their own.
fn collect_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn item(text: &str) -> Vec<u8> {
    EchoRequest {
        text: text.into(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Sends `bytes`, waiting for `STREAM_WRITABLE` events while the window is
/// full; returns the final code and how many times the window was full.
fn send_waiting(id: u64, bytes: &[u8], events: &Events) -> (i32, usize) {
    let lib = fixture();
    let mut full = 0;
    loop {
        let seen = writable_events(events, id);
        let code = lib.stream_send(id, bytes);
        if code != WRITABLE {
            return (code, full);
        }
        full += 1;
        // The event comes once the handler has taken half the window; it
        // may already have come between the send and this wait.
        wait_until("STREAM_WRITABLE", || writable_events(events, id) > seen);
    }
}

fn writable_events(events: &Events, id: u64) -> usize {
    events
        .of(id)
        .iter()
        .filter(|e| e.status == WRITABLE)
        .count()
}

/// `texts` framed as `stream_send_items` takes them.
fn framed(texts: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in texts {
        prost::encoding::encode_varint(item(t).len() as u64, &mut out);
        out.extend_from_slice(&item(t));
    }
    out
}

/// Sends framed `bytes` with `stream_send_items`, sending the rest after
/// each `STREAM_WRITABLE` event; returns the final code and how many
/// times the window filled.
fn send_items_waiting(id: u64, mut bytes: &[u8], events: &Events) -> (i32, usize) {
    let lib = fixture();
    let mut full = 0;
    loop {
        let seen = writable_events(events, id);
        let (code, taken) = lib.stream_send_items(id, bytes);
        if code != WRITABLE {
            return (code, full);
        }
        assert!(taken < bytes.len());
        bytes = &bytes[taken..];
        full += 1;
        wait_until("STREAM_WRITABLE", || writable_events(events, id) > seen);
    }
}

#[test]
fn batches_arrive_in_order_through_the_window() {
    let _turn = collect_turn();
    let lib = fixture();
    let events = Events::new();
    lib.init().unwrap();
    let before = lib.method_metrics("collect").stream_items_received;
    let id = lib.start_streaming(COLLECT, 0, events);
    let texts: Vec<String> = (0..1_000).map(|i| format!("b{i}")).collect();
    // Batches of 300 each fill the 256-item window at least once.
    let mut full = 0;
    for chunk in texts.chunks(300) {
        let (code, f) = send_items_waiting(id, &framed(chunk), events);
        assert_eq!(code, 0);
        full += f;
    }
    assert!(full > 0, "a batch larger than the window fills it");
    // An empty batch queues nothing and succeeds.
    assert_eq!(lib.stream_send_items(id, &[]), (0, 0));
    assert_eq!(lib.stream_close_send(id), 0);
    let done = events.final_of(id, WAIT);
    assert_eq!(done.status, 0, "{:?}", Status::decode(&done.data));
    let response = EchoResponse::decode(&done.data[..]).unwrap();
    assert_eq!(response.text, texts.join(","));
    assert_eq!(
        lib.method_metrics("collect").stream_items_received - before,
        1_000
    );
    assert_eq!(
        lib.stream_send_items(id, &framed(&texts[..1])).0,
        Code::NotFound as i32
    );
}

#[test]
fn a_refused_item_in_a_batch_ends_the_call_after_the_ones_before_it() {
    let _turn = collect_turn();
    let lib = fixture();
    let events = Events::new();
    let id = lib.start_streaming(COLLECT, 0, events);
    // `collect` takes requests of at most 1024 bytes.
    let texts = vec!["one".to_string(), "x".repeat(2_000), "three".to_string()];
    let bytes = framed(&texts);
    let (code, taken) = lib.stream_send_items(id, &bytes);
    assert_eq!(code, Code::ResourceExhausted as i32);
    assert_eq!(
        taken,
        framed(&texts[..1]).len(),
        "only the first was queued"
    );
    let done = events.final_of(id, WAIT);
    assert_eq!(done.status, Code::ResourceExhausted as i32);
    assert_eq!(lib.stream_send_items(id, &bytes).0, Code::NotFound as i32);
}

#[test]
fn malformed_batches_end_the_call_with_invalid_argument() {
    let _turn = collect_turn();
    let lib = fixture();
    let cases: Vec<Vec<u8>> = vec![
        // A length past the end.
        {
            let mut b = framed(&["ok".to_string()]);
            b.extend_from_slice(&[50, 1, 2]);
            b
        },
        // A varint that never ends.
        vec![0xff; 12],
    ];
    for bytes in cases {
        let events = Events::new();
        let id = lib.start_streaming(COLLECT, 0, events);
        let (code, _) = lib.stream_send_items(id, &bytes);
        assert_eq!(code, Code::InvalidArgument as i32);
        assert_eq!(
            events.final_of(id, WAIT).status,
            Code::InvalidArgument as i32
        );
    }
    // NULL with a length, and a NULL `taken`: refused, nothing written.
    let events = Events::new();
    let id = lib.start_streaming(COLLECT, 0, events);
    // SAFETY: the export accepts NULL items (refused) and a NULL taken.
    let code = unsafe {
        lib.symbol::<abi_tests::async_calls::SendItemsFn>(&lib.lib_symbol("stream_send_items"))(
            id,
            std::ptr::null(),
            5,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(code, Code::InvalidArgument as i32);
    assert_eq!(
        events.final_of(id, WAIT).status,
        Code::InvalidArgument as i32
    );
}

#[test]
fn a_client_stream_gets_every_request_in_order_then_answers() {
    let _turn = collect_turn();
    let lib = fixture();
    let events = Events::new();
    lib.init().unwrap();
    let before = lib.method_metrics("collect").stream_items_received;
    let id = lib.start_streaming(COLLECT, 0, events);
    assert_ne!(id, 0);
    let n = 1_000;
    let mut expected = Vec::new();
    for i in 0..n {
        let text = format!("r{i}");
        assert_eq!(send_waiting(id, &item(&text), events).0, 0);
        expected.push(text);
    }
    assert_eq!(lib.stream_close_send(id), 0);
    let done = events.final_of(id, WAIT);
    assert_eq!(done.status, 0, "{:?}", Status::decode(&done.data));
    let response = EchoResponse::decode(&done.data[..]).unwrap();
    assert_eq!(response.calls, n);
    assert_eq!(response.text, expected.join(","));
    // Once completed, the call is gone for every export.
    assert_eq!(lib.stream_send(id, &item("late")), Code::NotFound as i32);
    assert_eq!(lib.stream_close_send(id), Code::NotFound as i32);
    assert_eq!(lib.cancel(id), Code::NotFound as i32);
    let m = lib.method_metrics("collect");
    assert_eq!(m.stream_items_received - before, n);
    assert_eq!(m.streams_open, 0);
    let text = lib.metrics_text();
    assert!(
        text.contains(
            "proto2ffi_stream_items_received_total{service=\"JobService\",method=\"collect\"}"
        ),
        "{text}"
    );
}

/// Closing the sending side twice while the call lives is harmless; once
/// the call has answered, it is gone (`NOT_FOUND`). The handler is held at a
/// gate after its input ends, so which of the two a close meets never
/// depends on timing (it did when this was part of the test above: the
/// handler could answer between the two closes).
#[test]
fn closing_twice_is_harmless_while_the_call_lives() {
    let _turn = collect_turn();
    let lib = fixture();
    let events = Events::new();
    lib.init().unwrap();
    let id = lib.start_streaming(COLLECT, 0, events);
    assert_ne!(id, 0);
    assert_eq!(send_waiting(id, &item("a"), events).0, 0);
    assert_eq!(send_waiting(id, &item("gate:twice"), events).0, 0);
    assert_eq!(lib.stream_close_send(id), 0);
    assert_eq!(lib.stream_close_send(id), 0, "closing twice is harmless");
    assert_eq!(
        lib.stream_send(id, &item("after close")),
        Code::FailedPrecondition as i32,
        "nothing is sent after the close"
    );
    lib.open_gate("twice");
    let done = events.final_of(id, WAIT);
    assert_eq!(done.status, 0, "{:?}", Status::decode(&done.data));
    let response = EchoResponse::decode(&done.data[..]).unwrap();
    assert_eq!(response.text, "a,gate:twice");
    assert_eq!(lib.stream_close_send(id), Code::NotFound as i32);
}

#[test]
fn a_full_window_refuses_without_blocking_and_rings_when_writable() {
    let _turn = collect_turn();
    let lib = fixture();
    let events = Events::new();
    let id = lib.start_streaming(COLLECT, 0, events);
    // The handler takes the first request, then holds until the gate
    // opens: the window fills behind it, however slow the machine.
    assert_eq!(lib.stream_send(id, &item("hold:full-window")), 0);
    wait_until("the handler to take the first request", || {
        lib.live_jobs("hold:full-window") == 1
    });
    let mut accepted = 0;
    let refused = loop {
        match lib.stream_send(id, &item("w")) {
            0 => accepted += 1,
            code => break code,
        }
        assert!(accepted <= WINDOW, "more than the window was accepted");
    };
    assert_eq!(refused, WRITABLE);
    assert_eq!(accepted, WINDOW, "exactly the window waits");
    // Refused again while full, and nothing was queued by the refusals.
    assert_eq!(lib.stream_send(id, &item("w")), WRITABLE);
    assert_eq!(writable_events(events, id), 0, "no room yet, no event");
    // The handler goes on and takes items: the caller is told it may send.
    lib.open_gate("full-window");
    wait_until("STREAM_WRITABLE", || writable_events(events, id) >= 1);
    // Two refusals while full, one event: it is rung once per full window.
    assert_eq!(writable_events(events, id), 1, "rung once per full window");
    for _ in 0..300 {
        assert_eq!(send_waiting(id, &item("x"), events).0, 0);
    }
    assert_eq!(lib.stream_close_send(id), 0);
    let done = events.final_of(id, WAIT);
    assert_eq!(done.status, 0);
    assert_eq!(
        EchoResponse::decode(&done.data[..]).unwrap().calls,
        1 + WINDOW as u64 + 300
    );
    assert_eq!(lib.stream_send(id, &item("w")), Code::NotFound as i32);
}

#[test]
fn a_refused_request_ends_the_call_with_its_status() {
    let _turn = collect_turn();
    let lib = fixture();
    let events = Events::new();
    let cases: [(&[u8], Code, &str); 2] = [
        (&[0xff; 9], Code::InvalidArgument, "not a valid message"),
        (
            &[0x0a; 2000],
            Code::ResourceExhausted,
            "exceeds the limit of 1024",
        ),
    ];
    for (bytes, code, message) in cases {
        let id = lib.start_streaming(COLLECT, 0, events);
        assert_eq!(lib.stream_send(id, &item("refused")), 0);
        wait_until("the handler to run", || lib.live_jobs("refused") == 1);
        assert_eq!(lib.stream_send(id, bytes), code as i32);
        let done = events.final_of(id, WAIT);
        assert_eq!(done.status, code as i32);
        let status = Status::decode(&done.data).unwrap();
        assert!(status.message().contains(message), "{status:?}");
        // The handler's future was dropped; later sends find nothing.
        wait_until("the future to be dropped", || lib.live_jobs("refused") == 0);
        assert_eq!(lib.stream_send(id, &item("x")), Code::NotFound as i32);
    }
    // NULL with a length.
    let id = lib.start_streaming(COLLECT, 0, events);
    assert_eq!(lib.stream_send(id, &item("n")), 0);
    // SAFETY: the export's signature; NULL with a length is refused
    // before anything is read.
    let code = unsafe {
        lib.symbol::<abi_tests::async_calls::SendFn>(&lib.lib_symbol("stream_send"))(
            id,
            std::ptr::null(),
            8,
        )
    };
    assert_eq!(code, Code::InvalidArgument as i32);
    assert_eq!(
        events.final_of(id, WAIT).status,
        Code::InvalidArgument as i32
    );
    let m = lib.method_metrics("collect");
    assert!(m.rejected_request_size >= 2, "{m:?}");
}

#[test]
fn errors_panics_and_early_answers_complete_once() {
    let _turn = collect_turn();
    let lib = fixture();
    let events = Events::new();
    // The handler fails on the second request.
    let id = lib.start_streaming(COLLECT, 0, events);
    assert_eq!(lib.stream_send(id, &item("a")), 0);
    let failing = EchoRequest {
        fail_code: Code::Aborted as i32,
        fail_message: "no more".into(),
        ..Default::default()
    };
    assert_eq!(lib.stream_send(id, &failing.encode_to_vec()), 0);
    let done = events.final_of(id, WAIT);
    assert_eq!(done.status, Code::Aborted as i32);
    assert_eq!(Status::decode(&done.data).unwrap().message(), "no more");
    // A panic in the future.
    let id = lib.start_streaming(COLLECT, 0, events);
    let panicking = EchoRequest {
        panic: "boom in a client stream".into(),
        ..Default::default()
    };
    assert_eq!(lib.stream_send(id, &panicking.encode_to_vec()), 0);
    assert_eq!(events.final_of(id, WAIT).status, Code::Internal as i32);
    // An answer before the stream ends: later sends find nothing.
    let id = lib.start_streaming(COLLECT, 0, events);
    assert_eq!(lib.stream_send(id, &item("a")), 0);
    assert_eq!(lib.stream_send(id, &item("stop")), 0);
    let done = events.final_of(id, WAIT);
    assert_eq!(done.status, 0);
    assert_eq!(EchoResponse::decode(&done.data[..]).unwrap().text, "a,stop");
    wait_until("the call to leave the table", || {
        lib.stream_send(id, &item("b")) == Code::NotFound as i32
    });
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(events.of(id).len(), 1, "exactly one completion");
    // An empty stream: closed at once.
    let id = lib.start_streaming(COLLECT, 0, events);
    assert_eq!(lib.stream_close_send(id), 0);
    // A send after the close is refused either way: FAILED_PRECONDITION
    // while the call is still in the table, NOT_FOUND once the handler
    // (which may answer at once on an empty stream) has completed it.
    let late = lib.stream_send(id, &item("x"));
    assert!(
        late == Code::FailedPrecondition as i32 || late == Code::NotFound as i32,
        "a send after close_send: {late}"
    );
    let done = events.final_of(id, WAIT);
    assert_eq!(done.status, 0);
    assert_eq!(EchoResponse::decode(&done.data[..]).unwrap().calls, 0);
}

#[test]
fn cancel_and_deadline_drop_a_waiting_handler() {
    let _turn = collect_turn();
    let lib = fixture();
    let events = Events::new();
    let id = lib.start_streaming(COLLECT, 0, events);
    assert_eq!(lib.stream_send(id, &item("cancel me")), 0);
    wait_until("the handler", || lib.live_jobs("cancel me") == 1);
    assert_eq!(lib.cancel(id), 0);
    assert_eq!(events.final_of(id, WAIT).status, Code::Cancelled as i32);
    wait_until("the future to be dropped", || {
        lib.live_jobs("cancel me") == 0
    });
    assert_eq!(lib.stream_send(id, &item("x")), Code::NotFound as i32);
    // A caller that never closes meets its deadline.
    let id = lib.start_streaming(COLLECT, 50, events);
    // On a slow machine (valgrind) the deadline may pass before the send.
    let code = lib.stream_send(id, &item("deadline"));
    assert!(code == 0 || code == Code::NotFound as i32, "{code}");
    let done = events.final_of(id, WAIT);
    assert_eq!(done.status, Code::DeadlineExceeded as i32);
    wait_until("the future to be dropped", || {
        lib.live_jobs("deadline") == 0
    });
    // A NULL callback starts nothing.
    // SAFETY: the start entry point's signature.
    let start: StreamingStartFn = unsafe { lib.symbol(COLLECT) };
    // SAFETY: no callback, so nothing is called.
    assert_eq!(unsafe { start(0, None, events.context()) }, 0);
    // Sends to ids that are not client streams.
    assert_eq!(lib.stream_send(0, &item("x")), Code::NotFound as i32);
    assert_eq!(lib.stream_send(u64::MAX, &item("x")), Code::NotFound as i32);
    let slow = EchoRequest {
        sleep_ms: 200,
        ..Default::default()
    };
    let unary = lib.start("fx_job_service_run_start", &slow, 0, events);
    assert_eq!(lib.stream_send(unary, &item("x")), Code::NotFound as i32);
    assert_eq!(lib.stream_close_send(unary), Code::NotFound as i32);
    events.final_of(unary, WAIT);
}

#[test]
fn a_bidi_stream_answers_while_a_sender_thread_floods_it() {
    let lib = fixture();
    let events = Events::new();
    let n = scaled(20_000) as usize;
    let id = lib.start_streaming(CHAT, 0, events);
    // One thread sends (waiting on STREAM_WRITABLE), this one takes the
    // answers: both windows stay bounded and every item arrives in order.
    let sender = std::thread::spawn(move || {
        let mut full = 0;
        for i in 0..n {
            let (code, f) = send_waiting(id, &item(&i.to_string()), events);
            assert_eq!(code, 0, "item {i}");
            full += f;
        }
        assert_eq!(fixture().stream_close_send(id), 0);
        full
    });
    let mut got = 0usize;
    loop {
        let (code, batch) = lib.stream_next(id, 0);
        if code != 0 {
            break;
        }
        for b in &batch {
            let answer = EchoResponse::decode(&b[..]).unwrap();
            assert_eq!(answer.calls as usize, got);
            assert_eq!(answer.text, got.to_string());
            got += 1;
        }
        if batch.is_empty() {
            events.wait_any(Duration::from_millis(2));
        }
    }
    let full = sender.join().unwrap();
    assert_eq!(got, n);
    assert_eq!(events.final_of(id, WAIT).status, 0);
    let e = events.of(id);
    assert!(e
        .iter()
        .all(|e| e.status == -1 || e.status == WRITABLE || e.status == 0));
    eprintln!("bidi: {n} items, window full {full} times");
    assert_eq!(lib.method_metrics("chat").streams_open, 0);
}

#[test]
fn hostile_sends_never_crash_and_every_call_completes_once() {
    let _turn = collect_turn();
    let lib = fixture();
    let events = Events::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let calls = scaled(200) as usize;
    let mut ids = Vec::new();
    for c in 0..calls {
        let symbol = if c % 2 == 0 { COLLECT } else { CHAT };
        // A deadline ends calls whose random requests said to sleep long.
        let id = lib.start_streaming(symbol, 200, events);
        ids.push(id);
        for _ in 0..(next() % 8) {
            let len = (next() % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let code = lib.stream_send(id, &bytes);
            // Queued, refused as undecodable (which ends the call), or the
            // call already ended (a decoded request told it to fail).
            assert!(
                [0, Code::InvalidArgument as i32, Code::NotFound as i32].contains(&code),
                "{code}"
            );
            // Unknown ids never crash either.
            assert_eq!(
                lib.stream_send(next() | 1 << 63, &bytes),
                Code::NotFound as i32
            );
        }
        match next() % 3 {
            0 => {
                lib.stream_close_send(id);
            }
            1 => {
                lib.cancel(id);
            }
            _ => {
                lib.stream_close_send(id);
                lib.cancel(id);
            }
        }
    }
    // Drain the bidi calls' answers so each can finish.
    for &id in &ids {
        loop {
            let (code, _) = lib.stream_next(id, 0);
            if code != 0 {
                break;
            }
            if events.of(id).iter().any(|e| e.status >= 0) {
                break;
            }
            events.wait_any(Duration::from_millis(1));
        }
        events.final_of(id, WAIT);
    }
    std::thread::sleep(Duration::from_millis(20));
    for id in ids {
        let finals = events.of(id).into_iter().filter(|e| e.status >= 0).count();
        assert_eq!(finals, 1, "call {id}");
    }
}

/// Sends framed `bytes`, spinning (not sleeping) for each `STREAM_WRITABLE`
/// event: many window fills a second. A lost event leaves the sender
/// waiting, and the test fails at the deadline. `full` counts the fills.
fn send_items_spinning(id: u64, mut bytes: &[u8], events: &Events, full: &AtomicUsize) {
    let lib = fixture();
    loop {
        let seen = writable_events(events, id);
        let (code, taken) = lib.stream_send_items(id, bytes);
        if code != WRITABLE {
            assert_eq!(code, 0);
            return;
        }
        bytes = &bytes[taken..];
        full.fetch_add(1, Ordering::Relaxed);
        let deadline = std::time::Instant::now() + WAIT;
        while writable_events(events, id) == seen {
            assert!(
                std::time::Instant::now() < deadline,
                "no STREAM_WRITABLE after a full window"
            );
            std::thread::yield_now();
        }
    }
}

#[test]
fn two_senders_filling_the_window_never_lose_a_writable_event() {
    // The handler counts requests out of the window one at a time without
    // the queue's lock, while senders on two threads find it full and ask
    // for the event: every request arrives, and every full window is
    // followed by its event.
    let _turn = collect_turn();
    let lib = fixture();
    let events = Events::new();
    let per_sender = scaled(3_000).max(600) as usize;
    for round in 0..scaled(10) {
        let id = lib.start_streaming(COLLECT, 0, events);
        // The handler holds on its first request until both senders have
        // found the window full, then drains while they refill it.
        let gate = format!("two-senders-{round}");
        assert_eq!(lib.stream_send(id, &item(&format!("hold:{gate}"))), 0);
        let full = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..2 {
                let full = &full;
                s.spawn(move || {
                    let texts: Vec<String> = (0..per_sender).map(|_| format!("{t}")).collect();
                    for chunk in texts.chunks(200) {
                        send_items_spinning(id, &framed(chunk), events, full);
                    }
                });
            }
            wait_until("both senders to find the window full", || {
                full.load(Ordering::Relaxed) >= 2
            });
            lib.open_gate(&gate);
        });
        assert_eq!(lib.stream_close_send(id), 0);
        let done = events.final_of(id, WAIT);
        assert_eq!(done.status, 0, "{:?}", Status::decode(&done.data));
        let response = EchoResponse::decode(&done.data[..]).unwrap();
        assert_eq!(response.calls, 2 * per_sender as u64 + 1);
        let zeros = response.text.split(',').filter(|t| *t == "0").count();
        assert_eq!(zeros, per_sender, "every request of each sender arrived");
    }
}
