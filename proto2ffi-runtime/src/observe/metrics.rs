//! Per-method metrics: sharded atomic counters, no lock per call. The
//! exports (encoded message, Prometheus text) are in [`crate::report::exposition`].

use crate::sys::shard::{add_owned, PerShard, Shard, ShardEntry};
use crate::Code;
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
pub(crate) const BUCKETS: usize = LATENCY_BOUNDS_NS.len() + 1;

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
    pub(crate) const ALL: [Rejection; 4] = [
        Rejection::Admission,
        Rejection::Rate,
        Rejection::RequestSize,
        Rejection::ResponseSize,
    ];

    pub(crate) fn label(self) -> &'static str {
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

impl ShardEntry for Counters {
    const EMPTY: Counters = Counters {
        codes: [const { AtomicU64::new(0) }; Code::COUNT],
        rejections: [const { AtomicU64::new(0) }; 4],
        panics: AtomicU64::new(0),
        bytes_in: AtomicU64::new(0),
        bytes_out: AtomicU64::new(0),
        buckets: [const { AtomicU64::new(0) }; BUCKETS],
        latency_sum_ns: AtomicU64::new(0),
    };
}

/// Counters of one method.
pub struct MethodMetrics {
    shards: PerShard<Counters>,
    /// Streams of this method not completed yet.
    streams_open: AtomicU64,
    /// Items its streams sent to the caller.
    stream_items: AtomicU64,
    /// Requests its client or bidi streams received.
    stream_items_received: AtomicU64,
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
    /// Wall time of the call, when this call was timed (sampled).
    pub latency_ns: Option<u64>,
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
    /// Non-cumulative bucket counts of the timed calls (last is `+Inf`).
    pub buckets: Vec<u64>,
    /// Sum of the timed calls' latencies.
    pub latency_sum_ns: u64,
    /// Calls timed (the sum of `buckets`; `calls` when every call is timed).
    pub latency_samples: u64,
    /// Streams open now (server, client or bidi).
    pub streams_open: u64,
    /// Items streams sent to the caller.
    pub stream_items: u64,
    /// Requests client or bidi streams received.
    pub stream_items_received: u64,
}

impl MethodMetrics {
    /// Zeroed counters.
    pub const fn new() -> MethodMetrics {
        MethodMetrics {
            shards: PerShard::new(),
            streams_open: AtomicU64::new(0),
            stream_items: AtomicU64::new(0),
            stream_items_received: AtomicU64::new(0),
        }
    }

    /// A stream started.
    pub(crate) fn stream_started(&self) {
        self.streams_open.fetch_add(1, Relaxed);
    }

    /// A stream completed.
    pub(crate) fn stream_ended(&self) {
        self.streams_open.fetch_sub(1, Relaxed);
    }

    /// A stream queued one item for the caller.
    pub(crate) fn stream_item(&self) {
        self.stream_items.fetch_add(1, Relaxed);
    }

    /// A client or bidi stream accepted `n` requests.
    pub(crate) fn add_stream_items_received(&self, n: u64) {
        self.stream_items_received.fetch_add(n, Relaxed);
    }

    /// Requests this method's client or bidi streams received.
    pub fn stream_items_received(&self) -> u64 {
        self.stream_items_received.load(Relaxed)
    }

    /// Streams of this method open now.
    pub fn streams_open(&self) -> u64 {
        self.streams_open.load(Relaxed)
    }

    /// Items this method's streams sent to the caller.
    pub fn stream_items(&self) -> u64 {
        self.stream_items.load(Relaxed)
    }

    /// Records one call on the calling thread's shard.
    #[inline]
    pub fn record(&self, shard: Shard, r: &CallRecord) {
        let s = self.shards.get(shard);
        shard.add(&s.codes[r.code as usize], 1);
        if r.bytes_in != 0 {
            shard.add(&s.bytes_in, r.bytes_in);
        }
        if r.bytes_out != 0 {
            shard.add(&s.bytes_out, r.bytes_out);
        }
        if r.rejection.is_some() || r.panicked || r.latency_ns.is_some() {
            Self::record_rare(s, shard, r);
        }
    }

    /// [`MethodMetrics::record`] of an untimed call on `shard`, which this
    /// thread owns ([`Shard::is_exclusive`]): plain adds, and refusals and
    /// panics out of line. For a successful call the record folds away
    /// (nothing can reach the out-of-line part), leaving three adds.
    #[inline]
    pub(crate) fn record_exclusive(&self, shard: Shard, r: &CallRecord) {
        debug_assert!(shard.is_exclusive() && r.latency_ns.is_none());
        let s = self.shards.get(shard);
        add_owned(&s.codes[r.code as usize], 1);
        add_owned(&s.bytes_in, r.bytes_in);
        add_owned(&s.bytes_out, r.bytes_out);
        if r.rejection.is_some() || r.panicked {
            Self::record_rare(s, shard, r);
        }
    }

    /// Records one successful, untimed fixed-layout call on `shard`, which
    /// this thread owns ([`Shard::is_exclusive`]): one add (its bytes are
    /// the struct sizes, added by `MethodDef::snapshot`).
    #[inline]
    pub(crate) fn record_fixed_ok_exclusive(&self, shard: Shard) {
        debug_assert!(shard.is_exclusive());
        add_owned(&self.shards.get(shard).codes[Code::Ok as usize], 1);
    }

    /// Refusals, panics and sampled latency: out of line, so that the common
    /// call inlines only its three counters.
    #[inline(never)]
    fn record_rare(s: &Counters, shard: Shard, r: &CallRecord) {
        if let Some(j) = r.rejection {
            shard.add(&s.rejections[j as usize], 1);
        }
        if r.panicked {
            shard.add(&s.panics, 1);
        }
        if let Some(ns) = r.latency_ns {
            let bucket = LATENCY_BOUNDS_NS
                .iter()
                .position(|&b| ns <= b)
                .unwrap_or(BUCKETS - 1);
            shard.add(&s.buckets[bucket], 1);
            shard.add(&s.latency_sum_ns, ns);
        }
    }

    /// Sums the shards.
    pub fn snapshot(&self) -> Snapshot {
        let mut out = Snapshot {
            buckets: vec![0; BUCKETS],
            streams_open: self.streams_open(),
            stream_items: self.stream_items(),
            stream_items_received: self.stream_items_received(),
            ..Snapshot::default()
        };
        for s in self.shards.iter() {
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
        out.latency_samples = out.buckets.iter().sum();
        out
    }
}

impl Default for MethodMetrics {
    fn default() -> Self {
        Self::new()
    }
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
                    crate::sys::shard::thread_shard()
                },
                &CallRecord {
                    code: if i % 2 == 0 { Code::Ok } else { Code::NotFound },
                    rejection: None,
                    panicked: false,
                    bytes_in: 3,
                    bytes_out: 4,
                    latency_ns: (i % 4 == 0).then_some(2_000),
                },
            );
        }
        let s = m.snapshot();
        assert_eq!(s.calls, 32);
        assert_eq!(s.codes[0], 16);
        assert_eq!(s.codes[5], 16);
        assert_eq!(s.bytes_in, 96);
        // Only the 8 timed calls are in the histogram; counts stay exact.
        assert_eq!(s.buckets[1], 8);
        assert_eq!(s.latency_samples, 8);
        assert_eq!(s.latency_sum_ns, 16_000);
    }
}
