//! The seams of async calls and streams, driven as hostile and careless
//! callers drive them: streams consumed from their own callback or from a
//! thread the doorbell wakes, finals racing doorbells, panics after the
//! handler, sinks shared between tasks, panicking stream handlers, and a
//! handler doing real I/O. Races get many repetitions, not sleeps.

use abi_tests::async_calls::{wait_until, CallbackFn, Events};
use abi_tests::messages::*;
use abi_tests::{fixture, scaled, Code, Lib};
use prost::Message;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

const COUNT: &str = "fx_job_service_count_start";
const FLOOD: &str = "fx_job_service_flood_start";
const HAZARD: &str = "fx_job_service_hazard_start";
const LOOPBACK: &str = "fx_job_service_loopback_start";
const FAN_IN: &str = "fx_job_service_fan_in_start";
const WAIT: Duration = Duration::from_secs(20);

/// `hazard`'s request, as a foreign client encodes it.
#[derive(Clone, PartialEq, prost::Message)]
struct HazardRequest {
    #[prost(uint32, tag = "1")]
    mode: u32,
    #[prost(uint64, tag = "2")]
    sleep_ms: u64,
}

/// Starts `symbol` with `request`, the callback and context given.
fn start_with(
    lib: &Lib,
    symbol: &str,
    request: &impl Message,
    timeout_ms: u32,
    callback: CallbackFn,
    context: *mut c_void,
) -> u64 {
    // SAFETY: every caller keeps its context alive until the final event.
    unsafe { lib.start_with(symbol, request, timeout_ms, callback, context) }
}

/// Whether the loop counts are scaled down to valgrind's (0.001: it runs
/// one thread at a time): the endless-stream races below need real
/// parallelism to mean anything, so they run natively, under
/// AddressSanitizer (`cargo xtask sanitize`, 0.3) and under QEMU (`cargo
/// xtask cross`, 0.05), with their rounds scaled, but not there. (The
/// threshold used to be any scaling, which skipped them under ASan too.)
fn scaled_down() -> bool {
    scaled(1_000) < 10
}

/// A stream consumed inside its own callback: every doorbell takes all.
#[derive(Default)]
struct Inline {
    items: AtomicU64,
    final_status: AtomicI32,
    done: Mutex<bool>,
    finished: Condvar,
    /// Codes `stream_next` answered with inside the callback, other than OK.
    refused: AtomicU32,
}

unsafe extern "C" fn consume_inline(
    context: *mut c_void,
    call_id: u64,
    status: i32,
    _: *const u8,
    _: usize,
) {
    // SAFETY: the test keeps its `Inline` alive until the final event.
    let me = unsafe { &*(context as *const Inline) };
    if status < 0 {
        let (code, items) = fixture().stream_next(call_id, 0);
        if code != 0 {
            me.refused.fetch_add(1, Ordering::SeqCst);
        }
        me.items.fetch_add(items.len() as u64, Ordering::SeqCst);
        return;
    }
    me.final_status.store(status, Ordering::SeqCst);
    *me.done.lock().unwrap() = true;
    me.finished.notify_all();
}

impl Inline {
    fn wait(&self) -> i32 {
        let deadline = Instant::now() + WAIT;
        let mut done = self.done.lock().unwrap();
        while !*done {
            let now = Instant::now();
            assert!(
                now < deadline,
                "the stream stalled: {} items, no final",
                self.items.load(Ordering::SeqCst)
            );
            done = self.finished.wait_timeout(done, deadline - now).unwrap().0;
        }
        self.final_status.load(Ordering::SeqCst)
    }
}

