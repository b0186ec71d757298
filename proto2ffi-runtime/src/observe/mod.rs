//! What a host can see of calls while they run: per-method counters and
//! latency histograms ([`metrics`]) and the `tracing` records delivered to
//! the host's log sink ([`log`]). Depends on `sys`, `abi` and `error`.

pub(crate) mod log;
pub(crate) mod metrics;
