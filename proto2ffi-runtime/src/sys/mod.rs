//! The bottom layer: what the machine and the process give every call.
//!
//! Clocks ([`clock`]), the cores online ([`cores`]), the asymmetric fence
//! behind the in-flight count ([`fence`]), all per-thread state in one
//! thread-local block ([`thread`]), the numbering of threads that
//! per-thread counters are indexed by ([`shard`]), the rule for spinning
//! before parking ([`spin`]) and a library's sticky "something was
//! switched on" flag ([`switches`]). Depends on nothing else in the crate.

pub(crate) mod clock;
pub(crate) mod cores;
pub(crate) mod fence;
pub(crate) mod shard;
pub(crate) mod spin;
pub(crate) mod switches;
pub(crate) mod thread;
