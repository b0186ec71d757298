//! The fork rule: a library used before `fork()` refuses every call in the
//! child, fast and with a clear status, even when the parent's threads
//! held its locks at the fork (the call table, the log sink, the logs'
//! span map). Parent threads keep sync calls, async calls and logs flowing
//! while it forks; a child that hangs is killed and fails the test.

use abi_tests::async_calls::{CallbackFn, StartFn};
use abi_tests::messages::*;
use abi_tests::{fixture, scaled, Code};
use prost::Message;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use proto2ffi_runtime::log::LogRecord;

type LogFn = unsafe extern "C" fn(*mut c_void, *mut LogRecord);
type SetSinkFn = unsafe extern "C" fn(Option<LogFn>, *mut c_void) -> i32;

unsafe extern "C" fn drop_record(_: *mut c_void, record: *mut LogRecord) {
    // SAFETY: the library's free function, once per record.
    unsafe {
        fixture().symbol::<unsafe extern "C" fn(*mut LogRecord)>("fx_proto2ffi_log_record_free")(
            record,
        )
    }
}

static CHILD_STATUS: AtomicI32 = AtomicI32::new(-1);

unsafe extern "C" fn child_final(_: *mut c_void, _: u64, status: i32, _: *const u8, _: usize) {
    if status >= 0 {
        CHILD_STATUS.store(status, Ordering::SeqCst);
    }
}

/// What the child checks; its exit code names the first failure.
fn in_child() -> i32 {
    let lib = fixture();
    let unavailable = Code::Unavailable as i32;
    let (code, _) = lib.call_bytes(
        "fx_echo_service_echo",
        &EchoRequest::default().encode_to_vec(),
    );
    if code != unavailable {
        return 10;
    }
    let (code, _) = lib.call_bytes(
        "fx_echo_service_logs",
        &EchoRequest {
            repeat: 3,
            ..Default::default()
        }
        .encode_to_vec(),
    );
    if code != unavailable {
        return 11;
    }
    let request = EchoRequest::default().encode_to_vec();
    // SAFETY: the start entry point; the callback needs no context.
    let id = unsafe {
        let start: StartFn = lib.symbol("fx_job_service_run_start");
        let callback: CallbackFn = child_final;
        start(
            request.as_ptr(),
            request.len(),
            0,
            Some(callback),
            std::ptr::null_mut(),
        )
    };
    if id == 0 || CHILD_STATUS.load(Ordering::SeqCst) != unavailable {
        return 12;
    }
    if lib.cancel(1) != unavailable || lib.stream_next(1, 0).0 != unavailable {
        return 13;
    }
    if lib.stream_send(1, &[]) != unavailable || lib.stream_close_send(1) != unavailable {
        return 14;
    }
    // SAFETY: the library-wide export with its C signature.
    let sink =
        unsafe { lib.symbol::<SetSinkFn>("fx_proto2ffi_set_log_sink")(None, std::ptr::null_mut()) };
    if sink != unavailable {
        return 15;
    }
    if lib.shutdown(1_000) != 0 {
        return 16;
    }
    0
}

#[test]
fn a_forked_child_is_refused_fast_instead_of_deadlocking() {
    let lib = fixture();
    // Setting a log sink alone puts the library under the fork rule (it
    // starts a delivery thread), before any call ran its init.
    // SAFETY: the library-wide export with its C signature.
    unsafe {
        assert_eq!(
            lib.symbol::<SetSinkFn>("fx_proto2ffi_set_log_sink")(
                Some(drop_record),
                std::ptr::null_mut()
            ),
            0
        );
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Sync calls with logs, and async calls, all the while.
        s.spawn(|| {
            let logs = EchoRequest {
                repeat: 2,
                ..Default::default()
            }
            .encode_to_vec();
            while !stop.load(Ordering::Relaxed) {
                let _ = fixture().call_bytes("fx_echo_service_logs", &logs);
            }
        });
        s.spawn(|| {
            let events = abi_tests::async_calls::Events::new();
            let req = EchoRequest {
                sleep_ms: 1,
                ..Default::default()
            };
            while !stop.load(Ordering::Relaxed) {
                let id = fixture().start("fx_job_service_run_start", &req, 0, events);
                events.final_of(id, Duration::from_secs(20));
            }
        });
        let mut failures = Vec::new();
        for round in 0..scaled(15) {
            // SAFETY: the child only calls the library and exits with `_exit`.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let code = in_child();
                // SAFETY: ends the child without running the parent's exit code.
                unsafe { libc::_exit(code) };
            }
            let mut status = 0;
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                // SAFETY: polls our own child.
                let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                if r == pid {
                    break;
                }
                if Instant::now() > deadline {
                    // SAFETY: kills and reaps our own child.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, &mut status, 0);
                    }
                    failures.push(format!("round {round}: the child hung"));
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 0 {
                failures.push(format!(
                    "round {round}: the child failed check {}",
                    libc::WEXITSTATUS(status)
                ));
            } else if libc::WIFSIGNALED(status) && failures.is_empty() {
                failures.push(format!("round {round}: the child died of a signal"));
            }
        }
        stop.store(true, Ordering::Relaxed);
        assert!(failures.is_empty(), "{failures:#?}");
    });
    // The parent goes on.
    let (code, _) = lib.call_bytes("fx_echo_service_echo", &[]);
    assert_eq!(code, 0);
}
