//! A library's tables of calls in flight: async calls and streams, and
//! calls into the host's implementations.
//!
//! The table is the library's (ids, lookups, and shutdown's closing: once
//! closed it refuses new entries and every entry in it was ended); what an
//! entry is, and how it ends, is the call layer's, behind [`LiveEntry`].
//! Lookups hand the call layer its own type back ([`LiveTable::get`]).
//! [`Seen`] keeps the host services a library has used, typed the same way.

use crate::Status;
use parking_lot::Mutex;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A call in a [`LiveTable`]: how the library ends it.
pub(crate) trait LiveEntry: Any + Send + Sync {
    /// Ends it because its library shut down; whether this ended it.
    fn shut_down(&self) -> bool;

    /// Ends it with `status` (its caller cancelled it); whether this ended
    /// it.
    fn cancel(&self, status: Status) -> bool;
}

/// Entries in flight by id, and whether shutdown closed the table.
pub(crate) struct LiveTable {
    next_id: AtomicU64,
    live: Mutex<BTreeMap<u64, Arc<dyn LiveEntry>>>,
    /// Set (under `live`'s lock) by [`LiveTable::close`]: an entry made
    /// before shutdown but inserted after its scan is refused at insertion
    /// instead of running on unseen.
    closed: AtomicBool,
}

impl std::fmt::Debug for LiveTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTable")
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Default for LiveTable {
    fn default() -> Self {
        LiveTable::new()
    }
}

