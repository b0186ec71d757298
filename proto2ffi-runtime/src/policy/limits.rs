//! Request and response byte limits, resolved method → service → library →
//! default.
//!
//! Defaults: 4 MiB for requests (gRPC's default receive limit) and 4 MiB for
//! responses. Each level can be set by attribute arguments (the initial
//! values of the statics the macros emit) and changed at run time; `0` at a
//! level inherits from the level above (at the library level: the default).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Default request limit: 4 MiB.
pub(crate) const DEFAULT_MAX_REQUEST_BYTES: usize = 4 << 20;
/// Default response limit: 4 MiB.
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 << 20;
/// Default budget for the estimated memory a decoded request takes: 64 MiB
/// (16× the default request limit; see [`crate::policy::shape`]).
pub(crate) const DEFAULT_MAX_DECODED_BYTES: usize = 64 << 20;

/// Byte limits at one level. `0` means "inherit from the level above".
#[derive(Debug)]
pub struct Limits {
    max_request: AtomicUsize,
    max_response: AtomicUsize,
    max_decoded: AtomicUsize,
}

impl Limits {
    /// Limits with initial values (`0` inherits).
    pub const fn new(max_request: usize, max_response: usize) -> Limits {
        Limits {
            max_request: AtomicUsize::new(max_request),
            max_response: AtomicUsize::new(max_response),
            max_decoded: AtomicUsize::new(0),
        }
    }

    /// Limits that inherit everything.
    pub const fn inherit() -> Limits {
        Limits::new(0, 0)
    }

    /// Sets the request limit (`0` inherits).
    pub fn set_max_request_bytes(&self, bytes: usize) {
        self.max_request.store(bytes, Ordering::Relaxed);
    }

    /// Sets the response limit (`0` inherits).
    pub fn set_max_response_bytes(&self, bytes: usize) {
        self.max_response.store(bytes, Ordering::Relaxed);
    }

    /// Sets the budget for a request's estimated decoded size (`0` inherits;
    /// see `crate::policy::shape`).
    pub fn set_max_decoded_bytes(&self, bytes: usize) {
        self.max_decoded.store(bytes, Ordering::Relaxed);
    }

    /// The decoded-size budget set at this level (`0` = inherit).
    #[inline]
    pub fn max_decoded_bytes(&self) -> usize {
        self.max_decoded.load(Ordering::Relaxed)
    }

    /// The request limit set at this level (`0` = inherit).
    #[inline]
    pub fn max_request_bytes(&self) -> usize {
        self.max_request.load(Ordering::Relaxed)
    }

    /// The response limit set at this level (`0` = inherit).
    #[inline]
    pub fn max_response_bytes(&self) -> usize {
        self.max_response.load(Ordering::Relaxed)
    }
}

/// The effective request limit: the first level that sets one, else the default.
#[inline]
pub(crate) fn effective_request(method: &Limits, service: &Limits, library: &Limits) -> usize {
    first_set([
        method.max_request_bytes(),
        service.max_request_bytes(),
        library.max_request_bytes(),
    ])
    .unwrap_or(DEFAULT_MAX_REQUEST_BYTES)
}

/// The effective response limit: the first level that sets one, else the default.
#[inline]
pub(crate) fn effective_response(method: &Limits, service: &Limits, library: &Limits) -> usize {
    first_set([
        method.max_response_bytes(),
        service.max_response_bytes(),
        library.max_response_bytes(),
    ])
    .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES)
}

/// The effective decoded-size budget: the first level that sets one, else the default.
#[inline]
pub(crate) fn effective_decoded(method: &Limits, service: &Limits, library: &Limits) -> usize {
    first_set([
        method.max_decoded_bytes(),
        service.max_decoded_bytes(),
        library.max_decoded_bytes(),
    ])
    .unwrap_or(DEFAULT_MAX_DECODED_BYTES)
}

#[inline]
fn first_set(levels: [usize; 3]) -> Option<usize> {
    levels.into_iter().find(|&l| l != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_order() {
        let (m, s, l) = (Limits::inherit(), Limits::new(100, 0), Limits::inherit());
        assert_eq!(effective_request(&m, &s, &l), 100);
        assert_eq!(effective_response(&m, &s, &l), DEFAULT_MAX_RESPONSE_BYTES);
        l.set_max_response_bytes(7);
        assert_eq!(effective_response(&m, &s, &l), 7);
        m.set_max_request_bytes(10);
        assert_eq!(effective_request(&m, &s, &l), 10);
        m.set_max_request_bytes(0);
        assert_eq!(effective_request(&m, &s, &l), 100);
    }
}
