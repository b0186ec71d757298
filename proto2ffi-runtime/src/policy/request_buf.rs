//! The [`Buf`] every request is decoded from: the caller's bytes, with
//! large `bytes` fields lent to prost instead of copied twice.
//!
//! prost decodes a `bytes` field by asking the buffer for the field as a
//! [`Bytes`] (`Buf::copy_to_bytes`) and then storing it: a `Vec<u8>` field
//! copies it again. From a plain `&[u8]` that is two copies of every
//! payload byte (a fresh `BytesMut`, then the `Vec`), and at 1 MiB the
//! extra copy and its cache footprint are a third of the call. [`RequestBuf`]
//! answers `copy_to_bytes` for fields of at least [`BORROW_FROM`] bytes with
//! a [`Bytes`] that borrows the caller's bytes (one small allocation, no
//! copy), so the `Vec<u8>` field is the only copy.
//!
//! The caller's bytes are valid only for the call, so no borrowed [`Bytes`]
//! may outlive it. A `Vec<u8>` field drops its borrowed [`Bytes`] as soon
//! as it has copied it; a `bytes::Bytes` field keeps it. [`merge`] counts
//! the borrows lent and returned: if the decoded message still holds one,
//! it is reset (returning them) and decoded again with copies, and the
//! method stops lending (`retains`), so such a message costs one extra
//! decode once, not per call. A borrow still out after the message was
//! reset can only come from a hand-written `Message` that hid a `Bytes`
//! elsewhere; the process aborts rather than let it read freed memory. A
//! panic inside decoding is held long enough to take the borrows back (the
//! message is reset), then goes on.

use bytes::{Buf, Bytes};
use prost::Message;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Fields at least this long are lent, shorter ones copied as prost does.
/// Lending costs a small allocation and an atomic count instead of a
/// field-sized allocation and a copy: measured with `… --bin profile --
/// compare-size <bytes>`, it is already a little faster at 256 bytes and
/// saves 9% of the call at 1 KiB, 22% at 4 KiB and 60% at 16 KiB.
pub const BORROW_FROM: usize = 512;

/// Borrows lent by one [`merge`] and how many came back.
struct Borrows {
    lent: Cell<usize>,
    returned: AtomicUsize,
}

impl Borrows {
    fn outstanding(&self) -> bool {
        self.returned.load(Ordering::Acquire) != self.lent.get()
    }
}

/// The caller's request bytes as a prost [`Buf`] (see the module docs).
pub struct RequestBuf<'a> {
    rest: &'a [u8],
    /// Where lent fields are counted; `None`: copy every field.
    borrows: Option<&'a Borrows>,
}

impl Buf for RequestBuf<'_> {
    #[inline(always)]
    fn remaining(&self) -> usize {
        self.rest.len()
    }

    #[inline(always)]
    fn chunk(&self) -> &[u8] {
        self.rest
    }

    #[inline(always)]
    fn advance(&mut self, cnt: usize) {
        self.rest.advance(cnt)
    }

    #[inline]
    fn copy_to_slice(&mut self, dst: &mut [u8]) {
        self.rest.copy_to_slice(dst)
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        let Some(borrows) = self.borrows.filter(|_| len >= BORROW_FROM) else {
            return self.rest.copy_to_bytes(len);
        };
        assert!(len <= self.rest.len(), "copy_to_bytes out of range");
        let (field, rest) = self.rest.split_at(len);
        self.rest = rest;
        borrows.lent.set(borrows.lent.get() + 1);
        Bytes::from_owner(Lent {
            ptr: field.as_ptr(),
            len,
            returned: &borrows.returned,
        })
    }
}

/// One lent field: the caller's bytes, and where to say it came back.
struct Lent {
    ptr: *const u8,
    len: usize,
    returned: *const AtomicUsize,
}

// SAFETY: `Lent` is only a pointer to bytes nobody writes during the call
// and to an atomic counter. [`merge`] does not return while one is alive
// (it aborts first), so both stay valid on any thread that drops it.
unsafe impl Send for Lent {}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is part of the request bytes, valid and
        // unchanged until `merge` returns, which it does only once every
        // `Lent` was dropped (see the module docs).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        // SAFETY: the counter lives in `merge`'s frame, which does not
        // return while a `Lent` is alive.
        unsafe { &*self.returned }.fetch_add(1, Ordering::Release);
    }
}

