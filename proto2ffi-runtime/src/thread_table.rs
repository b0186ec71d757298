//! Finding this thread's [`ThreadState`] without `__tls_get_addr`.
//!
//! In a `cdylib` every thread-local access calls `__tls_get_addr` (the
//! general-dynamic TLS model) and then checks the local's lazy state. On
//! i686, where the Dart VM here runs, the table below measured (a C loop
//! over the i686 build) a pool acquire + release 26 → 24.5 ns and a
//! fixed-layout call 48.5 → 46 ns; on x86_64, where `__tls_get_addr` is
//! cheaper, the difference is within noise.
//!
//! The thread pointer (`%fs:0` on x86_64, `%gs:0` on x86, `tpidr_el0` on
//! aarch64: the address of the thread's control block, distinct for every
//! live thread) is one instruction away. A table maps it to the thread's
//! state: [`ENTRIES`] slots indexed by a multiplicative hash of the pointer,
//! each holding one thread's pointer and its state's address.
//!
//! **Why a hit is always this thread's live state.** A slot goes from free
//! to owned only by a compare-and-swap from `FREE` (to `BUSY`, then the
//! state, then the owner's thread pointer), and back to free only by its
//! owner: when the owner's [`ThreadState`] is dropped at thread exit
//! (`unregister`, first thing in its destructor), and in a forked child,
//! where a handler installed with `pthread_atfork` frees every slot before
//! the child runs (its other threads are gone, and new threads may reuse
//! their control blocks — and so their thread pointers). So while a slot
//! holds thread pointer `T`, the thread with pointer `T` registered it and
//! has not finished its state's destructor; only that thread reads a slot
//! whose pointer equals its own. Everything here is the owner reading its
//! own writes, so relaxed ordering suffices; `BUSY` keeps a signal
//! handler on the owner, between claiming and filling the slot, from
//! reading a half-written one.
//!
//! A thread whose slot is taken by another live thread (a hash collision),
//! or a target without a supported thread-pointer read, simply keeps using
//! the thread-local lookup.

use crate::thread::ThreadState;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Slots in the table (a power of two). More live threads than slots, or
/// two threads hashing alike, only means some threads take the slower path.
pub const ENTRIES: usize = 256;
/// A slot no thread owns.
const FREE: usize = 0;
/// A slot being filled by its new owner (never a thread pointer: those are
/// aligned addresses).
const BUSY: usize = 1;

struct Slot {
    owner: AtomicUsize,
    state: AtomicPtr<ThreadState>,
}

static TABLE: [Slot; ENTRIES] = [const {
    Slot {
        owner: AtomicUsize::new(FREE),
        state: AtomicPtr::new(std::ptr::null_mut()),
    }
}; ENTRIES];

/// Whether this target reads the thread pointer directly.
pub const SUPPORTED: bool = cfg!(all(
    not(miri),
    any(target_os = "linux", target_os = "android"),
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64"
    )
));

/// The calling thread's thread pointer (0 where unsupported).
#[inline(always)]
pub(crate) fn thread_pointer() -> usize {
    #[cfg(all(
        not(miri),
        any(target_os = "linux", target_os = "android"),
        target_arch = "x86_64"
    ))]
    {
        let tp: usize;
        // SAFETY: on Linux x86_64 `%fs:0` holds the thread control block's
        // own address (the TLS ABI's initial-exec model relies on it); the
        // load has no side effects.
        unsafe {
            std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp,
                options(nostack, readonly, preserves_flags, pure));
        }
        tp
    }
    #[cfg(all(
        not(miri),
        any(target_os = "linux", target_os = "android"),
        target_arch = "x86"
    ))]
    {
        let tp: usize;
        // SAFETY: on Linux x86 `%gs:0` holds the thread control block's
        // own address (as above); the load has no side effects.
        unsafe {
            std::arch::asm!("mov {}, dword ptr gs:[0]", out(reg) tp,
                options(nostack, readonly, preserves_flags, pure));
        }
        tp
    }
    #[cfg(all(
        not(miri),
        any(target_os = "linux", target_os = "android"),
        target_arch = "aarch64"
    ))]
    {
        let tp: usize;
        // SAFETY: reading `tpidr_el0`, the thread pointer register, which
        // user space may read at any time.
        unsafe {
            std::arch::asm!("mrs {}, tpidr_el0", out(reg) tp,
                options(nomem, nostack, preserves_flags, pure));
        }
        tp
    }
    #[cfg(not(all(
        not(miri),
        any(target_os = "linux", target_os = "android"),
        any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")
    )))]
    {
        0
    }
}

/// The slot of thread pointer `tp`. Control blocks sit at the same offset
/// in stacks a power of two apart, so the low bits are useless alone: a
/// Fibonacci hash spreads the high ones.
#[inline(always)]
fn slot_of(tp: usize) -> &'static Slot {
    const SHIFT: u32 = usize::BITS - ENTRIES.trailing_zeros();
    #[cfg(target_pointer_width = "64")]
    let h = (tp as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as usize;
    #[cfg(not(target_pointer_width = "64"))]
    let h = (tp as u32).wrapping_mul(0x9E37_79B9) as usize;
    &TABLE[h >> SHIFT]
}

/// This thread's state, if it registered it (see the module docs).
#[inline(always)]
pub(crate) fn lookup() -> Option<*const ThreadState> {
    if !SUPPORTED {
        return None;
    }
    let tp = thread_pointer();
    let slot = slot_of(tp);
    if slot.owner.load(Ordering::Relaxed) == tp {
        Some(slot.state.load(Ordering::Relaxed).cast_const())
    } else {
        None
    }
}

/// Registers this thread's live state, if its slot is free.
pub(crate) fn register(state: *const ThreadState) {
    if !SUPPORTED {
        return;
    }
    install_fork_handler();
    if DISABLED.load(Ordering::Relaxed) {
        return;
    }
    let tp = thread_pointer();
    if tp == FREE || tp == BUSY {
        return;
    }
    let slot = slot_of(tp);
    if slot
        .owner
        .compare_exchange(FREE, BUSY, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        slot.state.store(state.cast_mut(), Ordering::Relaxed);
        slot.owner.store(tp, Ordering::Relaxed);
    }
}

/// Frees this thread's slot, if it owns one. Called first thing when its
/// state is destroyed: later lookups fall back to the thread-local, which
/// then reports the state gone.
pub(crate) fn unregister() {
    if !SUPPORTED {
        return;
    }
    let tp = thread_pointer();
    let slot = slot_of(tp);
    if slot.owner.load(Ordering::Relaxed) == tp {
        slot.owner.store(FREE, Ordering::Relaxed);
    }
}

/// In a forked child only the forking thread survives; its siblings'
/// control blocks (and so thread pointers) are handed to new threads, and
/// their thread-local blocks are freed. Every slot is freed before the
/// child runs; the forking thread registers again on its next call.
fn install_fork_handler() {
    #[cfg(all(
        not(miri),
        any(target_os = "linux", target_os = "android"),
        any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")
    ))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        extern "C" fn child() {
            for slot in &TABLE {
                slot.owner.store(FREE, Ordering::Relaxed);
            }
        }
        ONCE.call_once(|| {
            // SAFETY: registers a handler that only stores to statics. If
            // registration fails (ENOMEM) the table is disabled instead.
            if unsafe { libc::pthread_atfork(None, None, Some(child)) } != 0 {
                DISABLED.store(true, Ordering::Relaxed);
            }
        });
    }
}

/// Set when the fork handler could not be installed: nothing registers.
static DISABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
