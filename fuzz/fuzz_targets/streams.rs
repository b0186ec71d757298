//! Client-streaming and bidi calls as a careless or hostile caller drives
//! them: the input is a script of operations (start, send bytes, close,
//! cancel, take answers) on the fixture's `collect` and `chat` streams,
//! in any order, on live, finished or unknown call ids. Every export must
//! answer with a code it documents, and every call must complete exactly
//! once.
#![no_main]

use abi_fixture as fx;
use libfuzzer_sys::fuzz_target;
use proto2ffi_runtime::Buffer;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Final events (status ≥ 0) per call id.
static FINALS: Mutex<Option<HashMap<u64, u32>>> = Mutex::new(None);

unsafe extern "C" fn on_event(_: *mut c_void, id: u64, status: i32, _: *const u8, _: usize) {
    assert!((-2..=16).contains(&status), "event {status}");
    if status >= 0 {
        *FINALS
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .entry(id)
            .or_default() += 1;
    }
}

fn finals(id: u64) -> u32 {
    FINALS
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(&id).copied())
        .unwrap_or(0)
}

const NOT_FOUND: i32 = 5;
const WRITABLE: i32 = -2;

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| fx::fx_test_quiet_panics());
    let mut calls: Vec<u64> = Vec::new();
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        // The call an operation applies to: one of ours, or an id that is
        // not (0, a finished one's neighbour, anything).
        let target = |pick: u8| -> u64 {
            match calls.len() {
                0 => u64::from(pick),
                n if pick & 0x80 == 0 => calls[usize::from(pick) % n],
                _ => u64::from(pick).wrapping_mul(0x9e37_79b9),
            }
        };
        let pick = rest.first().copied().unwrap_or(0);
        match op % 6 {
            // Start one, with a short deadline so that a request asking
            // the handler to sleep cannot keep it past the input.
            0 | 1 => {
                // SAFETY: the generated entry points; `on_event` ignores the
                // context and may run on any thread.
                let id = unsafe {
                    if op % 6 == 0 {
                        fx::jobs::fx_job_service_collect_start(
                            200,
                            Some(on_event),
                            std::ptr::null_mut(),
                        )
                    } else {
                        fx::jobs::fx_job_service_chat_start(
                            200,
                            Some(on_event),
                            std::ptr::null_mut(),
                        )
                    }
                };
                assert_ne!(id, 0);
                calls.push(id);
            }
            // Send the next `len` bytes (NULL when empty).
            2 => {
                let Some((&len, tail)) = rest.get(1..).and_then(|r| r.split_first()) else {
                    break;
                };
                let len = usize::from(len).min(tail.len());
                let (item, tail) = tail.split_at(len);
                let ptr = if item.is_empty() {
                    std::ptr::null()
                } else {
                    item.as_ptr()
                };
                // SAFETY: `ptr` is NULL with length 0 or points at `item`.
                let code = unsafe { fx::fx_proto2ffi_stream_send(target(pick), ptr, item.len()) };
                // Queued, window full, refused (the call ended), after close, or
                // not a live client stream.
                assert!(
                    [0, WRITABLE, 3, 8, 9, NOT_FOUND].contains(&code),
                    "stream_send returned {code}"
                );
                rest = tail;
                continue;
            }
            3 => {
                let code = fx::fx_proto2ffi_stream_close_send(target(pick));
                assert!(code == 0 || code == NOT_FOUND, "close_send returned {code}");
            }
            4 => {
                let code = fx::fx_proto2ffi_cancel(target(pick));
                assert!(code == 0 || code == NOT_FOUND, "cancel returned {code}");
            }
            _ => {
                let mut out = Buffer::empty();
                // SAFETY: a writable buffer, freed below.
                let code = unsafe { fx::fx_proto2ffi_stream_next(target(pick), 0, &mut out) };
                assert!(
                    code == 0 || code == NOT_FOUND,
                    "stream_next returned {code}"
                );
                // SAFETY: filled by the library, freed once.
                unsafe { fx::fx_proto2ffi_free(&mut out) };
            }
        }
        rest = rest.get(1..).unwrap_or(&[]);
    }
    // Everything ends: cancel what is still running, then every call has
    // exactly one final event (a completion racing the cancel may still be
    // on its way from another thread).
    for &id in &calls {
        fx::fx_proto2ffi_cancel(id);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for &id in &calls {
        while finals(id) == 0 {
            assert!(Instant::now() < deadline, "call {id} never completed");
            std::thread::sleep(Duration::from_micros(50));
        }
        assert_eq!(finals(id), 1, "call {id} completed more than once");
    }
});
