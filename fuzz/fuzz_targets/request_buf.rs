//! Lending large `bytes` fields (`proto2ffi-runtime/src/policy/request_buf.rs`) over
//! arbitrary bytes: the result always equals prost's own decode (the same
//! message or the same error), and under the fuzzer's address sanitizer no
//! lent borrow is read after the input is gone, including when a
//! `bytes::Bytes` field keeps one and the request is decoded again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use proto2ffi_runtime::__private::request_buf::merge;
use std::sync::atomic::AtomicBool;

#[derive(Clone, PartialEq, prost::Message)]
struct Inner {
    #[prost(bytes = "vec", tag = "1")]
    data: Vec<u8>,
    #[prost(string, tag = "2")]
    text: String,
    #[prost(message, optional, tag = "3")]
    next: Option<Box<Inner>>,
}

/// Every `bytes` field a `Vec<u8>`: every borrow comes back.
#[derive(Clone, PartialEq, prost::Message)]
struct Owned {
    #[prost(bytes = "vec", tag = "1")]
    a: Vec<u8>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    b: Vec<Vec<u8>>,
    #[prost(message, optional, tag = "3")]
    c: Option<Inner>,
    #[prost(map = "string, bytes", tag = "4")]
    m: std::collections::HashMap<String, Vec<u8>>,
    #[prost(oneof = "Choice", tags = "5, 6")]
    choice: Option<Choice>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Choice {
    #[prost(bytes = "vec", tag = "5")]
    Raw(Vec<u8>),
    #[prost(uint64, tag = "6")]
    Number(u64),
}

/// The same wire format with `bytes::Bytes` fields, which keep borrows.
#[derive(Clone, PartialEq, prost::Message)]
struct Kept {
    #[prost(bytes = "bytes", tag = "1")]
    a: prost::bytes::Bytes,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    b: Vec<prost::bytes::Bytes>,
    #[prost(message, optional, tag = "3")]
    c: Option<Inner>,
}

fn check<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) {
    // The input in its own allocation, freed before the decoded message is
    // read again: a borrow that outlived `merge` is a use after free.
    let input = data.to_vec();
    let plain = M::decode(&input[..]);
    let mut lent = M::default();
    let result = merge(&mut lent, &input, &AtomicBool::new(false));
    drop(input);
    match (plain, result) {
        (Ok(p), Ok(())) => assert!(p == lent, "lent decode differs from prost's"),
        (Err(p), Err(l)) => assert_eq!(p.to_string(), l.to_string()),
        (p, l) => panic!("prost {p:?}, lent {l:?}"),
    }
    // Reads every byte of the decoded message after the input is gone.
    std::hint::black_box(lent.encode_to_vec());
}

fuzz_target!(|data: &[u8]| {
    check::<Owned>(data);
    check::<Kept>(data);
});
