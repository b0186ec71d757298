//! The runtime's hand-written prost structs for metrics and health agree
//! with the bundled `proto2ffi/v1/*.proto` files clients generate from:
//! every field decodes under the same name, number and value.

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use proto2ffi_runtime::proto::{CodeCount, Health, MethodMetrics, Metrics, PoolMetrics};

fn pool() -> DescriptorPool {
    let fds = proto2ffi_build::descriptor_set(
        &[
            "proto2ffi/v1/metrics.proto",
            "proto2ffi/v1/health.proto",
            "proto2ffi/v1/status.proto",
        ],
        &[] as &[&str],
    )
    .unwrap();
    DescriptorPool::from_file_descriptor_set(fds).unwrap()
}

fn decode(pool: &DescriptorPool, name: &str, bytes: &[u8]) -> DynamicMessage {
    let desc = pool.get_message_by_name(name).unwrap();
    let m = DynamicMessage::decode(desc, bytes).unwrap();
    assert!(
        m.unknown_fields().next().is_none(),
        "{name}: fields unknown to the .proto"
    );
    m
}

#[test]
fn metrics_struct_matches_metrics_proto() {
    let pool = pool();
    let metrics = Metrics {
        uptime_ms: 1,
        in_flight: 2,
        latency_bounds_ns: vec![3, 4],
        methods: vec![MethodMetrics {
            service: "s".into(),
            method: "m".into(),
            calls: 5,
            codes: vec![CodeCount { code: 6, count: 7 }],
            rejected_admission: 8,
            rejected_rate_limit: 9,
            rejected_request_size: 10,
            rejected_response_size: 11,
            panics: 12,
            bytes_in: 13,
            bytes_out: 14,
            latency_buckets: vec![15, 16, 17],
            latency_sum_ns: 18,
            latency_samples: 20,
            streams_open: 28,
            stream_items: 29,
            stream_items_received: 30,
            latency_sample_every: 31,
            host: true,
            in_flight: 33,
        }],
        log_records_dropped: 19,
        latency_sample_every: 21,
        pools: vec![PoolMetrics {
            message: "p".into(),
            capacity: 22,
            created: 23,
            in_use: 24,
            acquired: 25,
            exhausted: 26,
            refused: 27,
        }],
        fixed_latency_sample_every: 32,
    };
    let m = decode(&pool, "proto2ffi.v1.Metrics", &metrics.encode_to_vec());
    assert_eq!(m.get_field_by_name("uptime_ms").unwrap().as_u64(), Some(1));
    assert_eq!(m.get_field_by_name("in_flight").unwrap().as_u64(), Some(2));
    assert_eq!(
        m.get_field_by_name("log_records_dropped").unwrap().as_u64(),
        Some(19)
    );
    assert_eq!(
        m.get_field_by_name("latency_sample_every")
            .unwrap()
            .as_u32(),
        Some(21)
    );
    assert_eq!(
        m.get_field_by_name("fixed_latency_sample_every")
            .unwrap()
            .as_u32(),
        Some(32)
    );
    let methods = m.get_field_by_name("methods").unwrap();
    let method = methods.as_list().unwrap()[0].as_message().unwrap().clone();
    for (field, expected) in [
        ("calls", 5u64),
        ("latency_samples", 20),
        ("rejected_admission", 8),
        ("rejected_rate_limit", 9),
        ("rejected_request_size", 10),
        ("rejected_response_size", 11),
        ("panics", 12),
        ("bytes_in", 13),
        ("bytes_out", 14),
        ("latency_sum_ns", 18),
        ("streams_open", 28),
        ("stream_items", 29),
        ("stream_items_received", 30),
    ] {
        assert_eq!(
            method.get_field_by_name(field).unwrap().as_u64(),
            Some(expected),
            "{field}"
        );
    }
    assert_eq!(
        method
            .get_field_by_name("latency_sample_every")
            .unwrap()
            .as_u32(),
        Some(31)
    );
    assert_eq!(
        method.get_field_by_name("service").unwrap().as_str(),
        Some("s")
    );
    let buckets = method.get_field_by_name("latency_buckets").unwrap();
    assert_eq!(
        buckets.as_list().unwrap(),
        &[Value::U64(15), Value::U64(16), Value::U64(17)]
    );
    let code = method
        .get_field_by_name("codes")
        .unwrap()
        .as_list()
        .unwrap()[0]
        .as_message()
        .unwrap()
        .clone();
    assert_eq!(code.get_field_by_name("code").unwrap().as_i32(), Some(6));
    assert_eq!(code.get_field_by_name("count").unwrap().as_u64(), Some(7));
    let pools = m.get_field_by_name("pools").unwrap();
    let p = pools.as_list().unwrap()[0].as_message().unwrap().clone();
    assert_eq!(p.get_field_by_name("message").unwrap().as_str(), Some("p"));
    assert_eq!(p.get_field_by_name("capacity").unwrap().as_u32(), Some(22));
    for (field, expected) in [
        ("created", 23u64),
        ("in_use", 24),
        ("acquired", 25),
        ("exhausted", 26),
        ("refused", 27),
    ] {
        assert_eq!(
            p.get_field_by_name(field).unwrap().as_u64(),
            Some(expected),
            "{field}"
        );
    }
}

#[test]
fn health_struct_matches_health_proto() {
    let pool = pool();
    let health = Health {
        healthy: true,
        reason: "r".into(),
        uptime_ms: 1,
        in_flight: 2,
        panics: 3,
        services: vec!["a".into(), "b".into()],
        shutting_down: true,
        panic_unwind: true,
        abi_version: 4,
    };
    let m = decode(&pool, "proto2ffi.v1.Health", &health.encode_to_vec());
    assert_eq!(
        m.get_field_by_name("healthy").unwrap().as_bool(),
        Some(true)
    );
    assert_eq!(m.get_field_by_name("reason").unwrap().as_str(), Some("r"));
    assert_eq!(m.get_field_by_name("panics").unwrap().as_u64(), Some(3));
    assert_eq!(
        m.get_field_by_name("shutting_down").unwrap().as_bool(),
        Some(true)
    );
    assert_eq!(
        m.get_field_by_name("panic_unwind").unwrap().as_bool(),
        Some(true)
    );
    assert_eq!(
        m.get_field_by_name("abi_version").unwrap().as_u32(),
        Some(4)
    );
    assert_eq!(
        m.get_field_by_name("services")
            .unwrap()
            .as_list()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn status_payload_matches_status_proto() {
    let pool = pool();
    let status = proto2ffi_runtime::Status::not_found("gone").with_any(prost_types::Any {
        type_url: "t".into(),
        value: vec![1],
    });
    let m = decode(&pool, "proto2ffi.v1.Status", &status.encode_to_vec());
    assert_eq!(m.get_field_by_name("code").unwrap().as_i32(), Some(5));
    assert_eq!(
        m.get_field_by_name("message").unwrap().as_str(),
        Some("gone")
    );
    assert_eq!(
        m.get_field_by_name("details")
            .unwrap()
            .as_list()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn pool_size_bound_matches_the_runtime() {
    assert_eq!(
        proto2ffi_build::fixed::MAX_POOL_SIZE,
        proto2ffi_runtime::__private::fixed_pool::MAX_POOL_SIZE
    );
}
