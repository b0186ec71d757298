//! The monotonic clock the guard reads once at call start and once at call end.
//!
//! `quanta` reads the TSC where it is stable and falls back to the OS
//! monotonic clock elsewhere; nanoseconds are counted from the first read.

use std::sync::OnceLock;

static CLOCK: OnceLock<(quanta::Clock, quanta::Instant)> = OnceLock::new();

fn clock() -> &'static (quanta::Clock, quanta::Instant) {
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
