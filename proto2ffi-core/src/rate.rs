//! The range of rates a rate limit accepts, checked the same way by the
//! macro (attribute arguments), the build (proto options) and the runtime
//! (rates set at run time).

/// The slowest rate a limiter accepts: one call a day.
pub const MIN_PER_SECOND: f64 = 1.0 / 86_400.0;
/// The fastest rate a limiter accepts: one call per nanosecond.
pub const MAX_PER_SECOND: f64 = 1e9;

/// Checks a rate in calls per second; the error says what is allowed.
pub fn validate_per_second(per_second: f64) -> Result<(), String> {
    if per_second.is_finite() && (MIN_PER_SECOND..=MAX_PER_SECOND).contains(&per_second) {
        Ok(())
    } else {
        Err(format!(
            "rate {per_second} calls/s is out of range: it must be finite and between one call \
             a day ({MIN_PER_SECOND:.3e}/s) and {MAX_PER_SECOND:e}/s"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9, 2e9] {
            assert!(validate_per_second(bad).is_err(), "{bad}");
        }
        for good in [MIN_PER_SECOND, 0.5, 1.0, 1e6, MAX_PER_SECOND] {
            assert!(validate_per_second(good).is_ok(), "{good}");
        }
    }
}
