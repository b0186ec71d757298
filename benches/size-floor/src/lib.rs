//! The floor of a library's size: what any Rust cdylib that takes a
//! protobuf message across the C ABI and turns a panic into a status pays
//! before it has a single feature (std with `panic = "unwind"`, its panic
//! hook and unwinding tables, prost's decoding and encoding, the
//! allocator). `cargo xtask size` builds it with the examples' profile.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// A small message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Echo {
    /// An id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// A name.
    #[prost(string, tag = "2")]
    pub name: String,
}

/// Decodes `request`, echoes it into a fresh buffer (`*out`, `*out_len`,
/// freed with [`size_floor_free`]); 0 on success, 3 for a bad request, 13
/// if the handler panicked.
///
/// # Safety
/// `request` points at `len` readable bytes; `out` and `out_len` are
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn size_floor_echo(
    request: *const u8,
    len: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's contract.
        let bytes = unsafe { std::slice::from_raw_parts(request, len) };
        let message = <Echo as prost::Message>::decode(bytes).map_err(|_| 3)?;
        Ok::<_, i32>(prost::Message::encode_to_vec(&message).into_boxed_slice())
    }));
    match result {
        Ok(Ok(bytes)) => {
            // SAFETY: the caller's contract.
            unsafe {
                *out_len = bytes.len();
                *out = Box::into_raw(bytes).cast();
            }
            0
        }
        Ok(Err(code)) => code,
        Err(_) => 13,
    }
}

/// Frees a buffer [`size_floor_echo`] returned.
///
/// # Safety
/// `bytes` and `len` came from one successful [`size_floor_echo`] call and
/// are freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn size_floor_free(bytes: *mut u8, len: usize) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(bytes, len)) });
}
