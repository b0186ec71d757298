//! Per-method metrics: sharded atomic counters, no lock per call, exported as
//! an encoded `proto2ffi.v1.Metrics` message and as Prometheus text.

use crate::admission::{self, Shard, SHARDS};
use crate::proto;
use crate::registry::{self, ServiceDef};
use crate::Code;
use crossbeam_utils::CachePadded;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds of the latency histogram buckets, in nanoseconds; one more
/// bucket (`+Inf`) follows the last.
pub const LATENCY_BOUNDS_NS: [u64; 22] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];
const BUCKETS: usize = LATENCY_BOUNDS_NS.len() + 1;

/// Why a call was refused before reaching the handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Rejection {
    /// Shutting down or no implementation registered.
    Admission = 0,
    /// A rate limit (method, service or keyed).
    Rate = 1,
    /// The request exceeded its byte limit (or a NULL pointer with length).
    RequestSize = 2,
    /// The response exceeded its byte limit.
    ResponseSize = 3,
}

impl Rejection {
    const ALL: [Rejection; 4] = [
        Rejection::Admission,
        Rejection::Rate,
        Rejection::RequestSize,
        Rejection::ResponseSize,
    ];

    fn label(self) -> &'static str {
        match self {
            Rejection::Admission => "admission",
            Rejection::Rate => "rate_limit",
            Rejection::RequestSize => "request_size",
            Rejection::ResponseSize => "response_size",
        }
    }
}

struct Counters {
    codes: [AtomicU64; Code::COUNT],
    rejections: [AtomicU64; 4],
    panics: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
    latency_sum_ns: AtomicU64,
}

impl Counters {
    const fn new() -> Counters {
        Counters {
            codes: [const { AtomicU64::new(0) }; Code::COUNT],
            rejections: [const { AtomicU64::new(0) }; 4],
            panics: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
            latency_sum_ns: AtomicU64::new(0),
        }
    }
}

/// Counters of one method.
pub struct MethodMetrics {
    shards: [CachePadded<Counters>; SHARDS],
}

impl std::fmt::Debug for MethodMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodMetrics")
            .field("calls", &self.snapshot().calls)
            .finish()
    }
}

/// What one call adds to the metrics.
#[derive(Clone, Copy, Debug)]
pub struct CallRecord {
    /// Final status code.
    pub code: Code,
    /// Refusal cause, if refused before the handler.
    pub rejection: Option<Rejection>,
    /// Whether the handler (or decode/encode) panicked.
    pub panicked: bool,
    /// Request bytes received.
    pub bytes_in: u64,
    /// Bytes written to `*out` (response or error payload).
    pub bytes_out: u64,
    /// Wall time of the call.
    pub latency_ns: u64,
}

/// A point-in-time copy of one method's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Total calls (sum of `codes`).
    pub calls: u64,
    /// Calls per status code, indexed by code number.
    pub codes: [u64; Code::COUNT],
    /// Refusals by [`Rejection`] index.
    pub rejections: [u64; 4],
    /// Panics caught.
    pub panics: u64,
    /// Request bytes.
    pub bytes_in: u64,
    /// Response bytes.
    pub bytes_out: u64,
    /// Non-cumulative bucket counts (last is `+Inf`).
    pub buckets: Vec<u64>,
    /// Sum of latencies.
    pub latency_sum_ns: u64,
}

impl MethodMetrics {
    /// Zeroed counters.
    pub const fn new() -> MethodMetrics {
        MethodMetrics {
            shards: [const { CachePadded::new(Counters::new()) }; SHARDS],
        }
    }

    /// Records one call on the calling thread's shard.
    #[inline]
    pub fn record(&self, shard: Shard, r: &CallRecord) {
        let s = &self.shards[shard.index()];
        shard.add(&s.codes[r.code as usize], 1);
        if let Some(j) = r.rejection {
            shard.add(&s.rejections[j as usize], 1);
        }
        if r.panicked {
            shard.add(&s.panics, 1);
        }
        if r.bytes_in != 0 {
            shard.add(&s.bytes_in, r.bytes_in);
        }
        if r.bytes_out != 0 {
            shard.add(&s.bytes_out, r.bytes_out);
        }
        let bucket = LATENCY_BOUNDS_NS
            .iter()
            .position(|&b| r.latency_ns <= b)
            .unwrap_or(BUCKETS - 1);
        shard.add(&s.buckets[bucket], 1);
        shard.add(&s.latency_sum_ns, r.latency_ns);
    }

