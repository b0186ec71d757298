//! Large `bytes` fields: the runtime lends them to prost from the caller's
//! bytes (`proto2ffi_runtime::request_buf`), so nothing the library keeps
//! may still point at those bytes once the call has returned.

use abi_tests::fixture;
use abi_tests::messages::{BlobRequest, BlobResponse};
use prost::Message;
use proto2ffi_runtime::__private::request_buf::BORROW_FROM;

/// `kept` is a `bytes::Bytes` in the library.
const BLOB: &str = "fx_echo_service_blob";
/// Every field a `Vec<u8>`.
const OWNED_BLOB: &str = "fx_echo_service_owned_blob";

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed))
        .collect()
}

/// Calls `blob` with an encoded request the caller then overwrites and
/// frees, as a foreign caller reusing its buffer would.
fn call_and_scribble(method: &str, data: Vec<u8>, kept: Vec<u8>) -> BlobResponse {
    let lib = fixture();
    let mut bytes = BlobRequest { data, kept }.encode_to_vec();
    let (code, out) = lib.call_bytes(method, &bytes);
    bytes.fill(0xA5);
    drop(bytes);
    assert_eq!(code, 0, "{:?}", abi_tests::Status::decode(&out));
    BlobResponse::decode(&out[..]).unwrap()
}

#[test]
fn large_fields_decode_exactly_and_nothing_kept_points_at_the_callers_bytes() {
    for method in [OWNED_BLOB, BLOB] {
        round_trips(method);
    }
}

fn round_trips(method: &str) {
    // Sizes around the lending threshold and well above it.
    let t = BORROW_FROM;
    let sizes = [0, 100, t - 1, t, t + 1, 16 << 10, 1 << 20];
    let mut previous = None::<Vec<u8>>;
    // Twice over: for `blob`, the second pass runs after the method stopped
    // lending (its `Bytes` field kept a borrow once).
    for pass in 0..2u8 {
        for (i, &len) in sizes.iter().enumerate() {
            let data = pattern(len, i as u8 + pass);
            let kept = pattern(len.max(2 * t), 100 + i as u8 + pass);
            let r = call_and_scribble(method, data.clone(), kept.clone());
            assert_eq!(r.data, data, "{method}: data of {len} bytes, pass {pass}");
            if let Some(p) = previous.replace(kept) {
                // A borrow of the caller's (now overwritten, freed) bytes
                // would read 0xA5 or garbage here.
                assert_eq!(r.previous_kept, p, "kept bytes of the previous call");
            }
        }
    }
}

#[test]
fn truncated_large_requests_are_invalid_argument() {
    let lib = fixture();
    let mut bytes = BlobRequest {
        data: pattern(1 << 18, 1),
        kept: pattern(1 << 18, 2),
    }
    .encode_to_vec();
    for method in [OWNED_BLOB, BLOB] {
        for cut in [1, 3, (1 << 18) + 5] {
            let (code, _) = lib.call_bytes(method, &bytes[..bytes.len() - cut]);
            assert_eq!(
                code,
                abi_tests::Code::InvalidArgument as i32,
                "{method}, cut {cut}"
            );
        }
    }
    bytes.fill(0);
}

#[test]
fn a_panic_while_decoding_a_large_request_is_internal() {
    let lib = fixture();
    // An unknown 4 KiB field (skipped), then `mode = 1`: the fixture's
    // hand-written decode panics on the lending path.
    let mut request = Vec::new();
    prost::encoding::bytes::encode(2, &pattern(4096, 9), &mut request);
    prost::encoding::uint32::encode(1, &1, &mut request);
    assert!(request.len() >= BORROW_FROM);
    let (code, out) = lib.call_bytes("fx_echo_service_panicky", &request);
    assert_eq!(code, abi_tests::Code::Internal as i32);
    let status = abi_tests::Status::decode(&out).unwrap();
    assert!(status.message().contains("boom in decode"), "{status:?}");
    // The method goes on: `mode = 5` after the same large field answers.
    let mut request = Vec::new();
    prost::encoding::bytes::encode(2, &pattern(4096, 9), &mut request);
    prost::encoding::uint32::encode(1, &5, &mut request);
    let (code, _) = lib.call_bytes("fx_echo_service_panicky", &request);
    assert_eq!(code, 0);
}
