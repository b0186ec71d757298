//! A library's metrics as an encoded `proto2ffi.v1.Metrics` message and as
//! Prometheus text: the sums of its methods' counters.

use crate::library::def::{Library, ServiceDef};
use crate::library::pools::FixedPoolStats;
use crate::observe::metrics::{Rejection, Snapshot, LATENCY_BOUNDS_NS};
use crate::report::proto;
use crate::Code;
use std::fmt::Write as _;

/// Total panics caught across a library's services.
pub(crate) fn total_panics(library: &Library) -> u64 {
    library
        .services()
        .iter()
        .flat_map(|s| s.methods.iter())
        .map(|m| m.snapshot().panics)
        .sum()
}

fn method_metrics(
    service: &str,
    method: &str,
    s: &Snapshot,
    latency_sample_every: u32,
) -> proto::MethodMetrics {
    proto::MethodMetrics {
        service: service.to_string(),
        method: method.to_string(),
        calls: s.calls,
        codes: s
            .codes
            .iter()
            .enumerate()
            .filter(|(_, n)| **n != 0)
            .map(|(code, n)| proto::CodeCount {
                code: code as i32,
                count: *n,
            })
            .collect(),
        rejected_admission: s.rejections[Rejection::Admission as usize],
        rejected_rate_limit: s.rejections[Rejection::Rate as usize],
        rejected_request_size: s.rejections[Rejection::RequestSize as usize],
        rejected_response_size: s.rejections[Rejection::ResponseSize as usize],
        panics: s.panics,
        bytes_in: s.bytes_in,
        bytes_out: s.bytes_out,
        latency_buckets: s.buckets.clone(),
        latency_sum_ns: s.latency_sum_ns,
        latency_samples: s.latency_samples,
        streams_open: s.streams_open,
        stream_items: s.stream_items,
        stream_items_received: s.stream_items_received,
        latency_sample_every,
        host: false,
        in_flight: 0,
    }
}

/// Builds the `proto2ffi.v1.Metrics` message of a library.
pub(crate) fn collect(library: &Library) -> proto::Metrics {
    let mut methods = Vec::new();
    for service in &library.services() {
        for m in service.methods {
            methods.push(method_metrics(
                service.name,
                m.name,
                &m.snapshot(),
                library.latency_sample_every_of(m),
            ));
        }
    }
    for service in crate::call::host::services(library) {
        for m in service.methods {
            let mut row = method_metrics(service.name, m.name, &m.metrics.snapshot(), 1);
            row.host = true;
            row.in_flight = m.in_flight();
            methods.push(row);
        }
    }
    proto::Metrics {
        uptime_ms: library.uptime_ms(),
        in_flight: library.in_flight(),
        latency_bounds_ns: LATENCY_BOUNDS_NS.to_vec(),
        methods,
        log_records_dropped: library.logs().dropped(),
        latency_sample_every: library.latency_sample_every(),
        fixed_latency_sample_every: library.fixed_latency_sample_every(),
        pools: library
            .pools()
            .into_iter()
            .map(|p| proto::PoolMetrics {
                message: p.message.to_string(),
                capacity: p.capacity,
                created: p.created,
                in_use: p.in_use,
                acquired: p.acquired,
                exhausted: p.exhausted,
                refused: p.refused,
            })
            .collect(),
    }
}

