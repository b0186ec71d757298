//! AVX2 kernels (x86 and x86_64): 8 pixels per vector, the same integer
//! formulas as [`super::scalar`], which finishes each tail.
//!
//! Every function is `unsafe` with one contract: the CPU supports AVX2
//! (the dispatcher checks `is_x86_feature_detected!("avx2")` first).
//! Loads and stores are unaligned forms inside slice bounds, so any
//! storage works; `simd = true` storage is 64-byte aligned anyway.

#[cfg(target_arch = "x86")]
use std::arch::x86::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{scalar, Divisor};

/// How far ahead the streaming kernels prefetch, in bytes.
const PREFETCH: usize = 4096;

/// Luma of 8 pixels in the low byte of each 32-bit lane, with two
/// `_mm256_madd_epi16` (16-bit multiplies summed in pairs): R and B sit in
/// the two 16-bit halves of `v & 0x00ff00ff`, G and A in those of
/// `(v >> 8) & 0x00ff00ff`, so `77 R + 29 B` and `150 G + 0 A` come out as
/// 32-bit lanes — exactly the scalar formula, at a third of the multiply
/// cost of `_mm256_mullo_epi32`.
#[inline]
#[target_feature(enable = "avx2")]
fn luma8(v: __m256i) -> __m256i {
    let mask = _mm256_set1_epi32(0x00ff_00ff);
    let rb = _mm256_and_si256(v, mask);
    let ga = _mm256_and_si256(_mm256_srli_epi32(v, 8), mask);
    let sum = _mm256_add_epi32(
        _mm256_madd_epi16(rb, _mm256_set1_epi32(29 << 16 | 77)),
        _mm256_madd_epi16(ga, _mm256_set1_epi32(150)),
    );
    _mm256_srli_epi32(sum, 8)
}

/// One gray vector: the luma byte of each lane copied to R, G and B by one
/// byte shuffle, A kept.
#[inline]
#[target_feature(enable = "avx2")]
fn gray8(v: __m256i) -> __m256i {
    // Bytes 0, 0, 0 of each lane, and a zero (index with the high bit set)
    // where alpha goes.
    let spread = _mm256_setr_epi8(
        0, 0, 0, -1, 4, 4, 4, -1, 8, 8, 8, -1, 12, 12, 12, -1, 0, 0, 0, -1, 4, 4, 4, -1, 8, 8, 8,
        -1, 12, 12, 12, -1,
    );
    let alpha = _mm256_set1_epi32(0xff00_0000_u32 as i32);
    _mm256_or_si256(
        _mm256_shuffle_epi8(luma8(v), spread),
        _mm256_and_si256(v, alpha),
    )
}

/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2")]
pub unsafe fn grayscale(pixels: &mut [u32]) {
    // Two vectors per iteration keep two loads in flight.
    let mut chunks = pixels.chunks_exact_mut(16);
    for c in &mut chunks {
        let p = c.as_mut_ptr().cast::<__m256i>();
        // SAFETY: 16 u32s in bounds (unaligned loads and stores).
        unsafe {
            let (a, b) = (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)));
            // 4 KiB ahead (tuned on 4K frames, out of cache): the hardware
            // prefetcher alone left grayscale at half the read bandwidth.
            // A prefetch never faults, even past the end of the slice.
            _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>().wrapping_add(PREFETCH));
            _mm256_storeu_si256(p, gray8(a));
            _mm256_storeu_si256(p.add(1), gray8(b));
        }
    }
    let rest = chunks.into_remainder();
    let mut eights = rest.chunks_exact_mut(8);
    for c in &mut eights {
        let p = c.as_mut_ptr().cast::<__m256i>();
        // SAFETY: 8 u32s in bounds.
        unsafe { _mm256_storeu_si256(p, gray8(_mm256_loadu_si256(p))) };
    }
    scalar::grayscale(eights.into_remainder());
}

/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2")]
pub unsafe fn brightness(pixels: &mut [u32], amount: i32) {
    let a = amount.unsigned_abs().min(255);
    let delta = _mm256_set1_epi32((a | a << 8 | a << 16) as i32);
    let mut chunks = pixels.chunks_exact_mut(8);
    for c in &mut chunks {
        let p = c.as_mut_ptr().cast::<__m256i>();
        // SAFETY: 8 u32s in bounds. The alpha byte of `delta` is 0. A
        // prefetch never faults.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>().wrapping_add(PREFETCH));
            let v = _mm256_loadu_si256(p);
            let out = if amount >= 0 {
                _mm256_adds_epu8(v, delta)
            } else {
                _mm256_subs_epu8(v, delta)
            };
            _mm256_storeu_si256(p, out);
        }
    }
    scalar::brightness(chunks.into_remainder(), amount);
}

/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2")]
pub unsafe fn histogram(pixels: &[u32], bins: &mut [u32; 256]) {
    // Four sub-histograms so that runs of equal luma do not serialise on
    // one counter.
    let mut sub = [[0u32; 256]; 4];
    let mut chunks = pixels.chunks_exact(8);
    let mut lumas = [0u32; 8];
    for c in &mut chunks {
        // SAFETY: 8 u32s in bounds; `lumas` holds 8.
        unsafe {
            let y = luma8(_mm256_loadu_si256(c.as_ptr().cast()));
            _mm256_storeu_si256(lumas.as_mut_ptr().cast(), y);
        }
        for (i, y) in lumas.iter().enumerate() {
            sub[i & 3][*y as usize] += 1;
        }
    }
    for (i, b) in bins.iter_mut().enumerate() {
        *b += sub[0][i] + sub[1][i] + sub[2][i] + sub[3][i];
    }
    scalar::histogram(chunks.remainder(), bins);
}

