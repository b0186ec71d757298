//! Every kernel against the scalar reference (byte-identical on random
//! images whose sizes straddle the vector widths), the blur against a
//! direct two-pass definition, and the entry points as C calls them.

use image_pipeline::kernels::{self, Divisor, Impl};
use image_pipeline::pb::fixed::{Adjust, HistogramRequest, ImageBuffer, LumaHistogram};
use image_pipeline::pb::Kernel;
use proto2ffi::fixed::ArrayRef;

/// xorshift: deterministic pixels without a dependency.
fn noise(n: usize, seed: u64) -> Vec<u32> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u32
        })
        .collect()
}

const SIZES: [(usize, usize); 7] = [(1, 1), (7, 3), (8, 1), (9, 5), (31, 2), (33, 17), (70, 41)];

#[test]
fn simd_kernels_match_the_scalar_ones_byte_for_byte() {
    let available = Impl::available();
    eprintln!("kernels here: {available:?}");
    for (w, h) in SIZES {
        let src = noise(w * h, (w * 31 + h) as u64);
        for k in &available {
            let mut a = src.clone();
            let mut b = src.clone();
            kernels::grayscale(Impl::Scalar, &mut a).unwrap();
            kernels::grayscale(*k, &mut b).unwrap();
            assert_eq!(a, b, "grayscale {k:?} {w}x{h}");
            for amount in [-255, -40, 0, 1, 77, 255] {
                let mut a = src.clone();
                let mut b = src.clone();
                kernels::brightness(Impl::Scalar, &mut a, amount).unwrap();
                kernels::brightness(*k, &mut b, amount).unwrap();
                assert_eq!(a, b, "brightness {amount} {k:?} {w}x{h}");
            }
            let (mut ha, mut hb) = ([0u32; 256], [0u32; 256]);
            kernels::histogram(Impl::Scalar, &src, &mut ha).unwrap();
            kernels::histogram(*k, &src, &mut hb).unwrap();
            assert_eq!(ha, hb, "histogram {k:?} {w}x{h}");
            assert_eq!(ha.iter().sum::<u32>() as usize, w * h);
            for radius in [1, 2, 5, 32] {
                let mut a = src.clone();
                let mut b = src.clone();
                kernels::box_blur(Impl::Scalar, &mut a, w, h, radius).unwrap();
                kernels::box_blur(*k, &mut b, w, h, radius).unwrap();
                assert_eq!(a, b, "blur r={radius} {k:?} {w}x{h}");
            }
        }
    }
}

#[test]
fn scalar_kernels_compute_the_documented_formulas() {
    let src = noise(500, 9);
    let mut g = src.clone();
    kernels::grayscale(Impl::Scalar, &mut g).unwrap();
    for (p, q) in src.iter().zip(&g) {
        let (r, gr, b) = (p & 0xff, (p >> 8) & 0xff, (p >> 16) & 0xff);
        let y = (77 * r + 150 * gr + 29 * b) >> 8;
        assert_eq!(*q, y | y << 8 | y << 16 | (p & 0xff00_0000));
    }
    let mut br = src.clone();
    kernels::brightness(Impl::Scalar, &mut br, 100).unwrap();
    for (p, q) in src.iter().zip(&br) {
        for shift in [0, 8, 16] {
            let c = (p >> shift) & 0xff;
            assert_eq!((q >> shift) & 0xff, (c + 100).min(255));
        }
        assert_eq!(q >> 24, p >> 24, "alpha kept");
    }
}

/// The blur by its definition: a horizontal then a vertical mean over
/// clamped windows, each rounded with the documented divisor.
fn blur_by_definition(src: &[u32], w: usize, h: usize, r: usize) -> Vec<u32> {
    let d = Divisor::new(r as u32);
    let at = |img: &[u32], x: isize, y: isize, c: u32| -> u16 {
        let x = x.clamp(0, w as isize - 1) as usize;
        let y = y.clamp(0, h as isize - 1) as usize;
        ((img[y * w + x] >> (8 * c)) & 0xff) as u16
    };
    let pass = |img: &[u32], horizontal: bool| -> Vec<u32> {
        let mut out = vec![0u32; w * h];
        for y in 0..h as isize {
            for x in 0..w as isize {
                let mut px = 0u32;
                for c in 0..4 {
                    let sum: u16 = (-(r as isize)..=r as isize)
                        .map(|k| {
                            if horizontal {
                                at(img, x + k, y, c)
                            } else {
                                at(img, x, y + k, c)
                            }
                        })
                        .sum();
                    px |= u32::from(d.mean(sum)) << (8 * c);
                }
                out[y as usize * w + x as usize] = px;
            }
        }
        out
    };
    pass(&pass(src, true), false)
}

