//! Logs the host can see, through the C ABI: a callback receives records
//! with levels, targets and fields (the call span's first); the filter
//! changes at run time; a flood from 8 threads drops and counts instead of
//! blocking or growing; a panic yields one record and an INTERNAL status
//! with the same incident id, and sanitized mode leaks no panic text.
//! One test, one process: it changes the fixture's log sink and settings.

use abi_tests::messages::*;
use abi_tests::{fixture, Code};
use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The header's `fx_log_record` (the runtime's definition of it).
use proto2ffi_runtime::log::LogRecord;

#[derive(Clone, Debug)]
struct Seen {
    level: i32,
    target: String,
    message: String,
    fields: String,
}

type LogFn = unsafe extern "C" fn(*mut c_void, *mut LogRecord);

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
static FREE: OnceLock<unsafe extern "C" fn(*mut LogRecord)> = OnceLock::new();
/// While set, the host's callback waits: a host that is not keeping up.
static GATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static CONTEXT_SEEN: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" fn collect(context: *mut c_void, record: *mut LogRecord) {
    CONTEXT_SEEN.store(context as u64, Ordering::Relaxed);
    // SAFETY: the library hands over a valid record with NUL-terminated
    // strings, ours until freed.
    let r = unsafe { &*record };
    let text =
        |p: *const std::ffi::c_char| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    let seen = Seen {
        level: r.level,
        target: text(r.target),
        message: text(r.message),
        fields: text(r.fields),
    };
    assert!(r.timestamp_ms > 1_600_000_000_000);
    SEEN.lock().unwrap().push(seen);
    // SAFETY: freed exactly once, with the library's function.
    unsafe { FREE.get().unwrap()(record) };
    while GATE.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits (bounded) until `pred` holds over the records seen so far.
