//! Sync methods awaited through their `*_start` entry points: the handler
//! runs on the library's worker threads, never on the caller's, and the
//! call completes through the callback exactly once — also when it is
//! cancelled or expires while queued, when the library shuts down, and when
//! callbacks start and cancel calls themselves.
//!
//! The tests change the pool's size and shut the library down, so they take
//! turns (`serial`).

use abi_tests::async_calls::{record, CallbackFn, Events};
use abi_tests::messages::*;
use abi_tests::{fixture, scaled, Code, Lib, Status};
use prost::Message;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const ECHO: &str = "fx_echo_service_echo_start";
const SMALL: &str = "fx_echo_service_small_start";
/// Long enough that only a hang reaches it, never a slow machine.
const WAIT: Duration = Duration::from_secs(3600);

fn serial() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn text(text: &str) -> EchoRequest {
    EchoRequest {
        text: text.into(),
        ..Default::default()
    }
}

fn set_sync_threads(lib: &Lib, threads: u32) {
    // SAFETY: the fixture's test hook, `void f(uint32_t)`.
    unsafe { lib.symbol::<unsafe extern "C" fn(u32)>("fx_test_set_sync_threads")(threads) }
}

/// (handlers that began with `text`, of those still running).
fn began(lib: &Lib, text: &str) -> (u64, u64) {
    // SAFETY: the fixture's test hook, `uint64_t f(const uint8_t *, size_t)`.
    let both = unsafe {
        lib.symbol::<unsafe extern "C" fn(*const u8, usize) -> u64>("fx_test_echo_began")(
            text.as_ptr(),
            text.len(),
        )
    };
    (both >> 32, both & 0xffff_ffff)
}

