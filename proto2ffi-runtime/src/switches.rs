//! Whether any rate limiter or log sink has ever been switched on in this
//! copy of the runtime: one flag the fixed-layout lean path reads instead
//! of three (the library's log sink, the service's and the method's rate
//! limits), which it then reads only when the flag is up.
//!
//! The flag is sticky and conservative: raised by [`RateLimiter::set`] with
//! a limit, by [`Logs::set_sink`] with a sink, and by
//! [`ServiceDef::prepare`] for limits declared in the schema (the generated
//! `register_*` calls it before the implementation becomes visible, so no
//! call can reach a handler of a service whose declared limits the flag
//! does not cover). Never lowered: once up, calls just check each switch as
//! before. A flag read racing with the switching-on store is a call racing
//! with the configuration change, which either outcome serves.
//!
//! Each cdylib links its own copy of the runtime, so in practice the flag
//! covers one library; several libraries sharing a copy share it, which
//! only makes it more conservative.
//!
//! [`RateLimiter::set`]: crate::rate::RateLimiter::set
//! [`Logs::set_sink`]: crate::log::Logs::set_sink
//! [`ServiceDef::prepare`]: crate::library::ServiceDef::prepare

use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);

/// Raises the flag (before the switch itself is turned on).
pub(crate) fn raise() {
    if !ON.load(Ordering::Relaxed) {
        ON.store(true, Ordering::Relaxed);
    }
}

/// Whether some rate limiter or log sink may be on (`false`: none is).
#[inline(always)]
pub(crate) fn any_on() -> bool {
    ON.load(Ordering::Relaxed)
}
