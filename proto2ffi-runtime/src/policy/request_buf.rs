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
mod tests {
    use super::*;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Inner {
        #[prost(bytes = "vec", tag = "1")]
        data: Vec<u8>,
        #[prost(string, tag = "2")]
        text: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct WithVec {
        #[prost(uint64, tag = "1")]
        id: u64,
        #[prost(bytes = "vec", tag = "2")]
        payload: Vec<u8>,
        #[prost(message, repeated, tag = "3")]
        inner: Vec<Inner>,
        #[prost(bytes = "vec", repeated, tag = "4")]
        chunks: Vec<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct WithBytes {
        #[prost(uint64, tag = "1")]
        id: u64,
        #[prost(bytes = "bytes", tag = "2")]
        payload: Bytes,
    }

    fn payload(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn sample() -> WithVec {
        WithVec {
            id: 7,
            payload: payload(BORROW_FROM * 3, 1),
            inner: vec![
                Inner {
                    data: payload(BORROW_FROM, 2),
                    text: "x".repeat(BORROW_FROM),
                },
                Inner {
                    data: payload(BORROW_FROM - 1, 3),
                    text: String::new(),
                },
            ],
            chunks: vec![payload(10, 4), payload(BORROW_FROM + 5, 5)],
        }
    }

    #[test]
    fn lends_large_vec_fields_and_decodes_exactly() {
        let expected = sample();
        let bytes = expected.encode_to_vec();
        let retains = AtomicBool::new(false);
        let mut decoded = WithVec::default();
        merge(&mut decoded, &bytes, &retains).unwrap();
        assert_eq!(decoded, expected);
        assert!(
            !retains.load(Ordering::Relaxed),
            "Vec fields return every borrow"
        );
    }

    /// Decodes every field as a `bytes` field the way a `Vec<u8>` field does
    /// (take the `Bytes`, copy, drop it) and records where each `Bytes`
    /// pointed: into the input means it was lent, not copied.
    #[derive(Debug, Default)]
    struct Probe {
        input: std::ops::Range<usize>,
        lent: Vec<bool>,
    }

    impl Message for Probe {
        fn encode_raw(&self, _: &mut impl bytes::BufMut) {}
        fn merge_field(
            &mut self,
            _tag: u32,
            wire_type: prost::encoding::WireType,
            buf: &mut impl Buf,
            ctx: prost::encoding::DecodeContext,
        ) -> Result<(), prost::DecodeError> {
            let mut field = Bytes::new();
            prost::encoding::bytes::merge(wire_type, &mut field, buf, ctx)?;
            let at = field.as_ptr() as usize;
            self.lent
                .push(!field.is_empty() && self.input.contains(&at));
            Ok(())
        }
        fn encoded_len(&self) -> usize {
            0
        }
        fn clear(&mut self) {}
    }

    #[test]
    fn fields_from_the_threshold_up_are_lent_and_shorter_ones_copied() {
        let mut bytes = Vec::new();
        for (tag, len) in [(1, BORROW_FROM - 1), (2, BORROW_FROM), (3, 4 * BORROW_FROM)] {
            prost::encoding::bytes::encode(tag, &payload(len, 0), &mut bytes);
        }
        let mut probe = Probe {
            input: bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len(),
            lent: Vec::new(),
        };
        let retains = AtomicBool::new(false);
        merge(&mut probe, &bytes, &retains).unwrap();
        assert_eq!(probe.lent, [false, true, true]);
        assert!(!retains.load(Ordering::Relaxed), "every borrow came back");
        // A method that stopped lending copies every field.
        probe.lent.clear();
        merge(&mut probe, &bytes, &AtomicBool::new(true)).unwrap();
        assert_eq!(probe.lent, [false, false, false]);
    }

    #[test]
    fn a_bytes_field_that_keeps_its_borrow_is_decoded_again_with_a_copy() {
        let expected = WithBytes {
            id: 9,
            payload: Bytes::from(payload(BORROW_FROM * 2, 6)),
        };
        let bytes = expected.encode_to_vec();
        let retains = AtomicBool::new(false);
        let mut decoded = WithBytes::default();
        merge(&mut decoded, &bytes, &retains).unwrap();
        assert_eq!(decoded, expected);
        assert!(retains.load(Ordering::Relaxed), "the method stops lending");
        let range = bytes.as_ptr_range();
        assert!(
            !range.contains(&decoded.payload.as_ptr()),
            "the kept Bytes must own a copy, not the caller's bytes"
        );
        drop(bytes);
        assert_eq!(decoded, expected);
        // The next call copies from the start.
        let bytes = expected.encode_to_vec();
        let mut again = WithBytes::default();
        merge(&mut again, &bytes, &retains).unwrap();
        assert!(!bytes.as_ptr_range().contains(&again.payload.as_ptr()));
        assert_eq!(again, expected);
    }

    #[test]
    fn invalid_input_fails_the_same_with_and_without_lending() {
        let mut bytes = sample().encode_to_vec();
        // Cut inside the last large field.
        bytes.truncate(bytes.len() - 3);
        let plain = WithVec::decode(&bytes[..]).unwrap_err();
        let mut decoded = WithVec::default();
        let lent = merge(&mut decoded, &bytes, &AtomicBool::new(false)).unwrap_err();
        assert_eq!(lent.to_string(), plain.to_string());

        let mut bytes = WithBytes {
            id: 1,
            payload: Bytes::from(payload(BORROW_FROM, 0)),
        }
        .encode_to_vec();
        bytes.push(0xff); // a key with no value
        let retains = AtomicBool::new(false);
        let mut decoded = WithBytes::default();
        assert!(merge(&mut decoded, &bytes, &retains).is_err());
        assert!(retains.load(Ordering::Relaxed));
        assert!(decoded.payload.is_empty(), "reset, no borrow left");
    }

    /// Lent and plain decoding agree on random messages around the
    /// threshold, cut short or with bytes flipped.
    #[test]
    fn agrees_with_prost_on_random_and_damaged_input() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n.max(1) as u64) as usize
        };
        for round in 0..if cfg!(miri) { 20 } else { 300 } {
            let size = |next: &mut dyn FnMut(usize) -> usize| match next(4) {
                0 => next(64),
                1 => BORROW_FROM - 2 + next(4),
                _ => next(3 * BORROW_FROM),
            };
            let m = WithVec {
                id: round,
                payload: payload(size(&mut next), 1),
                inner: (0..next(3))
                    .map(|i| Inner {
                        data: payload(size(&mut next), i as u8),
                        text: "t".repeat(next(100)),
                    })
                    .collect(),
                chunks: (0..next(3))
                    .map(|i| payload(size(&mut next), i as u8))
                    .collect(),
            };
            let mut bytes = m.encode_to_vec();
            match next(3) {
                0 => bytes.truncate(next(bytes.len())),
                1 => {
                    for _ in 0..1 + next(4) {
                        let at = next(bytes.len());
                        bytes[at] ^= 1 << next(8);
                    }
                }
                _ => {}
            }
            let plain = WithVec::decode(&bytes[..]);
            let mut lent = WithVec::default();
            let result = merge(&mut lent, &bytes, &AtomicBool::new(false));
            match (plain, result) {
                (Ok(p), Ok(())) => assert_eq!(p, lent, "round {round}"),
                (Err(p), Err(l)) => assert_eq!(p.to_string(), l.to_string(), "round {round}"),
                (p, l) => panic!("round {round}: prost {p:?}, lent {l:?}"),
            }
        }
    }

