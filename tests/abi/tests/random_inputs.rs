//! A standing, structure-aware random attack on the ABI, seeded and
//! reproducible (`PROTO2FFI_FUZZ_SEED=<n>` replays a run). For every entry
//! point of the fixture: 1,000,000 inputs (scaled by `PROTO2FFI_TEST_SCALE`)
//! built from valid messages and then mutated — bit flips, truncation,
//! splices of random bytes, huge length prefixes, deep nesting, random
//! pointers-with-lengths — plus NULL and oversized calls. Every call must
//! return a canonical code with a payload that decodes (the response on OK,
//! a `google.rpc.Status` otherwise), and the library's counters must account
//! for every call exactly.

use abi_tests::messages::*;
use abi_tests::{fixture, scaled};
use prost::Message;

/// splitmix64: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    fn text(&mut self, max: u64) -> String {
        let n = self.below(max + 1);
        (0..n)
            .map(|_| match self.below(20) {
                0 => 'é',
                1 => '\u{1F600}',
                _ => (b'a' + self.below(26) as u8) as char,
            })
            .collect()
    }
}

/// A valid message for the method, before mutation.
fn valid_message(rng: &mut Rng, method: &str) -> Vec<u8> {
    match method {
        "add" | "type" | "ping" => AddRequest {
            a: rng.next() as i64,
            b: rng.next() as i64,
        }
        .encode_to_vec(),
        "panicky" => PanickyRequest {
            mode: rng.below(6) as u32,
        }
        .encode_to_vec(),
        _ => EchoRequest {
            text: rng.text(40),
            repeat: rng.below(4) as u32,
            client_id: if rng.chance(3) {
                String::new()
            } else {
                format!("client-{}", rng.below(50))
            },
            panic: if rng.chance(50) {
                rng.text(10)
            } else {
                String::new()
            },
            sleep_ms: 0,
            fail_code: if rng.chance(8) {
                rng.below(20) as i32
            } else {
                0
            },
            fail_message: rng.text(20),
        }
        .encode_to_vec(),
    }
}

fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    let rounds = rng.below(4);
    for _ in 0..rounds {
        match rng.below(8) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] ^= 1 << rng.below(8);
            }
            1 => bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize),
            2 => {
                let at = rng.below(bytes.len() as u64 + 1) as usize;
                let junk: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                bytes.splice(at..at, junk);
            }
            3 => {
                // A length-delimited field claiming far more than follows.
                bytes.extend([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
            }
            4 => {
                // Deep nesting of unknown groups / messages.
                let depth = rng.below(200) as usize;
                for _ in 0..depth {
                    bytes.push(0x0b | (rng.below(2) as u8) << 4); // start group 1 or 3
                }
            }
            5 => {
                // Unknown fields of every wire type.
                let tag = 16 + rng.below(1000);
                let wire = rng.below(8);
                prost::encoding::encode_varint((tag << 3) | wire, &mut bytes);
                bytes.extend((0..rng.below(10)).map(|_| rng.next() as u8));
            }
            6 => bytes = (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
            _ => {}
        }
    }
    bytes
}

/// Bytes that would make the fixture's `echo` sleep or build a huge string
/// are not sent (they test the host's patience, not the guard).
fn safe_for_echo(bytes: &[u8]) -> bool {
    match EchoRequest::decode(bytes) {
        Ok(r) => {
            let longest = r.text.len().max(r.fail_message.len()).max(r.panic.len());
            r.sleep_ms == 0 && longest.saturating_mul(r.repeat.max(1) as usize) <= 1 << 16
        }
        Err(_) => true,
    }
}

#[test]
fn random_structured_inputs_never_break_the_boundary() {
    let lib = fixture();
    // SAFETY: the fixture's hook has this signature.
    let quiet = unsafe { lib.symbol::<extern "C" fn()>("fx_test_quiet_panics") };
    quiet();
    let seed: u64 = std::env::var("PROTO2FFI_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_2026);
    let per_entry = scaled(1_000_000);
    let methods = [
        ("echo", "fx_echo_service_echo"),
        ("small", "fx_echo_service_small"),
        ("limited", "fx_echo_service_limited"),
        ("keyed", "fx_echo_service_keyed"),
        ("shared_keyed", "fx_echo_service_shared_keyed"),
        ("add", "fx_echo_service_add"),
        ("panicky", "fx_echo_service_panicky"),
        ("type", "fx_echo_service_type"),
        ("ping", "fx_unregistered_service_ping"),
    ];
    let mut total = 0u64;
    for (index, (method, symbol)) in methods.iter().enumerate() {
        let mut rng = Rng(seed ^ (index as u64) << 56);
        let f = lib.method(symbol);
        let before = lib.metrics();
        let calls_before = before
            .methods
            .iter()
            .find(|m| m.method == *method)
            .map_or(0, |m| m.calls);
        let mut sent = 0u64;
        for i in 0..per_entry {
            let bytes = if rng.chance(1000) {
                Vec::new()
            } else {
                let s = valid_message(&mut rng, method);
                mutate(&mut rng, s)
            };
            if matches!(*method, "echo" | "small" | "limited") && !safe_for_echo(&bytes) {
                continue;
            }
            let (code, payload) = if i % 4099 == 0 {
                // NULL with a length, and a length far beyond the buffer
                // (refused by the size check before any byte is read).
                // SAFETY: both are refused before the pointer is read.
                unsafe {
                    if i % 2 == 0 {
                        lib.call_raw(f, std::ptr::null(), 1 + rng.below(1 << 40) as usize, false)
                    } else {
                        lib.call_raw(
                            f,
                            bytes.as_ptr(),
                            usize::MAX - rng.below(1000) as usize,
                            false,
                        )
                    }
                }
            } else {
                lib.call_slice(f, &bytes)
            };
            sent += 1;
            assert!(
                (0..=16).contains(&code),
                "{method} input #{i} (seed {seed}): code {code} for {bytes:02x?}"
            );
            if code == 0 {
                let ok = match *method {
                    "add" | "type" | "ping" => AddResponse::decode(&payload[..]).is_ok(),
                    // PanickyResponse has PanickyRequest's layout.
                    "panicky" => PanickyRequest::decode(&payload[..]).is_ok(),
                    _ => EchoResponse::decode(&payload[..]).is_ok(),
                };
                assert!(ok, "{method} input #{i} (seed {seed}): bad response");
            } else {
                let status = proto2ffi_runtime::Status::decode(&payload).unwrap_or_else(|e| {
                    panic!("{method} input #{i} (seed {seed}): bad status payload: {e}")
                });
                assert_eq!(status.code() as i32, code, "{method} input #{i}");
            }
        }
        let after = lib.method_metrics(method);
        assert_eq!(
            after.calls - calls_before,
            sent,
            "{method}: every call is counted exactly once"
        );
        total += sent;
    }
    assert_eq!(lib.health().in_flight, 0);
    eprintln!(
        "random inputs: {total} calls over {} entry points (seed {seed})",
        methods.len()
    );
}
