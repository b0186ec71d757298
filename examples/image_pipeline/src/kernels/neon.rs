//! NEON kernels (aarch64): 16 pixels per step, deinterleaved into R, G, B
//! and A vectors by `vld4q_u8`, the same integer formulas as
//! [`super::scalar`], which finishes each tail.
//!
//! NEON is part of every aarch64 CPU; the functions are `unsafe` only
//! because they are `#[target_feature]` functions.

use std::arch::aarch64::*;

use super::{scalar, Divisor};

/// Luma of 16 deinterleaved pixels: `(77 R + 150 G + 29 B) >> 8` in 16-bit
/// lanes (at most 65280), narrowed to bytes.
#[inline]
#[target_feature(enable = "neon")]
fn luma16(px: uint8x16x4_t) -> uint8x16_t {
    let (w_r, w_g, w_b) = (vdup_n_u8(77), vdup_n_u8(150), vdup_n_u8(29));
    let lo = vmlal_u8(
        vmlal_u8(vmull_u8(vget_low_u8(px.0), w_r), vget_low_u8(px.1), w_g),
        vget_low_u8(px.2),
        w_b,
    );
    let hi = vmlal_u8(
        vmlal_u8(vmull_u8(vget_high_u8(px.0), w_r), vget_high_u8(px.1), w_g),
        vget_high_u8(px.2),
        w_b,
    );
    vcombine_u8(vshrn_n_u16::<8>(lo), vshrn_n_u16::<8>(hi))
}

/// # Safety
/// NEON is available (always, on aarch64).
#[target_feature(enable = "neon")]
pub unsafe fn grayscale(pixels: &mut [u32]) {
    let mut chunks = pixels.chunks_exact_mut(16);
    for c in &mut chunks {
        let p = c.as_mut_ptr().cast::<u8>();
        // SAFETY: 64 bytes in bounds.
        unsafe {
            let v = vld4q_u8(p);
            let y = luma16(v);
            vst4q_u8(p, uint8x16x4_t(y, y, y, v.3));
        }
    }
    scalar::grayscale(chunks.into_remainder());
}

/// # Safety
/// NEON is available.
#[target_feature(enable = "neon")]
pub unsafe fn brightness(pixels: &mut [u32], amount: i32) {
    let d = vdupq_n_u8(amount.unsigned_abs().min(255) as u8);
    let mut chunks = pixels.chunks_exact_mut(16);
    for c in &mut chunks {
        let p = c.as_mut_ptr().cast::<u8>();
        // SAFETY: 64 bytes in bounds.
        unsafe {
            let v = vld4q_u8(p);
            let f = |x: uint8x16_t| {
                if amount >= 0 {
                    vqaddq_u8(x, d)
                } else {
                    vqsubq_u8(x, d)
                }
            };
            vst4q_u8(p, uint8x16x4_t(f(v.0), f(v.1), f(v.2), v.3));
        }
    }
    scalar::brightness(chunks.into_remainder(), amount);
}

/// # Safety
/// NEON is available.
#[target_feature(enable = "neon")]
pub unsafe fn histogram(pixels: &[u32], bins: &mut [u32; 256]) {
    let mut sub = [[0u32; 256]; 4];
    let mut lumas = [0u8; 16];
    let mut chunks = pixels.chunks_exact(16);
    for c in &mut chunks {
        // SAFETY: 64 bytes in bounds; `lumas` holds 16.
        unsafe { vst1q_u8(lumas.as_mut_ptr(), luma16(vld4q_u8(c.as_ptr().cast()))) };
        for (i, y) in lumas.iter().enumerate() {
            sub[i & 3][*y as usize] += 1;
        }
    }
    for (i, b) in bins.iter_mut().enumerate() {
        *b += sub[0][i] + sub[1][i] + sub[2][i] + sub[3][i];
    }
    scalar::histogram(chunks.remainder(), bins);
}

/// The vertical blur step, 16 bytes at a time.
///
/// # Safety
/// NEON is available.
#[target_feature(enable = "neon")]
pub unsafe fn slide(sums: &mut [u16], add: &[u8], sub: &[u8], out: &mut [u8], d: Divisor) {
    let n = sums.len().min(add.len()).min(sub.len()).min(out.len());
    let half = vdupq_n_u16(d.half);
    let recip = vdup_n_u16(d.recip);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 elements of each slice from i are in bounds.
        unsafe {
            let a = vld1q_u8(add.as_ptr().add(i));
            let b = vld1q_u8(sub.as_ptr().add(i));
            let sp = sums.as_mut_ptr().add(i);
            let s_lo = vsubq_u16(
                vaddq_u16(vld1q_u16(sp), vmovl_u8(vget_low_u8(a))),
                vmovl_u8(vget_low_u8(b)),
            );
            let s_hi = vsubq_u16(
                vaddq_u16(vld1q_u16(sp.add(8)), vmovl_u8(vget_high_u8(a))),
                vmovl_u8(vget_high_u8(b)),
            );
            vst1q_u16(sp, s_lo);
            vst1q_u16(sp.add(8), s_hi);
            let mean = |s: uint16x8_t| -> uint8x8_t {
                let t = vaddq_u16(s, half);
                let lo = vshrn_n_u32::<16>(vmull_u16(vget_low_u16(t), recip));
                let hi = vshrn_n_u32::<16>(vmull_u16(vget_high_u16(t), recip));
                vmovn_u16(vcombine_u16(lo, hi))
            };
            vst1q_u8(out.as_mut_ptr().add(i), vcombine_u8(mean(s_lo), mean(s_hi)));
        }
        i += 16;
    }
    scalar::slide(&mut sums[i..n], &add[i..n], &sub[i..n], &mut out[i..n], d);
}