    /// Sums the shards.
    pub fn snapshot(&self) -> Snapshot {
        let mut out = Snapshot {
            buckets: vec![0; BUCKETS],
            ..Snapshot::default()
        };
        for s in &self.shards {
            for (o, c) in out.codes.iter_mut().zip(&s.codes) {
                *o += c.load(Relaxed);
            }
            for (o, c) in out.rejections.iter_mut().zip(&s.rejections) {
                *o += c.load(Relaxed);
            }
            out.panics += s.panics.load(Relaxed);
            out.bytes_in += s.bytes_in.load(Relaxed);
            out.bytes_out += s.bytes_out.load(Relaxed);
            for (o, c) in out.buckets.iter_mut().zip(&s.buckets) {
                *o += c.load(Relaxed);
            }
            out.latency_sum_ns += s.latency_sum_ns.load(Relaxed);
        }
        out.calls = out.codes.iter().sum();
        out
    }
}

impl Default for MethodMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Total panics caught across all known services.
pub fn total_panics() -> u64 {
    registry::services()
        .iter()
        .flat_map(|s| s.methods.iter())
        .map(|m| m.metrics.snapshot().panics)
        .sum()
}

/// Builds the `proto2ffi.v1.Metrics` message.
pub fn collect() -> proto::Metrics {
    let services = registry::services();
    let mut methods = Vec::new();
    for service in &services {
        for m in service.methods {
            let s = m.metrics.snapshot();
            methods.push(proto::MethodMetrics {
                service: service.name.to_string(),
                method: m.name.to_string(),
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
                latency_buckets: s.buckets,
                latency_sum_ns: s.latency_sum_ns,
            });
        }
    }
    proto::Metrics {
        uptime_ms: crate::health::uptime_ms(),
        in_flight: admission::in_flight(),
        latency_bounds_ns: LATENCY_BOUNDS_NS.to_vec(),
        methods,
    }
}

fn seconds(ns: u64) -> String {
    let s = format!("{:.9}", ns as f64 / 1e9);
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders all metrics in the Prometheus text exposition format (0.0.4).
pub fn prometheus_text() -> String {
    let services: Vec<&ServiceDef> = registry::services();
    let rows: Vec<(String, Snapshot)> = services
        .iter()
        .flat_map(|s| {
            s.methods.iter().map(move |m| {
                (
                    format!(
                        "service=\"{}\",method=\"{}\"",
                        escape(s.name),
                        escape(m.name)
                    ),
                    m.metrics.snapshot(),
                )
            })
        })
        .collect();
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
        "Wall time of calls, from entry to return.",
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
            s.calls
        );
    }
    family(
        &mut out,
        "proto2ffi_in_flight",
        "gauge",
        "Calls executing now.",
    );
    let _ = writeln!(out, "proto2ffi_in_flight {}", admission::in_flight());
    family(
        &mut out,
        "proto2ffi_uptime_seconds",
        "gauge",
        "Seconds since the library started.",
    );
    let _ = writeln!(
        out,
        "proto2ffi_uptime_seconds {}",
        seconds(crate::health::uptime_ms() * 1_000_000)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sums_shards_and_buckets() {
        let m = MethodMetrics::new();
        for i in 0..32 {
            m.record(
                if i % 3 == 0 {
                    Shard::SHARED
                } else {
                    admission::thread_shard()
                },
                &CallRecord {
                    code: if i % 2 == 0 { Code::Ok } else { Code::NotFound },
                    rejection: None,
                    panicked: false,
                    bytes_in: 3,
                    bytes_out: 4,
                    latency_ns: 2_000,
                },
            );
        }
        let s = m.snapshot();
        assert_eq!(s.calls, 32);
        assert_eq!(s.codes[0], 16);
        assert_eq!(s.codes[5], 16);
        assert_eq!(s.bytes_in, 96);
        assert_eq!(s.buckets[1], 32);
        assert_eq!(s.latency_sum_ns, 64_000);
    }

    #[test]
    fn seconds_format() {
        assert_eq!(seconds(1_000), "0.000001");
        assert_eq!(seconds(2_500_000_000), "2.5");
        assert_eq!(seconds(1_000_000_000), "1");
    }
}
