//! Rate limits: a lock-free GCRA limiter per method or service, and a
//! bounded keyed (per-client) limiter.
//!
//! GCRA ("generic cell rate algorithm") keeps one number, the theoretical
//! arrival time (TAT). With emission interval `T = 1/rate` and tolerance
//! `τ = burst · T`, a call at `now` is admitted when
//! `max(TAT, now) + T - now ≤ τ`, and TAT advances by `T`. So exactly `burst`
//! calls pass in an instant, then one per `T`.
//!
//! The guard calls [`RateLimiter::admit`], which reads no clock at all while
//! the limiter is disabled and the coarse clock ([`crate::sys::clock`]) while it
//! is enabled; a call the coarse time would refuse is checked again with the
//! precise clock, so no call is refused that the exact limiter would admit.
//! The tolerance the other way: a coarse time is at most one clock tick `δ`
//! old (1–4 ms on Linux), which can only lower the TAT set when an idle
//! limiter starts a burst, so a burst may admit at most `⌈δ · rate⌉` calls
//! beyond `burst` (e.g. 4 at 1000 calls/s with a 4 ms tick; none at rates
//! below 1/δ); the sustained rate is exact.
//!
//! **Token leases** keep a shared limiter from serialising the threads that
//! call it (every admission is a compare-and-swap on one cache line; two
//! cores taking turns on it ran slower than one). When the burst is at least
//! [`LEASE_MIN_BURST`], a thread on an exclusive shard takes up to
//! [`MAX_LEASE`] tokens at once (`burst / (2 × SHARDS)`, so all threads
//! together can hold less than half the burst), and only while the bucket
//! stays at least half full after the lease; the next calls on that thread
//! spend them with a plain load and store on its own cache line. Leased
//! tokens are reservations from the same bucket, so no more calls are
//! admitted in total than the limiter grants; the cost is timing: a
//! thread may spend tokens it reserved earlier (a window may see up to
//! `burst / 2` more than an exact limiter), and tokens a thread holds are
//! unavailable to others (a call may be refused while up to `burst / 2`
//! tokens sit in other threads' leases). Limits with a smaller burst — the
//! ones where a few calls matter — never lease and stay exact.

use crate::error::config::ConfigError;
use crate::sys::shard::{PerShard, Shard, SHARDS};
use crate::sys::switches::Switches;
use parking_lot::Mutex;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

/// The most tokens a thread leases at once.
pub const MAX_LEASE: u64 = 64;

/// The smallest burst for which threads lease tokens (`2 × SHARDS × 2`: a
/// lease of at least two tokens, all leases together under half the burst).
pub const LEASE_MIN_BURST: u64 = 4 * SHARDS as u64;

/// Tokens one lease takes for a burst (≤ 1: no leasing).
#[inline]
fn lease_size(burst: u64) -> u64 {
    (burst / (2 * SHARDS as u64)).min(MAX_LEASE)
}

