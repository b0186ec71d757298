//! Completion to Dart ports: the callback the generated Dart client passes
//! to the `*_start` functions.
//!
//! Dart cannot be called back from a foreign thread cheaply
//! (`NativeCallable.listener` measured ~45 µs a call here), but any thread
//! may post a message to a Dart port with `Dart_PostCObject`, which
//! `NativeApi.postCObject` hands out as a plain function pointer — no Dart
//! SDK headers and no `dart_api_dl` initialisation needed. `dart_open`
//! registers (post function, port) and returns a small handle used as the
//! callback's context; each event is posted as one `Uint8List` (copied by
//! the VM): call id (8 bytes LE), status (4 bytes LE), data.
//!
//! A handle is an index into a table, never a pointer, so a context closed
//! (or a port whose isolate died) while calls are in flight is detected:
//! the event is dropped and the call cancelled, which stops its future —
//! no callback into a dead isolate and nothing left running.

use parking_lot::RwLock;
use std::ffi::c_void;

/// `Dart_CObject_kTypedData`.
const K_TYPED_DATA: i32 = 7;
/// `Dart_TypedData_kUint8`.
const K_UINT8: i32 = 2;

/// The `as_typed_data` member of `Dart_CObject`'s value union.
#[repr(C)]
#[derive(Clone, Copy)]
struct TypedData {
    ty: i32,
    length: isize,
    values: *const u8,
}

/// The value union of `Dart_CObject` (only the members used here, plus
/// `as_int64`, which fixes the union's alignment as in the SDK header).
#[repr(C)]
union Value {
    as_int64: i64,
    as_typed_data: TypedData,
}

/// `Dart_CObject`: `{ Dart_CObject_Type type; union { ... } value; }`.
#[repr(C)]
struct CObject {
    ty: i32,
    value: Value,
}

/// `Dart_PostCObject`: `bool (*)(Dart_Port port, Dart_CObject *message)`.
type PostFn = unsafe extern "C" fn(port: i64, message: *mut CObject) -> u8;

#[derive(Clone, Copy)]
struct Port {
    post: PostFn,
    port: i64,
}

/// Most contexts open at once.
pub(crate) const MAX_CONTEXTS: usize = 1 << 16;

/// Slots of open contexts, each with the generation it was opened in: a
/// handle names both, so a handle whose slot was freed and reused (its
/// isolate died, another opened) finds nothing instead of another port.
static PORTS: RwLock<Vec<(Option<Port>, usize)>> = RwLock::new(Vec::new());

/// Bits of a handle that hold the slot index; the rest of the pointer holds
/// the generation: 48 bits on 64-bit targets, 16 on 32-bit ones.
const INDEX_BITS: usize = 16;
/// Generations a slot goes through before it is retired: a handle never
/// repeats, so a stale one can never name a later context. The last
/// value is left out so that `handle` cannot overflow to NULL.
const GENERATIONS: usize = (1 << (usize::BITS as usize - INDEX_BITS)) - 1;
/// The generation of a retired slot (never reused).
const RETIRED: usize = usize::MAX;

fn handle(index: usize, generation: usize) -> *mut c_void {
    // Plus one: never NULL (generation < GENERATIONS keeps it in range).
    ((generation << INDEX_BITS | index) + 1) as *mut c_void
}

/// The generation after `generation` for a slot, or `None` when the slot
/// must retire (`limit` generations used).
fn next_generation(generation: usize, limit: usize) -> Option<usize> {
    (generation + 1 < limit).then_some(generation + 1)
}

fn slot(context: *mut c_void) -> (usize, usize) {
    let h = (context as usize).wrapping_sub(1);
    (h & (MAX_CONTEXTS - 1), h >> INDEX_BITS)
}

/// Registers a port; returns its context (NULL when `post` is NULL or the
/// table is full).
///
/// # Safety
/// `post` is NULL or `Dart_PostCObject` (`NativeApi.postCObject`), callable
/// from any thread for as long as the context is open.
pub(crate) unsafe fn open(post: *const c_void, port: i64) -> *mut c_void {
    if post.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: per the contract, a function with `PostFn`'s signature.
    let post: PostFn = unsafe { std::mem::transmute::<*const c_void, PostFn>(post) };
    let mut ports = PORTS.write();
    let entry = Port { post, port };
    // A free slot with a generation left, else a new slot.
    let reusable = ports.iter().enumerate().find_map(|(i, (p, g))| {
        if p.is_some() || *g == RETIRED {
            return None;
        }
        next_generation(*g, GENERATIONS).map(|next| (i, next))
    });
    match reusable {
        Some((i, generation)) => {
            ports[i] = (Some(entry), generation);
            handle(i, generation)
        }
        None if ports.len() < MAX_CONTEXTS => {
            ports.push((Some(entry), 0));
            handle(ports.len() - 1, 0)
        }
        None => std::ptr::null_mut(),
    }
}

/// Closes a context: later events for it are dropped.
pub(crate) fn close(context: *mut c_void) {
    let (index, generation) = slot(context);
    if let Some(s) = PORTS.write().get_mut(index) {
        if s.1 == generation && s.0.is_some() {
            s.0 = None;
            if next_generation(s.1, GENERATIONS).is_none() {
                s.1 = RETIRED;
            }
        }
    }
}

