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
