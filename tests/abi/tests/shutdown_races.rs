//! Shutdown against async calls at their edges: calls admitted just before
//! the flag and registered after shutdown cancelled the stragglers, and a
//! shutdown made from a completion callback. (Its own test binary:
//! shutdown is library-wide; the tests take turns.)

use abi_tests::async_calls::Events;
use abi_tests::messages::*;
use abi_tests::{fixture, scaled, Code};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const RUN: &str = "fx_job_service_run_start";
const WAIT: Duration = Duration::from_secs(20);

/// One test at a time: each shuts the library down and resumes it.
static TURN: Mutex<()> = Mutex::new(());

fn resume() {
    // SAFETY: the fixture's test hook, `void fx_test_resume(void)`.
    unsafe { fixture().symbol::<unsafe extern "C" fn()>("fx_test_resume")() }
}

#[test]
fn no_call_admitted_before_a_shutdown_outlives_it() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let lib = fixture();
    // Handlers that would take a day: once shutdown has returned without
    // draining, every call must already be complete (cancelled) or be
    // refused — none may run on to OK. (With 5 s, a run under valgrind
    // once starved this thread past the first handlers' end, and they
    // rightly answered OK before the shutdown began: only cancellation may
    // end these.)
    let slow = EchoRequest {
        text: "admitted".into(),
        sleep_ms: 86_400_000,
        ..Default::default()
    };
    for _ in 0..scaled(10) {
        let events = Events::new();
        let started = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let ids = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !stop.load(Ordering::SeqCst) {
                        let id = lib.start(RUN, &slow, 0, events);
                        ids.lock().unwrap().push(id);
                        started.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
            while started.load(Ordering::SeqCst) < 20 {
                std::hint::spin_loop();
            }
            assert_eq!(lib.shutdown(1), Code::DeadlineExceeded as i32);
            stop.store(true, Ordering::SeqCst);
        });
        let ids = ids.into_inner().unwrap();
        for id in &ids {
            let e = events.final_of(*id, WAIT);
            assert_eq!(
                e.status,
                Code::Unavailable as i32,
                "call {id} was not cancelled or refused by the shutdown"
            );
        }
        abi_tests::async_calls::wait_until("the futures to be dropped", || {
            lib.live_jobs("admitted") == 0
        });
        resume();
    }
}

static SHUTDOWN_CODE: AtomicI32 = AtomicI32::new(-1);

unsafe extern "C" fn shut_down_on_final(
    _: *mut c_void,
    _: u64,
    status: i32,
    _: *const u8,
    _: usize,
) {
    if status >= 0 {
        SHUTDOWN_CODE.store(fixture().shutdown(2_000), Ordering::SeqCst);
    }
}

#[test]
fn shutdown_from_a_completion_callback_does_not_wait_for_its_own_call() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let lib = fixture();
    // Ready at once (the final runs inside `start`, on this thread), then
    // after an await (on the executor's thread).
    for sleep_ms in [0, 5] {
        SHUTDOWN_CODE.store(-1, Ordering::SeqCst);
        let request = EchoRequest {
            text: "own".into(),
            sleep_ms,
            ..Default::default()
        };
        // SAFETY: the callback needs no context.
        unsafe { lib.start_with(RUN, &request, 0, shut_down_on_final, std::ptr::null_mut()) };
        abi_tests::async_calls::wait_until("the callback's shutdown", || {
            SHUTDOWN_CODE.load(Ordering::SeqCst) != -1
        });
        assert_eq!(
            SHUTDOWN_CODE.load(Ordering::SeqCst),
            0,
            "shutdown from the callback waited for its own call (sleep {sleep_ms})"
        );
        resume();
    }
}
