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
mod tests;
