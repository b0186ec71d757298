//! [`Buffer`]: the library-owned bytes handed to foreign callers, and the
//! bounded pool that lets freed buffers serve the next call.

use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Bytes owned by the library: `{ uint8_t *data; size_t len; size_t capacity; }`.
///
/// Built from a `Vec<u8>` without shrinking; the caller reads `data[..len]` and
/// releases it exactly once with the library's `{prefix}_proto2ffi_free`.
/// A zero buffer (`data == NULL`) is valid and frees as a no-op.
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    /// Start of the bytes, or NULL for a zero buffer.
    pub data: *mut u8,
    /// Number of initialised bytes.
    pub len: usize,
    /// Allocation size; needed to give the memory back.
    pub capacity: usize,
}

// The header's `{prefix}_buffer`, field for field, on this target.
const _: () = assert!(proto2ffi_core::c_structs::BUFFER.matches_target(
    size_of::<Buffer>(),
    align_of::<Buffer>(),
    &[
        std::mem::offset_of!(Buffer, data),
        std::mem::offset_of!(Buffer, len),
        std::mem::offset_of!(Buffer, capacity),
    ],
));

impl Buffer {
    /// The zero buffer.
    pub const fn empty() -> Buffer {
        Buffer {
            data: std::ptr::null_mut(),
            len: 0,
            capacity: 0,
        }
    }

    /// Takes ownership of a vector's allocation (no copy, no shrink).
    #[inline]
    pub fn from_vec(vec: Vec<u8>) -> Buffer {
        if vec.capacity() == 0 {
            return Buffer::empty();
        }
        let mut vec = std::mem::ManuallyDrop::new(vec);
        Buffer {
            data: vec.as_mut_ptr(),
            len: vec.len(),
            capacity: vec.capacity(),
        }
    }

    /// Whether this is the zero buffer.
    pub fn is_empty_buffer(&self) -> bool {
        self.data.is_null()
    }

    /// The bytes.
    ///
    /// # Safety
    /// `self` must be zero or have been produced by [`Buffer::from_vec`] and
    /// not freed since.
    pub unsafe fn as_slice(&self) -> &[u8] {
        if self.data.is_null() {
            &[]
        } else {
            // SAFETY: per the contract, data points at `len` initialised bytes.
            unsafe { std::slice::from_raw_parts(self.data, self.len) }
        }
    }

    /// Gives the allocation back as a vector and zeroes `self`.
    ///
    /// # Safety
    /// `self` must be zero or have been produced by [`Buffer::from_vec`] in
    /// this library and not freed since.
    #[inline]
    pub unsafe fn take_vec(&mut self) -> Vec<u8> {
        let b = std::mem::replace(self, Buffer::empty());
        if b.data.is_null() {
            return Vec::new();
        }
        // SAFETY: data/len/capacity came from a Vec<u8> of this allocator.
        unsafe { Vec::from_raw_parts(b.data, b.len, b.capacity) }
    }
}

/// Default number of freed buffers kept for reuse.
pub const DEFAULT_POOL_SLOTS: usize = 32;
/// Default largest capacity a pooled buffer may have (larger ones are freed).
pub const DEFAULT_POOL_MAX_CAPACITY: usize = 2 << 20;

/// Default largest capacity a thread keeps in its own slot: a process with
/// many calling threads holds at most `threads × 256 KiB` there (1,000
/// threads: 250 MiB at worst, and only after each returned a buffer that
/// large); larger buffers go to the shared pool.
pub const DEFAULT_THREAD_SLOT_MAX_CAPACITY: usize = 256 << 10;

static POOL: OnceLock<ArrayQueue<Vec<u8>>> = OnceLock::new();
static THREAD_SLOT_MAX_CAPACITY: AtomicUsize = AtomicUsize::new(DEFAULT_THREAD_SLOT_MAX_CAPACITY);
static POOL_SLOTS: AtomicUsize = AtomicUsize::new(DEFAULT_POOL_SLOTS);
static POOL_MAX_CAPACITY: AtomicUsize = AtomicUsize::new(DEFAULT_POOL_MAX_CAPACITY);

fn pool() -> &'static ArrayQueue<Vec<u8>> {
    POOL.get_or_init(|| ArrayQueue::new(POOL_SLOTS.load(Ordering::Relaxed).max(1)))
}

