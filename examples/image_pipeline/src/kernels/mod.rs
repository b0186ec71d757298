//! The image kernels and the choice between them.
//!
//! Every operation has a portable [`scalar`] version and SIMD versions
//! ([`avx2`] on x86 and x86_64, chosen at run time with
//! `is_x86_feature_detected!`; `neon` on aarch64, where NEON is always
//! present). All versions compute the same integer formulas, so their
//! results are byte-identical (the tests compare them on random images of
//! every size around the vector widths).
//!
//! Why `std::arch` and not a portable-SIMD crate (`wide`, `pulp`): the hot
//! operations are byte shuffles and saturating byte arithmetic
//! (`vld4q_u8`/`vst4q_u8` on NEON, `_mm256_adds_epu8`, `_mm256_mulhi_epu16`,
//! `_mm256_packus_epi16` on AVX2) that those crates either do not expose or
//! lower to generic code; measured, grayscale and brightness reach the
//! memory bandwidth with intrinsics, so a dependency would buy nothing
//! here (see BENCHMARKS.md, "Image pipeline").
//!
//! Length rules: kernels take the pixels in use (`len`, which must equal
//! `width * height`); they process whole vectors and finish the tail (the
//! last `len % 8` pixels on AVX2, `len % 16` on NEON) with the scalar code.
//! Storage only needs the 64-byte alignment `simd = true` asks for; no
//! padding past `len` is read or written.

pub mod scalar;

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
pub mod avx2;

#[cfg(target_arch = "aarch64")]
pub mod neon;

/// An implementation of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// Portable Rust.
    Scalar,
    /// AVX2 (x86, x86_64).
    Avx2,
    /// NEON (aarch64).
    Neon,
}

impl Impl {
    /// Every implementation, in order of preference (last = best).
    pub const ALL: [Impl; 3] = [Impl::Scalar, Impl::Avx2, Impl::Neon];

    /// Whether this CPU and build can run it.
    pub fn is_available(self) -> bool {
        match self {
            Impl::Scalar => true,
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            Impl::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "aarch64")]
            Impl::Neon => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The implementations available here.
    pub fn available() -> Vec<Impl> {
        Impl::ALL.into_iter().filter(|k| k.is_available()).collect()
    }

    /// The fastest available implementation.
    pub fn best() -> Impl {
        *Impl::available()
            .last()
            .expect("scalar is always available")
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Scalar => "scalar",
            Impl::Avx2 => "avx2",
            Impl::Neon => "neon",
        }
    }
}

/// Asked for an implementation this CPU or build lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable(pub Impl);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} kernels are not available on this CPU",
            self.0.name()
        )
    }
}

fn check(k: Impl) -> Result<(), Unavailable> {
    if k.is_available() {
        Ok(())
    } else {
        Err(Unavailable(k))
    }
}

/// Rec. 601 luma of an RGBA pixel (R in the low byte), 8-bit fixed point.
#[inline]
pub fn luma(rgba: u32) -> u8 {
    let (r, g, b) = (rgba & 0xff, (rgba >> 8) & 0xff, (rgba >> 16) & 0xff);
    ((77 * r + 150 * g + 29 * b) >> 8) as u8
}

