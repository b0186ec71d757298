//! Replacing or removing the log sink while records flow: once
//! `set_log_sink` returns, the sink it replaced is never called again (a
//! host frees its context right after), and a callback may remove its own
//! sink without deadlocking. One process: it changes the fixture's sink.

use abi_tests::messages::*;
use abi_tests::{fixture, scaled};
use prost::Message;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use proto2ffi_runtime::log::LogRecord;

type LogFn = unsafe extern "C" fn(*mut c_void, *mut LogRecord);
type SetSinkFn = unsafe extern "C" fn(Option<LogFn>, *mut c_void) -> i32;

const SINKS: usize = 4096;
/// `RETIRED[i]`: the sink with context `i + 1` was replaced or removed.
static RETIRED: [AtomicBool; SINKS] = [const { AtomicBool::new(false) }; SINKS];
static LATE: AtomicU64 = AtomicU64::new(0);
static DELIVERED: AtomicU64 = AtomicU64::new(0);

fn set_sink(callback: Option<LogFn>, context: usize) {
    // SAFETY: the library-wide export with its C signature.
    let code = unsafe {
        fixture().symbol::<SetSinkFn>("fx_proto2ffi_set_log_sink")(callback, context as *mut c_void)
    };
    assert_eq!(code, 0);
}

fn free(record: *mut LogRecord) {
    // SAFETY: the library's free function, once per record.
    unsafe {
        fixture().symbol::<unsafe extern "C" fn(*mut LogRecord)>("fx_proto2ffi_log_record_free")(
            record,
        )
    }
}

unsafe extern "C" fn counted(context: *mut c_void, record: *mut LogRecord) {
    if RETIRED[context as usize - 1].load(Ordering::SeqCst) {
        LATE.fetch_add(1, Ordering::SeqCst);
    }
    DELIVERED.fetch_add(1, Ordering::SeqCst);
    free(record);
}

static REMOVED_ITSELF: AtomicBool = AtomicBool::new(false);

unsafe extern "C" fn remove_self(_: *mut c_void, record: *mut LogRecord) {
    free(record);
    set_sink(None, 0);
    REMOVED_ITSELF.store(true, Ordering::SeqCst);
}

#[test]
fn a_replaced_or_removed_sink_is_never_called_again() {
    let lib = fixture();
    let logs = EchoRequest {
        repeat: 4,
        ..Default::default()
    }
    .encode_to_vec();
    let stop = AtomicBool::new(false);
    // Scaled down (valgrind), the loggers pause between calls: busy
    // threads there starve the delivery thread.
    let pause = scaled(1_000) < 1_000;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let _ = fixture().call_bytes("fx_echo_service_logs", &logs);
                    if pause {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                }
            });
        }
        let swaps = (scaled(2_000) as usize).clamp(2, SINKS - 1);
        // The sink in place now (its context), retired once replaced.
        let mut current: Option<usize> = None;
        for i in 1..=swaps {
            // Every third swap removes the sink, the others replace it.
            let next = (i % 3 != 0).then_some(i);
            let before = DELIVERED.load(Ordering::SeqCst);
            set_sink(next.map(|_| counted as LogFn), next.unwrap_or(0));
            if next.is_some() {
                // Swap again while this sink is busy delivering.
                abi_tests::async_calls::wait_until("a record", || {
                    DELIVERED.load(Ordering::SeqCst) > before
                });
            }
            if let Some(previous) = current {
                RETIRED[previous - 1].store(true, Ordering::SeqCst);
            }
            current = next;
        }
        set_sink(None, 0);
        if let Some(previous) = current {
            RETIRED[previous - 1].store(true, Ordering::SeqCst);
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(
        DELIVERED.load(Ordering::SeqCst) > 0,
        "no record was delivered"
    );
    assert_eq!(
        LATE.load(Ordering::SeqCst),
        0,
        "a sink was called after it was removed"
    );

    // A callback that removes its own sink returns, and the next sink works.
    set_sink(Some(remove_self), 1);
    abi_tests::async_calls::wait_until("the sink to remove itself", || {
        let _ = lib.call_bytes("fx_echo_service_logs", &logs);
        REMOVED_ITSELF.load(Ordering::SeqCst)
    });
    let before = DELIVERED.load(Ordering::SeqCst);
    RETIRED[SINKS - 1].store(false, Ordering::SeqCst);
    set_sink(Some(counted), SINKS);
    abi_tests::async_calls::wait_until("records after the self-removal", || {
        let _ = lib.call_bytes("fx_echo_service_logs", &logs);
        DELIVERED.load(Ordering::SeqCst) > before
    });
    set_sink(None, 0);
}
