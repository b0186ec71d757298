//! Rate limits: a lock-free GCRA limiter per method or service, and a
//! bounded keyed (per-client) limiter.
//!
//! GCRA ("generic cell rate algorithm") keeps one number, the theoretical
//! arrival time (TAT). With emission interval `T = 1/rate` and tolerance
//! `τ = burst · T`, a call at `now` is admitted when
//! `max(TAT, now) + T - now ≤ τ`, and TAT advances by `T`. So exactly `burst`
//! calls pass in an instant, then one per `T`.

use parking_lot::Mutex;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A rate: `per_second` calls per second with bursts of `burst` calls.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Sustained calls per second (> 0).
    pub per_second: f64,
    /// Calls admitted at once from idle (≥ 1).
    pub burst: u32,
}

pub use proto2ffi_core::rate::{MAX_PER_SECOND, MIN_PER_SECOND};

impl RateLimit {
    /// Checks that the rate is usable: `per_second` finite within
    /// [[`MIN_PER_SECOND`], [`MAX_PER_SECOND`]] and `burst ≥ 1`. Anything
    /// else (0, negative, NaN, infinite, or so slow that the arithmetic would
    /// saturate) is refused rather than silently admitting every call.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.per_second.is_finite()
            && (MIN_PER_SECOND..=MAX_PER_SECOND).contains(&self.per_second))
        {
            return Err(format!(
                "rate {} calls/s is out of range: it must be finite, between one call a day                  ({MIN_PER_SECOND:e}/s) and {MAX_PER_SECOND:e}/s; to refuse every call, shut                  the library down or return an error from the handler",
                self.per_second
            ));
        }
        if self.burst == 0 {
            return Err("burst must be at least 1".to_string());
        }
        Ok(())
    }

    /// Emission interval in nanoseconds (at least 1).
    pub const fn interval_ns(&self) -> u64 {
        let ns = 1_000_000_000.0 / self.per_second;
        if ns < 1.0 {
            1
        } else {
            ns as u64
        }
    }
}

/// Why a call was refused and when to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Nanoseconds until one call would be admitted.
    pub retry_after_ns: u64,
    /// For a per-client limit, the seeded hash of the client's key (never
    /// the key itself: logs may leave the device); 0 otherwise.
    pub key_hash: u64,
}

/// A lock-free GCRA limiter. Disabled (admits everything, one atomic load)
/// while its interval is 0.
#[derive(Debug)]
pub struct RateLimiter {
    interval_ns: AtomicU64,
    burst: AtomicU64,
    tat: AtomicU64,
}

impl RateLimiter {
    /// A limiter with an initial rate (`None`: disabled).
    pub const fn new(limit: Option<RateLimit>) -> RateLimiter {
        let (interval, burst) = match limit {
            Some(l) => (
                l.interval_ns(),
                if l.burst == 0 { 1 } else { l.burst as u64 },
            ),
            None => (0, 0),
        };
        RateLimiter {
            interval_ns: AtomicU64::new(interval),
            burst: AtomicU64::new(burst),
            tat: AtomicU64::new(0),
        }
    }

    /// Changes (or with `None` removes) the rate at run time; the state
    /// restarts full. An invalid rate (see [`RateLimit::validate`]) is refused
    /// with `INVALID_ARGUMENT` and leaves the limiter as it was.
    pub fn set(&self, limit: Option<RateLimit>) -> Result<(), crate::Status> {
        if let Some(l) = &limit {
            l.validate().map_err(crate::Status::invalid_argument)?;
        }
        let fresh = RateLimiter::new(limit);
        self.interval_ns.store(0, Ordering::Relaxed);
        self.burst
            .store(fresh.burst.load(Ordering::Relaxed), Ordering::Relaxed);
        self.tat.store(0, Ordering::Relaxed);
        self.interval_ns
            .store(fresh.interval_ns.load(Ordering::Relaxed), Ordering::Release);
        Ok(())
    }

    /// The configured rate, if any.
    pub fn get(&self) -> Option<RateLimit> {
        let interval = self.interval_ns.load(Ordering::Acquire);
        (interval != 0).then(|| RateLimit {
            per_second: 1e9 / interval as f64,
            burst: self.burst.load(Ordering::Relaxed) as u32,
        })
    }

