//! Clocks: a precise monotonic clock for sampled call latency, and the
//! rate limiters' clock, coarse on the fast path.
//!
//! - [`now_ns`]: `quanta` reads the TSC where it is stable and falls back to
//!   the OS monotonic clock elsewhere; nanoseconds from the first read.
//!   Sampled calls (see `Library::set_latency_sample_every`) read the same
//!   clock raw ([`raw`], [`elapsed_ns`]).
//! - [`rate_coarse_ns`] / [`rate_precise_ns`]: one time base for rate
//!   limits. On Linux and Android the coarse one is
//!   `CLOCK_MONOTONIC_COARSE` — the kernel's time at its last tick, read
//!   from the vDSO without touching the TSC (~6 ns here against ~13 ns for a
//!   TSC read and ~44 ns for `CLOCK_MONOTONIC` in this VM), at most one
//!   tick (1–4 ms) behind; the precise one is `CLOCK_MONOTONIC`, the same
//!   base. Elsewhere both are `now_ns` (exact; no saving).

use std::sync::OnceLock;

static CLOCK: OnceLock<(quanta::Clock, quanta::Instant)> = OnceLock::new();

#[inline]
fn clock() -> &'static (quanta::Clock, quanta::Instant) {
    match CLOCK.get() {
        Some(c) => c,
        None => init(),
    }
}

/// Calibrates the clock (quanta measures the TSC against the OS clock).
#[cold]
#[inline(never)]
fn init() -> &'static (quanta::Clock, quanta::Instant) {
    CLOCK.get_or_init(|| {
        let clock = quanta::Clock::new();
        let base = clock.now();
        (clock, base)
    })
}

/// Nanoseconds since the first call to this function in the process (≥ 1).
#[inline]
pub fn now_ns() -> u64 {
    let (clock, base) = clock();
    // +1 so that "never" (0) is distinguishable from the first instant.
    clock.now().duration_since(*base).as_nanos() as u64 + 1
}

/// A raw reading of the latency clock (TSC ticks, or nanoseconds where
/// quanta falls back to the OS clock), only for [`elapsed_ns`]. Sampled
/// calls time themselves with these two: [`now_ns`] goes through
/// `Duration`, whose division is a library call on 32-bit targets (~3% of
/// a struct call on i686).
#[inline]
pub fn raw() -> u64 {
    clock().0.raw()
}

/// Nanoseconds since `start`, a [`raw`] reading (0 if the clock went back).
#[inline]
pub fn elapsed_ns(start: u64) -> u64 {
    let clock = &clock().0;
    clock.delta_as_nanos(start, clock.raw())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn monotonic(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clock ids exist on
    // every Linux since 2.6.32, and the call cannot fail for them.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// The rate limiters' fast clock: never ahead of [`rate_precise_ns`], at
/// most [`rate_coarse_resolution_ns`] behind it.
#[inline]
pub fn rate_coarse_ns() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        monotonic(libc::CLOCK_MONOTONIC_COARSE)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        now_ns()
    }
}

/// The rate limiters' precise clock (same base as [`rate_coarse_ns`]): read
/// only when the coarse time would refuse a call.
#[inline]
pub fn rate_precise_ns() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        monotonic(libc::CLOCK_MONOTONIC)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        now_ns()
    }
}

/// How far [`rate_coarse_ns`] may lag: the coarse clock's resolution
/// (`clock_getres`), 0 where the coarse clock is the precise one.
pub fn rate_coarse_resolution_ns() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: as in `monotonic`.
        unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_is_never_ahead_and_lags_at_most_its_resolution() {
        let resolution = rate_coarse_resolution_ns();
        assert!(resolution < 100_000_000, "{resolution}");
        for _ in 0..10_000 {
            let before = rate_precise_ns();
            let coarse = rate_coarse_ns();
            let after = rate_precise_ns();
            assert!(coarse <= after, "coarse {coarse} ahead of precise {after}");
            // One tick of lag plus the time between the reads (generous for CI).
            assert!(
                coarse + resolution + 50_000_000 >= before,
                "coarse {coarse} lags precise {before} by more than a tick"
            );
        }
    }
}
