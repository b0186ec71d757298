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