    /// Whether a limit is set.
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.interval_ns.load(Ordering::Relaxed) != 0
    }

    /// Admits or refuses one call at `now_ns`.
    #[inline]
    pub fn check(&self, now_ns: u64) -> Result<(), Rejected> {
        let interval = self.interval_ns.load(Ordering::Acquire);
        if interval == 0 {
            return Ok(());
        }
        let tolerance = interval.saturating_mul(self.burst.load(Ordering::Relaxed));
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            match gcra_step(tat, now_ns, interval, tolerance) {
                Err(r) => return Err(r),
                Ok(new_tat) => match self.tat.compare_exchange_weak(
                    tat,
                    new_tat,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(()),
                    Err(current) => tat = current,
                },
            }
        }
    }

    /// Gives back one call admitted by [`RateLimiter::check`] that did not
    /// go on to use the budget (e.g. refused later by a per-client limit).
    #[inline]
    pub fn refund(&self) {
        let interval = self.interval_ns.load(Ordering::Acquire);
        if interval == 0 {
            return;
        }
        let _ = self
            .tat
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_sub(interval))
            });
    }
}

#[inline]
fn gcra_step(tat: u64, now: u64, interval: u64, tolerance: u64) -> Result<u64, Rejected> {
    let new_tat = tat.max(now).saturating_add(interval);
    let ahead = new_tat - now;
    if ahead > tolerance {
        Err(Rejected {
            retry_after_ns: ahead - tolerance,
            key_hash: 0,
        })
    } else {
        Ok(new_tat)
    }
}

/// A value usable as a per-client rate-limit key (a request field).
pub trait RateKey {
    /// Feeds the key to a hasher.
    fn feed<H: std::hash::Hasher>(&self, hasher: &mut H);
}

macro_rules! rate_key_via_hash {
    ($($t:ty),*) => {$(
        impl RateKey for $t {
            fn feed<H: std::hash::Hasher>(&self, hasher: &mut H) {
                self.hash(hasher)
            }
        }
    )*};
}
rate_key_via_hash!(str, String, [u8], Vec<u8>, u32, u64, i32, i64, bool);

impl<T: RateKey + ?Sized> RateKey for &T {
    fn feed<H: std::hash::Hasher>(&self, hasher: &mut H) {
        (**self).feed(hasher)
    }
}

impl<T: RateKey> RateKey for Option<T> {
    fn feed<H: std::hash::Hasher>(&self, hasher: &mut H) {
        if let Some(v) = self {
            v.feed(hasher)
        }
    }
}

impl RateKey for prost::bytes::Bytes {
    fn feed<H: std::hash::Hasher>(&self, hasher: &mut H) {
        self.as_ref().hash(hasher)
    }
}

/// Default number of keys a keyed limiter tracks at once.
pub const DEFAULT_KEY_CAPACITY: usize = 4096;
const WAYS: usize = 4;

#[derive(Clone, Copy, Default)]
struct Slot {
    key: u64,
    tat: u64,
}

/// A per-key GCRA limiter whose memory is fixed at creation.
///
/// Keys hash into 4-way sets. A slot whose TAT is in the past holds no state
/// (a fresh key would behave the same), so it is taken over freely; when all
/// four slots of a set are busy, the one closest to idle is evicted. A flood
/// of unique keys therefore costs no memory, and a real client can at worst be
/// forgotten while it was nearly idle. Hashing uses a per-process random seed,
/// so clients cannot aim their keys at one set.
pub struct KeyedRateLimiter {
    limit: RateLimit,
    interval: u64,
    tolerance: u64,
    hasher: std::hash::RandomState,
    sets: Box<[Mutex<[Slot; WAYS]>]>,
}

impl KeyedRateLimiter {
    /// A limiter tracking about `capacity` keys (rounded up to a power of two, ≥ 4).
    pub fn new(limit: RateLimit, capacity: usize) -> KeyedRateLimiter {
        let sets = (capacity.max(WAYS) / WAYS).next_power_of_two();
        let interval = limit.interval_ns();
        let burst = u64::from(limit.burst.max(1));
        KeyedRateLimiter {
            limit,
            interval,
            tolerance: interval.saturating_mul(burst),
            hasher: std::hash::RandomState::new(),
            sets: (0..sets)
                .map(|_| Mutex::new([Slot::default(); WAYS]))
                .collect(),
        }
    }

