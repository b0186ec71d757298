//! The `tracing` subscriber of one library's log sink: filters, keeps the
//! fields of live spans, and turns each enabled event into a record on the
//! library's queue.
//!
//! It does what the sink needs and no more (no span timings, no layers):
//! spans are a map from id to their formatted fields and parent, kept while
//! a handle or a child is alive; each thread keeps the stack of spans it
//! entered, per subscriber, so two libraries in one process never see each
//! other's spans. (It replaced `tracing-subscriber`'s registry, filter and
//! layer stack: 34 KiB less in every library.)

use super::filter::Filter;
use super::{level_number, OwnedRecord, Shared};
use parking_lot::{Mutex, RwLock};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;

/// Message and `key=value` fields of an event or span.
#[derive(Default)]
struct Fields {
    message: String,
    fields: String,
}

impl Fields {
    fn field(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if field.name() == "message" {
            let _ = self.message.write_fmt(value);
        } else if !field.name().starts_with("log.") {
            // `log` records carry their real target and level in `log.*`.
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value}", field.name());
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, format_args!("{value}"));
    }
}

/// A live span: its fields, formatted once, and its parent.
struct Span {
    fields: String,
    parent: Option<u64>,
    meta: &'static Metadata<'static>,
    /// Handles to it plus children alive.
    refs: usize,
}