#[test]
fn a_stream_consumed_from_its_own_callback_gets_every_item() {
    // The handler sends at once, during the first poll inside `start`: the
    // doorbell rings before `start` returned, and the callback's
    // `stream_next` must find the call.
    let lib = fixture();
    for repeat in [1u32, 3, 255, 256, 257, 1_000] {
        for _ in 0..scaled(20) {
            let me = abi_tests::keep(Inline::default());
            let request = EchoRequest {
                repeat,
                ..Default::default()
            };
            let context = me as *const Inline as *mut c_void;
            start_with(lib, COUNT, &request, 0, consume_inline, context);
            assert_eq!(me.wait(), 0);
            assert_eq!(me.items.load(Ordering::SeqCst), u64::from(repeat));
            assert_eq!(me.refused.load(Ordering::SeqCst), 0, "stream_next refused");
        }
    }
}

/// Events handed to a consumer thread, as a host's queue would.
#[derive(Default)]
struct Doorbells {
    events: Mutex<Vec<(u64, i32)>>,
    rang: Condvar,
}

unsafe extern "C" fn ring(context: *mut c_void, call_id: u64, status: i32, _: *const u8, _: usize) {
    // SAFETY: the test leaks every `Doorbells`.
    let me = unsafe { &*(context as *const Doorbells) };
    me.events.lock().unwrap().push((call_id, status));
    me.rang.notify_all();
}

#[test]
fn a_consumer_thread_woken_by_the_doorbell_gets_every_item() {
    // The doorbell of a handler that sends at once rings inside `start`;
    // the consumer thread it wakes calls `stream_next` at once, possibly
    // before `start` returned.
    let lib = fixture();
    for _ in 0..scaled(200) {
        let bells: &'static Doorbells = abi_tests::keep(Doorbells::default());
        let consumer = std::thread::spawn(move || {
            let mut items = 0;
            let mut seen = 0;
            let deadline = Instant::now() + WAIT;
            let mut events = bells.events.lock().unwrap();
            loop {
                while events.len() == seen {
                    let now = Instant::now();
                    assert!(now < deadline, "no event after {items} items");
                    events = bells.rang.wait_timeout(events, deadline - now).unwrap().0;
                }
                let (id, status) = events[seen];
                seen += 1;
                if status >= 0 {
                    return (items, status);
                }
                drop(events);
                let (code, batch) = fixture().stream_next(id, 0);
                assert_eq!(
                    code, 0,
                    "the doorbell rang for a call stream_next cannot find"
                );
                items += batch.len();
                events = bells.events.lock().unwrap();
            }
        });
        let request = EchoRequest {
            repeat: 3,
            ..Default::default()
        };
        let context = bells as *const Doorbells as *mut c_void;
        start_with(lib, COUNT, &request, 0, ring, context);
        let (items, status) = consumer.join().unwrap();
        assert_eq!(status, 0);
        assert_eq!(items, 3);
    }
}

/// Per-call bookkeeping of the final-versus-events test.
#[derive(Default)]
struct Watch {
    /// `start` returned: from then on the callback takes the items (inside
    /// the first poll it must not, or the endless handler never yields).
    started: AtomicBool,
    running: AtomicU32,
    finals: AtomicU32,
    final_started: AtomicBool,
    /// An event started after the final, or the final started while an
    /// event ran.
    violations: AtomicU32,
}