#[test]
fn blur_matches_its_definition() {
    for (w, h) in [(1, 1), (5, 9), (33, 17), (40, 3)] {
        for r in [1usize, 3, 7] {
            let src = noise(w * h, (w + 7 * h + r) as u64);
            let mut got = src.clone();
            kernels::box_blur(Impl::best(), &mut got, w, h, r as u32).unwrap();
            assert_eq!(got, blur_by_definition(&src, w, h, r), "{w}x{h} r={r}");
        }
    }
    let mut flat = vec![0x8040_2010u32; 64 * 64];
    kernels::box_blur(Impl::best(), &mut flat, 64, 64, 32).unwrap();
    assert!(
        flat.iter().all(|p| *p == 0x8040_2010),
        "a flat image stays flat"
    );
}

#[test]
fn out_of_range_parameters_are_refused() {
    let mut px = vec![0u32; 4];
    assert!(kernels::box_blur(Impl::Scalar, &mut px, 2, 2, 0).is_err());
    assert!(kernels::box_blur(Impl::Scalar, &mut px, 2, 2, 33).is_err());
    let missing = Impl::ALL.into_iter().find(|k| !k.is_available()).unwrap();
    assert!(kernels::grayscale(missing, &mut px).is_err());
}

// The entry points as a C program declares them from the header (the rlib
// linked into this test defines them).
unsafe extern "C" {
    fn image_image_pipeline_grayscale(
        request: *const Adjust,
        response: *mut ImageBuffer,
        error: *mut proto2ffi::Buffer,
    ) -> i32;
    fn image_image_pipeline_histogram(
        request: *const HistogramRequest,
        response: *mut LumaHistogram,
        error: *mut proto2ffi::Buffer,
    ) -> i32;
}

/// 64-byte aligned pixel storage, as `simd = true` requires.
struct Aligned {
    ptr: *mut u32,
    len: usize,
}

impl Aligned {
    fn new(pixels: &[u32]) -> Aligned {
        let len = pixels.len();
        let ptr = proto2ffi::fixed::alloc(len * 4, 64).cast::<u32>();
        // SAFETY: a fresh allocation of `len` u32s.
        unsafe { std::ptr::copy_nonoverlapping(pixels.as_ptr(), ptr, len) };
        Aligned { ptr, len }
    }
    fn pixels(&self) -> &[u32] {
        // SAFETY: `len` initialised u32s owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
    fn image(&self, w: u32, h: u32) -> ImageBuffer {
        let mut image = ImageBuffer::default();
        image.width = w;
        image.height = h;
        image.set_data_ref(ArrayRef {
            data: self.ptr as usize as u64,
            len: self.len as u32,
            capacity: self.len as u32,
        });
        image
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: from `alloc` with this size and alignment.
        unsafe { proto2ffi::fixed::dealloc(self.ptr.cast(), self.len * 4, 64) };
    }
}

#[test]
fn entry_points_edit_caller_memory_in_place() {
    let (w, h) = (37u32, 11u32);
    let src = noise((w * h) as usize, 5);
    let storage = Aligned::new(&src);
    let mut image = storage.image(w, h);
    let mut adjust = Adjust::default();
    adjust.set_kernel(Kernel::Auto);
    // SAFETY: separate, live structs; the storage outlives the call.
    let code = unsafe { image_image_pipeline_grayscale(&adjust, &mut image, std::ptr::null_mut()) };
    assert_eq!(code, 0);
    let mut expected = src.clone();
    kernels::grayscale(Impl::Scalar, &mut expected).unwrap();
    assert_eq!(storage.pixels(), &expected[..]);

    let mut request = HistogramRequest::default();
    request.image = storage.image(w, h);
    request.set_kernel(Kernel::Scalar);
    let mut hist = LumaHistogram::default();
    // SAFETY: as above.
    let code = unsafe { image_image_pipeline_histogram(&request, &mut hist, std::ptr::null_mut()) };
    assert_eq!(code, 0);
    assert_eq!(hist.pixels, u64::from(w * h));
    assert_eq!(hist.bins().iter().sum::<u32>(), w * h);

    // Wrong dimensions, misaligned storage, an unknown kernel: refused.
    let mut wrong = storage.image(w + 1, h);
    // SAFETY: as above.
    let code = unsafe { image_image_pipeline_grayscale(&adjust, &mut wrong, std::ptr::null_mut()) };
    assert_eq!(code, 3);
    let mut misaligned = storage.image(1, 1);
    let mut r = *misaligned.data_ref();
    r.data += 4;
    r.len = 1;
    r.capacity = 1;
    misaligned.set_data_ref(r);
    // SAFETY: the guard refuses before the handler reads.
    let code =
        unsafe { image_image_pipeline_grayscale(&adjust, &mut misaligned, std::ptr::null_mut()) };
    assert_eq!(code, 3);
    adjust.set_kernel_raw(9);
    // SAFETY: as above.
    let code = unsafe { image_image_pipeline_grayscale(&adjust, &mut image, std::ptr::null_mut()) };
    assert_eq!(code, 3);
}
