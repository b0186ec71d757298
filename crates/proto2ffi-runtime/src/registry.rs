//! Static descriptions of services and methods, and the list of services
//! this library knows about (for metrics and health).
//!
//! `#[proto2ffi::service]` emits one `static` [`ServiceDef`] per trait and one
//! [`MethodDef`] per method; all of their state (limits, rate limiters,
//! metrics) lives in those statics, so a call never looks anything up.

use crate::limits::Limits;
use crate::metrics::MethodMetrics;
use crate::rate::{LazyKeyed, RateLimit, RateLimiter};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// One service of the library.
#[derive(Debug)]
pub struct ServiceDef {
    /// Name (the proto full name, or the trait name when hand-written).
    pub name: &'static str,
    /// Schema fingerprint, exported as `{prefix}_proto2ffi_fingerprint_{service}`.
    pub fingerprint: u64,
    /// Service-level byte limits (`0` inherits the global ones).
    pub limits: Limits,
    /// Service-wide rate limit shared by all of its methods.
    pub rate: RateLimiter,
    /// The methods, in declaration order.
    pub methods: &'static [MethodDef],
    registered: AtomicBool,
}

impl ServiceDef {
    /// A service definition (used by generated code in a `static`).
    pub const fn new(
        name: &'static str,
        fingerprint: u64,
        limits: Limits,
        rate: Option<RateLimit>,
        methods: &'static [MethodDef],
    ) -> ServiceDef {
        ServiceDef {
            name,
            fingerprint,
            limits,
            rate: RateLimiter::new(rate),
            methods,
            registered: AtomicBool::new(false),
        }
    }

    /// Whether an implementation is registered.
    pub fn is_registered(&self) -> bool {
        self.registered.load(Ordering::Acquire)
    }

    /// A method by name.
    pub fn method(&self, name: &str) -> Option<&'static MethodDef> {
        self.methods.iter().find(|m| m.name == name)
    }
}

/// One unary method.
#[derive(Debug)]
pub struct MethodDef {
    /// Name (the proto RPC name, or the Rust method name when hand-written).
    pub name: &'static str,
    /// Its exported symbol.
    pub symbol: &'static str,
    /// Method-level byte limits (`0` inherits the service's).
    pub limits: Limits,
    /// Method-level rate limit.
    pub rate: RateLimiter,
    /// Per-client rate limit, keyed by a request field.
    pub keyed: LazyKeyed,
    /// Counters.
    pub metrics: MethodMetrics,
}

impl MethodDef {
    /// A method definition (used by generated code in a `static`).
    pub const fn new(
        name: &'static str,
        symbol: &'static str,
        limits: Limits,
        rate: Option<RateLimit>,
        keyed: Option<(RateLimit, usize)>,
    ) -> MethodDef {
        MethodDef {
            name,
            symbol,
            limits,
            rate: RateLimiter::new(rate),
            keyed: LazyKeyed::new(keyed),
            metrics: MethodMetrics::new(),
        }
    }
}

static SERVICES: Mutex<Vec<&'static ServiceDef>> = Mutex::new(Vec::new());

/// Makes a service visible to metrics and health (idempotent).
pub fn announce(service: &'static ServiceDef) {
    let mut list = SERVICES.lock();
    if !list.iter().any(|s| std::ptr::eq(*s, service)) {
        list.push(service);
    }
}

/// Marks a service as registered (called by the generated `register_*`).
pub fn register_service(service: &'static ServiceDef) {
    service.registered.store(true, Ordering::Release);
    announce(service);
}

/// Every service that was registered or called.
pub fn services() -> Vec<&'static ServiceDef> {
    SERVICES.lock().clone()
}

/// Names of the registered services.
pub fn registered_names() -> Vec<String> {
    services()
        .into_iter()
        .filter(|s| s.is_registered())
        .map(|s| s.name.to_string())
        .collect()
}
