//! Calls from threads that are exiting: a first call from a pthread key's
//! destructor (after the thread's locals were destroyed), the threads that
//! come after it on the same stack, and `*_start` from such a destructor.
//! Under valgrind (`cargo xtask valgrind`) any read of a freed block fails.

use abi_tests::messages::*;
use abi_tests::{fixture, scaled};
use std::ffi::c_void;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One test at a time: they share the key destructors' statics.
static TURN: Mutex<()> = Mutex::new(());

/// A key whose destructor runs `f` at thread exit, after the thread's
/// thread-locals (glibc runs key destructors last).
fn key_with(destructor: unsafe extern "C" fn(*mut c_void)) -> libc::pthread_key_t {
    let mut key = 0;
    // SAFETY: a fresh key with a destructor of the right signature.
    assert_eq!(
        unsafe { libc::pthread_key_create(&mut key, Some(destructor)) },
        0
    );
    key
}

fn add(a: i64, b: i64) -> i64 {
    fixture()
        .call::<AddRequest, AddResponse>("fx_echo_service_add", &AddRequest { a, b })
        .expect("add")
        .sum
}

static LATE_SUM: AtomicI64 = AtomicI64::new(0);

unsafe extern "C" fn first_call_at_exit(_: *mut c_void) {
    LATE_SUM.store(add(40, 2), Ordering::SeqCst);
}

#[test]
fn a_first_call_from_a_key_destructor_then_new_threads() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let key = key_with(first_call_at_exit);
    for round in 0..scaled(50) as i64 {
        LATE_SUM.store(0, Ordering::SeqCst);
        std::thread::spawn(move || {
            // SAFETY: a non-NULL value makes the destructor run at exit.
            unsafe { libc::pthread_setspecific(key, std::ptr::dangling::<c_void>()) };
        })
        .join()
        .unwrap();
        assert_eq!(LATE_SUM.load(Ordering::SeqCst), 42);
        // The next threads reuse the exited thread's stack (and thread
        // pointer): each must find state of its own, not the freed one.
        for t in 0..4 {
            let got = std::thread::spawn(move || (0..20).map(|i| add(round, t + i)).sum::<i64>())
                .join()
                .unwrap();
            assert_eq!(got, (0..20).map(|i| round + t + i).sum::<i64>());
        }
    }
}

static LATE_FINALS: AtomicI32 = AtomicI32::new(0);
static LATE_STATUS: AtomicI32 = AtomicI32::new(-1);

unsafe extern "C" fn late_final(_: *mut c_void, _: u64, status: i32, _: *const u8, _: usize) {
    if status >= 0 {
        LATE_STATUS.store(status, Ordering::SeqCst);
        LATE_FINALS.fetch_add(1, Ordering::SeqCst);
    }
}

fn start_run(sleep_ms: u64) {
    let request = EchoRequest {
        text: "late".into(),
        sleep_ms,
        ..Default::default()
    };
    // SAFETY: the callback needs no context.
    unsafe {
        fixture().start_with(
            "fx_job_service_run_start",
            &request,
            0,
            late_final,
            std::ptr::null_mut(),
        )
    };
}

unsafe extern "C" fn start_at_exit(value: *mut c_void) {
    start_run(value as u64 - 1);
}

#[test]
fn start_from_a_key_destructor_completes_with_a_status() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let key = key_with(start_at_exit);
    for sleep_ms in [0u64, 5] {
        LATE_FINALS.store(0, Ordering::SeqCst);
        LATE_STATUS.store(-1, Ordering::SeqCst);
        std::thread::spawn(move || {
            // An async call first, so the executor's context was set up on
            // this thread — and is destroyed before the destructor runs.
            start_run(0);
            // SAFETY: the value (sleep + 1, never NULL) reaches the destructor.
            unsafe { libc::pthread_setspecific(key, (sleep_ms + 1) as *const c_void) };
        })
        .join()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while LATE_FINALS.load(Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "the late call never completed");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(LATE_STATUS.load(Ordering::SeqCst), 0);
        assert_eq!(LATE_FINALS.load(Ordering::SeqCst), 2);
    }
}