/// Posts one event to the context's port; `false` when the context is
/// closed or the post failed (the isolate is gone).
pub(crate) fn post(context: *mut c_void, call_id: u64, status: i32, data: &[u8]) -> bool {
    let (index, generation) = slot(context);
    let port = match PORTS.read().get(index) {
        Some((Some(p), g)) if *g == generation => *p,
        _ => return false,
    };
    let mut message = Vec::with_capacity(12 + data.len());
    message.extend_from_slice(&call_id.to_le_bytes());
    message.extend_from_slice(&status.to_le_bytes());
    message.extend_from_slice(data);
    let mut object = CObject {
        ty: K_TYPED_DATA,
        value: Value {
            as_typed_data: TypedData {
                ty: K_UINT8,
                length: message.len() as isize,
                values: message.as_ptr(),
            },
        },
    };
    // SAFETY: `post` is the VM's `Dart_PostCObject`; `object` describes
    // `message`, which outlives the call (the VM copies typed data).
    let posted = unsafe { (port.post)(port.port, &mut object) != 0 };
    if !posted {
        // The port is closed for good (its isolate exited): free the slot.
        close(context);
    }
    posted
}

/// `Dart_CurrentIsolate` from the VM's dynamically linked API (0: not
/// given yet), set by [`init_api`].
static CURRENT_ISOLATE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `DartApiEntry` of `dart_api_dl_impl.h`.
#[repr(C)]
struct ApiEntry {
    name: *const std::ffi::c_char,
    function: *const c_void,
}

/// `DartApi` of `dart_api_dl_impl.h`.
#[repr(C)]
struct Api {
    major: i32,
    minor: i32,
    functions: *const ApiEntry,
}

/// Finds `Dart_CurrentIsolate` in `NativeApi.initializeApiDLData`; whether
/// it was there.
///
/// # Safety
/// `data` is NULL or `NativeApi.initializeApiDLData` of the running VM.
pub(crate) unsafe fn init_api(data: *mut c_void) -> bool {
    if data.is_null() {
        return false;
    }
    // SAFETY: per the contract, the VM's `DartApi` table, whose entries end
    // with a NULL name.
    unsafe {
        let api = &*(data as *const Api);
        let mut entry = api.functions;
        while !entry.is_null() && !(*entry).name.is_null() {
            if std::ffi::CStr::from_ptr((*entry).name).to_bytes() == b"Dart_CurrentIsolate" {
                let f = (*entry).function as usize;
                CURRENT_ISOLATE.store(f, std::sync::atomic::Ordering::Release);
                return f != 0;
            }
            entry = entry.add(1);
        }
    }
    false
}

/// The Dart isolate this thread runs now (entered, e.g. inside a
/// synchronous FFI call), or 0: none, or the API was not given.
pub(crate) fn current_isolate() -> usize {
    let f = CURRENT_ISOLATE.load(std::sync::atomic::Ordering::Acquire);
    if f == 0 {
        return 0;
    }
    // SAFETY: `Dart_CurrentIsolate`: `Dart_Isolate (*)(void)`, a read of the
    // VM's thread-local state (NULL on threads the VM does not know).
    let f: unsafe extern "C" fn() -> *mut c_void =
        unsafe { std::mem::transmute::<usize, unsafe extern "C" fn() -> *mut c_void>(f) };
    // SAFETY: as above.
    unsafe { f() as usize }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_sdk_header() {
        // Dart_CObject: the union is 8-aligned on 64-bit targets and
        // 4-aligned on i386, where int64_t is 4-aligned in structs.
        let union_offset = std::mem::offset_of!(CObject, value);
        assert_eq!(union_offset, std::mem::align_of::<i64>().max(4));
        assert_eq!(
            std::mem::offset_of!(TypedData, length),
            std::mem::size_of::<isize>()
        );
    }

    #[test]
    fn contexts_are_handles() {
        unsafe extern "C" fn fake(_: i64, _: *mut CObject) -> u8 {
            1
        }
        // SAFETY: `fake` has the post function's signature.
        let (a, b) = unsafe {
            (
                open(fake as *const c_void, 7),
                open(fake as *const c_void, 8),
            )
        };
        assert!(!a.is_null() && !b.is_null() && a != b);
        assert!(post(a, 1, 0, b"x"));
        close(a);
        assert!(!post(a, 1, 0, b"x"), "a closed context drops events");
        assert!(!post(std::ptr::null_mut(), 1, 0, b""));
        assert!(!post(usize::MAX as *mut c_void, 1, 0, b""));
        close(b);
        // A reused slot does not answer to the old handle.
        // SAFETY: as above.
        let c = unsafe { open(fake as *const c_void, 9) };
        assert_ne!(c, a);
        assert!(!post(a, 1, 0, b"x") && !post(b, 1, 0, b"x"));
        assert!(post(c, 1, 0, b"x"));
        close(c);
        // SAFETY: NULL is refused.
        assert!(unsafe { open(std::ptr::null(), 1) }.is_null());
    }

    #[test]
    fn handles_never_repeat() {
        unsafe extern "C" fn fake(_: i64, _: *mut CObject) -> u8 {
            1
        }
        // Far past the old 15-bit generation (32,768 reuses of one slot).
        let mut seen = std::collections::HashSet::new();
        for _ in 0..if cfg!(miri) { 300 } else { 40_000 } {
            // SAFETY: `fake` has the post function's signature.
            let h = unsafe { open(fake as *const c_void, 1) };
            assert!(!h.is_null());
            assert!(seen.insert(h as usize), "handle {h:?} repeated");
            close(h);
        }
        // A slot retires after its last generation instead of wrapping.
        assert_eq!(next_generation(0, 3), Some(1));
        assert_eq!(next_generation(1, 3), Some(2));
        assert_eq!(next_generation(2, 3), None);
        const { assert!(GENERATIONS >= (1 << 16) - 1) };
        // The largest handle does not overflow to NULL.
        let last = handle(MAX_CONTEXTS - 1, GENERATIONS - 1);
        assert!(!last.is_null());
        assert_eq!(slot(last), (MAX_CONTEXTS - 1, GENERATIONS - 1));
    }
}
