//! AVX-512 depthwise 3x3 convolution, stride 1, for exactly 8 channels (MobileNet 0.25's
//! first depthwise layer): two adjacent output pixels per 16-lane vector.
//!
//! The general kernel (`x86_3x3.rs`) puts channels across the lanes, so with 8
//! channels every vector is half masked off. In NHWC with 8 channels, two neighbouring pixels
//! are 16 contiguous floats, so one unaligned load at input pixel `x` gives pixels `x` and
//! `x + 1`: against weights repeated in both halves, tap `kx` of output pixels `o, o + 1` is
//! one FMA on the load at `o + kx - PL`. Loads that reach into the left or right padding mask
//! off the half that lies outside the row; every pair whose loads stay inside the row goes
//! through an unmasked group of `P` pairs (or one), which loads each input vector once per
//! kernel row for all the taps and pairs it feeds. On 0.25-128 this took about 30% off the
//! layer against the general kernel (A/B in one process).

#![cfg(x86_simd)]

use super::ukernel::Shape;
use crate::kernels::activation::Clamp;
use crate::kernels::geometry::taps;
use crate::kernels::x86::avx512::activate;
use std::arch::x86_64::*;

/// Channels this kernel serves.
pub(crate) const C: usize = 8;

/// Output pixel pairs per group: independent accumulators, so the 9 FMAs of a pair do not
/// form one serial chain. Measured against 8 (slower: more pairs fall to the masked edge).
const P: usize = 4;

/// Output rows `rows` of a depthwise 3x3, stride 1, 8-channel convolution (`sh.c == 8`,
/// `sh.s == 1`, padding `sh.pt, sh.pl <= 1`).
///
/// # Safety
/// The CPU must support AVX-512F. `input` readable for `h * w * 8` floats, `weight` for
/// `9 * 8` (tap-major `[3][3][8]`), `bias` for 8, `output` writable for output rows `rows`
/// (`ow * 8` floats each) with nothing else accessing them during the call.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn run<const ACT: u8>(
    input: *const f32,
    weight: *const f32,
    bias: *const f32,
    output: *mut f32,
    sh: Shape,
    rows: std::ops::Range<usize>,
) {
    debug_assert!(sh.c == C && sh.s == 1 && sh.pt <= 1 && sh.pl <= 1);
    // SAFETY: for the whole function, the caller's contract; `taps` keeps every input row read
    // inside the input, and `load` masks off every lane outside the row.
    unsafe {
        // Each tap's 8 weights, and the bias, repeated in both halves.
        let twice = |p: *const f32| {
            _mm512_shuffle_f32x4::<0b0100_0100>(_mm512_maskz_loadu_ps(0xFF, p), _mm512_maskz_loadu_ps(0xFF, p))
        };
        let w: [V; 9] = std::array::from_fn(|t| twice(weight.add(t * C)));
        let b = twice(bias);
        for oy in rows {
            let (ky0, ky1) = taps(oy, sh.h, 3, 1, sh.pt);
            let first = input.add((oy + ky0 - sh.pt) * sh.w * C);
            let out = output.add(oy * sh.ow * C);
            let row = Row {
                first,
                w: sh.w,
                pl: sh.pl,
                ky: (ky0, ky1),
            };
            // Pairs whose loads all lie inside the row run unmasked, `P` at a time.
            let mut ox = 0;
            while ox < sh.pl {
                row.pairs::<1, ACT>(&w, b, ox, out, sh.ow);
                ox += 2;
            }
            while ox + 2 * P <= sh.ow && ox + 2 * P + 2 <= sh.w + sh.pl {
                row.interior::<P, ACT>(&w, b, ox, out);
                ox += 2 * P;
            }
            while ox + 2 <= sh.ow && ox + 4 <= sh.w + sh.pl {
                row.interior::<1, ACT>(&w, b, ox, out);
                ox += 2;
            }
            while ox < sh.ow {
                row.pairs::<1, ACT>(&w, b, ox, out, sh.ow);
                ox += 2;
            }
        }
    }
}

