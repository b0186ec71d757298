//! One library's aggregate: the [`Library`] every export of a crate shares,
//! the static service and method definitions generated code registers in
//! it ([`def`]), where async handlers run ([`executor`]), the counters of the fixed-layout pools it
//! reports ([`pools`]), its tables of calls in flight ([`live`]), the threads sync
//! handlers awaited by their callers run on ([`workers`]) and the
//! process-wide deadline timer ([`deadlines`]). Two libraries in one
//! artifact share nothing here.
//!
//! [`Library`]: def::Library

pub(crate) mod deadlines;
pub(crate) mod def;
pub(crate) mod executor;
pub(crate) mod live;
pub(crate) mod pools;
pub(crate) mod workers;
