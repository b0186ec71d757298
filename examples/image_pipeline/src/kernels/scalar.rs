//! Portable kernels, the reference every SIMD version must match byte for
//! byte, and the blur's two passes (the vertical one takes the per-row
//! `slide` of the chosen implementation).

use super::{luma, Divisor};
use proto2ffi::zerocopy::IntoBytes;

/// One gray pixel: R = G = B = luma, A kept.
#[inline]
pub fn gray(p: u32) -> u32 {
    let y = u32::from(luma(p));
    y | y << 8 | y << 16 | (p & 0xff00_0000)
}

/// See [`super::grayscale`].
pub fn grayscale(pixels: &mut [u32]) {
    for p in pixels {
        *p = gray(*p);
    }
}

/// One pixel with `amount` added to R, G and B, saturating.
#[inline]
pub fn brighten(p: u32, amount: i32) -> u32 {
    let c = |shift: u32| ((((p >> shift) & 0xff) as i32 + amount).clamp(0, 255) as u32) << shift;
    c(0) | c(8) | c(16) | (p & 0xff00_0000)
}

/// See [`super::brightness`].
pub fn brightness(pixels: &mut [u32], amount: i32) {
    for p in pixels {
        *p = brighten(*p, amount);
    }
}

/// See [`super::histogram`].
pub fn histogram(pixels: &[u32], bins: &mut [u32; 256]) {
    for p in pixels {
        bins[luma(*p) as usize] += 1;
    }
}

/// A pixel's four channels in four 16-bit lanes of a `u64` (SWAR).
#[inline]
fn spread(p: u32) -> u64 {
    let p = u64::from(p);
    (p & 0xff) | (p & 0xff00) << 8 | (p & 0xff_0000) << 16 | (p & 0xff00_0000) << 24
}

/// The four lane means of `sums` as a pixel.
#[inline]
fn means(sums: u64, d: Divisor) -> u32 {
    let lane = |i: u32| u32::from(d.mean((sums >> (16 * i)) as u16)) << (8 * i);
    lane(0) | lane(1) | lane(2) | lane(3)
}

/// The horizontal pass, in place, row by row: a running sum of the four
/// channels in one `u64` (each lane at most `255 * 65`, so lanes never
/// carry into each other; the add comes before the subtract, so they never
/// borrow). Each output depends on the previous one, so vectors cannot
/// work along a row; the AVX2 version runs four rows side by side instead.
pub fn blur_rows(pixels: &mut [u32], width: usize, d: Divisor, r: usize) {
    let mut row = vec![0u32; width];
    let last = width - 1;
    for line in pixels.chunks_exact_mut(width) {
        row.copy_from_slice(line);
        let mut sums = spread(row[0]) * (r as u64 + 1);
        for i in 1..=r {
            sums += spread(row[i.min(last)]);
        }
        for (x, out) in line.iter_mut().enumerate() {
            *out = means(sums, d);
            sums += spread(row[(x + r + 1).min(last)]);
            sums -= spread(row[x.saturating_sub(r)]);
        }
    }
}

/// A row step of the vertical pass: `(sums, add, sub, out, divisor)`.
pub type Slide = fn(&mut [u16], &[u8], &[u8], &mut [u8], Divisor);

/// One step of the vertical pass over the bytes of a row: `sums += add -
/// sub`, `out = mean(sums)` (scalar version).
pub fn slide(sums: &mut [u16], add: &[u8], sub: &[u8], out: &mut [u8], d: Divisor) {
    for (((s, a), b), o) in sums.iter_mut().zip(add).zip(sub).zip(out) {
        *s = *s + u16::from(*a) - u16::from(*b);
        *o = d.mean(*s);
    }
}

/// The vertical pass, in place: 16-bit running sums per byte column; rows
/// already overwritten are read back from a ring of the last `r + 1`
/// original rows. `slide` is the chosen implementation's row step.
pub fn blur_columns(
    pixels: &mut [u32],
    width: usize,
    height: usize,
    d: Divisor,
    r: usize,
    slide: Slide,
) {
    let bytes = width * 4;
    let image = pixels.as_mut_bytes();
    let last = height - 1;
    let mut sums = vec![0u16; bytes];
    let mut ring = vec![0u8; (r + 1) * bytes];
    let mut row_copy = vec![0u8; bytes];
    // Row 0's window: r + 1 copies of row 0, then rows 1..=r (clamped).
    for (i, s) in sums.iter_mut().enumerate() {
        let mut v = u16::from(image[i]) * (r as u16 + 1);
        for k in 1..=r {
            v += u16::from(image[k.min(last) * bytes + i]);
        }
        *s = v;
    }
    for y in 0..height {
        let slot = (y % (r + 1)) * bytes;
        if y == 0 {
            ring[slot..slot + bytes].copy_from_slice(&image[..bytes]);
            for (o, s) in image[..bytes].iter_mut().zip(&sums) {
                *o = d.mean(*s);
            }
            continue;
        }
        // The window moves down: add row min(y + r, last) (not overwritten
        // yet), drop row max(y - r - 1, 0) (an original from the ring).
        let add = (y + r).min(last);
        let drop = y.saturating_sub(r + 1);
        let drop_slot = (drop % (r + 1)) * bytes;
        row_copy.copy_from_slice(&ring[drop_slot..drop_slot + bytes]);
        ring[slot..slot + bytes].copy_from_slice(&image[y * bytes..(y + 1) * bytes]);
        if add == y {
            let current = ring[slot..slot + bytes].to_vec();
            slide(
                &mut sums,
                &current,
                &row_copy,
                &mut image[y * bytes..(y + 1) * bytes],
                d,
            );
        } else {
            let (head, tail) = image.split_at_mut(add * bytes);
            slide(
                &mut sums,
                &tail[..bytes],
                &row_copy,
                &mut head[y * bytes..(y + 1) * bytes],
                d,
            );
        }
    }
}
