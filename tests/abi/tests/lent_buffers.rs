//! `buffer_detach` and `buffer_release`: a returned buffer moved into a
//! handle the caller owns (what the Dart client lends to decoded large
//! `bytes` values and releases from a finalizer), called as a foreign
//! caller would, through the exported symbols.

use abi_tests::fixture;
use abi_tests::messages::{BlobRequest, BlobResponse};
use proto2ffi_runtime::Buffer;
use std::ffi::c_void;

type DetachFn = unsafe extern "C" fn(*mut Buffer) -> *mut c_void;
type ReleaseFn = unsafe extern "C" fn(*mut c_void);

const BLOB: &str = "fx_echo_service_owned_blob";

fn fns() -> (DetachFn, ReleaseFn) {
    let lib = fixture();
    // SAFETY: the header's signatures of the two library-wide functions.
    unsafe {
        (
            lib.symbol::<DetachFn>(&lib.lib_symbol("buffer_detach")),
            lib.symbol::<ReleaseFn>(&lib.lib_symbol("buffer_release")),
        )
    }
}

/// A call's response buffer, not freed.
fn response(data: Vec<u8>) -> Buffer {
    let lib = fixture();
    let request = prost::Message::encode_to_vec(&BlobRequest { data, kept: vec![] });
    let mut out = Buffer::empty();
    // SAFETY: the method's signature; `out` is writable.
    let code = unsafe { lib.method(BLOB)(request.as_ptr(), request.len(), &mut out) };
    assert_eq!(code, 0);
    out
}

#[test]
fn a_detached_buffer_outlives_later_calls_until_released() {
    let (detach, release) = fns();
    let lib = fixture();
    let first: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    let mut out = response(first.clone());
    let (data, len) = (out.data, out.len);
    // SAFETY: `out` was filled by this library and not freed.
    let handle = unsafe { detach(&mut out) };
    assert!(!handle.is_null());
    assert!(out.data.is_null() && out.len == 0, "*out is zeroed");
    lib.free(&mut out); // a zero buffer: a no-op
                        // Later calls on this thread reuse pooled buffers; the detached one is
                        // not among them.
    for seed in 0..50u8 {
        let mut other = response(vec![seed; 100_000]);
        lib.free(&mut other);
    }
    // SAFETY: the detached bytes stay valid until the release.
    let kept = unsafe { std::slice::from_raw_parts(data, len) };
    let decoded: BlobResponse = prost::Message::decode(kept).unwrap();
    assert_eq!(decoded.data, first);
    // SAFETY: a handle from detach, released once.
    unsafe { release(handle) };
}

#[test]
fn nothing_to_detach_and_null_handles() {
    let (detach, release) = fns();
    // SAFETY: NULL and a zero buffer are documented no-ops.
    unsafe {
        assert!(detach(std::ptr::null_mut()).is_null());
        let mut zero = Buffer::empty();
        assert!(detach(&mut zero).is_null());
        release(std::ptr::null_mut());
    }
}

#[test]
fn released_on_other_threads_as_finalizers_do() {
    let (detach, release) = fns();
    let handles: Vec<usize> = (0..64)
        .map(|i| {
            let mut out = response(vec![i as u8; 5000 + i]);
            // SAFETY: filled by this library, not freed.
            unsafe { detach(&mut out) as usize }
        })
        .collect();
    std::thread::scope(|s| {
        for chunk in handles.chunks(16) {
            s.spawn(move || {
                for &h in chunk {
                    // SAFETY: each handle is released once.
                    unsafe { release(h as *mut c_void) };
                }
            });
        }
    });
}