/// `ns` as seconds in decimal without trailing zeros, exact (integer
/// arithmetic; through an f64 it rounded beyond 2^53 ns).
fn seconds(ns: u64) -> String {
    let s = format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders a library's metrics in the Prometheus text exposition format (0.0.4).
pub(crate) fn prometheus_text(library: &Library) -> String {
    let services: Vec<&ServiceDef> = library.services();
    let mut rows: Vec<(String, Snapshot)> = services
        .iter()
        .flat_map(|s| {
            s.methods.iter().map(move |m| {
                (
                    format!(
                        "service=\"{}\",method=\"{}\"",
                        escape(s.name),
                        escape(m.name)
                    ),
                    m.snapshot(),
                )
            })
        })
        .collect();
    // Calls Rust made into the host's implementations: the same families,
    // told apart by `implemented_by="host"`.
    let hosts = crate::call::host::services(library);
    let host_label = |s: &str, m: &str| {
        format!(
            "service=\"{}\",method=\"{}\",implemented_by=\"host\"",
            escape(s),
            escape(m)
        )
    };
    for s in &hosts {
        for m in s.methods {
            rows.push((host_label(s.name, m.name), m.metrics.snapshot()));
        }
    }
    let mut out = String::with_capacity(1024 + rows.len() * 2048);
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };

    family(
        &mut out,
        "proto2ffi_calls_total",
        "counter",
        "Calls that crossed the C ABI, by final status code.",
    );
    for (labels, s) in &rows {
        for (code, n) in s.codes.iter().enumerate() {
            if *n != 0 || code == 0 {
                let _ = writeln!(
                    out,
                    "proto2ffi_calls_total{{{labels},code=\"{}\"}} {n}",
                    Code::from_i32(code as i32).name()
                );
            }
        }
    }
    family(
        &mut out,
        "proto2ffi_rejections_total",
        "counter",
        "Calls refused before the handler ran, by cause.",
    );
    for (labels, s) in &rows {
        for r in Rejection::ALL {
            let _ = writeln!(
                out,
                "proto2ffi_rejections_total{{{labels},reason=\"{}\"}} {}",
                r.label(),
                s.rejections[r as usize]
            );
        }
    }
    for (name, help, get) in [
        (
            "proto2ffi_panics_total",
            "Panics caught at the boundary.",
            (|s: &Snapshot| s.panics) as fn(&Snapshot) -> u64,
        ),
        (
            "proto2ffi_request_bytes_total",
            "Request bytes received.",
            |s: &Snapshot| s.bytes_in,
        ),
        (
            "proto2ffi_response_bytes_total",
            "Bytes returned (responses and error payloads).",
            |s: &Snapshot| s.bytes_out,
        ),
    ] {
        family(&mut out, name, "counter", help);
        for (labels, s) in &rows {
            let _ = writeln!(out, "{name}{{{labels}}} {}", get(s));
        }
    }
    family(
        &mut out,
        "proto2ffi_call_duration_seconds",
        "histogram",
        "Wall time of calls from entry to return, of the timed calls only (one in proto2ffi_latency_sample_every per thread, proto2ffi_fixed_latency_sample_every for fixed-layout methods); proto2ffi_calls_total counts every call.",
    );
    for (labels, s) in &rows {
        let mut cumulative = 0;
        for (i, n) in s.buckets.iter().enumerate() {
            cumulative += n;
            let le = LATENCY_BOUNDS_NS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| seconds(*b));
            let _ = writeln!(
                out,
                "proto2ffi_call_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "proto2ffi_call_duration_seconds_sum{{{labels}}} {}",
            seconds(s.latency_sum_ns)
        );
        let _ = writeln!(
            out,
            "proto2ffi_call_duration_seconds_count{{{labels}}} {}",
            s.latency_samples
        );
    }
    if rows
        .iter()
        .any(|(_, s)| s.stream_items != 0 || s.streams_open != 0 || s.stream_items_received != 0)
    {
        family(
            &mut out,
            "proto2ffi_streams_open",
            "gauge",
            "Streams open now (server, client or bidi).",
        );
        for (labels, s) in &rows {
            let _ = writeln!(out, "proto2ffi_streams_open{{{labels}}} {}", s.streams_open);
        }
        family(
            &mut out,
            "proto2ffi_stream_items_total",
            "counter",
            "Items streams sent to the caller.",
        );
        for (labels, s) in &rows {
            let _ = writeln!(
                out,
                "proto2ffi_stream_items_total{{{labels}}} {}",
                s.stream_items
            );
        }
        family(
            &mut out,
            "proto2ffi_stream_items_received_total",
            "counter",
            "Requests client and bidi streams received.",
        );
        for (labels, s) in &rows {
            let _ = writeln!(
                out,
                "proto2ffi_stream_items_received_total{{{labels}}} {}",
                s.stream_items_received
            );
        }
    }
    family(
        &mut out,
        "proto2ffi_latency_sample_every",
        "gauge",
        "One call in this many (per thread) is timed for proto2ffi_call_duration_seconds (protobuf, async and streaming methods).",
    );
    let _ = writeln!(
        out,
        "proto2ffi_latency_sample_every {}",
        library.latency_sample_every()
    );
    family(
        &mut out,
        "proto2ffi_fixed_latency_sample_every",
        "gauge",
        "One fixed-layout call in this many (per thread) is timed for proto2ffi_call_duration_seconds.",
    );
    let _ = writeln!(
        out,
        "proto2ffi_fixed_latency_sample_every {}",
        library.fixed_latency_sample_every()
    );
    family(
        &mut out,
        "proto2ffi_in_flight",
        "gauge",
        "Calls executing now.",
    );
    let _ = writeln!(out, "proto2ffi_in_flight {}", library.in_flight());
    if !hosts.is_empty() {
        family(
            &mut out,
            "proto2ffi_host_calls_in_flight",
            "gauge",
            "Calls into the host's implementations waiting for an answer.",
        );
        for s in &hosts {
            for m in s.methods {
                let _ = writeln!(
                    out,
                    "proto2ffi_host_calls_in_flight{{{}}} {}",
                    host_label(s.name, m.name),
                    m.in_flight()
                );
            }
        }
    }
    family(
        &mut out,
        "proto2ffi_log_records_dropped_total",
        "counter",
        "Log records dropped because the delivery queue was full.",
    );
    let _ = writeln!(
        out,
        "proto2ffi_log_records_dropped_total {}",
        library.logs().dropped()
    );
    let pools = library.pools();
    for (name, kind, help, get) in [
        (
            "proto2ffi_pool_capacity",
            "gauge",
            "Objects a schema-declared pool holds (pool_size).",
            (|p: &FixedPoolStats| u64::from(p.capacity)) as fn(&FixedPoolStats) -> u64,
        ),
        (
            "proto2ffi_pool_objects_in_use",
            "gauge",
            "Pool objects lent out now.",
            |p: &FixedPoolStats| p.in_use,
        ),
        (
            "proto2ffi_pool_created_total",
            "counter",
            "Pool objects preallocated (the capacity, from first use on).",
            |p: &FixedPoolStats| p.created,
        ),
        (
            "proto2ffi_pool_acquired_total",
            "counter",
            "Successful pool acquisitions.",
            |p: &FixedPoolStats| p.acquired,
        ),
        (
            "proto2ffi_pool_exhausted_total",
            "counter",
            "Pool acquisitions refused because every object was in use.",
            |p: &FixedPoolStats| p.exhausted,
        ),
        (
            "proto2ffi_pool_refused_releases_total",
            "counter",
            "Pool releases refused: not from the pool, or released twice.",
            |p: &FixedPoolStats| p.refused,
        ),
    ] {
        if pools.is_empty() {
            break;
        }
        family(&mut out, name, kind, help);
        for p in &pools {
            let _ = writeln!(
                out,
                "{name}{{message=\"{}\"}} {}",
                escape(p.message),
                get(p)
            );
        }
    }
    family(
        &mut out,
        "proto2ffi_uptime_seconds",
        "gauge",
        "Seconds since the library started.",
    );
    let _ = writeln!(
        out,
        "proto2ffi_uptime_seconds {}",
        seconds(library.uptime_ms() * 1_000_000)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_format() {
        assert_eq!(seconds(1_000), "0.000001");
        assert_eq!(seconds(2_500_000_000), "2.5");
        assert_eq!(seconds(1_000_000_000), "1");
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(1), "0.000000001");
        // Exact where an f64 would round (2^53 + 1 ns).
        assert_eq!(seconds(9_007_199_254_740_993), "9007199.254740993");
        assert_eq!(seconds(u64::MAX), "18446744073.709551615");
    }
}