impl LiveTable {
    /// An empty, open table.
    pub(crate) const fn new() -> LiveTable {
        LiveTable {
            next_id: AtomicU64::new(1),
            live: Mutex::new(BTreeMap::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// A fresh id (never 0).
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Inserts `entry` under `id`, running `counted` under the table's lock
    /// first (what must be true before anyone can find, and so end, the
    /// entry). `false`, with nothing run or inserted, once closed.
    pub(crate) fn insert(
        &self,
        id: u64,
        entry: Arc<dyn LiveEntry>,
        counted: impl FnOnce(),
    ) -> bool {
        let mut live = self.live.lock();
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        counted();
        live.insert(id, entry);
        true
    }

    /// The entry `id` as the call layer's type `T`, when it is live and is
    /// one.
    pub(crate) fn get<T: LiveEntry>(&self, id: u64) -> Option<Arc<T>> {
        let entry = self.live.lock().get(&id)?.clone();
        let entry: Arc<dyn Any + Send + Sync> = entry;
        entry.downcast().ok()
    }

    /// Removes the entry `id`; whether it was there (the one remover wins).
    pub(crate) fn remove(&self, id: u64) -> bool {
        self.live.lock().remove(&id).is_some()
    }

    /// Entries in flight.
    pub(crate) fn len(&self) -> usize {
        self.live.lock().len()
    }

    /// The live entries of type `T` that `keep` selects, taken out of the
    /// lock (to end them, which removes them).
    pub(crate) fn select<T: LiveEntry>(&self, keep: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        let entries: Vec<Arc<dyn LiveEntry>> = self.live.lock().values().cloned().collect();
        entries
            .into_iter()
            .filter_map(|e| {
                let e: Arc<dyn Any + Send + Sync> = e;
                e.downcast::<T>().ok()
            })
            .filter(|e| keep(e))
            .collect()
    }

    /// Cancels the entry `id` with `status`; whether it was live and this
    /// ended it.
    pub(crate) fn cancel(&self, id: u64, status: Status) -> bool {
        let entry = self.live.lock().get(&id).cloned();
        entry.is_some_and(|e| e.cancel(status))
    }

    /// Shutdown's last word: refuses every later insertion until
    /// [`LiveTable::reopen`] and ends every live entry; returns how many
    /// this ended.
    pub(crate) fn close(&self) -> usize {
        let entries: Vec<Arc<dyn LiveEntry>> = {
            let live = self.live.lock();
            self.closed.store(true, Ordering::Release);
            live.values().cloned().collect()
        };
        entries.into_iter().filter(|e| e.shut_down()).count()
    }

    /// Whether shutdown closed the table (and it was not reopened).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Accepts insertions again (the library resumed).
    pub(crate) fn reopen(&self) {
        let _live = self.live.lock();
        self.closed.store(false, Ordering::Release);
    }
}

/// Static definitions of the layer above that a library has seen used,
/// in the order first seen (the host services it bound or called, for its
/// metrics). Each is pushed once by its definition.
pub(crate) struct Seen {
    items: Mutex<Vec<&'static (dyn Any + Sync)>>,
}

impl Seen {
    /// Nothing seen.
    pub(crate) const fn new() -> Seen {
        Seen {
            items: Mutex::new(Vec::new()),
        }
    }

    /// Records `item` (its definition pushes it once).
    pub(crate) fn push(&self, item: &'static (dyn Any + Sync)) {
        self.items.lock().push(item);
    }

    /// Everything seen of type `T`.
    pub(crate) fn all<T: Any + Sync>(&self) -> Vec<&'static T> {
        self.items
            .lock()
            .iter()
            .filter_map(|item| {
                let item: &'static (dyn Any + Sync) = *item;
                (item as &dyn Any).downcast_ref::<T>()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// An entry that removes itself when ended, as the call layer's do.
    struct Entry {
        id: u64,
        table: &'static LiveTable,
        ended: AtomicUsize,
    }

    impl Entry {
        fn end(&self) -> bool {
            let won = self.table.remove(self.id);
            if won {
                self.ended.fetch_add(1, Ordering::Relaxed);
            }
            won
        }
    }

    impl LiveEntry for Entry {
        fn shut_down(&self) -> bool {
            self.end()
        }
        fn cancel(&self, _: Status) -> bool {
            self.end()
        }
    }

    /// Another entry type: lookups for `Entry` never return it.
    struct Other;
    impl LiveEntry for Other {
        fn shut_down(&self) -> bool {
            false
        }
        fn cancel(&self, _: Status) -> bool {
            false
        }
    }

    fn entry(table: &'static LiveTable) -> Arc<Entry> {
        Arc::new(Entry {
            id: table.next_id(),
            table,
            ended: AtomicUsize::new(0),
        })
    }

    #[test]
    fn lookups_return_the_callers_type_and_only_it() {
        static TABLE: LiveTable = LiveTable::new();
        let e = entry(&TABLE);
        assert!(TABLE.insert(e.id, e.clone(), || {}));
        let other = TABLE.next_id();
        assert!(TABLE.insert(other, Arc::new(Other), || {}));
        assert!(Arc::ptr_eq(&TABLE.get::<Entry>(e.id).unwrap(), &e));
        assert!(TABLE.get::<Entry>(other).is_none());
        assert!(TABLE.get::<Other>(other).is_some());
        assert_eq!(TABLE.select::<Entry>(|_| true).len(), 1);
        assert_eq!(TABLE.len(), 2);
        assert!(TABLE.cancel(e.id, Status::cancelled("x")));
        assert!(!TABLE.cancel(e.id, Status::cancelled("x")), "ended once");
        assert_eq!(e.ended.load(Ordering::Relaxed), 1);
        assert!(TABLE.remove(other));
        assert_eq!(TABLE.len(), 0);
    }

    #[test]
    fn seen_items_come_back_by_type_in_order() {
        static SEEN: Seen = Seen::new();
        static A: u32 = 1;
        static B: &str = "b";
        static C: u32 = 3;
        SEEN.push(&A);
        SEEN.push(&B);
        SEEN.push(&C);
        assert_eq!(SEEN.all::<u32>(), [&1, &3]);
        assert_eq!(SEEN.all::<&str>(), [&"b"]);
        assert!(SEEN.all::<u64>().is_empty());
    }

    #[test]
    fn a_closed_table_refuses_and_ends_everything_once() {
        static TABLE: LiveTable = LiveTable::new();
        let entries: Vec<Arc<Entry>> = (0..8).map(|_| entry(&TABLE)).collect();
        for e in &entries {
            assert!(TABLE.insert(e.id, e.clone(), || {}));
        }
        // Cancellations race the close: each entry ends exactly once.
        let ended = std::thread::scope(|s| {
            let cancels = s.spawn(|| {
                entries
                    .iter()
                    .filter(|e| TABLE.cancel(e.id, Status::cancelled("x")))
                    .count()
            });
            let closed = TABLE.close();
            closed + cancels.join().unwrap()
        });
        assert_eq!(ended, 8);
        assert!(entries.iter().all(|e| e.ended.load(Ordering::Relaxed) == 1));
        assert!(TABLE.is_closed());
        let late = entry(&TABLE);
        let mut counted = false;
        assert!(!TABLE.insert(late.id, late.clone(), || counted = true));
        assert!(!counted, "nothing runs for a refused insertion");
        TABLE.reopen();
        assert!(TABLE.insert(late.id, late.clone(), || counted = true));
        assert!(counted);
        assert_eq!(TABLE.close(), 1);
    }
}