    #[test]
    fn small_requests_are_not_lent() {
        let m = WithBytes {
            id: 3,
            payload: Bytes::from(payload(BORROW_FROM - 100, 1)),
        };
        let bytes = m.encode_to_vec();
        let retains = AtomicBool::new(false);
        let mut decoded = WithBytes::default();
        merge(&mut decoded, &bytes, &retains).unwrap();
        assert_eq!(decoded, m);
        assert!(!retains.load(Ordering::Relaxed));
    }

    /// A hand-written `Message` that hides a lent `Bytes` outside its
    /// fields: resetting it cannot return the borrow.
    #[derive(Debug, Default)]
    struct Hider;

    static HIDDEN: std::sync::Mutex<Option<Bytes>> = std::sync::Mutex::new(None);

    impl Message for Hider {
        fn encode_raw(&self, _: &mut impl bytes::BufMut) {}
        fn merge_field(
            &mut self,
            tag: u32,
            wire_type: prost::encoding::WireType,
            buf: &mut impl Buf,
            ctx: prost::encoding::DecodeContext,
        ) -> Result<(), prost::DecodeError> {
            let mut kept = Bytes::new();
            prost::encoding::bytes::merge(wire_type, &mut kept, buf, ctx)?;
            let _ = tag;
            *HIDDEN.lock().unwrap() = Some(kept);
            Ok(())
        }
        fn encoded_len(&self) -> usize {
            0
        }
        fn clear(&mut self) {}
    }