thread_local! {
    /// Spans this thread entered and has not exited: `(subscriber, span)`.
    static ENTERED: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Tells subscribers apart in [`ENTERED`] (addresses could be reused).
static NEXT_SUBSCRIBER: AtomicU64 = AtomicU64::new(1);

/// One library's subscriber (see the module docs).
pub(crate) struct QueueSubscriber {
    /// This subscriber in [`ENTERED`].
    uid: u64,
    filter: Arc<RwLock<Filter>>,
    shared: Arc<Shared>,
    spans: Mutex<HashMap<u64, Span>>,
    next_span: AtomicU64,
}

impl QueueSubscriber {
    pub(crate) fn new(filter: Arc<RwLock<Filter>>, shared: Arc<Shared>) -> QueueSubscriber {
        QueueSubscriber {
            uid: NEXT_SUBSCRIBER.fetch_add(1, Ordering::Relaxed),
            filter,
            shared,
            spans: Mutex::new(HashMap::new()),
            next_span: AtomicU64::new(1),
        }
    }

    /// The innermost span this thread entered through this subscriber.
    fn current(&self) -> Option<u64> {
        ENTERED
            .try_with(|e| {
                e.borrow()
                    .iter()
                    .rev()
                    .find(|(s, _)| *s == self.uid)
                    .map(|(_, id)| *id)
            })
            .ok()
            .flatten()
    }

    /// The parent of a new span or event: the current span when contextual,
    /// else the explicit one (`None`: a root).
    fn parent(&self, contextual: bool, explicit: Option<&Id>) -> Option<u64> {
        if contextual {
            self.current()
        } else {
            explicit.map(Id::into_u64)
        }
    }

    /// The fields of `span` and its ancestors, outermost first.
    fn scope_fields(&self, span: Option<u64>) -> String {
        let spans = self.spans.lock();
        let mut chain = Vec::new();
        let mut next = span;
        while let Some(span) = next.and_then(|id| spans.get(&id)) {
            if !span.fields.is_empty() {
                chain.push(span.fields.as_str());
            }
            next = span.parent;
        }
        chain.reverse();
        chain.join(" ")
    }

    /// Drops one reference to `id`; when none is left, forgets it and
    /// drops its reference to its parent (and so on up). Returns whether
    /// `id` was closed.
    fn release(&self, id: u64) -> bool {
        let mut spans = self.spans.lock();
        let mut next = Some(id);
        let mut closed = false;
        while let Some(this) = next.take() {
            let Some(span) = spans.get_mut(&this) else {
                break;
            };
            span.refs -= 1;
            if span.refs > 0 {
                break;
            }
            closed |= this == id;
            next = spans.remove(&this).and_then(|s| s.parent);
        }
        closed
    }
}

impl Subscriber for QueueSubscriber {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        // Rebuilt when the filter changes (`Logs::set_filter`).
        if self.filter.read().enables(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.filter.read().max_level())
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        self.filter.read().enables(meta)
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut f = Fields::default();
        attrs.record(&mut f);
        let parent = self.parent(attrs.is_contextual(), attrs.parent());
        let id = self.next_span.fetch_add(1, Ordering::Relaxed);
        let mut spans = self.spans.lock();
        // The child keeps its parent's fields alive.
        let parent = parent.filter(|p| match spans.get_mut(p) {
            Some(span) => {
                span.refs += 1;
                true
            }
            None => false,
        });
        spans.insert(
            id,
            Span {
                fields: f.fields,
                parent,
                meta: attrs.metadata(),
                refs: 1,
            },
        );
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut f = Fields::default();
        values.record(&mut f);
        if let Some(span) = self.spans.lock().get_mut(&span.into_u64()) {
            if !f.fields.is_empty() {
                if !span.fields.is_empty() {
                    span.fields.push(' ');
                }
                span.fields.push_str(&f.fields);
            }
        }
    }

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if self.shared.queue.is_full() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let parent = self.parent(event.is_contextual(), event.parent());
        let mut fields = self.scope_fields(parent);
        if !f.fields.is_empty() {
            if !fields.is_empty() {
                fields.push(' ');
            }
            fields.push_str(&f.fields);
        }
        // `log` records carry their real target and level in `log.*` fields.
        let normalized = tracing_log::NormalizeEvent::normalized_metadata(event);
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let record = OwnedRecord::new(
            level_number(meta.level()),
            meta.target(),
            &f.message,
            &fields,
        );
        if self.shared.queue.push(record).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        } else if let Some(worker) = self.shared.worker.get() {
            worker.unpark();
        }
    }

    fn enter(&self, span: &Id) {
        let _ = ENTERED.try_with(|e| e.borrow_mut().push((self.uid, span.into_u64())));
    }

    fn exit(&self, span: &Id) {
        let entry = (self.uid, span.into_u64());
        let _ = ENTERED.try_with(|e| {
            let mut e = e.borrow_mut();
            if let Some(i) = e.iter().rposition(|x| *x == entry) {
                e.remove(i);
            }
        });
    }

    fn clone_span(&self, span: &Id) -> Id {
        if let Some(s) = self.spans.lock().get_mut(&span.into_u64()) {
            s.refs += 1;
        }
        span.clone()
    }

    fn try_close(&self, span: Id) -> bool {
        self.release(span.into_u64())
    }

    fn current_span(&self) -> Current {
        match self.current() {
            Some(id) => match self.spans.lock().get(&id) {
                Some(span) => Current::new(Id::from_u64(id), span.meta),
                None => Current::none(),
            },
            None => Current::none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_queue::ArrayQueue;
    use tracing::Dispatch;

    struct Harness {
        shared: Arc<Shared>,
        filter: Arc<RwLock<Filter>>,
        dispatch: Dispatch,
    }

    fn harness(filter: &str) -> Harness {
        // As `Logs::active`: interest is judged by every dispatcher.
        super::super::keep_interest_global();
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(16),
            dropped: AtomicU64::new(0),
            sink: parking_lot::ReentrantMutex::new(std::cell::Cell::new(None)),
            worker: std::sync::OnceLock::new(),
        });
        let filter = Arc::new(RwLock::new(Filter::parse(filter).unwrap()));
        let dispatch = Dispatch::new(QueueSubscriber::new(filter.clone(), shared.clone()));
        Harness {
            shared,
            filter,
            dispatch,
        }
    }

    impl Harness {
        /// `(level, target, message, fields)` of every queued record.
        fn drain(&self) -> Vec<(i32, String, String, String)> {
            let text = |p: *const std::ffi::c_char| {
                // SAFETY: records hold NUL-terminated strings they own.
                unsafe { std::ffi::CStr::from_ptr(p) }
                    .to_string_lossy()
                    .into_owned()
            };
            std::iter::from_fn(|| self.shared.queue.pop())
                .map(|r| {
                    let r = &r.record;
                    (r.level, text(r.target), text(r.message), text(r.fields))
                })
                .collect()
        }

        fn live_spans(&self) -> usize {
            self.dispatch
                .downcast_ref::<QueueSubscriber>()
                .unwrap()
                .spans
                .lock()
                .len()
        }
    }

    #[test]
    fn events_carry_their_spans_fields_outermost_first() {
        let h = harness("trace");
        tracing::dispatcher::with_default(&h.dispatch, || {
            let outer = tracing::info_span!("call", service = "S", method = "m");
            let _o = outer.enter();
            let inner = tracing::debug_span!("step", n = 2, late = tracing::field::Empty);
            inner.record("late", "yes");
            inner.in_scope(|| tracing::info!(user = 7, "hello {}", "there"));
            tracing::warn!("outside the inner span");
            // An explicit parent, and an explicit root.
            tracing::error!(parent: &inner, "to the inner span");
            tracing::error!(parent: None, "no span");
        });
        let seen = h.drain();
        let target = module_path!();
        assert_eq!(
            seen,
            vec![
                (
                    3,
                    target.into(),
                    "hello there".into(),
                    "service=S method=m n=2 late=yes user=7".into()
                ),
                (
                    2,
                    target.into(),
                    "outside the inner span".into(),
                    "service=S method=m".into()
                ),
                (
                    1,
                    target.into(),
                    "to the inner span".into(),
                    "service=S method=m n=2 late=yes".into()
                ),
                (1, target.into(), "no span".into(), String::new()),
            ]
        );
        assert_eq!(h.live_spans(), 0, "closed spans are forgotten");
    }

    #[test]
    fn a_parent_lives_as_long_as_its_children() {
        let h = harness("info");
        let child = tracing::dispatcher::with_default(&h.dispatch, || {
            let parent = tracing::info_span!("parent", p = 1);
            let child = parent.in_scope(|| tracing::info_span!("child", c = 2));
            drop(parent);
            child
        });
        assert_eq!(h.live_spans(), 2);
        tracing::dispatcher::with_default(&h.dispatch, || {
            child.in_scope(|| tracing::info!("late"));
        });
        assert_eq!(h.drain()[0].3, "p=1 c=2");
        let clone = child.clone();
        drop(child);
        assert_eq!(h.live_spans(), 2);
        drop(clone);
        assert_eq!(h.live_spans(), 0);
    }

    #[test]
    fn two_libraries_on_one_thread_keep_their_spans_apart() {
        let (a, b) = (harness("info"), harness("info"));
        tracing::dispatcher::with_default(&a.dispatch, || {
            let span = tracing::info_span!("call", lib = "a");
            let _a = span.enter();
            tracing::dispatcher::with_default(&b.dispatch, || {
                tracing::info!("in b while a's span is entered");
                let span = tracing::info_span!("call", lib = "b");
                let _b = span.enter();
                tracing::info!("in b's span");
            });
            tracing::info!("back in a");
        });
        let b_seen: Vec<String> = b.drain().into_iter().map(|r| r.3).collect();
        assert_eq!(b_seen, vec![String::new(), "lib=b".to_string()]);
        assert_eq!(a.drain()[0].3, "lib=a");
    }

    #[test]
    fn the_filter_applies_and_a_change_reaches_cached_callsites() {
        let h = harness("warn");
        let emit = |n: u32| {
            tracing::dispatcher::with_default(&h.dispatch, || {
                tracing::info!(n, "info");
                tracing::warn!(n, "warn");
            })
        };
        emit(1);
        *h.filter.write() = Filter::parse("info").unwrap();
        tracing::callsite::rebuild_interest_cache();
        emit(2);
        let seen: Vec<(String, String)> = h.drain().into_iter().map(|r| (r.2, r.3)).collect();
        assert_eq!(
            seen,
            [("warn", "n=1"), ("info", "n=2"), ("warn", "n=2")]
                .map(|(m, f)| (m.to_string(), f.to_string()))
        );
    }

    /// A field whose `Debug` logs, in a span and an event and a recorded
    /// value: the subscriber runs user code holding no lock, so nothing
    /// deadlocks (a lock held across `record` would, on the last line).
    struct Chatty;

    impl std::fmt::Debug for Chatty {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            tracing::info!("from Debug");
            f.write_str("chatty")
        }
    }

    #[test]
    fn formatting_a_field_may_log() {
        let h = harness("info");
        tracing::dispatcher::with_default(&h.dispatch, || {
            let span = tracing::info_span!("call", c = ?Chatty);
            let _e = span.enter();
            tracing::info!(c = ?Chatty, "outer");
            span.record("c", tracing::field::debug(Chatty));
        });
        let seen: Vec<(String, String)> = h.drain().into_iter().map(|r| (r.2, r.3)).collect();
        // tracing-core drops what is logged while this thread is already
        // inside the dispatcher (the `Debug` of a new span's or an event's
        // fields); `Span::record` is not dispatched that way, so the record
        // logged from its `Debug` arrives, inside the span.
        assert_eq!(
            seen,
            [("outer", "c=chatty c=chatty"), ("from Debug", "c=chatty")]
                .map(|(m, f)| (m.to_string(), f.to_string()))
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let h = harness("info");
        tracing::dispatcher::with_default(&h.dispatch, || {
            for i in 0..20 {
                tracing::info!(i, "flood");
            }
        });
        assert_eq!(h.drain().len(), 16);
        assert_eq!(h.shared.dropped.load(Ordering::Relaxed), 4);
    }
}