/// R = G = B = luma, A kept, in place.
pub fn grayscale(k: Impl, pixels: &mut [u32]) -> Result<(), Unavailable> {
    check(k)?;
    match k {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        // SAFETY: AVX2 was detected above.
        Impl::Avx2 => unsafe { avx2::grayscale(pixels) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: NEON is part of aarch64.
        Impl::Neon => unsafe { neon::grayscale(pixels) },
        _ => scalar::grayscale(pixels),
    }
    Ok(())
}

/// R, G and B plus `amount` (clamped to ±255), saturating; A kept.
pub fn brightness(k: Impl, pixels: &mut [u32], amount: i32) -> Result<(), Unavailable> {
    check(k)?;
    let amount = amount.clamp(-255, 255);
    match k {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        // SAFETY: AVX2 was detected above.
        Impl::Avx2 => unsafe { avx2::brightness(pixels, amount) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: NEON is part of aarch64.
        Impl::Neon => unsafe { neon::brightness(pixels, amount) },
        _ => scalar::brightness(pixels, amount),
    }
    Ok(())
}

/// Adds the luma histogram of `pixels` to `bins`.
pub fn histogram(k: Impl, pixels: &[u32], bins: &mut [u32; 256]) -> Result<(), Unavailable> {
    check(k)?;
    match k {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        // SAFETY: AVX2 was detected above.
        Impl::Avx2 => unsafe { avx2::histogram(pixels, bins) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: NEON is part of aarch64.
        Impl::Neon => unsafe { neon::histogram(pixels, bins) },
        _ => scalar::histogram(pixels, bins),
    }
    Ok(())
}

/// Largest box blur radius.
pub const MAX_RADIUS: u32 = 32;

/// The rounding division every blur pass uses: the mean of `n = 2 r + 1`
/// values whose sum is `sum` is `((sum + r) * recip) >> 16` with `recip =
/// ceil(65536 / n)` — exact integer arithmetic every SIMD unit has as a
/// 16-bit "multiply high" (`_mm256_mulhi_epu16`, `vmull_u16` + shift), and
/// below 256 for every `n <= 65`.
#[derive(Clone, Copy, Debug)]
pub struct Divisor {
    /// `r` (half the window, rounded down).
    pub half: u16,
    /// `ceil(65536 / n)`.
    pub recip: u16,
}

impl Divisor {
    /// For radius `r` in `1..=MAX_RADIUS`.
    pub fn new(radius: u32) -> Divisor {
        assert!((1..=MAX_RADIUS).contains(&radius));
        let n = 2 * radius + 1;
        Divisor {
            half: radius as u16,
            recip: 65536u32.div_ceil(n) as u16,
        }
    }

    /// The mean of a window whose sum is `sum`.
    #[inline]
    pub fn mean(self, sum: u16) -> u8 {
        ((u32::from(sum + self.half) * u32::from(self.recip)) >> 16) as u8
    }
}

/// Why a blur was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlurError {
    /// The implementation is not available here.
    Unavailable(Unavailable),
    /// The radius is outside `1..=MAX_RADIUS`.
    BadRadius(u32),
}

impl std::fmt::Display for BlurError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlurError::Unavailable(u) => u.fmt(f),
            BlurError::BadRadius(r) => {
                write!(f, "box blur radius {r} is outside 1..={MAX_RADIUS}")
            }
        }
    }
}

/// Box blur of every channel (A too) over a `(2 radius + 1)²` window with
/// clamped edges, in place: a horizontal then a vertical running-sum pass,
/// each rounding to bytes with [`Divisor`]. AVX2 runs the horizontal pass
/// four rows at a time and the vertical one 32 bytes at a time; NEON runs
/// the vertical one 16 bytes at a time and the scalar horizontal pass.
/// Scratch memory: four rows, `radius + 1` rows and one row of 16-bit sums.
///
/// # Panics
/// If `pixels.len() != width * height`.
pub fn box_blur(
    k: Impl,
    pixels: &mut [u32],
    width: usize,
    height: usize,
    radius: u32,
) -> Result<(), BlurError> {
    check(k).map_err(BlurError::Unavailable)?;
    if !(1..=MAX_RADIUS).contains(&radius) {
        return Err(BlurError::BadRadius(radius));
    }
    assert_eq!(
        pixels.len(),
        width * height,
        "pixels of a {width}x{height} image"
    );
    if pixels.is_empty() {
        return Ok(());
    }
    let d = Divisor::new(radius);
    match k {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        // SAFETY: AVX2 was detected above.
        Impl::Avx2 => unsafe { avx2::blur_rows(pixels, width, d, radius as usize) },
        _ => scalar::blur_rows(pixels, width, d, radius as usize),
    }
    let slide: scalar::Slide = match k {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        // SAFETY: AVX2 was detected above (the pointer is only called
        // from here, after that check).
        Impl::Avx2 => |s, a, b, o, d| unsafe { avx2::slide(s, a, b, o, d) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: NEON is part of aarch64.
        Impl::Neon => |s, a, b, o, d| unsafe { neon::slide(s, a, b, o, d) },
        _ => scalar::slide,
    };
    scalar::blur_columns(pixels, width, height, d, radius as usize, slide);
    Ok(())
}

/// The read-only bandwidth probe: a wrapping sum of every pixel (AVX2 when
/// available), the floor no in-place kernel can beat.
pub fn read_sum(pixels: &[u32]) -> u32 {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if Impl::Avx2.is_available() {
        // SAFETY: AVX2 detected.
        return unsafe { avx2::read_sum(pixels) };
    }
    pixels.iter().fold(0u32, |a, p| a.wrapping_add(*p))
}
