//! Fixed-layout messages: `repr(C)` structs Rust, C and Dart read in place.
//!
//! `proto2ffi-build` generates one struct per message marked fixed-layout
//! (`option (proto2ffi.fixed) = true;`, `pool_size` or `simd`), with
//! explicit padding so the layout is identical on every target, and the
//! [`FixedMessage`] impl that checks what a foreign caller wrote before a
//! handler reads it. This module holds what those structs share:
//!
//! - [`FixedMessage`]: the check and the layout fingerprint;
//! - [`ArrayRef`]: how a large array travels (address, length, capacity of
//!   storage the caller owns), and the checks on it;
//! - [`check`]: the small functions generated `validate` bodies call;
//! - [`alloc`]/[`dealloc`]: the allocator behind the library's
//!   `{prefix}_proto2ffi_alloc`/`dealloc` exports.
//!
//! Foreign memory is hostile: no field of a fixed struct has invalid bit
//! patterns (bools and enums are stored as integers, proven by zerocopy's
//! `FromBytes`/`IntoBytes` derives), and every count, length, pointer and
//! UTF-8 string is checked by [`FixedMessage::validate`] before a handler
//! sees the struct.

use crate::Status;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A fixed-layout message (implemented by generated code).
pub trait FixedMessage: FromBytes + IntoBytes + KnownLayout + Immutable + Sized {
    /// Proto full name, e.g. `particles.v1.Particle`.
    const NAME: &'static str;
    /// Hash of the layout (size, every field's offset, kind and bound): the
    /// value of the exported `{prefix}_proto2ffi_layout_{name}` function,
    /// compared by clients when they open the library.
    const LAYOUT_FINGERPRINT: u64;
    /// Whether the struct (or one nested in it) holds [`ArrayRef`]s. A
    /// response that does lends output storage, so the guard checks it
    /// before the handler runs as well as after.
    const HAS_ARRAY_REFS: bool = false;