/// The horizontal blur pass, four rows at a time: lane group k of a
/// 16 × u16 vector holds row k's four channel sums, so one vector step
/// moves four running sums (the rows are independent; within a row each
/// output depends on the previous one). Leftover rows use the scalar pass.
///
/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2")]
pub unsafe fn blur_rows(pixels: &mut [u32], width: usize, d: Divisor, r: usize) {
    let groups = pixels.len() / width / 4;
    let half = _mm256_set1_epi16(d.half as i16);
    let recip = _mm256_set1_epi16(d.recip as i16);
    let last = width - 1;
    let mut scratch = vec![0u32; 4 * width];
    for block in pixels.chunks_exact_mut(4 * width).take(groups) {
        scratch.copy_from_slice(block);
        let (s0, rest) = scratch.split_at(width);
        let (s1, rest) = rest.split_at(width);
        let (s2, s3) = rest.split_at(width);
        // Pixel x of the four rows, channels widened to 16 bits.
        let gather = |x: usize| {
            _mm256_cvtepu8_epi16(_mm_setr_epi32(
                s0[x] as i32,
                s1[x] as i32,
                s2[x] as i32,
                s3[x] as i32,
            ))
        };
        let mut sum = _mm256_mullo_epi16(gather(0), _mm256_set1_epi16(r as i16 + 1));
        for i in 1..=r {
            sum = _mm256_add_epi16(sum, gather(i.min(last)));
        }
        for x in 0..width {
            let mean = _mm256_mulhi_epu16(_mm256_add_epi16(sum, half), recip);
            // Each 128-bit half packs to rows (0, 1) and (2, 3) in its low
            // 8 bytes.
            let packed = _mm256_packus_epi16(mean, mean);
            let (lo, hi) = (
                _mm256_castsi256_si128(packed),
                _mm256_extracti128_si256::<1>(packed),
            );
            block[x] = _mm_cvtsi128_si32(lo) as u32;
            block[width + x] = _mm_extract_epi32::<1>(lo) as u32;
            block[2 * width + x] = _mm_cvtsi128_si32(hi) as u32;
            block[3 * width + x] = _mm_extract_epi32::<1>(hi) as u32;
            sum = _mm256_add_epi16(sum, gather((x + r + 1).min(last)));
            sum = _mm256_sub_epi16(sum, gather(x.saturating_sub(r)));
        }
    }
    scalar::blur_rows(&mut pixels[groups * 4 * width..], width, d, r);
}

/// The vertical blur step over a row's bytes, 32 at a time: 16-bit sums
/// (`_mm256_cvtepu8_epi16`), the [`Divisor`] as `_mm256_mulhi_epu16`, and
/// `_mm256_packus_epi16` back to bytes.
///
/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2")]
pub unsafe fn slide(sums: &mut [u16], add: &[u8], sub: &[u8], out: &mut [u8], d: Divisor) {
    let n = sums.len().min(add.len()).min(sub.len()).min(out.len());
    let half = _mm256_set1_epi16(d.half as i16);
    let recip = _mm256_set1_epi16(d.recip as i16);
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: bytes i..i+32 of add, sub and out and sums i..i+32 are in
        // bounds (n is the shortest length).
        unsafe {
            let mut step = |k: usize| -> __m256i {
                let a = _mm256_cvtepu8_epi16(_mm_loadu_si128(add.as_ptr().add(i + k).cast()));
                let b = _mm256_cvtepu8_epi16(_mm_loadu_si128(sub.as_ptr().add(i + k).cast()));
                let sp = sums.as_mut_ptr().add(i + k).cast::<__m256i>();
                let s = _mm256_sub_epi16(_mm256_add_epi16(_mm256_loadu_si256(sp), a), b);
                _mm256_storeu_si256(sp, s);
                _mm256_mulhi_epu16(_mm256_add_epi16(s, half), recip)
            };
            let (lo, hi) = (step(0), step(16));
            // packus interleaves 64-bit quarters: lo0 hi0 lo1 hi1; restore
            // the order lo0 lo1 hi0 hi1.
            let packed = _mm256_permute4x64_epi64(_mm256_packus_epi16(lo, hi), 0b11_01_10_00);
            _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), packed);
        }
        i += 32;
    }
    scalar::slide(&mut sums[i..n], &add[i..n], &sub[i..n], &mut out[i..n], d);
}

/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2")]
pub unsafe fn read_sum(pixels: &[u32]) -> u32 {
    let mut acc = [_mm256_setzero_si256(); 4];
    let mut chunks = pixels.chunks_exact(32);
    for c in &mut chunks {
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: 8 u32s at 8 k within the 32-element chunk.
            *a = _mm256_add_epi32(*a, unsafe {
                _mm256_loadu_si256(c.as_ptr().add(8 * k).cast())
            });
        }
    }
    let mut lanes = [0u32; 8];
    let total = _mm256_add_epi32(
        _mm256_add_epi32(acc[0], acc[1]),
        _mm256_add_epi32(acc[2], acc[3]),
    );
    // SAFETY: 8 u32s.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), total) };
    chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(0u32, |a, p| a.wrapping_add(*p))
}
