//! The process-wide deadline timer: one thread, an ordered map of weak
//! references to whatever has a deadline (async calls, calls into the
//! host), each removed by its owner when it finishes first, so a finished
//! call's memory is not held until its deadline would have passed.
//!
//! Independent of the executor: a deadline fires even when the library's
//! executor is busy or the call never reached it.

use parking_lot::{Condvar, Mutex};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

/// Something the timer finishes when its deadline passes.
pub(crate) trait Expire: Send + Sync {
    /// The deadline passed: finish (exactly-once rules are the owner's).
    /// Called on the timer thread, with no timer lock held.
    fn expire(&self);
}

struct Timer {
    entries: Mutex<BTreeMap<(Instant, usize), Weak<dyn Expire>>>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            entries: Mutex::new(BTreeMap::new()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("proto2ffi-deadlines".into())
            .spawn(move || timer.run())
            .expect("proto2ffi: could not start the deadline thread");
        timer
    })
}

/// The entry's key: the deadline, then the owner's address (unique while
/// the entry holds a weak reference to it).
fn key<T: ?Sized>(owner: &T, at: Instant) -> (Instant, usize) {
    (at, owner as *const T as *const () as usize)
}

/// Calls `owner.expire()` at `at` unless [`remove`]d first.
pub(crate) fn add<T: Expire + 'static>(at: Instant, owner: &Arc<T>) {
    let t = timer();
    let weak: Weak<dyn Expire> = Arc::downgrade(owner) as Weak<dyn Expire>;
    let mut entries = t.entries.lock();
    let earliest = entries.first_key_value().is_none_or(|(k, _)| at < k.0);
    entries.insert(key(&**owner, at), weak);
    if earliest {
        t.changed.notify_one();
    }
}

/// Forgets `owner`'s deadline `at` (it finished first).
pub(crate) fn remove<T: ?Sized>(owner: &T, at: Instant) {
    timer().entries.lock().remove(&key(owner, at));
}

/// Deadlines the timer holds that fall after `after` (tests: the timer is
/// shared by every test of the process, so each looks at its own range).
#[cfg(test)]
pub(crate) fn pending_after(after: Instant) -> usize {
    timer()
        .entries
        .lock()
        .keys()
        .filter(|(at, _)| *at > after)
        .count()
}

impl Timer {
    fn run(&self) {
        let mut entries = self.entries.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            while entries.first_key_value().is_some_and(|(k, _)| k.0 <= now) {
                due.push(entries.pop_first().expect("peeked").1);
            }
            if !due.is_empty() {
                drop(entries);
                for owner in due.iter().filter_map(Weak::upgrade) {
                    // An owner's panic must not stop every later deadline.
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| owner.expire()))
                            .map_err(crate::error::panic::drop_quietly);
                }
                entries = self.entries.lock();
                continue;
            }
            match entries.first_key_value().map(|(k, _)| k.0) {
                Some(at) => {
                    self.changed.wait_until(&mut entries, at);
                }
                None => self.changed.wait(&mut entries),
            }
        }
    }
}