/// Per-shard leases of one limiter: `generation << 32 | tokens left`.
type Leases = Box<PerShard<AtomicU64>>;

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
    pub fn validate(&self) -> Result<(), ConfigError> {
        proto2ffi_core::rate::validate_per_second(self.per_second).map_err(ConfigError::invalid)?;
        if self.burst == 0 {
            return Err(ConfigError::invalid("burst must be at least 1"));
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
    /// `interval_ns != 0`, for [`RateLimiter::is_enabled`]: one byte load
    /// where a 64-bit atomic load takes SSE moves (32-bit x86).
    enabled: AtomicBool,
    burst: AtomicU64,
    tat: AtomicU64,
    /// Bumped by [`RateLimiter::set`]: leases of an older generation are void.
    generation: AtomicU32,
    /// Token leases per thread shard, allocated on first lease.
    leases: OnceLock<Leases>,
    /// The switches flag of the library this limiter belongs to, which a
    /// limit on it raises (null until [`RateLimiter::attach`]).
    owner: AtomicPtr<Switches>,
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
            enabled: AtomicBool::new(interval != 0),
            burst: AtomicU64::new(burst),
            tat: AtomicU64::new(0),
            generation: AtomicU32::new(0),
            leases: OnceLock::new(),
            owner: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Links the limiter to its library (`ServiceDef::prepare`, before
    /// the service's implementation is visible to calls): from here on a
    /// limit on it raises the library's switches flag.
    ///
    /// `attach` stores the owner and then reads `enabled`; [`RateLimiter::set`]
    /// stores `enabled` and then reads the owner; all four accesses are
    /// `SeqCst`, so at least one side sees the other's store (the Dekker
    /// argument): a limit switched on around the attachment raises the flag
    /// either way. A limit declared in the schema is on from the start, so
    /// `attach` raises the flag for it.
    pub(crate) fn attach(&self, switches: &'static Switches) {
        self.owner
            .store((switches as *const Switches).cast_mut(), Ordering::SeqCst);
        if self.enabled.load(Ordering::SeqCst) {
            switches.raise();
        }
    }

    /// Changes (or with `None` removes) the rate at run time; the state
    /// restarts full. An invalid rate (see [`RateLimit::validate`]) is refused
    /// with `INVALID_ARGUMENT` and leaves the limiter as it was.
    pub fn set(&self, limit: Option<RateLimit>) -> Result<(), ConfigError> {
        if let Some(l) = &limit {
            l.validate()?;
        }
        let fresh = RateLimiter::new(limit);
        self.interval_ns.store(0, Ordering::Relaxed);
        // Void every outstanding lease.
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.burst
            .store(fresh.burst.load(Ordering::Relaxed), Ordering::Relaxed);
        self.tat.store(0, Ordering::Relaxed);
        self.interval_ns
            .store(fresh.interval_ns.load(Ordering::Relaxed), Ordering::Release);
        self.enabled.store(limit.is_some(), Ordering::SeqCst);
        // See `attach`.
        let owner = self.owner.load(Ordering::SeqCst);
        if limit.is_some() && !owner.is_null() {
            // SAFETY: only `attach` stores it, from a `&'static Switches`.
            unsafe { &*owner }.raise();
        }
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
        self.enabled.load(Ordering::Relaxed)
    }

    /// Admits or refuses one call now: no clock read while disabled, the
    /// coarse clock first, the precise clock only to confirm a refusal (see
    /// the module docs for the tolerance).
    #[inline]
    pub fn admit(&self) -> Result<(), Rejected> {
        self.admit_with(
            crate::sys::clock::rate_coarse_ns,
            crate::sys::clock::rate_precise_ns,
        )
    }

    /// [`RateLimiter::admit`] for a call on `shard`: spends a token of the
    /// shard's lease when it has one, or takes a new lease when the burst
    /// allows (see the module docs), else admits exactly.
    #[inline(always)]
    pub fn admit_on(&self, shard: Shard) -> Result<(), Rejected> {
        // No limit set: one load, inlined into the guard (the rest is not).
        if self.interval_ns.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        self.admit_on_with(
            shard,
            crate::sys::clock::rate_coarse_ns,
            crate::sys::clock::rate_precise_ns,
        )
    }

    /// [`RateLimiter::admit_on`] with the two clocks given (tests inject them).
    ///
    /// A token from this thread's lease is taken inline (a few loads and a
    /// plain store); a new lease and exact admission are out of line.
    #[inline(always)]
    pub fn admit_on_with(
        &self,
        shard: Shard,
        coarse: impl FnOnce() -> u64,
        precise: impl FnOnce() -> u64,
    ) -> Result<(), Rejected> {
        let interval = self.interval_ns.load(Ordering::Acquire);
        if interval == 0 {
            return Ok(());
        }
        // A lease is only ever filled for an exclusive shard, with at least
        // two tokens (see `lease_size`), and a new rate voids it.
        if let (true, Some(leases)) = (shard.is_exclusive(), self.leases.get()) {
            let slot = leases.get(shard);
            let held = slot.load(Ordering::Relaxed);
            let generation = self.generation.load(Ordering::Relaxed);
            if held >> 32 == u64::from(generation) && held & 0xffff_ffff != 0 {
                // Only this thread writes its shard's slot: a plain store.
                slot.store(held - 1, Ordering::Relaxed);
                return Ok(());
            }
        }
        self.admit_on_slow(shard, interval, coarse, precise)
    }

    /// [`RateLimiter::admit_on_with`] without a token in this thread's
    /// lease.
    #[inline(never)]
    fn admit_on_slow(
        &self,
        shard: Shard,
        interval: u64,
        coarse: impl FnOnce() -> u64,
        precise: impl FnOnce() -> u64,
    ) -> Result<(), Rejected> {
        let burst = self.burst.load(Ordering::Relaxed);
        let lease = lease_size(burst);
        if lease < 2 || !shard.is_exclusive() {
            return self.admit_with(coarse, precise);
        }
        let generation = self.generation.load(Ordering::Relaxed);
        let slot = self
            .leases
            .get_or_init(|| Box::new(PerShard::new()))
            .get(shard);
        let held = slot.load(Ordering::Relaxed);
        if held >> 32 == u64::from(generation) && held & 0xffff_ffff != 0 {
            // Only this thread writes its shard's slot: a plain store.
            slot.store(held - 1, Ordering::Relaxed);
            return Ok(());
        }
        // A new lease, only while the bucket stays at least half full.
        let now = coarse();
        let tolerance = interval.saturating_mul(burst);
        if self.reserve(now, lease, interval, tolerance / 2) {
            slot.store(
                (u64::from(generation) << 32) | (lease - 1),
                Ordering::Relaxed,
            );
            return Ok(());
        }
        match self.check(now) {
            Ok(()) => Ok(()),
            Err(_) => self.check(precise()),
        }
    }

    /// Takes `n` tokens at `now` if at most `limit` ns of the tolerance is
    /// in use afterwards.
    fn reserve(&self, now: u64, n: u64, interval: u64, limit: u64) -> bool {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let new_tat = tat.max(now).saturating_add(interval.saturating_mul(n));
            if new_tat - now > limit {
                return false;
            }
            match self
                .tat
                .compare_exchange_weak(tat, new_tat, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(current) => tat = current,
            }
        }
    }

    /// [`RateLimiter::admit`] with the two clocks given (tests inject them).
    #[inline]
    pub fn admit_with(
        &self,
        coarse: impl FnOnce() -> u64,
        precise: impl FnOnce() -> u64,
    ) -> Result<(), Rejected> {
        if !self.is_enabled() {
            return Ok(());
        }
        match self.check(coarse()) {
            Ok(()) => Ok(()),
            Err(_) => self.check(precise()),
        }
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
mod tests;