/// Waits until `n` handlers with `text` run (blocked on their gate).
fn wait_running(lib: &Lib, text: &str, n: u64) {
    while began(lib, text).1 < n {
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn the_handler_runs_off_the_callers_thread_and_completes_once() {
    let _turn = serial();
    let lib = fixture();
    set_sync_threads(lib, 4);
    let events = Events::new();
    let callers = 4;
    let per = scaled(250);
    let ids: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..callers)
            .map(|c| {
                s.spawn(move || {
                    (0..per)
                        .map(|i| {
                            let id = lib.start(ECHO, &text(&format!("{c}/{i}")), 0, events);
                            (id, std::thread::current().id())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(c, h)| {
                h.join()
                    .unwrap()
                    .into_iter()
                    .enumerate()
                    .map(|(i, (id, caller))| {
                        let done = events.final_of(id, WAIT);
                        assert_eq!(done.status, 0);
                        let response = EchoResponse::decode(&done.data[..]).unwrap();
                        assert_eq!(response.text, format!("{c}/{i}"));
                        // Completed by the worker that ran the handler.
                        assert_ne!(done.thread, caller);
                        id
                    })
                    .collect()
            })
            .collect()
    });
    let all: Vec<u64> = ids.into_iter().flatten().collect();
    let mut unique = all.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "every call has its own id");
    for id in all {
        assert_eq!(events.of(id).len(), 1, "call {id}: exactly one completion");
        assert_eq!(lib.cancel(id), Code::NotFound as i32);
    }
}

#[test]
fn refusals_complete_before_start_returns_and_failures_through_the_callback() {
    let _turn = serial();
    let lib = fixture();
    let events = Events::new();
    // Over `small`'s 64-byte request limit: refused on this thread.
    let id = lib.start(SMALL, &text(&"x".repeat(100)), 0, events);
    let now = events.of(id);
    assert_eq!(now.len(), 1, "completed inside start");
    assert_eq!(now[0].status, Code::ResourceExhausted as i32);
    assert_eq!(now[0].thread, std::thread::current().id());
    // Bytes that are not a request: refused on this thread too.
    // SAFETY: the entry point reads `len` bytes from a live slice.
    let garbage = [0xffu8; 7];
    let id = unsafe {
        let start: abi_tests::async_calls::StartFn = lib.symbol(ECHO);
        start(
            garbage.as_ptr(),
            garbage.len(),
            0,
            Some(record),
            events.context(),
        )
    };
    assert_eq!(events.of(id)[0].status, Code::InvalidArgument as i32);

    let failing = EchoRequest {
        fail_code: Code::FailedPrecondition as i32,
        fail_message: "not yet".into(),
        ..Default::default()
    };
    let e = events.final_of(lib.start(ECHO, &failing, 0, events), WAIT);
    assert_eq!(e.status, Code::FailedPrecondition as i32);
    assert_eq!(Status::decode(&e.data).unwrap().message(), "not yet");

    let panicking = EchoRequest {
        panic: "boom on a worker".into(),
        ..Default::default()
    };
    let e = events.final_of(lib.start(ECHO, &panicking, 0, events), WAIT);
    assert_eq!(e.status, Code::Internal as i32);
    // The worker survived its handler's panic.
    let e = events.final_of(lib.start(ECHO, &text("after"), 0, events), WAIT);
    assert_eq!(e.status, 0);
    // A NULL callback: nothing can be reported, nothing is started.
    let bytes = text("unseen").encode_to_vec();
    // SAFETY: a live request; no callback.
    let id = unsafe {
        let start: abi_tests::async_calls::StartFn = lib.symbol(ECHO);
        start(bytes.as_ptr(), bytes.len(), 0, None, std::ptr::null_mut())
    };
    assert_eq!(id, 0);
}

#[test]
fn queued_calls_end_by_cancel_or_deadline_without_running() {
    let _turn = serial();
    let lib = fixture();
    set_sync_threads(lib, 1);
    let events = Events::new();
    // The only worker blocks on a gate.
    let held = lib.start(ECHO, &text("gate:queue"), 0, events);
    wait_running(lib, "gate:queue", 1);
    let cancelled = lib.start(ECHO, &text("track:cancelled"), 0, events);
    let expiring = lib.start(ECHO, &text("track:expiring"), 30, events);
    // Cancelled from another thread while it waits in the queue.
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(lib.cancel(cancelled), 0));
    });
    let c = events.final_of(cancelled, WAIT);
    assert_eq!(c.status, Code::Cancelled as i32);
    let d = events.final_of(expiring, WAIT);
    assert_eq!(d.status, Code::DeadlineExceeded as i32);
    // Both ended while the worker was still held: neither ran.
    assert_eq!(began(lib, "gate:queue").1, 1);
    lib.open_gate("queue");
    assert_eq!(events.final_of(held, WAIT).status, 0);
    // The worker took both from the queue and dropped them unrun.
    let after = lib.start(ECHO, &text("after the queue"), 0, events);
    assert_eq!(events.final_of(after, WAIT).status, 0);
    assert_eq!(began(lib, "track:cancelled").0, 0);
    assert_eq!(began(lib, "track:expiring").0, 0);
    for id in [held, cancelled, expiring, after] {
        assert_eq!(events.of(id).len(), 1, "call {id}: exactly one completion");
    }
    set_sync_threads(lib, 16);
}

#[test]
fn the_pool_runs_no_more_handlers_at_once_than_its_size() {
    let _turn = serial();
    let lib = fixture();
    set_sync_threads(lib, 3);
    let events = Events::new();
    let ids: Vec<u64> = (0..8)
        .map(|_| lib.start(ECHO, &text("gate:bounded"), 0, events))
        .collect();
    wait_running(lib, "gate:bounded", 3);
    // The others wait for a thread; none can start while three are held
    // (the pool never grows past its size, so this holds at any speed).
    assert_eq!(began(lib, "gate:bounded"), (3, 3));
    lib.open_gate("bounded");
    for id in &ids {
        assert_eq!(events.final_of(*id, WAIT).status, 0);
    }
    assert_eq!(began(lib, "gate:bounded"), (8, 0));
    set_sync_threads(lib, 16);
}

