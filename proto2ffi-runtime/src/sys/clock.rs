//! Clocks: a precise monotonic clock for sampled call latency, and the
//! rate limiters' clock, coarse on the fast path.
//!
//! - [`now_ns`]: `quanta` reads the TSC where it is stable and falls back to
//!   the OS monotonic clock elsewhere; nanoseconds from the first read.
//!   Sampled calls (see `Library::set_latency_sample_every`) read the same
//!   clock raw ([`raw`], [`elapsed_ns`]) — except on 32-bit x86, where
//!   quanta has no TSC support and an OS clock read can cost a sizeable
//!   share of a guarded struct call: there [`raw`] reads the TSC itself when the CPU says it is
//!   invariant, scaled by a calibration against `CLOCK_MONOTONIC` (module
//!   `tsc32`).
//! - [`rate_coarse_ns`] / [`rate_precise_ns`]: one time base for rate
//!   limits. On Linux and Android the coarse one is
//!   `CLOCK_MONOTONIC_COARSE` — the kernel's time at its last tick, read
//!   from the vDSO without touching the TSC (cheaper than a TSC read, and
//!   far cheaper than `CLOCK_MONOTONIC` in a VM), at most one
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

/// Finishes calibrating the clocks (waiting for a calibration another
/// thread runs): the fork rule's `prepare` handler calls it so that no
/// calibration is half done in a forked child, where it would never finish
/// and every timed call would wait for it forever.
pub(crate) fn ready() {
    init();
    #[cfg(all(
        target_arch = "x86",
        any(target_os = "linux", target_os = "android"),
        not(miri)
    ))]
    let _ = tsc32::scale();
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
    #[cfg(all(
        target_arch = "x86",
        any(target_os = "linux", target_os = "android"),
        not(miri)
    ))]
    if tsc32::scale().is_some() {
        return tsc32::read();
    }
    clock().0.raw()
}

/// Nanoseconds since `start`, a [`raw`] reading (0 if the clock went back).
#[inline]
pub fn elapsed_ns(start: u64) -> u64 {
    #[cfg(all(
        target_arch = "x86",
        any(target_os = "linux", target_os = "android"),
        not(miri)
    ))]
    if let Some(scale) = tsc32::scale() {
        return tsc32::to_ns(tsc32::read().saturating_sub(start), scale);
    }
    let clock = &clock().0;
    clock.delta_as_nanos(start, clock.raw())
}

/// The TSC on 32-bit x86, where quanta does not use it.
#[cfg(all(
    target_arch = "x86",
    any(target_os = "linux", target_os = "android"),
    not(miri)
))]
mod tsc32 {
    use std::sync::OnceLock;

    /// Nanoseconds per tick in 32.32 fixed point, or `None` when the TSC
    /// is not invariant (its rate could change with the CPU's frequency).
    static SCALE: OnceLock<Option<u64>> = OnceLock::new();

    /// How long calibration watches both clocks: the OS clock's read jitter
    /// (~0.1 µs) over 2 ms leaves a scale error of about 5e-5.
    const CALIBRATION_NS: u64 = 2_000_000;

    #[inline]
    pub(super) fn scale() -> Option<u64> {
        match SCALE.get() {
            Some(s) => *s,
            None => init(),
        }
    }

    #[cold]
    #[inline(never)]
    fn init() -> Option<u64> {
        *SCALE.get_or_init(|| invariant().then(calibrate).flatten())
    }

    #[inline]
    pub(super) fn read() -> u64 {
        // SAFETY: `rdtsc` exists on every CPU with an invariant TSC, the
        // only case this is called in (`scale` is `Some`).
        unsafe { core::arch::x86::_rdtsc() }
    }

    #[inline]
    pub(super) fn to_ns(ticks: u64, scale: u64) -> u64 {
        ((u128::from(ticks) * u128::from(scale)) >> 32) as u64
    }

    /// CPUID: a TSC (leaf 1, EDX bit 4) that is invariant (leaf
    /// 0x8000_0007, EDX bit 8: constant rate in every P-, C- and T-state).
    fn invariant() -> bool {
        use core::arch::x86::__cpuid;
        // Every i686 CPU has CPUID.
        #[allow(unused_unsafe)]
        // SAFETY: CPUID is available (above) and has no side effects.
        let (basic, max_ext) = unsafe { (__cpuid(1), __cpuid(0x8000_0000).eax) };
        if basic.edx & (1 << 4) == 0 || max_ext < 0x8000_0007 {
            return false;
        }
        #[allow(unused_unsafe)]
        // SAFETY: as above; the leaf exists (checked).
        let power = unsafe { __cpuid(0x8000_0007) };
        power.edx & (1 << 8) != 0
    }

    /// The TSC and `CLOCK_MONOTONIC` read together: the OS clock between
    /// two TSC reads, the tightest bracket of eight tries, with the TSC's
    /// midpoint. A thread preempted between two plain reads would pair
    /// times that lie apart by the whole preemption (a 0.3 ms one skews a
    /// 2 ms calibration by 15%); it would have to be preempted in all eight
    /// brackets to skew this one.
    pub(super) fn pair() -> (u64, u64) {
        let mut best = (u64::MAX, 0, 0);
        for _ in 0..8 {
            let before = read();
            let ns = super::monotonic(libc::CLOCK_MONOTONIC);
            let width = read().wrapping_sub(before);
            if width < best.0 {
                best = (width, before.wrapping_add(width / 2), ns);
            }
        }
        (best.1, best.2)
    }

    /// Ticks against `CLOCK_MONOTONIC` over [`CALIBRATION_NS`] (a busy wait
    /// on the first timed call of the process; quanta's own calibration on
    /// 64-bit targets takes at least as long), from two [`pair`]s.
    fn calibrate() -> Option<u64> {
        let (t0, n0) = pair();
        while super::monotonic(libc::CLOCK_MONOTONIC).wrapping_sub(n0) < CALIBRATION_NS {
            std::hint::spin_loop();
        }
        let (t1, n1) = pair();
        let ticks = t1.wrapping_sub(t0);
        (ticks > 0).then(|| (u128::from(n1 - n0) << 32).div_ceil(u128::from(ticks)) as u64)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_tsc_agrees_with_the_os_clock() {
            let Some(scale) = scale() else {
                eprintln!("no invariant TSC: the OS clock is used");
                return;
            };
            let (t0, n0) = pair();
            std::thread::sleep(std::time::Duration::from_millis(50));
            let (t1, n1) = pair();
            let (tsc, os) = (to_ns(t1 - t0, scale) as f64, (n1 - n0) as f64);
            assert!(
                (tsc / os - 1.0).abs() < 0.01,
                "TSC {tsc} ns, OS clock {os} ns"
            );
        }
    }
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
