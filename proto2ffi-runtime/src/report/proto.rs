//! Messages exported by the library-wide functions, matching
//! `proto/proto2ffi/v1/metrics.proto` and `proto/proto2ffi/v1/health.proto`
//! (a test in `proto2ffi-build` checks that the two agree).

/// Calls of one method that ended with one status code.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CodeCount {
    /// Status code number.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Calls.
    #[prost(uint64, tag = "2")]
    pub count: u64,
}

/// Counters of one method.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MethodMetrics {
    /// Service name.
    #[prost(string, tag = "1")]
    pub service: String,
    /// Method name.
    #[prost(string, tag = "2")]
    pub method: String,
    /// Total calls (= sum of `codes`).
    #[prost(uint64, tag = "3")]
    pub calls: u64,
    /// Calls per status code (codes with zero calls are left out).
    #[prost(message, repeated, tag = "4")]
    pub codes: Vec<CodeCount>,
    /// Refused: shutting down or not registered.
    #[prost(uint64, tag = "5")]
    pub rejected_admission: u64,
    /// Refused by a rate limit.
    #[prost(uint64, tag = "6")]
    pub rejected_rate_limit: u64,
    /// Refused: request over its byte limit.
    #[prost(uint64, tag = "7")]
    pub rejected_request_size: u64,
    /// Refused: response over its byte limit.
    #[prost(uint64, tag = "8")]
    pub rejected_response_size: u64,
    /// Panics caught.
    #[prost(uint64, tag = "9")]
    pub panics: u64,
    /// Request bytes received.
    #[prost(uint64, tag = "10")]
    pub bytes_in: u64,
    /// Bytes returned.
    #[prost(uint64, tag = "11")]
    pub bytes_out: u64,
    /// Non-cumulative latency bucket counts; one more than `latency_bounds_ns`.
    #[prost(uint64, repeated, tag = "12")]
    pub latency_buckets: Vec<u64>,
    /// Sum of the timed calls' latencies in nanoseconds.
    #[prost(uint64, tag = "13")]
    pub latency_sum_ns: u64,
    /// Calls timed (sum of `latency_buckets`).
    #[prost(uint64, tag = "14")]
    pub latency_samples: u64,
    /// Streams of this method open now (server, client or bidi).
    #[prost(uint64, tag = "15")]
    pub streams_open: u64,
    /// Items this method's streams sent to the caller.
    #[prost(uint64, tag = "16")]
    pub stream_items: u64,
    /// Requests this method's client or bidi streams received.
    #[prost(uint64, tag = "17")]
    pub stream_items_received: u64,
    /// One call in this many (per thread) is timed for this method's
    /// histogram: `Metrics.fixed_latency_sample_every` for a fixed-layout
    /// method, `Metrics.latency_sample_every` otherwise.
    #[prost(uint32, tag = "18")]
    pub latency_sample_every: u32,
    /// A method of a service the host implements, which Rust calls: its
    /// counters describe Rust's calls into the host.
    #[prost(bool, tag = "19")]
    pub host: bool,
    /// For a host method: calls waiting for the host's answer now.
    #[prost(uint64, tag = "20")]
    pub in_flight: u64,
}

/// Counters of one schema-declared pool.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PoolMetrics {
    /// The message's proto full name.
    #[prost(string, tag = "1")]
    pub message: String,
    /// Objects the pool holds (`pool_size`).
    #[prost(uint32, tag = "2")]
    pub capacity: u32,
    /// Objects preallocated: 0 before first use, then `capacity`.
    #[prost(uint64, tag = "3")]
    pub created: u64,
    /// Objects lent out now.
    #[prost(uint64, tag = "4")]
    pub in_use: u64,
    /// Successful acquisitions.
    #[prost(uint64, tag = "5")]
    pub acquired: u64,
    /// Acquisitions refused because every object was in use.
    #[prost(uint64, tag = "6")]
    pub exhausted: u64,
    /// Releases refused: not from the pool, or released twice.
    #[prost(uint64, tag = "7")]
    pub refused: u64,
}

/// Everything the library measured.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metrics {
    /// Milliseconds since the library started.
    #[prost(uint64, tag = "1")]
    pub uptime_ms: u64,
    /// Calls executing now.
    #[prost(uint64, tag = "2")]
    pub in_flight: u64,
    /// Upper bounds of the latency buckets (the last bucket is +Inf).
    #[prost(uint64, repeated, tag = "3")]
    pub latency_bounds_ns: Vec<u64>,
    /// One entry per method.
    #[prost(message, repeated, tag = "4")]
    pub methods: Vec<MethodMetrics>,
    /// Log records dropped because the delivery queue was full.
    #[prost(uint64, tag = "5")]
    pub log_records_dropped: u64,
    /// One call in this many (per thread) is timed for the latency
    /// histogram (protobuf, async and streaming methods).
    #[prost(uint32, tag = "6")]
    pub latency_sample_every: u32,
    /// One entry per pool that has been used.
    #[prost(message, repeated, tag = "7")]
    pub pools: Vec<PoolMetrics>,
    /// One fixed-layout call in this many (per thread) is timed.
    #[prost(uint32, tag = "8")]
    pub fixed_latency_sample_every: u32,
}

/// The library's health.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Health {
    /// Overall verdict: flag set, check passing, init succeeded, not shutting down.
    #[prost(bool, tag = "1")]
    pub healthy: bool,
    /// Why not healthy (empty when healthy).
    #[prost(string, tag = "2")]
    pub reason: String,
    /// Milliseconds since the library started.
    #[prost(uint64, tag = "3")]
    pub uptime_ms: u64,
    /// Calls executing now.
    #[prost(uint64, tag = "4")]
    pub in_flight: u64,
    /// Panics caught so far.
    #[prost(uint64, tag = "5")]
    pub panics: u64,
    /// Registered services.
    #[prost(string, repeated, tag = "6")]
    pub services: Vec<String>,
    /// Whether shutdown has begun.
    #[prost(bool, tag = "7")]
    pub shutting_down: bool,
    /// Whether the library was built with `panic = "unwind"`; under `abort`
    /// a panic ends the process and `catch_unwind` cannot help.
    #[prost(bool, tag = "8")]
    pub panic_unwind: bool,
    /// The C ABI version.
    #[prost(uint32, tag = "9")]
    pub abi_version: u32,
}
