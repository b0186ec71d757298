//! The library the Dart VM tests load (`tests/dart/test/*.dart`).
//!
//! `Echo` decodes and re-encodes with prost, `Expect`/`Canonical` compare
//! against a message built here independently of the Dart side, and the
//! other methods drive every status path.

use proto2ffi::Status;

/// Generated from `proto/roundtrip.proto`.
pub mod rt {
    proto2ffi::include_proto!("roundtrip.v1");
}
use rt::*;

/// Generated from `proto/legacy.proto` (proto2, groups).
pub mod legacy {
    proto2ffi::include_proto!("legacy.v1");
}

pub mod jobs;

proto2ffi::library!(
    prefix = "rt",
    init = || {
        register_round_trip(Impl)?;
        register_wkt(Impl)?;
        legacy::register_legacy_echo(Impl)?;
        jobs::register_jobs(jobs::JobsImpl)?;
        Ok(())
    }
);

impl legacy::LegacyEcho for Impl {
    fn echo(&self, request: legacy::Record) -> Result<legacy::Record, Status> {
        Ok(request)
    }
}

struct Impl;

/// The canonical edge-value message; `tests/dart/test/roundtrip_test.dart`
/// builds the same one in Dart.
pub fn canonical() -> AllTypes {
    let leaf = Nested {
        name: "leaf".into(),
        child: None,
        values: vec![-1, 0, 1],
    };
    AllTypes {
        scalars: Some(Scalars {
            f_double: -1.5e300,
            f_float: 3.25,
            f_int32: i32::MIN,
            f_int64: i64::MIN,
            f_uint32: u32::MAX,
            f_uint64: u64::MAX,
            f_sint32: i32::MIN,
            f_sint64: i64::MIN,
            f_fixed32: u32::MAX,
            f_fixed64: u64::MAX,
            f_sfixed32: i32::MIN,
            f_sfixed64: i64::MIN,
            f_bool: true,
            f_string: "héllo, wörld ✓ 🚀".into(),
            f_bytes: vec![0, 1, 2, 254, 255],
        }),
        packed_int32: vec![i32::MIN, -1, 0, 1, i32::MAX],
        unpacked_sint64: vec![i64::MIN, -1, 0, 1, i64::MAX],
        packed_double: vec![0.0, -0.5, f64::MAX, f64::MIN_POSITIVE],
        strings: vec!["".into(), "a".into(), "日本語".into()],
        blobs: vec![vec![], vec![7; 300]],
        moods: vec![Mood::Happy as i32, Mood::Sad as i32, 0],
        mood: Mood::Sad as i32,
        nested: Some(Nested {
            name: "root".into(),
            child: Some(Box::new(leaf.clone())),
            values: vec![],
        }),
        nested_list: vec![leaf.clone(), Nested::default()],
        counts: [
            ("one".to_string(), 1i64),
            ("minus".to_string(), -1),
            ("".to_string(), 0),
        ]
        .into_iter()
        .collect(),
        by_id: [(7, leaf), (-7, Nested::default())].into_iter().collect(),
        names: [(u64::MAX, "max".to_string()), (0, "zero".to_string())]
            .into_iter()
            .collect(),
        choice: Some(all_types::Choice::Number(-42)),
        opt_int: Some(0),
        opt_string: None,
        opt_bool: Some(false),
        class: 1,
        is: "is".into(),
        r#in: "in".into(),
        new: "new".into(),
        r#type: "type".into(),
        fixed_list: vec![0, 1, u32::MAX],
    }
}

impl RoundTrip for Impl {
    fn echo(&self, request: AllTypes) -> Result<AllTypes, Status> {
        Ok(request)
    }

    fn expect(&self, request: AllTypes) -> Result<Verdict, Status> {
        let expected = canonical();
        Ok(if request == expected {
            Verdict {
                equal: true,
                diff: String::new(),
            }
        } else {
            Verdict {
                equal: false,
                diff: format!("got {request:#?}\nexpected {expected:#?}"),
            }
        })
    }

    fn canonical(&self, _request: ()) -> Result<AllTypes, Status> {
        Ok(canonical())
    }

    fn fail(&self, request: FailRequest) -> Result<(), Status> {
        Err(Status::new(
            proto2ffi::Code::from_i32(request.code),
            request.message,
        ))
    }

    fn panic(&self, request: FailRequest) -> Result<(), Status> {
        panic!("{}", request.message)
    }

    fn sleep(&self, request: SleepRequest) -> Result<SleepResponse, Status> {
        std::thread::sleep(std::time::Duration::from_millis(u64::from(request.ms)));
        Ok(SleepResponse { tag: request.tag })
    }

    fn add(&self, request: AddRequest) -> Result<AddResponse, Status> {
        Ok(AddResponse {
            sum: request.a.wrapping_add(request.b),
        })
    }
}

impl Wkt for Impl {
    fn get(&self, request: WktRequest) -> Result<WktResponse, Status> {
        use proto2ffi::prost::Message as _;
        let at = request.at.unwrap_or_default();
        let after = request.after.unwrap_or_default();
        let mut later = proto2ffi::prost_types::Timestamp {
            seconds: at.seconds + after.seconds,
            nanos: at.nanos + after.nanos,
        };
        later.normalize();
        let payload = request
            .payload
            .ok_or_else(|| Status::invalid_argument("payload is required"))?;
        if payload.type_url != "type.googleapis.com/roundtrip.v1.Nested" {
            return Err(Status::invalid_argument(format!(
                "payload holds {}, not roundtrip.v1.Nested",
                payload.type_url
            )));
        }
        let mut nested = Nested::decode(payload.value.as_slice())
            .map_err(|e| Status::invalid_argument(format!("payload: {e}")))?;
        nested.name = nested.name.to_uppercase();
        Ok(WktResponse {
            later: Some(later),
            payload: Some(proto2ffi::prost_types::Any {
                type_url: "type.googleapis.com/roundtrip.v1.Nested".into(),
                value: nested.encode_to_vec(),
            }),
            seen_type_url: payload.type_url,
        })
    }
}
