//! Health: a flag the user sets, an optional check the user registers, and
//! facts the runtime knows (uptime, in-flight calls, panics, services,
//! shutdown, panic strategy).

use crate::{admission, clock, library, metrics, proto, registry};
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicBool, Ordering};

type Check = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

static HEALTHY: AtomicBool = AtomicBool::new(true);
static REASON: Mutex<String> = Mutex::new(String::new());
static CHECK: RwLock<Option<Check>> = RwLock::new(None);

/// Whether this library was compiled with `panic = "unwind"`.
pub const PANIC_UNWIND: bool = cfg!(panic = "unwind");

/// Milliseconds since the runtime's clock first ran (the library's first use).
pub fn uptime_ms() -> u64 {
    clock::now_ns() / 1_000_000
}

/// Sets the health flag, with a reason shown while unhealthy.
pub fn set_healthy(healthy: bool, reason: impl Into<String>) {
    *REASON.lock() = reason.into();
    HEALTHY.store(healthy, Ordering::Release);
}

/// Registers a check run on every health query (replacing any earlier one).
/// A panicking check reports unhealthy with the panic message.
pub fn set_health_check(check: impl Fn() -> Result<(), String> + Send + Sync + 'static) {
    *CHECK.write() = Some(Box::new(check));
}

/// Builds the `proto2ffi.v1.Health` message.
pub fn collect() -> proto::Health {
    let mut reasons = Vec::new();
    if !HEALTHY.load(Ordering::Acquire) {
        let r = REASON.lock().clone();
        reasons.push(if r.is_empty() {
            "marked unhealthy".to_string()
        } else {
            r
        });
    }
    if let Some(check) = CHECK.read().as_ref() {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => reasons.push(format!("health check failed: {e}")),
            Err(p) => reasons.push(format!(
                "health check panicked: {}",
                crate::guard::panic_message(p)
            )),
        }
    }
    if let Some(e) = library::init_error() {
        reasons.push(format!("init failed: {e}"));
    }
    let shutting_down = admission::is_shutting_down();
    if shutting_down {
        reasons.push("shutting down".to_string());
    }
    proto::Health {
        healthy: reasons.is_empty(),
        reason: reasons.join("; "),
        uptime_ms: uptime_ms(),
        in_flight: admission::in_flight(),
        panics: metrics::total_panics(),
        services: registry::registered_names(),
        shutting_down,
        panic_unwind: PANIC_UNWIND,
        abi_version: crate::ABI_VERSION,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_and_check_drive_the_verdict() {
        assert!(collect().healthy);
        set_healthy(false, "maintenance");
        let h = collect();
        assert!(!h.healthy);
        assert_eq!(h.reason, "maintenance");
        set_healthy(true, "");
        set_health_check(|| Err("database unreachable".into()));
        assert!(collect().reason.contains("database unreachable"));
        set_health_check(|| panic!("check exploded"));
        let h = collect();
        assert!(!h.healthy);
        assert!(h.reason.contains("check exploded"), "{}", h.reason);
        set_health_check(|| Ok(()));
        let h = collect();
        assert!(h.healthy, "{}", h.reason);
        assert_eq!(h.panic_unwind, cfg!(panic = "unwind"));
        assert_eq!(h.abi_version, crate::ABI_VERSION);
    }
}