    /// The rate each key gets.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Bytes of state, fixed for the limiter's life.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.sets.len() * std::mem::size_of::<Mutex<[Slot; WAYS]>>()
    }

    /// Number of keys tracked at once.
    pub fn capacity(&self) -> usize {
        self.sets.len() * WAYS
    }

    /// Admits or refuses one call for `key` at `now_ns`.
    pub fn check<K: RateKey + ?Sized>(&self, key: &K, now_ns: u64) -> Result<(), Rejected> {
        let mut h = self.hasher.build_hasher();
        key.feed(&mut h);
        let hash = std::hash::Hasher::finish(&h) | 1; // 0 marks an empty slot
        let set = &self.sets[(hash >> 32) as usize & (self.sets.len() - 1)];
        let mut slots = set.lock();
        let index = match slots.iter().position(|s| s.key == hash) {
            Some(i) => i,
            None => {
                // Take an idle slot, else evict the one closest to idle.
                let i = slots
                    .iter()
                    .position(|s| s.key == 0 || s.tat <= now_ns)
                    .unwrap_or_else(|| (0..WAYS).min_by_key(|&i| slots[i].tat).unwrap_or(0));
                slots[i] = Slot { key: hash, tat: 0 };
                i
            }
        };
        let new_tat =
            gcra_step(slots[index].tat, now_ns, self.interval, self.tolerance).map_err(|r| {
                Rejected {
                    key_hash: hash,
                    ..r
                }
            })?;
        slots[index].tat = new_tat;
        Ok(())
    }
}

impl std::fmt::Debug for KeyedRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("limit", &self.limit)
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// A keyed limiter created on first use from a constant configuration.
#[derive(Debug)]
pub struct LazyKeyed {
    config: Option<(RateLimit, usize)>,
    limiter: OnceLock<KeyedRateLimiter>,
}

impl LazyKeyed {
    /// `None` disables keyed limiting.
    pub const fn new(config: Option<(RateLimit, usize)>) -> LazyKeyed {
        LazyKeyed {
            config,
            limiter: OnceLock::new(),
        }
    }

    /// The limiter, if configured.
    #[inline]
    pub fn get(&self) -> Option<&KeyedRateLimiter> {
        let (limit, capacity) = self.config?;
        Some(
            self.limiter
                .get_or_init(|| KeyedRateLimiter::new(limit, capacity)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_burst_then_refused() {
        let l = RateLimiter::new(Some(RateLimit {
            per_second: 1.0,
            burst: 5,
        }));
        let now = 1_000;
        for _ in 0..5 {
            assert!(l.check(now).is_ok());
        }
        let r = l.check(now).unwrap_err();
        assert_eq!(r.retry_after_ns, 1_000_000_000);
        // One interval later, exactly one more.
        assert!(l.check(now + 1_000_000_000).is_ok());
        assert!(l.check(now + 1_000_000_000).is_err());
    }

    #[test]
    fn disabled_admits_everything() {
        let l = RateLimiter::new(None);
        for _ in 0..1000 {
            assert!(l.check(1).is_ok());
        }
        l.set(Some(RateLimit {
            per_second: 10.0,
            burst: 2,
        }))
        .unwrap();
        assert!(l.check(5).is_ok());
        assert!(l.check(5).is_ok());
        assert!(l.check(5).is_err());
        assert_eq!(l.get().unwrap().burst, 2);
    }

    #[test]
    fn keyed_limits_each_key_and_stays_bounded() {
        let k = KeyedRateLimiter::new(
            RateLimit {
                per_second: 1.0,
                burst: 2,
            },
            64,
        );
        let before = k.memory_bytes();
        assert!(k.check("a", 10).is_ok());
        assert!(k.check("a", 10).is_ok());
        assert!(k.check("a", 10).is_err());
        assert!(k.check("b", 10).is_ok());
        for i in 0..100_000u64 {
            let _ = k.check(&i, 10 + i);
        }
        assert_eq!(k.memory_bytes(), before);
        assert_eq!(k.capacity(), 64);
    }

    #[test]
    fn invalid_rates_set_at_run_time_are_refused_and_change_nothing() {
        let l = RateLimiter::new(Some(RateLimit {
            per_second: 1.0,
            burst: 1,
        }));
        for (per_second, burst) in [
            (0.0, 1),
            (-5.0, 1),
            (f64::NAN, 1),
            (f64::INFINITY, 1),
            (1e-30, 1),
            (10.0, 0),
        ] {
            let e = l
                .set(Some(RateLimit { per_second, burst }))
                .expect_err("must be refused");
            assert_eq!(e.code(), crate::Code::InvalidArgument, "{e}");
        }
        // Still the original limit: one call, then refused.
        assert!(l.check(10).is_ok());
        assert!(l.check(10).is_err());
    }

    #[test]
    fn refund_gives_one_call_back() {
        let l = RateLimiter::new(Some(RateLimit {
            per_second: 1.0,
            burst: 2,
        }));
        assert!(l.check(10).is_ok());
        assert!(l.check(10).is_ok());
        assert!(l.check(10).is_err());
        l.refund();
        assert!(l.check(10).is_ok());
        assert!(l.check(10).is_err());
    }
}
