//! The return addresses of the current stack as `module+0xoffset`, for panic
//! reports that survive stripped release libraries.
//!
//! A release library ships without its symbol table, so a backtrace
//! symbolized on the device names at best the nearest exported function
//! (and nothing at all when std is built without its symbolizer, as in the
//! size profile). Module-relative addresses are what crash reporters use
//! instead: `addr2line -e <the unstripped library> 0x<offset>` (or
//! `llvm-symbolizer`) resolves them offline, exactly. Capture walks the
//! stack with the unwinder the library links anyway (`_Unwind_Backtrace`)
//! and names each frame's module with `dladdr`: no symbol tables are read
//! and nothing large is linked.

use std::fmt::Write as _;

/// At most this many frames are reported.
pub(crate) const MAX_FRAMES: usize = 64;

/// The current thread's return addresses, innermost first, as
/// `module+0xoffset` separated by spaces (`?+0x…` when no module claims an
/// address); `None` where the platform has no unwinder to ask.
pub(crate) fn capture() -> Option<String> {
    let ips = imp::return_addresses()?;
    let mut out = String::with_capacity(ips.len() * 24);
    for ip in ips {
        let (module, offset) = imp::locate(ip);
        let space = if out.is_empty() { "" } else { " " };
        let _ = write!(out, "{space}{module}+{offset:#x}");
    }
    Some(out)
}

#[cfg(unix)]
mod imp {
    use super::MAX_FRAMES;
    use std::ffi::{c_int, c_void, CStr};

    /// The unwinder's opaque per-frame context.
    #[repr(C)]
    struct UnwindContext {
        _opaque: [u8; 0],
    }

    type TraceFn = extern "C" fn(*mut UnwindContext, *mut c_void) -> c_int;

    extern "C" {
        // The Itanium C++ ABI's unwinder (libgcc_s, libunwind): the same one
        // that unwinds panics, so every unix target that can unwind has it.
        fn _Unwind_Backtrace(trace: TraceFn, arg: *mut c_void) -> c_int;
    }

    /// The frame's instruction pointer (`_Unwind_GetIP`).
    #[cfg(not(all(target_arch = "arm", not(target_vendor = "apple"))))]
    unsafe fn instruction_pointer(context: *mut UnwindContext) -> usize {
        extern "C" {
            fn _Unwind_GetIP(context: *mut UnwindContext) -> usize;
        }
        // SAFETY: `context` is the unwinder's for the current frame.
        unsafe { _Unwind_GetIP(context) }
    }

    /// ARM EHABI (32-bit Linux and Android) has no `_Unwind_GetIP` symbol:
    /// GCC's and LLVM's `unwind.h` define it as a macro over
    /// `_Unwind_VRS_Get`, so a reference to it stays unresolved and the
    /// whole library fails `dlopen`. Read the PC (core register 15) the way
    /// the macro does, clearing the Thumb bit.
    #[cfg(all(target_arch = "arm", not(target_vendor = "apple")))]
    unsafe fn instruction_pointer(context: *mut UnwindContext) -> usize {
        extern "C" {
            fn _Unwind_VRS_Get(
                context: *mut UnwindContext,
                class: c_int,
                register: u32,
                representation: c_int,
                value: *mut c_void,
            ) -> c_int;
        }
        /// `_UVRSC_CORE`, `_UVRSD_UINT32` and the PC's register number.
        const CORE: c_int = 0;
        const UINT32: c_int = 0;
        const PC: u32 = 15;
        let mut value: u32 = 0;
        // SAFETY: `context` is the unwinder's for the current frame; the
        // call writes one 32-bit word into `value`.
        let status = unsafe { _Unwind_VRS_Get(context, CORE, PC, UINT32, (&raw mut value).cast()) };
        if status != 0 {
            return 0;
        }
        (value & !1) as usize
    }

    /// `_URC_NO_REASON`: keep walking.
    const CONTINUE: c_int = 0;
    /// `_URC_END_OF_STACK`: stop.
    const STOP: c_int = 5;

