//! The call guard, exercised through dlopen'd entry points.

use abi_tests::messages::*;
use abi_tests::{fixture, Code, Status};
use prost::Message;

const ECHO: &str = "fx_echo_service_echo";

fn echo(text: &str) -> EchoRequest {
    EchoRequest {
        text: text.into(),
        ..Default::default()
    }
}

#[test]
fn happy_path() {
    let lib = fixture();
    let r: EchoResponse = lib.call(ECHO, &echo("héllo")).unwrap();
    assert_eq!(r.text, "héllo");
    let r: AddResponse = lib
        .call("fx_echo_service_add", &AddRequest { a: 40, b: 2 })
        .unwrap();
    assert_eq!(r.sum, 42);
}

#[test]
fn keyword_method_is_exported_without_raw_prefix() {
    let r: AddResponse = fixture()
        .call("fx_echo_service_type", &AddRequest { a: 6, b: 7 })
        .unwrap();
    assert_eq!(r.sum, 42);
}

#[test]
fn all_default_request_with_null_pointer_is_valid() {
    let lib = fixture();
    let f = lib.method("fx_echo_service_add");
    // SAFETY: NULL with length 0 is the documented empty request.
    let (code, bytes) = unsafe { lib.call_raw(f, std::ptr::null(), 0, false) };
    assert_eq!(code, 0);
    // An all-default response encodes to zero bytes.
    assert_eq!(AddResponse::decode(&bytes[..]).unwrap().sum, 0);
}

#[test]
fn null_pointer_with_length_is_invalid_argument() {
    let lib = fixture();
    let f = lib.method(ECHO);
    // SAFETY: the library must refuse NULL with a length before reading.
    let (code, bytes) = unsafe { lib.call_raw(f, std::ptr::null(), 10, false) };
    assert_eq!(code, Code::InvalidArgument as i32);
    let s = Status::decode(&bytes).unwrap();
    assert!(s.message().contains("NULL"), "{s}");
}

#[test]
fn null_out_is_invalid_argument_without_crash() {
    let lib = fixture();
    let f = lib.method(ECHO);
    let req = echo("x").encode_to_vec();
    // SAFETY: req is valid; out is deliberately NULL.
    let (code, _) = unsafe { lib.call_raw(f, req.as_ptr(), req.len(), true) };
    assert_eq!(code, Code::InvalidArgument as i32);
    // Library-wide outputs refuse a NULL out too.
    // SAFETY: metrics has this signature.
    let metrics = unsafe {
        lib.symbol::<unsafe extern "C" fn(*mut abi_tests::Buffer) -> i32>(
            &lib.lib_symbol("metrics"),
        )
    };
    assert_eq!(unsafe { metrics(std::ptr::null_mut()) }, 3);
    // Freeing NULL is a no-op.
    // SAFETY: free has this signature.
    let free = unsafe {
        lib.symbol::<unsafe extern "C" fn(*mut abi_tests::Buffer)>(&lib.lib_symbol("free"))
    };
    unsafe { free(std::ptr::null_mut()) };
    let mut zero = abi_tests::Buffer::empty();
    unsafe { free(&mut zero) };
}

#[test]
fn garbage_bytes_are_invalid_argument() {
    let lib = fixture();
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut invalid = 0;
    for len in 1..200usize {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let (code, payload) = lib.call_bytes(ECHO, &bytes);
        // Random bytes are occasionally a valid message; never anything but OK or 3.
        assert!(code == 0 || code == 3, "code {code}");
        if code == 3 {
            invalid += 1;
            let s = Status::decode(&payload).unwrap();
            assert!(s.message().contains("not a valid message"), "{s}");
        }
    }
    assert!(invalid > 150, "most garbage is refused ({invalid})");
    // A truncated varint is always invalid.
    assert_eq!(lib.call_bytes(ECHO, &[0x08, 0xff]).0, 3);
}

#[test]
fn oversize_request_is_refused_before_decoding() {
    let lib = fixture();
    let before = lib.method_metrics("small").rejected_request_size;
    // 65 bytes of garbage: decoding it would give INVALID_ARGUMENT, so
    // RESOURCE_EXHAUSTED proves the limit ran first.
    let (code, payload) = lib.call_bytes("fx_echo_service_small", &[0xff; 65]);
    assert_eq!(code, Code::ResourceExhausted as i32);
    let s = Status::decode(&payload).unwrap();
    assert!(
        s.message().contains("65 bytes exceeds the limit of 64"),
        "{s}"
    );
    assert_eq!(
        lib.method_metrics("small").rejected_request_size,
        before + 1
    );
    // The service-wide limit (64 KiB) applies to other methods.
    let big = echo(&"x".repeat(70_000));
    let e = lib.call::<_, EchoResponse>(ECHO, &big).unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("65536"), "{e}");
}

