//! The fixed-layout pools a library reports in its metrics: what the
//! library keeps of each pool, whatever its message type. The pools
//! themselves live with the fixed-layout messages, above this layer; each
//! announces itself here on first use.

/// Counters of one [`FixedPool`](crate::FixedPool).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FixedPoolStats {
    /// The message's proto full name.
    pub message: &'static str,
    /// Objects the pool holds (`pool_size`).
    pub capacity: u32,
    /// Objects preallocated so far: 0 before first use, then `capacity`.
    pub created: u64,
    /// Objects lent out now.
    pub in_use: u64,
    /// Successful acquisitions.
    pub acquired: u64,
    /// Acquisitions refused because every object was in use.
    pub exhausted: u64,
    /// Releases refused: an address not from the pool, or a double release.
    pub refused: u64,
}

/// What the metrics read from any pool, whatever its message type.
pub(crate) trait PoolReport: Sync {
    /// Its counters.
    fn stats(&self) -> FixedPoolStats;
}