    /// A hand-written `Message` that keeps a lent `Bytes` in a field and
    /// then panics.
    #[derive(Debug, Default)]
    struct KeepsThenPanics {
        kept: Bytes,
    }

    impl Message for KeepsThenPanics {
        fn encode_raw(&self, _: &mut impl bytes::BufMut) {}
        fn merge_field(
            &mut self,
            _tag: u32,
            wire_type: prost::encoding::WireType,
            buf: &mut impl Buf,
            ctx: prost::encoding::DecodeContext,
        ) -> Result<(), prost::DecodeError> {
            prost::encoding::bytes::merge(wire_type, &mut self.kept, buf, ctx)?;
            panic!("after keeping {} bytes", self.kept.len());
        }
        fn encoded_len(&self) -> usize {
            0
        }
        fn clear(&mut self) {}
    }

    #[test]
    fn a_panic_while_a_borrow_is_kept_returns_it_first() {
        let bytes = WithBytes {
            id: 0,
            payload: Bytes::from(payload(BORROW_FROM * 2, 0)),
        }
        .encode_to_vec();
        let mut message = KeepsThenPanics::default();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            merge(&mut message, &bytes, &AtomicBool::new(false))
        }));
        assert!(panicked.is_err(), "the panic goes on");
        // The message was reset before the panic left `merge`: it holds no
        // borrow whose drop would reach `merge`'s freed frame.
        assert!(message.kept.is_empty());
        drop(message);
    }

    #[test]
    #[cfg_attr(miri, ignore = "miri cannot spawn the child process")]
    fn a_borrow_hidden_outside_the_message_aborts() {
        const CHILD: &str = "PROTO2FFI_REQUEST_BUF_HIDER";
        let bytes = WithBytes {
            id: 0,
            payload: Bytes::from(payload(BORROW_FROM, 0)),
        }
        .encode_to_vec();
        if std::env::var_os(CHILD).is_some() {
            let _ = merge(&mut Hider, &bytes, &AtomicBool::new(false));
            unreachable!("merge must abort");
        }
        // Under emulation (`cargo xtask cross`), the child runs through the
        // same runner as this binary: no binfmt handler is registered.
        let exe = std::env::current_exe().unwrap();
        let runner = std::env::var("PROTO2FFI_TEST_RUNNER").unwrap_or_default();
        let mut runner = runner.split_whitespace();
        let mut child = match runner.next() {
            Some(program) => {
                let mut cmd = std::process::Command::new(program);
                cmd.args(runner).arg(exe);
                cmd
            }
            None => std::process::Command::new(exe),
        };
        let out = child
            .args([
                "--exact",
                "policy::request_buf::tests::a_borrow_hidden_outside_the_message_aborts",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "the child must not succeed: {stderr}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(out.status.signal(), Some(6), "SIGABRT expected: {stderr}");
        }
        assert!(
            stderr.contains("kept a reference to the caller's bytes"),
            "{stderr}"
        );
    }
}