fn wait_for(what: &str, pred: impl Fn(&[Seen]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if pred(&SEEN.lock().unwrap()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn logs_reach_the_host_with_fields_filters_bounds_and_incidents() {
    let lib = fixture();
    // SAFETY: the symbols have these signatures (see the header).
    let (set_sink, set_filter, free, expose) = unsafe {
        (
            lib.symbol::<extern "C" fn(Option<LogFn>, *mut c_void) -> i32>("fx_proto2ffi_set_log_sink"),
            lib.symbol::<unsafe extern "C" fn(*const u8, usize, *mut proto2ffi_runtime::Buffer) -> i32>(
                "fx_proto2ffi_set_log_filter",
            ),
            lib.symbol::<unsafe extern "C" fn(*mut LogRecord)>("fx_proto2ffi_log_record_free"),
            lib.symbol::<extern "C" fn(bool)>("fx_test_expose_panics"),
        )
    };
    let _ = FREE.set(free);
    let filter = |text: &str| {
        let mut out = proto2ffi_runtime::Buffer::empty();
        // SAFETY: a live slice and a writable buffer.
        let code = unsafe { set_filter(text.as_ptr(), text.len(), &mut out) };
        lib.free(&mut out);
        code
    };
    let logs = |text: &str, repeat: u32| {
        let req = EchoRequest {
            text: text.into(),
            repeat,
            client_id: "c1".into(),
            ..Default::default()
        };
        lib.call::<_, EchoResponse>("fx_echo_service_logs", &req)
            .unwrap();
    };

    // No sink: nothing is recorded.
    logs("unseen", 2);
    assert_eq!(set_sink(Some(collect), 0x1234 as *mut c_void), 0);
    logs("first", 2);
    wait_for("the first records", |s| {
        s.iter().any(|r| r.message.contains("log crate: first"))
    });
    {
        let seen = SEEN.lock().unwrap();
        assert!(!seen.iter().any(|r| r.message.contains("unseen")));
        let infos: Vec<&Seen> = seen.iter().filter(|r| r.message == "hello first").collect();
        assert_eq!(infos.len(), 2, "{seen:?}");
        assert_eq!(infos[0].level, 3);
        assert_eq!(infos[0].target, "abi_fixture");
        assert!(
            infos[0]
                .fields
                .starts_with("service=EchoService method=logs call=")
                && infos[1].fields.ends_with("client=c1 n=1"),
            "{:?}",
            infos[1].fields
        );
        let warn = seen
            .iter()
            .find(|r| r.message.contains("log crate"))
            .unwrap();
        assert_eq!((warn.level, warn.target.as_str()), (2, "abi_fixture"));
    }
    assert_eq!(CONTEXT_SEEN.load(Ordering::Relaxed), 0x1234);

    // The filter changes at run time; a bad one is refused.
    assert_eq!(filter("warn"), 0);
    assert_eq!(filter("info,=nonsense=="), Code::InvalidArgument as i32);
    logs("second", 3);
    wait_for("the warning after the filter", |s| {
        s.iter().any(|r| r.message.contains("log crate: second"))
    });
    assert!(!SEEN
        .lock()
        .unwrap()
        .iter()
        .any(|r| r.message == "hello second"));
    assert_eq!(filter("info,abi_fixture=debug"), 0);
    logs("third", 1);
    // The call's last record is the log-crate warning; delivery is in order,
    // so once it is here nothing of this call can arrive after the clear
    // below (waiting for the info record alone raced under valgrind).
    wait_for("every record of the third call", |s| {
        s.iter().any(|r| r.message.contains("log crate: third"))
    });
    assert!(SEEN
        .lock()
        .unwrap()
        .iter()
        .any(|r| r.message == "hello third"));

    // An async handler's record reaches the sink from the executor's
    // thread, in a span naming the async call.
    let events = abi_tests::async_calls::Events::new();
    let job = abi_tests::messages::EchoRequest {
        text: "log me".into(),
        sleep_ms: 5,
        ..Default::default()
    };
    let id = lib.start("fx_job_service_run_start", &job, 0, events);
    assert_eq!(events.final_of(id, Duration::from_secs(20)).status, 0);
    wait_for("the async handler's record", |s| {
        s.iter().any(|r| {
            r.message == "job ran"
                && r.fields.starts_with("service=JobService method=run")
                && r.fields.contains(&format!("async_call={id}"))
        })
    });

    // A handler that panics while it makes its future (user code before
    // any poll, here inside `start`): logged as any panic of a call is, in
    // the call's span and with the panic's location.
    #[derive(Clone, PartialEq, prost::Message)]
    struct HazardRequest {
        #[prost(uint32, tag = "1")]
        mode: u32,
    }
    let id = lib.start(
        "fx_job_service_hazard_start",
        &HazardRequest { mode: 4 },
        0,
        events,
    );
    assert_eq!(
        events.final_of(id, Duration::from_secs(20)).status,
        Code::Internal as i32
    );
    wait_for("the future maker's panic record", |s| {
        s.iter().any(|r| {
            r.message
                .starts_with("panic in JobService.hazard: boom making an async handler's future")
                && r.fields.contains(&format!("async_call={id}"))
                && r.fields.contains("location=tests/abi/fixture/src/jobs.rs:")
        })
    });

    // A batch of client-stream requests with a sink on: each request is
    // checked and decoded in its own span, so the refused one is logged
    // with the call's id, after the two before it were queued.
    assert_eq!(filter("info,abi_fixture=debug,proto2ffi=debug"), 0);
    let id = lib.start_streaming("fx_job_service_collect_start", 0, events);
    let mut batch = Vec::new();
    let mut queued = 0;
    for (i, text) in [
        "one".to_string(),
        "two".into(),
        "x".repeat(2_000),
        "four".into(),
    ]
    .iter()
    .enumerate()
    {
        use prost::Message;
        let item = EchoRequest {
            text: text.clone(),
            ..Default::default()
        }
        .encode_to_vec();
        prost::encoding::encode_varint(item.len() as u64, &mut batch);
        batch.extend_from_slice(&item);
        if i == 1 {
            queued = batch.len();
        }
    }
    assert_eq!(
        lib.stream_send_items(id, &batch),
        (Code::ResourceExhausted as i32, queued)
    );
    assert_eq!(
        events.final_of(id, Duration::from_secs(20)).status,
        Code::ResourceExhausted as i32
    );
    wait_for("the refused request's record", |s| {
        s.iter().any(|r| {
            r.message
                .starts_with("JobService.collect refused: request of 2")
                && r.fields.contains(&format!("async_call={id}"))
                && r.fields.contains("reason=request_size")
        })
    });
    assert_eq!(filter("info,abi_fixture=debug"), 0);

    // A flood from 8 threads while the host does not keep up (its callback
    // waits): records are dropped and counted, handlers never wait, and
    // every record is accounted for. At most the queue (1024) and the one
    // record in the callback survive the flood.
    SEEN.lock().unwrap().clear();
    GATE.store(true, Ordering::Release);
    let dropped_before = lib.metrics().log_records_dropped;
    let per_thread = abi_tests::scaled(20).max(2) as u32;
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..per_thread {
                    logs("flood", 100);
                }
            });
        }
    });
    let emitted = u64::from(per_thread) * 8 * 101;
    let dropped_during_flood = lib.metrics().log_records_dropped - dropped_before;
    assert!(
        dropped_during_flood >= emitted - 1025,
        "{dropped_during_flood} of {emitted}"
    );
    GATE.store(false, Ordering::Release);
    wait_for("the queue to drain", |s| {
        s.len() as u64 + lib.metrics().log_records_dropped - dropped_before >= emitted
    });
    let dropped = lib.metrics().log_records_dropped - dropped_before;
    assert!(dropped > 0, "a slow host made the queue overflow");
    assert_eq!(SEEN.lock().unwrap().len() as u64 + dropped, emitted);
    assert!(lib
        .metrics_text()
        .contains("proto2ffi_log_records_dropped_total "));

    // A panic: one error record and an INTERNAL status with the same
    // incident id; sanitized, the caller sees no panic text.
    // (The library's own panic hook keeps this panic off stderr.)
    expose(false);
    SEEN.lock().unwrap().clear();
    let err = lib
        .call::<_, EchoResponse>(
            "fx_echo_service_echo",
            &EchoRequest {
                panic: "db password hunter2".into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), proto2ffi_runtime::Code::Internal);
    assert!(!err.message().contains("hunter2"), "{}", err.message());
    let incident = err
        .message()
        .split("incident ")
        .nth(1)
        .and_then(|s| s.strip_suffix(')'))
        .expect("an incident id in the status")
        .to_string();
    assert_eq!(incident.len(), 8);
    wait_for("the panic record", |s| s.iter().any(|r| r.level == 1));
    let seen = SEEN.lock().unwrap().clone();
    let errors: Vec<&Seen> = seen.iter().filter(|r| r.level == 1).collect();
    assert_eq!(errors.len(), 1, "{seen:?}");
    assert!(
        errors[0].message.contains("hunter2"),
        "the log keeps the detail"
    );
    assert!(
        errors[0].fields.contains(&format!("incident={incident}")),
        "{}",
        errors[0].fields
    );
    assert!(
        errors[0]
            .fields
            .contains("location=tests/abi/fixture/src/lib.rs:"),
        "{}",
        errors[0].fields
    );
    // The stack as module-relative return addresses, innermost (the
    // library's own panic hook) first.
    assert!(
        errors[0].fields.contains("frames=libabi_fixture.so+0x"),
        "{}",
        errors[0].fields
    );

    // INTERNAL returned by a handler is sanitized the same way.
    let err = lib
        .call::<_, EchoResponse>(
            "fx_echo_service_echo",
            &EchoRequest {
                fail_code: Code::Internal as i32,
                fail_message: "connection string postgres://admin:secret@db".into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(!err.message().contains("secret"), "{}", err.message());
    assert!(err
        .message()
        .starts_with("internal error in EchoService.echo (incident "));
    wait_for("the internal-error record", |s| {
        s.iter()
            .any(|r| r.message.contains("postgres://admin:secret@db"))
    });
    expose(true);
    assert_eq!(set_sink(None, std::ptr::null_mut()), 0);
}