/// Merges the request `bytes` into `message`, lending its large `bytes`
/// fields unless `retains` says this method's messages keep them (then set
/// here when one did). No borrow of `bytes` outlives the call.
#[inline(always)]
pub fn merge<M: Message + Default>(
    message: &mut M,
    bytes: &[u8],
    retains: &AtomicBool,
) -> Result<(), prost::DecodeError> {
    // A shorter request has no field to lend: the small call's path is one
    // comparison longer than decoding from the slice.
    if bytes.len() < BORROW_FROM || retains.load(Ordering::Relaxed) {
        return message.merge(RequestBuf {
            rest: bytes,
            borrows: None,
        });
    }
    merge_lending(message, bytes, retains)
}

/// [`merge`] of a request long enough to hold a field worth lending. Cold
/// for the compiler's sake (its code stays out of the small call's path;
/// a large request's decode dwarfs the branch), not because it is rare.
/// The only code per message type is the closure; the lending logic is
/// [`lend`], once (generic code here cost the small call ~35 instructions
/// in the default build: the compiler stopped inlining the handler).
#[cold]
#[inline(never)]
fn merge_lending<M: Message + Default>(
    message: &mut M,
    bytes: &[u8],
    retains: &AtomicBool,
) -> Result<(), prost::DecodeError> {
    lend(bytes, retains, &mut |buf| match buf {
        Some(buf) => message.merge(buf),
        None => {
            // Replaced, not `clear`ed: `Bytes::clear` keeps its storage
            // (the borrow).
            *message = M::default();
            Ok(())
        }
    })
}

/// What [`lend`] does to the message: merge from a buffer (`Some`), or
/// reset it to its default (`None`), which returns every borrow it holds.
type Op<'m> = dyn for<'b> FnMut(Option<RequestBuf<'b>>) -> Result<(), prost::DecodeError> + 'm;

/// Decodes with large fields lent, then makes sure every borrow came back
/// (see the module docs).
fn lend(bytes: &[u8], retains: &AtomicBool, op: &mut Op<'_>) -> Result<(), prost::DecodeError> {
    let borrows = Borrows {
        lent: Cell::new(0),
        returned: AtomicUsize::new(0),
    };
    // A `Message` that panics half-way (a hand-written one may) could leave
    // borrows in the message pointing at `borrows`, which unwinding is
    // about to free: take them back before the panic goes on.
    let merged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        op(Some(RequestBuf {
            rest: bytes,
            borrows: Some(&borrows),
        }))
    }));
    let result = match merged {
        Ok(result) => result,
        Err(panic) => {
            if borrows.outstanding() {
                take_back(op, &borrows);
            }
            std::panic::resume_unwind(panic)
        }
    };
    if borrows.lent.get() == 0 || !borrows.outstanding() {
        return result;
    }
    // The message kept a borrow (a `bytes::Bytes` field): reset it, stop
    // lending for this method, and decode with copies.
    retains.store(true, Ordering::Relaxed);
    take_back(op, &borrows);
    result?;
    op(Some(RequestBuf {
        rest: bytes,
        borrows: None,
    }))
}

/// Resets the message, which returns every borrow it holds; aborts if one
/// is still out (then something outside the message holds it).
#[cold]
fn take_back(op: &mut Op<'_>, borrows: &Borrows) {
    // A hand-written `Default` or `Drop` may panic; then the borrows are
    // checked before that panic goes on too.
    let reset = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(None)));
    if borrows.outstanding() {
        say_why_we_abort();
        std::process::abort();
    }
    if let Err(panic) = reset {
        std::panic::resume_unwind(panic);
    }
}

/// Tells stderr why the process is about to abort (with one `write` where
/// there is libc: `eprintln!` added ~3 KiB of `std::io` formatting to the
/// size-profile library).
#[cold]
fn say_why_we_abort() {
    const WHY: &str = "proto2ffi: a decoded request kept a reference to the caller's bytes \
                       after the message was reset (a hand-written prost::Message that stores \
                       Bytes outside its fields?); aborting rather than letting it outlive the \
                       call\n";
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: writes `WHY`'s bytes, valid for its length, to fd 2.
    unsafe {
        libc::write(2, WHY.as_ptr().cast(), WHY.len());
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    eprint!("{WHY}");
}

#[cfg(test)]
mod tests;
