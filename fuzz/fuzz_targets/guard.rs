//! The guard and decode path as a foreign caller drives it: the first byte
//! picks an entry point of the test fixture, the rest is the request. Every
//! call must return a canonical code with a payload that decodes, and the
//! library must keep its books (no call left in flight).
#![no_main]

use abi_fixture as fx;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use proto2ffi_runtime::{Buffer, Status};

type Entry = unsafe extern "C" fn(*const u8, usize, *mut Buffer) -> i32;

const ENTRIES: [Entry; 9] = [
    fx::fx_echo_service_echo,
    fx::fx_echo_service_small,
    fx::fx_echo_service_limited,
    fx::fx_echo_service_keyed,
    fx::fx_echo_service_shared_keyed,
    fx::fx_echo_service_add,
    fx::fx_echo_service_panicky,
    fx::fx_echo_service_type,
    fx::fx_unregistered_service_ping,
];

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| fx::fx_test_quiet_panics());
    let Some((&pick, request)) = data.split_first() else {
        return;
    };
    let index = usize::from(pick) % ENTRIES.len();
    if index < 3 {
        // `echo`-backed methods sleep or build strings as the request says,
        // and a text `gate:<name>` blocks until a test opens that gate (the
        // fuzzer found it: the run hung): keep to requests that test the
        // guard, not the host's patience.
        if let Ok(r) = fx::EchoRequest::decode(request) {
            let longest = r.text.len().max(r.fail_message.len()).max(r.panic.len());
            if r.sleep_ms != 0
                || r.text.starts_with("gate:")
                || longest.saturating_mul(r.repeat.max(1) as usize) > 1 << 16
            {
                return;
            }
        }
    }
    let mut out = Buffer::empty();
    let ptr = if request.is_empty() {
        std::ptr::null()
    } else {
        request.as_ptr()
    };
    // SAFETY: `ptr` is NULL with length 0 or points at `request`.
    let code = unsafe { ENTRIES[index](ptr, request.len(), &mut out) };
    assert!((0..=16).contains(&code), "code {code}");
    // SAFETY: filled by the library.
    let payload = unsafe { out.as_slice() }.to_vec();
    // SAFETY: a buffer this library filled, freed once.
    unsafe { fx::fx_proto2ffi_free(&mut out) };
    if code != 0 {
        let status = Status::decode(&payload).expect("error payload is a google.rpc.Status");
        assert_eq!(status.code() as i32, code);
    }
});
