//! The health report of a library: the user's flag and check (set on the
//! [`Library`]), and what the runtime knows (init, uptime, in-flight calls,
//! panics, services, shutdown, panic strategy).

use crate::library::def::Library;
use crate::report::proto;

/// Whether this library was compiled with `panic = "unwind"`.
pub(crate) const PANIC_UNWIND: bool = cfg!(panic = "unwind");

/// Builds the `proto2ffi.v1.Health` message of a library. A library whose
/// init has not run yet is reported unhealthy ("not initialised").
pub(crate) fn collect(library: &Library) -> proto::Health {
    let mut reasons = Vec::new();
    if !library.is_initialized() {
        reasons.push(format!(
            "not initialised: call {}_proto2ffi_init (or any method) first",
            library.prefix()
        ));
    }
    reasons.extend(library.user_health());
    if let Some(e) = library.init_error() {
        reasons.push(format!("init failed: {e}"));
    }
    let shutting_down = library.is_shutting_down();
    if shutting_down {
        reasons.push("shutting down".to_string());
    }
    proto::Health {
        healthy: reasons.is_empty(),
        reason: reasons.join("; "),
        uptime_ms: library.uptime_ms(),
        in_flight: library.in_flight(),
        panics: crate::report::exposition::total_panics(library),
        services: library.registered_names(),
        shutting_down,
        panic_unwind: PANIC_UNWIND,
        abi_version: crate::ABI_VERSION,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static LIB: Library = Library::new("hx", || Ok(()), true);

    #[test]
    fn init_flag_and_check_drive_the_verdict() {
        let h = collect(&LIB);
        assert!(!h.healthy);
        assert!(h.reason.contains("hx_proto2ffi_init"), "{}", h.reason);
        LIB.ensure_init().unwrap();
        assert!(collect(&LIB).healthy);
        LIB.set_healthy(false, "maintenance");
        let h = collect(&LIB);
        assert!(!h.healthy);
        assert_eq!(h.reason, "maintenance");
        LIB.set_healthy(true, "");
        LIB.set_health_check(|| Err("database unreachable".into()));
        assert!(collect(&LIB).reason.contains("database unreachable"));
        LIB.set_health_check(|| panic!("check exploded"));
        let h = collect(&LIB);
        assert!(!h.healthy);
        assert!(h.reason.contains("check exploded"), "{}", h.reason);
        LIB.set_health_check(|| Ok(()));
        let h = collect(&LIB);
        assert!(h.healthy, "{}", h.reason);
        assert_eq!(h.panic_unwind, cfg!(panic = "unwind"));
        assert_eq!(h.abi_version, crate::ABI_VERSION);
    }
}