/// Sets the size of the response buffer pool. Takes effect only before the
/// first call (the pool is created once); returns whether it took effect.
/// `max_capacity` applies at any time: larger buffers are freed, not pooled.
pub fn configure_pool(slots: usize, max_capacity: usize) -> bool {
    POOL_MAX_CAPACITY.store(max_capacity, Ordering::Relaxed);
    if POOL.get().is_some() {
        return false;
    }
    POOL_SLOTS.store(slots, Ordering::Relaxed);
    POOL.get().is_none()
}

/// Sets the largest buffer a calling thread keeps for its next call (`0`:
/// no per-thread slot, every freed buffer goes to the shared pool). Memory
/// kept for reuse is at most `threads × this + slots × max_capacity`.
pub fn configure_thread_slot(max_capacity: usize) {
    THREAD_SLOT_MAX_CAPACITY.store(max_capacity, Ordering::Relaxed);
}

/// Capacity of the buffer this thread keeps for its next call (0: none).
pub fn thread_slot_capacity() -> usize {
    crate::sys::thread::with(|t| {
        t.map_or(0, |t| {
            let v = t.buffer.take();
            let n = v.as_ref().map_or(0, Vec::capacity);
            t.buffer.set(v);
            n
        })
    })
}

/// A cleared vector with at least `capacity` bytes of room, from the pool
/// when one is there.
#[inline]
pub fn take(capacity: usize) -> Vec<u8> {
    crate::sys::thread::with(|t| take_on(t, capacity))
}

/// [`take`] with this thread's state already looked up. Each thread keeps
/// one buffer in front of the shared queue: a caller that frees on the
/// thread it called from (the common case) never touches the queue's shared
/// cache lines.
///
/// The thread's own buffer, when it is large enough, is taken inline; the
/// shared queue, growing and allocating are out of line.
#[inline]
pub fn take_on(thread: Option<&crate::sys::thread::ThreadState>, capacity: usize) -> Vec<u8> {
    match thread.and_then(|t| t.buffer.take()) {
        Some(v) if v.capacity() >= capacity => v,
        local => take_slow(local, capacity),
    }
}

/// Set in a forked child (see the fork rule in `library.rs`): the shared
/// queue may hold a slot a vanished thread was writing (a pop would spin on
/// it forever), so buffers are allocated and freed directly.
static FORKED: AtomicBool = AtomicBool::new(false);

/// Stops using the shared queue (a forked child; an atomic store only).
pub(crate) fn forget_pool_after_fork() {
    FORKED.store(true, Ordering::Relaxed);
}

/// The shared queue, unless this is a forked child.
#[inline]
fn shared() -> Option<&'static ArrayQueue<Vec<u8>>> {
    (!FORKED.load(Ordering::Relaxed)).then(pool)
}

/// [`take_on`] without a large enough buffer of this thread's.
#[inline(never)]
fn take_slow(local: Option<Vec<u8>>, capacity: usize) -> Vec<u8> {
    match local.or_else(|| shared()?.pop()) {
        Some(mut v) => {
            if v.capacity() < capacity {
                v.reserve(capacity);
            }
            v
        }
        None => Vec::with_capacity(capacity.max(64)),
    }
}

/// Returns a vector to the pool (cleared), or frees it when the pool is full
/// or the vector is larger than the pool keeps.
#[inline]
pub fn give_back(mut v: Vec<u8>) {
    if v.capacity() == 0 || v.capacity() > POOL_MAX_CAPACITY.load(Ordering::Relaxed) {
        return;
    }
    v.clear();
    // Keep the newest buffer on this thread when it is small enough; the one
    // it displaces (or a larger one) goes to the shared queue. (After
    // thread-local teardown, `v` is simply freed.)
    let v = if v.capacity() <= THREAD_SLOT_MAX_CAPACITY.load(Ordering::Relaxed) {
        match crate::sys::thread::with(|t| t.map(|t| t.buffer.replace(Some(v)))) {
            Some(Some(previous)) => previous,
            Some(None) | None => return,
        }
    } else {
        v
    };
    if let Some(pool) = shared() {
        let _ = pool.push(v);
    }
}

/// Number of buffers in the shared pool (per-thread slots not included).
pub fn pooled() -> usize {
    POOL.get().map_or(0, |p| p.len())
}