unsafe extern "C" fn watch(
    context: *mut c_void,
    call_id: u64,
    status: i32,
    _: *const u8,
    _: usize,
) {
    // SAFETY: the test leaks every `Watch`.
    let me = unsafe { &*(context as *const Watch) };
    if status < 0 {
        if me.final_started.load(Ordering::SeqCst) {
            me.violations.fetch_add(1, Ordering::SeqCst);
        }
        me.running.fetch_add(1, Ordering::SeqCst);
        // A slow callback (20 µs), taking the items so the doorbell rings on.
        let until = Instant::now() + Duration::from_micros(20);
        if me.started.load(Ordering::SeqCst) {
            let _ = fixture().stream_next(call_id, 0);
        }
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        me.running.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    me.final_started.store(true, Ordering::SeqCst);
    if me.running.load(Ordering::SeqCst) != 0 {
        me.violations.fetch_add(1, Ordering::SeqCst);
    }
    me.finals.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn the_final_is_the_last_callback_and_runs_alone() {
    if scaled_down() {
        eprintln!("skipped under valgrind: it needs parallel threads");
        return;
    }
    // Endless streams whose doorbells keep ringing, cancelled from another
    // thread or by a deadline at varying moments: the final must never
    // overlap a running doorbell, nor be followed by one.
    let lib = fixture();
    let endless = EchoRequest {
        text: "race".into(),
        repeat: u32::MAX,
        ..Default::default()
    };
    let rounds = scaled(300) as usize;
    let watches: Vec<&'static Watch> = (0..rounds)
        .map(|_| abi_tests::keep(Watch::default()))
        .collect();
    std::thread::scope(|s| {
        for (i, w) in watches.iter().enumerate() {
            let context = *w as *const Watch as *mut c_void;
            let timeout = if i % 3 == 0 { 1 + (i % 7) as u32 } else { 0 };
            let id = start_with(lib, FLOOD, &endless, timeout, watch, context);
            w.started.store(true, Ordering::SeqCst);
            // The window is full: one take here starts the take-ring cycle.
            let _ = lib.stream_next(id, 0);
            if timeout == 0 {
                s.spawn(move || {
                    let until = Instant::now() + Duration::from_micros((i % 13) as u64 * 37);
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    fixture().cancel(id);
                });
            }
        }
    });
    for w in &watches {
        wait_until("every final", || w.finals.load(Ordering::SeqCst) == 1);
    }
    // Events that were about to start must have seen the final and not run.
    std::thread::sleep(Duration::from_millis(50));
    let violations: u32 = watches
        .iter()
        .map(|w| w.violations.load(Ordering::SeqCst))
        .sum();
    assert_eq!(violations, 0, "a doorbell overlapped or followed the final");
    assert!(watches.iter().all(|w| w.finals.load(Ordering::SeqCst) == 1));
}

#[test]
fn panics_after_the_handler_complete_with_internal() {
    // Encoding the response, dropping it, converting the error and making
    // the handler's future are user code: ready at once (inside `start`,
    // on this thread) or after an await (on the executor), each is caught
    // and reported INTERNAL.
    let lib = fixture();
    let events = Events::new();
    lib.init().unwrap();
    let before = lib.method_metrics("hazard").panics;
    for sleep_ms in [0, 5] {
        for mode in 1..=4 {
            let id = lib.start(HAZARD, &HazardRequest { mode, sleep_ms }, 0, events);
            let e = events.final_of(id, WAIT);
            assert_eq!(
                e.status,
                Code::Internal as i32,
                "mode {mode}, sleep {sleep_ms}"
            );
        }
    }
    // And the library goes on.
    let id = lib.start(HAZARD, &HazardRequest::default(), 0, events);
    assert_eq!(events.final_of(id, WAIT).status, 0);
    let m = lib.method_metrics("hazard");
    assert_eq!(m.panics - before, 8, "{m:?}");
}

#[test]
fn a_handler_does_tcp_io_on_the_library_runtime() {
    let lib = fixture();
    let events = Events::new();
    let id = lib.start(
        LOOPBACK,
        &EchoRequest {
            text: "over loopback".into(),
            ..Default::default()
        },
        0,
        events,
    );
    let e = events.final_of(id, WAIT);
    assert_eq!(e.status, 0, "{:?}", abi_tests::Status::decode(&e.data));
    assert_eq!(
        EchoResponse::decode(&e.data[..]).unwrap().text,
        "over loopback"
    );
}

/// Takes every item of stream `id` until its final; returns the items'
/// `calls` values and the final status.
fn drain(lib: &Lib, id: u64, events: &Events) -> (Vec<u64>, i32) {
    let mut items = Vec::new();
    loop {
        let (code, batch) = lib.stream_next(id, 0);
        if code == Code::NotFound as i32 {
            return (items, events.final_of(id, WAIT).status);
        }
        assert_eq!(code, 0);
        if batch.is_empty() {
            events.wait_any(Duration::from_millis(5));
        }
        items.extend(
            batch
                .iter()
                .map(|b| EchoResponse::decode(&b[..]).unwrap().calls),
        );
    }
}

#[test]
fn two_tasks_sharing_a_sink_deliver_everything() {
    let lib = fixture();
    for _ in 0..scaled(5) {
        let events = Events::new();
        let n = 4_000u32;
        let id = lib.start(
            FAN_IN,
            &EchoRequest {
                repeat: n,
                ..Default::default()
            },
            0,
            events,
        );
        let (items, status) = drain(lib, id, events);
        assert_eq!(status, 0);
        assert_eq!(items.len(), 2 * n as usize);
        // Each task's items in its own order.
        for task in 0..2u64 {
            let mine: Vec<u64> = items
                .iter()
                .filter(|c| *c >> 32 == task)
                .map(|c| c & 0xffff_ffff)
                .collect();
            assert_eq!(mine, (0..u64::from(n)).collect::<Vec<_>>());
        }
    }
}

#[test]
fn a_panicking_stream_handler_delivers_what_it_sent_first() {
    let lib = fixture();
    for (repeat, sleep_ms) in [(100, 0), (350, 0), (600, 0), (300, 1)] {
        let events = Events::new();
        let id = lib.start(
            COUNT,
            &EchoRequest {
                repeat,
                sleep_ms: if sleep_ms > 0 { 1 } else { 0 },
                panic: "boom after sending".into(),
                ..Default::default()
            },
            0,
            events,
        );
        let (items, status) = drain(lib, id, events);
        assert_eq!(status, Code::Internal as i32);
        assert_eq!(items, (0..u64::from(repeat)).collect::<Vec<_>>());
    }
}

/// A host's per-call context, freed by the final callback.
struct Owned {
    /// `start` returned (before it, taking items would keep the endless
    /// handler's first poll going forever).
    started: AtomicBool,
    events: AtomicU64,
    finals: &'static AtomicU64,
}

unsafe extern "C" fn free_on_final(
    context: *mut c_void,
    call_id: u64,
    status: i32,
    _: *const u8,
    _: usize,
) {
    if status < 0 {
        // SAFETY: live until the final (the contract under test); an event
        // after or during the final reads freed memory (AddressSanitizer
        // reports it in `cargo xtask sanitize`).
        let me = unsafe { &*(context as *const Owned) };
        me.events.fetch_add(1, Ordering::SeqCst);
        if me.started.load(Ordering::SeqCst) {
            let _ = fixture().stream_next(call_id, 0);
        }
        me.events.fetch_add(1, Ordering::SeqCst);
        return;
    }
    // SAFETY: the context was a `Box<Owned>`, freed exactly once, here.
    let me = unsafe { Box::from_raw(context as *mut Owned) };
    me.finals.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_host_may_free_its_context_in_the_final_callback() {
    if scaled_down() {
        eprintln!("skipped under valgrind: it needs parallel threads");
        return;
    }
    static FINALS: AtomicU64 = AtomicU64::new(0);
    let lib = fixture();
    let endless = EchoRequest {
        repeat: u32::MAX,
        ..Default::default()
    };
    let rounds = scaled(200);
    std::thread::scope(|s| {
        for i in 0..rounds {
            let context = Box::into_raw(Box::new(Owned {
                started: AtomicBool::new(false),
                events: AtomicU64::new(0),
                finals: &FINALS,
            }));
            let id = start_with(lib, FLOOD, &endless, 0, free_on_final, context.cast());
            // SAFETY: not freed before the cancel below (no deadline); the
            // flag is atomic, the callback may be reading it.
            unsafe { (*context).started.store(true, Ordering::SeqCst) };
            let _ = lib.stream_next(id, 0);
            s.spawn(move || {
                let until = Instant::now() + Duration::from_micros(i % 11 * 50);
                while Instant::now() < until {
                    let _ = fixture().stream_next(id, 0);
                }
                fixture().cancel(id);
            });
        }
    });
    wait_until("every final", || FINALS.load(Ordering::SeqCst) == rounds);
}