    extern "C" fn push(context: *mut UnwindContext, arg: *mut c_void) -> c_int {
        // SAFETY: `arg` is the `Vec` `return_addresses` passed, alive and
        // not otherwise borrowed during the walk; `context` is the
        // unwinder's for this frame.
        let ips = unsafe { &mut *arg.cast::<Vec<usize>>() };
        // SAFETY: as above, `context` is the unwinder's for this frame.
        let ip = unsafe { instruction_pointer(context) };
        if ip != 0 {
            ips.push(ip);
        }
        if ips.len() >= MAX_FRAMES {
            STOP
        } else {
            CONTINUE
        }
    }

    pub(super) fn return_addresses() -> Option<Vec<usize>> {
        let mut ips: Vec<usize> = Vec::with_capacity(MAX_FRAMES);
        // SAFETY: `push` matches the callback type and only touches `ips`,
        // which outlives the call (capacity reserved: no reallocation).
        unsafe { _Unwind_Backtrace(push, (&raw mut ips).cast()) };
        Some(ips)
    }

    /// The module holding `ip` (file name without its directory) and `ip`'s
    /// offset from that module's load address.
    pub(super) fn locate(ip: usize) -> (String, usize) {
        let mut info = libc::Dl_info {
            dli_fname: std::ptr::null(),
            dli_fbase: std::ptr::null_mut(),
            dli_sname: std::ptr::null(),
            dli_saddr: std::ptr::null_mut(),
        };
        // Ask for the call instruction (one byte back): a return address
        // may be the first byte after the module's last function.
        // SAFETY: dladdr only reads the loader's tables; `info` is writable.
        let found = unsafe { libc::dladdr((ip - 1) as *const c_void, &mut info) } != 0;
        if !found || info.dli_fname.is_null() {
            return ("?".into(), ip);
        }
        // SAFETY: the loader's NUL-terminated file name, alive while the
        // module is loaded (it is: `ip` is on this thread's stack).
        let path = unsafe { CStr::from_ptr(info.dli_fname) }.to_string_lossy();
        let name = path.rsplit('/').next().unwrap_or(&path);
        let name = if name.is_empty() { "?" } else { name };
        (name.replace(' ', "_"), ip - info.dli_fbase as usize)
    }
}

#[cfg(not(unix))]
mod imp {
    pub(super) fn return_addresses() -> Option<Vec<usize>> {
        None
    }

    pub(super) fn locate(ip: usize) -> (String, usize) {
        ("?".into(), ip)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[inline(never)]
    fn nested(depth: u32) -> Option<String> {
        if depth == 0 {
            capture()
        } else {
            std::hint::black_box(nested(depth - 1))
        }
    }

    #[test]
    fn frames_name_their_modules_with_offsets_inside_them() {
        let frames = nested(5).expect("unix has an unwinder");
        let frames: Vec<&str> = frames.split(' ').collect();
        assert!(frames.len() >= 6, "{frames:?}");
        assert!(frames.len() <= MAX_FRAMES);
        let exe = std::env::current_exe().unwrap();
        let exe = exe.file_name().unwrap().to_string_lossy().replace(' ', "_");
        // The innermost frames are in this test binary, at offsets that
        // fit in it.
        let size = std::fs::metadata(std::env::current_exe().unwrap())
            .unwrap()
            .len() as usize;
        let ours: Vec<usize> = frames
            .iter()
            .filter_map(|f| f.strip_prefix(&format!("{exe}+0x")))
            .map(|hex| usize::from_str_radix(hex, 16).unwrap())
            .collect();
        assert!(ours.len() >= 6, "{frames:?}");
        assert!(
            ours.iter().all(|&off| off > 0 && off < size * 4),
            "{ours:?}"
        );
        assert!(frames[0].starts_with(&format!("{exe}+0x")), "{frames:?}");
    }

    #[test]
    fn an_address_outside_every_module_is_reported_raw() {
        assert_eq!(imp::locate(0x10), ("?".to_string(), 0x10));
    }
}