    /// Checks what a foreign caller may have written: bools are 0 or 1,
    /// counts and lengths within their bounds, strings UTF-8, array
    /// references well-formed (and the bools, strings and messages they
    /// point at valid).
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` naming the message, the field and what was wrong.
    ///
    /// # Safety
    /// Every non-empty [`ArrayRef`] inside points at storage for
    /// `capacity` elements that nothing writes during the call (the
    /// contract of a fixed-layout call). Structs without array references
    /// can be checked anywhere.
    unsafe fn validate(&self) -> Result<(), Status>;
}

/// A large array of a fixed-layout message: the address, length and
/// capacity (in elements) of storage owned by whoever built the struct.
///
/// Layout (16 bytes, the same on 32- and 64-bit targets): `uint64_t data`
/// (the address; its upper half is zero on 32-bit targets), `uint32_t len`,
/// `uint32_t capacity`. The guard checks `len <= capacity <= max_count`, a
/// non-zero, aligned address when `capacity > 0`, and that the range does
/// not wrap around, before a handler runs.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ArrayRef {
    /// Address of the first element (0 when `capacity == 0`).
    pub data: u64,
    /// Elements in use.
    pub len: u32,
    /// Elements the storage holds.
    pub capacity: u32,
}

// The header's `{prefix}_array_ref`, field for field, on this target.
const _: () = assert!(proto2ffi_core::c_structs::ARRAY_REF.matches_target(
    size_of::<ArrayRef>(),
    align_of::<ArrayRef>(),
    &[
        std::mem::offset_of!(ArrayRef, data),
        std::mem::offset_of!(ArrayRef, len),
        std::mem::offset_of!(ArrayRef, capacity),
    ],
));

impl ArrayRef {
    /// A reference to `slice` (length and capacity its length).
    ///
    /// # Panics
    /// If the slice holds more than `u32::MAX` elements.
    pub fn from_slice<T>(slice: &mut [T]) -> ArrayRef {
        let n = u32::try_from(slice.len()).expect("array of more than u32::MAX elements");
        ArrayRef {
            data: slice.as_mut_ptr() as usize as u64,
            len: n,
            capacity: n,
        }
    }

    /// The elements in use.
    ///
    /// # Safety
    /// The reference passed [`check::array_ref`] for `T`'s size and
    /// alignment (the guard does this for requests and responses), and its
    /// storage holds `capacity` initialised `T`s that nothing writes during
    /// the borrow.
    pub unsafe fn as_slice<T: FromBytes>(&self) -> &[T] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: non-null, aligned, in bounds and initialised per the
        // contract; `T: FromBytes` accepts any bytes.
        unsafe { std::slice::from_raw_parts(self.data as usize as *const T, self.len as usize) }
    }

    /// The whole storage (`capacity` elements), to fill before setting `len`.
    ///
    /// # Safety
    /// As [`ArrayRef::as_slice`], and nothing else reads or writes the
    /// storage during the borrow.
    pub unsafe fn storage_mut<T: FromBytes + IntoBytes>(&mut self) -> &mut [T] {
        if self.capacity == 0 {
            return &mut [];
        }
        // SAFETY: as `as_slice`, with exclusive access per the contract.
        unsafe {
            std::slice::from_raw_parts_mut(self.data as usize as *mut T, self.capacity as usize)
        }
    }
}

/// Checks for generated `validate` bodies; each error is `INVALID_ARGUMENT`
/// naming `path.field` (`path` is the message's name).
pub(crate) mod check {
    use super::ArrayRef;
    use crate::Status;

    /// A bool stored as a byte: 0 or 1.
    #[inline]
    pub fn boolean(v: u8, path: &str, field: &str) -> Result<(), Status> {
        if v > 1 {
            return Err(Status::invalid_argument(format!(
                "{path}.{field}: a bool holds {v} (0 or 1 expected)"
            )));
        }
        Ok(())
    }

    /// A count or length within its bound.
    #[inline]
    pub fn count(n: u32, max: u32, path: &str, field: &str) -> Result<(), Status> {
        if n > max {
            return Err(Status::invalid_argument(format!(
                "{path}.{field}: {n} elements exceed its max_count of {max}"
            )));
        }
        Ok(())
    }

    /// The first `len` bytes of an inline string are UTF-8.
    #[inline]
    pub fn utf8(bytes: &[u8], path: &str, field: &str) -> Result<(), Status> {
        std::str::from_utf8(bytes)
            .map(|_| ())
            .map_err(|e| Status::invalid_argument(format!("{path}.{field}: not UTF-8 ({e})")))
    }

    /// An array reference: `len <= capacity <= max`, a non-zero address
    /// aligned to `align` when `capacity > 0`, addressable on this target,
    /// and a range that does not wrap.
    #[inline]
    pub fn array_ref(
        r: &ArrayRef,
        max: u32,
        elem_size: usize,
        align: usize,
        path: &str,
        field: &str,
    ) -> Result<(), Status> {
        if r.len > r.capacity {
            return Err(Status::invalid_argument(format!(
                "{path}.{field}: len {} exceeds capacity {}",
                r.len, r.capacity
            )));
        }
        if r.capacity > max {
            return Err(Status::invalid_argument(format!(
                "{path}.{field}: capacity {} exceeds its max_count of {max}",
                r.capacity
            )));
        }
        if r.capacity == 0 {
            return Ok(());
        }
        let Ok(addr) = usize::try_from(r.data) else {
            return Err(Status::invalid_argument(format!(
                "{path}.{field}: address {:#x} is not addressable on this target",
                r.data
            )));
        };
        if addr == 0 {
            return Err(Status::invalid_argument(format!(
                "{path}.{field}: NULL data with capacity {}",
                r.capacity
            )));
        }
        if addr % align != 0 {
            return Err(Status::invalid_argument(format!(
                "{path}.{field}: data address {addr:#x} is not aligned to {align} bytes"
            )));
        }
        let bytes = (r.capacity as usize).checked_mul(elem_size);
        if bytes.and_then(|b| addr.checked_add(b)).is_none() || bytes > Some(isize::MAX as usize) {
            return Err(Status::invalid_argument(format!(
                "{path}.{field}: {} elements at {addr:#x} wrap around the address space",
                r.capacity
            )));
        }
        Ok(())
    }
}

/// Largest alignment [`alloc`] accepts.
pub const MAX_ALIGN: usize = 4096;

/// Allocates `size` zeroed bytes aligned to `align` (a power of two up to
/// [`MAX_ALIGN`]); NULL when `size` is 0, `align` is invalid or memory is
/// exhausted. Never panics.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    if size == 0 || !align.is_power_of_two() || align > MAX_ALIGN {
        return std::ptr::null_mut();
    }
    match std::alloc::Layout::from_size_align(size, align) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { std::alloc::alloc_zeroed(layout) },
        Err(_) => std::ptr::null_mut(),
    }
}

/// Releases memory from [`alloc`]; NULL is a no-op.
///
/// # Safety
/// `ptr` is NULL or came from [`alloc`] with the same `size` and `align`,
/// and is not used afterwards.
pub unsafe fn dealloc(ptr: *mut u8, size: usize, align: usize) {
    if ptr.is_null() {
        return;
    }
    if let Ok(layout) = std::alloc::Layout::from_size_align(size, align) {
        // SAFETY: allocated with this layout per the contract.
        unsafe { std::alloc::dealloc(ptr, layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[test]
    fn array_ref_checks() {
        let ok = |r: ArrayRef| check::array_ref(&r, 8, 4, 4, "request", "data");
        let mut storage = [0u32; 8];
        let mut r = ArrayRef::from_slice(&mut storage);
        assert!(ok(r).is_ok());
        r.len = 9;
        assert_eq!(ok(r).unwrap_err().code(), Code::InvalidArgument);
        r.len = 2;
        r.capacity = 9;
        assert!(ok(r).unwrap_err().message().contains("max_count of 8"));
        r.capacity = 2;
        r.data += 1;
        assert!(ok(r).unwrap_err().message().contains("not aligned"));
        r.data = 0;
        assert!(ok(r).unwrap_err().message().contains("NULL"));
        assert!(ok(ArrayRef::default()).is_ok());
        let wrap = ArrayRef {
            data: (usize::MAX - 3) as u64 & !3,
            len: 1,
            capacity: 2,
        };
        assert!(ok(wrap).unwrap_err().message().contains("wrap"));
        // SAFETY: `r` points at `storage`, checked above.
        let r = ArrayRef::from_slice(&mut storage);
        assert_eq!(unsafe { r.as_slice::<u32>() }.len(), 8);
    }

    #[test]
    fn scalar_checks() {
        assert!(check::boolean(1, "r", "b").is_ok());
        assert!(check::boolean(7, "r", "b")
            .unwrap_err()
            .message()
            .contains("r.b: a bool holds 7"));
        assert!(check::count(3, 3, "r", "c").is_ok());
        assert!(check::count(4, 3, "r", "c").is_err());
        assert!(check::utf8(b"\xff", "r", "s").is_err());
    }

    #[test]
    fn alloc_refuses_bad_layouts() {
        assert!(alloc(0, 8).is_null());
        assert!(alloc(8, 3).is_null());
        assert!(alloc(8, 8192).is_null());
        let p = alloc(100, 64);
        assert!(!p.is_null());
        assert_eq!(p as usize % 64, 0);
        // SAFETY: zeroed allocation of 100 bytes.
        assert!(unsafe { std::slice::from_raw_parts(p, 100) }
            .iter()
            .all(|b| *b == 0));
        // SAFETY: from `alloc` with this layout.
        unsafe { dealloc(p, 100, 64) };
        // SAFETY: NULL is a no-op.
        unsafe { dealloc(std::ptr::null_mut(), 1, 1) };
    }
}