type V = __m512;

/// The input rows under one output row.
struct Row {
    /// Input row of kernel row `ky.0`.
    first: *const f32,
    w: usize,
    pl: usize,
    /// Valid kernel rows.
    ky: (usize, usize),
}

impl Row {
    /// Output pixels `ox .. ox + 2 * Q` (those below `ow`), stored from `out`.
    ///
    /// # Safety
    /// As [`run`], for this row.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn pairs<const Q: usize, const ACT: u8>(&self, w: &[V; 9], b: V, ox: usize, out: *mut f32, ow: usize) {
        // SAFETY: `load` reads only pixels inside the input row; the stores only pixels below
        // `ow` of this output row.
        unsafe {
            let mut acc = [b; Q];
            for ky in self.ky.0..self.ky.1 {
                let r = self.first.add((ky - self.ky.0) * self.w * C);
                for kx in 0..3 {
                    for (q, acc) in acc.iter_mut().enumerate() {
                        // Input pixel of output pixel `ox + 2q` under tap `kx`, maybe -1.
                        let x = (ox + 2 * q + kx) as isize - self.pl as isize;
                        *acc = _mm512_fmadd_ps(self.load(r, x), w[ky * 3 + kx], *acc);
                    }
                }
            }
            for (q, &a) in acc.iter().enumerate() {
                let o = ox + 2 * q;
                let m: __mmask16 = if o + 1 < ow { 0xFFFF } else { 0x00FF };
                _mm512_mask_storeu_ps(out.add(o * C), m, activate(const { Clamp::of(ACT) }, a));
            }
        }
    }

    /// `Q <= P` pairs from `ox` whose input pixels `ox - pl ..= ox + 2Q + 1 - pl` all lie in
    /// the row: each of the `2Q + 1` vectors is loaded once per kernel row and feeds every pair
    /// and tap it belongs to.
    ///
    /// # Safety
    /// As [`run`], for this row, with `pl <= ox` and `ox + 2Q + 2 <= w + pl`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn interior<const Q: usize, const ACT: u8>(&self, w: &[V; 9], b: V, ox: usize, out: *mut f32) {
        // SAFETY: the pixels loaded are inside the row; the pixels stored are `ox .. ox + 2Q`.
        unsafe {
            let mut acc = [b; Q];
            for ky in self.ky.0..self.ky.1 {
                let r = self.first.add(((ky - self.ky.0) * self.w + ox - self.pl) * C);
                let x: [V; 9] = std::array::from_fn(|j| {
                    if j <= 2 * Q {
                        _mm512_loadu_ps(r.add(j * C))
                    } else {
                        _mm512_setzero_ps()
                    }
                });
                for (q, acc) in acc.iter_mut().enumerate() {
                    for kx in 0..3 {
                        *acc = _mm512_fmadd_ps(x[2 * q + kx], w[ky * 3 + kx], *acc);
                    }
                }
            }
            for (q, &a) in acc.iter().enumerate() {
                _mm512_storeu_ps(out.add((ox + 2 * q) * C), activate(const { Clamp::of(ACT) }, a));
            }
        }
    }

    /// Input pixels `x` and `x + 1` of row `r`; a pixel outside `0..w` reads as zeros.
    ///
    /// # Safety
    /// `r` is an input row of `w` pixels.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn load(&self, r: *const f32, x: isize) -> V {
        let lo = (0..self.w as isize).contains(&x);
        let hi = (0..self.w as isize).contains(&(x + 1));
        // SAFETY: only the lanes of pixels inside the row are accessed.
        unsafe {
            let p = r.wrapping_offset(x * C as isize);
            if lo && hi {
                _mm512_loadu_ps(p)
            } else {
                let m = (if lo { 0x00FF } else { 0 }) | (if hi { 0xFF00 } else { 0 });
                _mm512_maskz_loadu_ps(m, p)
            }
        }
    }
}
