//! Whether any rate limit or log sink has ever been switched on in one
//! library: one flag the fixed-layout lean path reads instead of three (the
//! library's log sink, the service's and the method's rate limits), which
//! it then reads only when the flag is up.
//!
//! Each [`Library`] holds its own (two libraries linked into one artifact
//! share nothing here). The flag is sticky and conservative: raised by
//! [`Library::set_log_sink`] with a sink, and by a rate limit of one of the
//! library's services or methods being on — declared in the schema or set
//! at run time (see [`RateLimiter::attach`] for how a limiter finds its
//! library). Never lowered: once up, calls just check each switch as
//! before.
//!
//! [`Library`]: crate::library::def::Library
//! [`Library::set_log_sink`]: crate::library::def::Library::set_log_sink
//! [`RateLimiter::attach`]: crate::policy::rate::RateLimiter

use std::sync::atomic::{AtomicBool, Ordering};

/// The flag.
#[derive(Debug)]
pub(crate) struct Switches(AtomicBool);

impl Switches {
    /// Down.
    pub(crate) const fn new() -> Switches {
        Switches(AtomicBool::new(false))
    }

    /// Raises the flag (before the switch itself takes effect, or, for a
    /// limiter, with the ordering [`crate::policy::rate`] describes).
    pub(crate) fn raise(&self) {
        if !self.0.load(Ordering::Relaxed) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Whether some rate limit or log sink of the library may be on
    /// (`false`: none is).
    #[inline(always)]
    pub(crate) fn any_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