#[test]
fn oversize_response_is_refused() {
    let lib = fixture();
    let ok: EchoResponse = lib
        .call(
            "fx_echo_service_small",
            &EchoRequest {
                text: "abc".into(),
                repeat: 10,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(ok.text.len(), 30);
    let e = lib
        .call::<_, EchoResponse>(
            "fx_echo_service_small",
            &EchoRequest {
                text: "abcd".into(),
                repeat: 100,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(
        e.message().contains("exceeds the limit of 256 bytes"),
        "{e}"
    );
    assert!(lib.method_metrics("small").rejected_response_size >= 1);
}

#[test]
fn handler_errors_keep_code_and_message() {
    let lib = fixture();
    for code in 1..=16 {
        let req = EchoRequest {
            fail_code: code,
            fail_message: format!("failure {code} ✓"),
            ..Default::default()
        };
        let e = lib.call::<_, EchoResponse>(ECHO, &req).unwrap_err();
        assert_eq!(e.code() as i32, code);
        if code == Code::Internal as i32 {
            // INTERNAL carries an incident id (also in the log record); this
            // debug build of the fixture exposes the message.
            let m = e.message();
            assert!(m.starts_with("failure 13 ✓ (incident "), "{m}");
            assert_eq!(m.len(), "failure 13 ✓ (incident 12345678)".len(), "{m}");
        } else {
            assert_eq!(e.message(), format!("failure {code} ✓"));
        }
    }
}

#[test]
fn handler_panic_is_internal_and_the_library_keeps_serving() {
    let lib = fixture();
    let before = lib.method_metrics("echo").panics;
    let req = EchoRequest {
        panic: "kaboom 42".into(),
        ..Default::default()
    };
    let e = lib.call::<_, EchoResponse>(ECHO, &req).unwrap_err();
    assert_eq!(e.code(), Code::Internal);
    assert!(e.message().contains("kaboom 42"), "{e}");
    assert!(e.message().contains("EchoService.echo"), "{e}");
    let r: EchoResponse = lib.call(ECHO, &echo("after")).unwrap();
    assert_eq!(r.text, "after");
    assert!(lib.method_metrics("echo").panics > before);
    assert!(lib.health().panics >= 1);
}

#[test]
fn panics_in_decode_encode_and_drop_are_caught() {
    let lib = fixture();
    for (mode, text) in [
        (1, "boom in decode"),
        (2, "boom in encode"),
        (3, "boom in drop"),
        (4, "non-string payload"),
    ] {
        let e = lib
            .call::<_, AddResponse>("fx_echo_service_panicky", &PanickyRequest { mode })
            .unwrap_err();
        assert_eq!(e.code(), Code::Internal, "mode {mode}");
        assert!(e.message().contains(text), "mode {mode}: {e}");
    }
    // Mode 5 is a normal answer.
    let (code, _) = lib.call_bytes(
        "fx_echo_service_panicky",
        &PanickyRequest { mode: 5 }.encode_to_vec(),
    );
    assert_eq!(code, 0);
}

#[test]
fn rate_limit_admits_exactly_burst() {
    let lib = fixture();
    let f = lib.method("fx_echo_service_limited");
    let req = echo("r").encode_to_vec();
    let mut admitted = 0;
    let mut message = String::new();
    for _ in 0..50 {
        let (code, bytes) = lib.call_slice(f, &req);
        match code {
            0 => admitted += 1,
            8 => message = Status::decode(&bytes).unwrap().message().to_string(),
            other => panic!("unexpected code {other}"),
        }
    }
    // rate 1/s, burst 5: a tight loop far shorter than a second gets 5.
    assert_eq!(admitted, 5);
    assert!(message.contains("rate limit exceeded"), "{message}");
    assert!(message.contains("burst 5"), "{message}");
    assert!(message.contains("retry in"), "{message}");
    assert_eq!(lib.method_metrics("limited").rejected_rate_limit, 45);
}

#[test]
fn keyed_limit_is_per_client() {
    let lib = fixture();
    let call = |client: &str| {
        lib.call::<_, EchoResponse>(
            "fx_echo_service_keyed",
            &EchoRequest {
                client_id: client.into(),
                ..Default::default()
            },
        )
    };
    // burst 2 per client
    assert!(call("alice").is_ok());
    assert!(call("alice").is_ok());
    let e = call("alice").unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("client"), "{e}");
    assert!(call("bob").is_ok());
    assert!(call("bob").is_ok());
    assert!(call("bob").is_err());
}

#[test]
fn unregistered_service_gets_a_clear_status() {
    let lib = fixture();
    let e = lib
        .call::<_, AddResponse>("fx_unregistered_service_ping", &AddRequest { a: 1, b: 2 })
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("UnregisteredService"), "{e}");
    assert!(e.message().contains("register"), "{e}");
    assert!(lib.method_metrics("ping").rejected_admission >= 1);
}

#[test]
fn versioning_exports() {
    let lib = fixture();
    assert_eq!(lib.abi_version(), proto2ffi_runtime::ABI_VERSION);
    assert!(lib.init().is_ok());
    // SAFETY: fingerprint getters are `uint64_t f(void)`.
    let fp =
        unsafe { lib.symbol::<extern "C" fn() -> u64>("fx_proto2ffi_fingerprint_echo_service")() };
    let other = unsafe {
        lib.symbol::<extern "C" fn() -> u64>("fx_proto2ffi_fingerprint_unregistered_service")()
    };
    assert_ne!(fp, 0);
    assert_ne!(fp, other);
}

#[test]
fn health_reports_runtime_facts() {
    let lib = fixture();
    let _: EchoResponse = lib.call(ECHO, &echo("h")).unwrap();
    let h = lib.health();
    assert!(h.panic_unwind);
    assert_eq!(h.abi_version, 1);
    assert!(!h.shutting_down);
    assert_eq!(
        h.services,
        vec!["EchoService".to_string(), "JobService".to_string()]
    );
}

#[test]
fn prometheus_text_is_well_formed() {
    let lib = fixture();
    let _: EchoResponse = lib.call(ECHO, &echo("p")).unwrap();
    let text = lib.metrics_text();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                typed.insert(name.to_string()),
                "family declared twice: {name}"
            );
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        // name{labels} value
        let (series, value) = line.rsplit_once(' ').expect(line);
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().unwrap();
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            typed.contains(name) || typed.contains(family),
            "sample before its TYPE line: {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            }
        }
    }
    assert!(
        text.contains("proto2ffi_calls_total{service=\"EchoService\",method=\"echo\",code=\"OK\"}")
    );
    assert!(text.contains("proto2ffi_call_duration_seconds_bucket{service=\"EchoService\",method=\"echo\",le=\"+Inf\"}"));
    assert!(text.contains(
        "proto2ffi_call_duration_seconds_count{service=\"EchoService\",method=\"echo\"}"
    ));
    // Buckets are cumulative and end at _count.
    let bucket_values: Vec<u64> = text
        .lines()
        .filter(|l| {
            l.starts_with(
                "proto2ffi_call_duration_seconds_bucket{service=\"EchoService\",method=\"echo\"",
            )
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    assert!(bucket_values.windows(2).all(|w| w[0] <= w[1]));
    let count: u64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "proto2ffi_call_duration_seconds_count{service=\"EchoService\",method=\"echo\"} ",
            )
        })
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(bucket_values.last(), Some(&count), "+Inf bucket = _count");
    assert!(text.contains("\nproto2ffi_latency_sample_every "), "{text}");
}

