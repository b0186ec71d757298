//! Panics at the boundary: their text, dropping payloads without a second
//! unwind, the panic hook that keeps panics inside a guarded call off
//! stderr (they are reported through the library's logs instead, with a
//! location, a backtrace when enabled, and an incident id), and incident ids.

use crate::sys::thread::ThreadState;
use std::any::Any;
use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a panic inside a guarded call happened (from the panic hook).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// `file:line:column`.
    pub location: String,
    /// The symbolized backtrace, when `RUST_BACKTRACE`/`RUST_LIB_BACKTRACE`
    /// enable one and std could name at least one frame.
    pub backtrace: Option<String>,
    /// The stack's return addresses as `module+0xoffset` (`crate::error::frames`),
    /// always: what symbolizes offline against the unstripped library.
    pub frames: Option<String>,
}

thread_local! {
    static LAST: RefCell<Option<Report>> = const { RefCell::new(None) };
}

/// Marks the current thread as inside a guarded call while it lives.
pub struct GuardScope<'t> {
    thread: Option<&'t ThreadState>,
    capture: bool,
}

impl<'t> GuardScope<'t> {
    /// Enters (nests) on `thread` (this thread's state; `None` during thread
    /// teardown, when panics are not reported). With `capture`, a panic's
    /// location and backtrace are kept for the logs (only worth it when the
    /// library has a log sink).
    #[inline]
    pub fn enter(thread: Option<&'t ThreadState>, capture: bool) -> GuardScope<'t> {
        let previous = thread.is_some_and(|t| {
            t.in_guard.set(t.in_guard.get() + 1);
            t.capture.replace(capture)
        });
        GuardScope {
            thread,
            capture: previous,
        }
    }
}

impl Drop for GuardScope<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(t) = self.thread {
            t.in_guard.set(t.in_guard.get().saturating_sub(1));
            t.capture.set(self.capture);
        }
    }
}

/// Marks the current thread as inside a guarded call, without touching the
/// capture flag: for calls made while their library has no log sink, where
/// nothing would read a report. (An enclosing call's flag stays as it is;
/// a report it asks for is taken by the inner call's panic handling and
/// logged through the enclosing call's dispatcher.)
pub struct InGuard<'t>(&'t ThreadState);

impl<'t> InGuard<'t> {
    /// Enters (nests) on `thread`.
    #[inline(always)]
    pub fn enter(thread: &'t ThreadState) -> InGuard<'t> {
        thread.in_guard.set(thread.in_guard.get().wrapping_add(1));
        InGuard(thread)
    }
}

impl Drop for InGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // At least one: this guard's own increment.
        let t = self.0;
        t.in_guard.set(t.in_guard.get().wrapping_sub(1));
    }
}

/// The report the hook kept for the last panic on this thread, if any.
pub fn take_report() -> Option<Report> {
    LAST.try_with(|l| l.borrow_mut().take()).ok().flatten()
}

/// Installs, once per process, a panic hook that records panics inside
/// guarded calls for the library's logs instead of printing them, and hands
/// every other panic to the hook that was installed before (the default one,
/// or the host's). A hook the host installs later replaces it (its choice).
pub fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let (inside, capture) = crate::sys::thread::with(|t| {
                t.map_or((false, false), |t| (t.in_guard.get() > 0, t.capture.get()))
            });
            if !inside {
                return previous(info);
            }
            if !capture {
                // Nobody will read a report: stay quiet and cheap.
                return;
            }
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            let frames = crate::error::frames::capture();
            let bt = std::backtrace::Backtrace::capture();
            // Without its symbolizer (std built without `backtrace`, the
            // size profile) std names no frame: `frames` says more then.
            let backtrace = (bt.status() == std::backtrace::BacktraceStatus::Captured)
                .then(|| bt.to_string())
                .filter(|text| names_a_frame(text));
            let _ = LAST.try_with(|l| {
                if let Ok(mut l) = l.try_borrow_mut() {
                    *l = Some(Report {
                        location,
                        backtrace,
                        frames,
                    });
                }
            });
        }));
    });
}

/// Whether a printed std backtrace names any frame (each frame's line is
/// `N: <name>`; an unsymbolized one reads `N: <unknown>`).
fn names_a_frame(backtrace: &str) -> bool {
    backtrace.lines().any(|line| {
        line.trim_start()
            .split_once(": ")
            .is_some_and(|(n, name)| n.parse::<u32>().is_ok() && name != "<unknown>")
    })
}

/// A short, unguessable id for an incident (8 hex digits) that appears both
/// in the status the caller gets and in the log record, so support can
/// correlate them.
pub fn incident_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    let mut h = SEED.get_or_init(std::hash::RandomState::new).build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:08x}", h.finish() as u32)
}

/// Extracts the text of a panic payload and drops the payload without
/// letting a panicking `Drop` escape.
pub fn message(payload: Box<dyn Any + Send>) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    };
    drop_quietly(payload);
    text
}

/// Drops a payload; a payload whose `Drop` panics again is leaked rather than
/// risk a third panic (string payloads drop safely).
pub fn drop_quietly(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        if again.is::<&'static str>() || again.is::<String>() {
            drop(again);
        } else {
            std::mem::forget(again);
        }
    }
}

#[cfg(test)]
mod report_tests {
    use super::names_a_frame;

    #[test]
    fn an_unsymbolized_backtrace_names_no_frame() {
        let unsymbolized = "   0: <unknown>\n   1: <unknown>\n   2: <unknown>\n";
        assert!(!names_a_frame(unsymbolized));
        assert!(!names_a_frame(""));
        let symbolized = "   0: <unknown>\n   1: my_lib::handler\n             at src/lib.rs:3:5\n";
        assert!(names_a_frame(symbolized));
    }
}
