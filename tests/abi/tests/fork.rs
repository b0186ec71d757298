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

type MethodFn = abi_tests::MethodFn;
type CodeFn = unsafe extern "C" fn(u64) -> i32;
type NextFn = unsafe extern "C" fn(u64, u32, *mut abi_tests::Buffer) -> i32;
type SendFn = abi_tests::async_calls::SendFn;
type ShutdownFn = unsafe extern "C" fn(u32) -> i32;
type OutFn = unsafe extern "C" fn(*mut abi_tests::Buffer) -> i32;

/// The entry points the child calls, resolved in the parent: a child must
/// not call `dlsym`, whose loader lock a parent thread may have held.
#[derive(Clone, Copy)]
struct Entry {
    echo: MethodFn,
    logs: MethodFn,
    run: StartFn,
    cancel: CodeFn,
    close_send: CodeFn,
    next: NextFn,
    send: SendFn,
    set_sink: SetSinkFn,
    shutdown: ShutdownFn,
    metrics: OutFn,
}

fn entry() -> Entry {
    let lib = fixture();
    // SAFETY: each symbol has the C signature it is read as.
    unsafe {
        Entry {
            echo: lib.symbol("fx_echo_service_echo"),
            logs: lib.symbol("fx_echo_service_logs"),
            run: lib.symbol("fx_job_service_run_start"),
            cancel: lib.symbol("fx_proto2ffi_cancel"),
            close_send: lib.symbol("fx_proto2ffi_stream_close_send"),
            next: lib.symbol("fx_proto2ffi_stream_next"),
            send: lib.symbol("fx_proto2ffi_stream_send"),
            set_sink: lib.symbol("fx_proto2ffi_set_log_sink"),
            shutdown: lib.symbol("fx_proto2ffi_shutdown"),
            metrics: lib.symbol("fx_proto2ffi_metrics"),
        }
    }
}

/// What the child checks; its exit code names the first failure. Only
/// resolved function pointers and the library's own buffers.
fn in_child(e: Entry) -> i32 {
    let unavailable = Code::Unavailable as i32;
    let request = [0x08u8, 0x03]; // a varint field 1 = 3: any valid request
    let mut out = abi_tests::Buffer::empty();
    // SAFETY (all below): the C contracts, with live buffers.
    unsafe {
        if (e.echo)(request.as_ptr(), request.len(), &mut out) != unavailable {
            return 10;
        }
        if (e.logs)(request.as_ptr(), request.len(), &mut out) != unavailable {
            return 11;
        }
        let id = (e.run)(
            request.as_ptr(),
            request.len(),
            0,
            Some(child_final as CallbackFn),
            std::ptr::null_mut(),
        );
        if id == 0 || CHILD_STATUS.load(Ordering::SeqCst) != unavailable {
            return 12;
        }
        if (e.cancel)(1) != unavailable || (e.next)(1, 0, &mut out) != unavailable {
            return 13;
        }
        if (e.send)(1, request.as_ptr(), request.len()) != unavailable
            || (e.close_send)(1) != unavailable
        {
            return 14;
        }
        if (e.set_sink)(None, std::ptr::null_mut()) != unavailable {
            return 15;
        }
        if (e.metrics)(&mut out) != unavailable {
            return 16;
        }
        if (e.shutdown)(1_000) != 0 {
            return 17;
        }
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
        let entry = entry();
        let mut failures = Vec::new();
        for round in 0..scaled(15) {
            // SAFETY: the child only calls the library and exits with `_exit`.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let code = in_child(entry);
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