/// Releases a buffer the library returned: the implementation of
/// `{prefix}_proto2ffi_free`. NULL and zero buffers are no-ops; the buffer is
/// zeroed so a second free of the same struct is a no-op too.
///
/// # Safety
/// `buffer` is NULL or points at a `Buffer` that is zero or was filled by this
/// library and not freed since.
#[inline]
pub unsafe fn free(buffer: *mut Buffer) {
    if buffer.is_null() {
        return;
    }
    // SAFETY: non-null and, per the contract, a valid Buffer from this library.
    let v = unsafe { (*buffer).take_vec() };
    give_back(v);
}

/// Moves a buffer the library returned into a handle the caller owns: the
/// implementation of `{prefix}_proto2ffi_buffer_detach`. The bytes do not
/// move; `*buffer` is zeroed (so freeing it too is a no-op). NULL, for NULL
/// or a zero buffer.
///
/// # Safety
/// As [`free`].
pub unsafe fn detach(buffer: *mut Buffer) -> *mut std::ffi::c_void {
    if buffer.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: non-null and, per the contract, a valid Buffer from this library.
    let b = unsafe { std::mem::replace(&mut *buffer, Buffer::empty()) };
    if b.data.is_null() {
        return std::ptr::null_mut();
    }
    Box::into_raw(Box::new(b)).cast()
}

/// Releases a handle from [`detach`]: `{prefix}_proto2ffi_buffer_release`,
/// also run by Dart's finalizers on a thread of the VM. The memory is
/// dropped, not pooled: a finalizer's thread calls no method to reuse it.
///
/// # Safety
/// `handle` is NULL or came from [`detach`] in this library and was not
/// released since.
pub unsafe fn release(handle: *mut std::ffi::c_void) {
    if handle.is_null() {
        return;
    }
    // SAFETY: per the contract, a Box<Buffer> from `detach`, released once.
    let mut b = unsafe { Box::from_raw(handle.cast::<Buffer>()) };
    // SAFETY: the Buffer came from this library and was not freed (detach
    // zeroed the caller's copy).
    drop(unsafe { b.take_vec() });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_then_release() {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(b"lent");
        let mut b = Buffer::from_vec(v);
        let data = b.data;
        let handle = unsafe { detach(&mut b) };
        assert!(!handle.is_null());
        assert!(b.is_empty_buffer(), "the caller's copy is zeroed");
        // The bytes stay where they were until the release.
        assert_eq!(unsafe { std::slice::from_raw_parts(data, 4) }, b"lent");
        unsafe { free(&mut b) };
        unsafe { release(handle) };
        // Nothing to detach: NULL in, NULL out; a zero buffer likewise.
        assert!(unsafe { detach(std::ptr::null_mut()) }.is_null());
        assert!(unsafe { detach(&mut Buffer::empty()) }.is_null());
        unsafe { release(std::ptr::null_mut()) };
    }

    #[test]
    fn released_from_another_thread() {
        let mut b = Buffer::from_vec(vec![7; 1000]);
        let handle = unsafe { detach(&mut b) } as usize;
        std::thread::spawn(move || unsafe { release(handle as *mut std::ffi::c_void) })
            .join()
            .unwrap();
    }

    #[test]
    fn round_trip_and_double_free() {
        let mut v = Vec::with_capacity(100);
        v.extend_from_slice(b"hello");
        let mut b = Buffer::from_vec(v);
        assert_eq!(b.capacity, 100);
        assert_eq!(unsafe { b.as_slice() }, b"hello");
        unsafe { free(&mut b) };
        assert!(b.is_empty_buffer());
        unsafe { free(&mut b) };
        unsafe { free(std::ptr::null_mut()) };
    }

    #[test]
    fn threads_keep_only_small_buffers() {
        std::thread::spawn(|| {
            give_back(Vec::with_capacity(DEFAULT_THREAD_SLOT_MAX_CAPACITY + 1));
            assert_eq!(
                thread_slot_capacity(),
                0,
                "large buffers are not kept per thread"
            );
            give_back(Vec::with_capacity(1024));
            assert_eq!(thread_slot_capacity(), 1024);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn empty_vec_is_zero_buffer() {
        assert!(Buffer::from_vec(Vec::new()).is_empty_buffer());
    }
}
