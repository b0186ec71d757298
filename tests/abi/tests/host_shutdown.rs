//! Host calls in the log sink's records and at shutdown: one process, as
//! it shuts the library down. Calls waiting for the host — async ones and
//! a blocking one — complete with UNAVAILABLE when shutdown gives up on
//! them, the host is told, and the library calls the host no more.

mod host;

use abi_tests::async_calls::{wait_until, Events};
use abi_tests::Code;
use host::*;
use proto2ffi_runtime::log::LogRecord;
use std::ffi::{c_void, CStr};
use std::sync::Mutex;

type LogFn = unsafe extern "C" fn(*mut c_void, *mut LogRecord);

static RECORDS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

unsafe extern "C" fn collect(_: *mut c_void, record: *mut LogRecord) {
    // SAFETY: a valid record, ours until freed.
    let r = unsafe { &*record };
    let text =
        |p: *const std::ffi::c_char| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    RECORDS
        .lock()
        .unwrap()
        .push((text(r.message), text(r.fields)));
    // SAFETY: freed once, with the library's function.
    unsafe {
        lib().symbol::<unsafe extern "C" fn(*mut LogRecord)>("hfx_proto2ffi_log_record_free")(
            record,
        )
    };
}

#[test]
fn host_calls_are_logged_and_shutdown_ends_them() {
    let lib = lib();
    // SAFETY: the exports' signatures (see the header).
    let (set_sink, set_filter) = unsafe {
        (
            lib.symbol::<extern "C" fn(Option<LogFn>, *mut c_void) -> i32>(
                "hfx_proto2ffi_set_log_sink",
            ),
            lib.symbol::<unsafe extern "C" fn(*const u8, usize, *mut proto2ffi_runtime::Buffer) -> i32>(
                "hfx_proto2ffi_set_log_filter",
            ),
        )
    };
    assert_eq!(set_sink(Some(collect), std::ptr::null_mut()), 0);
    let mut out = proto2ffi_runtime::Buffer::empty();
    let filter = "proto2ffi=debug";
    // SAFETY: a live slice and a writable buffer.
    assert_eq!(
        unsafe { set_filter(filter.as_ptr(), filter.len(), &mut out) },
        0
    );
    lib.free(&mut out);

    let host = Host::new();
    let binding = bind(host);
    let events = Events::new();
    // One answered call: its records name the host call and sit in the
    // async call's span.
    let id = lib.start("hfx_relay_forward_start", &question("logged"), 0, events);
    let r = host.next();
    assert_eq!(answer(r.call_id, "ok"), 0);
    events.final_of(id, WAIT);
    let host_call = format!("host_call={}", r.call_id);
    wait_until("the host call's records", || {
        let records = RECORDS.lock().unwrap();
        let ours: Vec<_> = records
            .iter()
            .filter(|(_, f)| f.contains(&host_call))
            .collect();
        ours.iter().any(|(m, _)| m.contains("host call sent"))
            && ours
                .iter()
                .any(|(m, f)| m.contains("host call finished") && f.contains("code=OK"))
    });
    assert!(
        RECORDS
            .lock()
            .unwrap()
            .iter()
            .any(|(m, f)| m.contains("host call sent")
                && f.contains(&host_call)
                && f.contains(&format!("async_call={id}"))
                && f.contains("service=hostfx.v1.Oracle")
                && f.contains("method=Ask")),
        "the record sits in the async call's span: {:?}",
        RECORDS.lock().unwrap()
    );

    // Calls left waiting for the host: three async, one blocking.
    let ids: Vec<u64> = (0..3)
        .map(|_| lib.start("hfx_relay_forward_start", &question("pending"), 0, events))
        .collect();
    let blocking = std::thread::spawn(|| {
        host::lib().call::<_, Answer>("hfx_relay_forward_blocking", &question("pending"))
    });
    let held: Vec<u64> = (0..4).map(|_| host.next().call_id).collect();
    assert_eq!(lib.shutdown(50), Code::DeadlineExceeded as i32);
    for id in ids {
        let e = events.final_of(id, WAIT);
        assert_eq!(e.status, Code::Unavailable as i32);
    }
    assert_eq!(
        blocking.join().unwrap().unwrap_err().code(),
        Code::Unavailable
    );
    for call in &held {
        wait_until("the host hears of it", || host.was_cancelled(*call));
        assert_eq!(answer(*call, "late"), Code::NotFound as i32);
    }
    assert_eq!(host_metrics("Ask").in_flight, 0);
    assert_eq!(unbind(binding), 0);
}
