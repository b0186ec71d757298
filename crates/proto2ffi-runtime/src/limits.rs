//! Request and response byte limits, resolved method → service → global.
//!
//! Defaults: 4 MiB for requests (gRPC's default receive limit) and 4 MiB for
//! responses. Each level can be set by attribute arguments (the initial
//! values of the statics the macro emits) and changed at run time.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Default request limit: 4 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 << 20;
/// Default response limit: 4 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 << 20;

/// Byte limits at one level. `0` means "inherit from the level above".
#[derive(Debug)]
pub struct Limits {
    max_request: AtomicUsize,
    max_response: AtomicUsize,
}

static GLOBAL: Limits = Limits::new(DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_RESPONSE_BYTES);

impl Limits {
    /// Limits with initial values (`0` inherits).
    pub const fn new(max_request: usize, max_response: usize) -> Limits {
        Limits {
            max_request: AtomicUsize::new(max_request),
            max_response: AtomicUsize::new(max_response),
        }
    }

    /// Limits that inherit everything.
    pub const fn inherit() -> Limits {
        Limits::new(0, 0)
    }

    /// The library-wide limits.
    pub fn global() -> &'static Limits {
        &GLOBAL
    }

    /// Sets the request limit (`0` inherits; at the global level it restores the default).
    pub fn set_max_request_bytes(&self, bytes: usize) {
        let bytes = if bytes == 0 && std::ptr::eq(self, &GLOBAL) {
            DEFAULT_MAX_REQUEST_BYTES
        } else {
            bytes
        };
        self.max_request.store(bytes, Ordering::Relaxed);
    }

    /// Sets the response limit (`0` inherits; at the global level it restores the default).
    pub fn set_max_response_bytes(&self, bytes: usize) {
        let bytes = if bytes == 0 && std::ptr::eq(self, &GLOBAL) {
            DEFAULT_MAX_RESPONSE_BYTES
        } else {
            bytes
        };
        self.max_response.store(bytes, Ordering::Relaxed);
    }

    /// The request limit set at this level (`0` = inherit).
    pub fn max_request_bytes(&self) -> usize {
        self.max_request.load(Ordering::Relaxed)
    }

    /// The response limit set at this level (`0` = inherit).
    pub fn max_response_bytes(&self) -> usize {
        self.max_response.load(Ordering::Relaxed)
    }
}

/// The effective request limit for a method of a service.
#[inline]
pub fn effective_request(method: &Limits, service: &Limits) -> usize {
    first_set(method.max_request_bytes(), service.max_request_bytes())
        .unwrap_or_else(|| GLOBAL.max_request_bytes())
}

/// The effective response limit for a method of a service.
#[inline]
pub fn effective_response(method: &Limits, service: &Limits) -> usize {
    first_set(method.max_response_bytes(), service.max_response_bytes())
        .unwrap_or_else(|| GLOBAL.max_response_bytes())
}

#[inline]
fn first_set(a: usize, b: usize) -> Option<usize> {
    if a != 0 {
        Some(a)
    } else if b != 0 {
        Some(b)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_order() {
        let m = Limits::inherit();
        let s = Limits::new(100, 0);
        assert_eq!(effective_request(&m, &s), 100);
        assert_eq!(effective_response(&m, &s), DEFAULT_MAX_RESPONSE_BYTES);
        m.set_max_request_bytes(10);
        assert_eq!(effective_request(&m, &s), 10);
        m.set_max_request_bytes(0);
        assert_eq!(effective_request(&m, &s), 100);
    }
}