#[test]
fn latency_sampling_is_configurable_and_counts_stay_exact() {
    let lib = fixture();
    lib.init().unwrap();
    // SAFETY: the hook's signature in the fixture.
    let set =
        unsafe { lib.symbol::<extern "C" fn(u32) -> i32>("fx_test_set_latency_sample_every") };
    // Not a power of two, zero, too large: refused, setting unchanged.
    for bad in [0, 3, 48, 1 << 17] {
        assert_eq!(set(bad), 3, "{bad}");
    }
    assert_eq!(lib.metrics().latency_sample_every, 16);
    // Every call timed: the histogram counts each one. Another thread (new
    // per-thread counter) so other tests' calls do not interleave with ours.
    assert_eq!(set(1), 0);
    let before = lib.method_metrics("add");
    let req = AddRequest { a: 1, b: 2 }.encode_to_vec();
    std::thread::scope(|s| {
        s.spawn(|| {
            let f = lib.method("fx_echo_service_add");
            for _ in 0..100 {
                assert_eq!(lib.call_slice(f, &req).0, 0);
            }
        });
    });
    let after = lib.method_metrics("add");
    assert_eq!(after.calls - before.calls, 100);
    assert_eq!(after.latency_samples - before.latency_samples, 100);
    assert!(after.latency_sum_ns > before.latency_sum_ns);
    assert_eq!(set(16), 0);
    assert_eq!(lib.metrics().latency_sample_every, 16);
}