/// A callback that starts the next call of a chain from the worker thread
/// it runs on, until `LEFT` reaches zero.
unsafe extern "C" fn chain(
    context: *mut c_void,
    id: u64,
    status: i32,
    data: *const u8,
    len: usize,
) {
    // Counted before the event is recorded: once the test sees every
    // final, every count was taken.
    if LEFT.fetch_sub(1, Ordering::SeqCst) > 1 {
        let lib = fixture();
        // SAFETY: the same callback and context, live for the process.
        unsafe { lib.start_with(ECHO, &text("link"), 0, chain as CallbackFn, context) };
    }
    // SAFETY: forwarded; `context` is the test's `Events`.
    unsafe { record(context, id, status, data, len) };
}

static LEFT: AtomicU64 = AtomicU64::new(0);

#[test]
fn callbacks_start_and_cancel_calls_from_the_worker() {
    let _turn = serial();
    let lib = fixture();
    set_sync_threads(lib, 2);
    let events = Events::new();
    let links = scaled(200);
    LEFT.store(links, Ordering::SeqCst);
    // SAFETY: the callback and its context live for the process.
    unsafe { lib.start_with(ECHO, &text("link"), 0, chain, events.context()) };
    events.wait_finals(links as usize, WAIT);
    assert_eq!(LEFT.load(Ordering::SeqCst), 0);

    // Starts and cancels racing from several threads: each call ends once,
    // answered or cancelled.
    let events = Events::new();
    let ids = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..3 {
            let ids = &ids;
            s.spawn(move || {
                for i in 0..scaled(300) {
                    let id = lib.start(ECHO, &text(&format!("{t}.{i}")), 0, events);
                    ids.lock().unwrap().push(id);
                }
            });
        }
        s.spawn(|| {
            for _ in 0..scaled(300) {
                let last = ids.lock().unwrap().last().copied();
                if let Some(id) = last {
                    let code = lib.cancel(id);
                    assert!(code == 0 || code == Code::NotFound as i32, "{code}");
                }
                std::thread::yield_now();
            }
        });
    });
    for id in ids.into_inner().unwrap() {
        let done = events.final_of(id, WAIT);
        assert!(
            done.status == 0 || done.status == Code::Cancelled as i32,
            "call {id}: {}",
            done.status
        );
        assert_eq!(events.of(id).len(), 1, "call {id}: exactly one completion");
    }
    set_sync_threads(lib, 16);
}

#[test]
fn shutdown_fails_queued_calls_and_drops_a_running_handlers_answer() {
    let _turn = serial();
    let lib = fixture();
    set_sync_threads(lib, 1);
    let events = Events::new();
    let running = lib.start(ECHO, &text("gate:shutdown"), 0, events);
    wait_running(lib, "gate:shutdown", 1);
    let queued: Vec<u64> = (0..3)
        .map(|_| lib.start(ECHO, &text("track:shutdown"), 0, events))
        .collect();
    // Not drained in 10 ms: the held handler keeps running.
    assert_eq!(lib.shutdown(10), Code::DeadlineExceeded as i32);
    for id in queued.iter().chain([&running]) {
        assert_eq!(
            events.final_of(*id, WAIT).status,
            Code::Unavailable as i32,
            "call {id}"
        );
    }
    // New calls are refused before start returns.
    let refused = lib.start(ECHO, &text("late"), 0, events);
    assert_eq!(events.of(refused)[0].status, Code::Unavailable as i32);
    lib.open_gate("shutdown");
    while began(lib, "gate:shutdown").1 > 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: the fixture's test hook, `void f(void)`.
    unsafe { lib.symbol::<unsafe extern "C" fn()>("fx_test_resume")() };
    let after = lib.start(ECHO, &text("resumed"), 0, events);
    assert_eq!(events.final_of(after, WAIT).status, 0);
    assert_eq!(
        began(lib, "track:shutdown").0,
        0,
        "queued handlers never ran"
    );
    for id in queued.iter().chain([&running]) {
        assert_eq!(events.of(*id).len(), 1, "call {id}: exactly one completion");
    }
    set_sync_threads(lib, 16);
}
