//! The portable depthwise kernel, for every shape on every path (and for the shapes that the
//! instruction sets' 3x3 kernels do not serve): const-generic loops that the compiler unrolls
//! and vectorises across channels, over any block of output rows, so that the driver splits
//! it over a team as it splits the 3x3 kernels.

use crate::kernels::activation::activate;
use crate::kernels::geometry::{interior, taps};
use std::ops::Range;

/// Channels accumulated together in registers (four SSE or two AVX registers), so each
/// output value is written once instead of once per tap.
const CB: usize = 16;

/// Output rows `oys` of [`super::depthwise()`] into `out` (those rows, `OW * C` floats
/// each), over tap-major `[KH][KW][C]` weights `weight` and bias `bias`.
///
/// Interior pixels (whole window inside the input) run with constant, fully unrolled tap
/// loops; only border rows and columns clamp their tap ranges.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn rows<
    const H: usize,
    const W: usize,
    const C: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const S: usize,
    const PT: usize,
    const PL: usize,
    const ACT: u8,
>(
    input: &[f32],
    out: &mut [f32],
    weight: &[f32],
    bias: &[f32],
    oys: Range<usize>,
) {
    let (rows, _) = input.as_chunks::<C>();
    let (out_px, _) = out.as_chunks_mut::<C>();
    let (weight, _) = weight.as_chunks::<C>();
    let bias: &[f32; C] = bias[..C].try_into().expect("bias has C values");
    let (y_lo, y_hi) = interior(H, OH, KH, S, PT);

    for (oy, out_row) in oys.zip(out_px.chunks_exact_mut(OW)) {
        // Two inlined copies of `row`: interior rows get the constant range `0..KH`, so their
        // tap loops unroll fully; border rows clamp it.
        if (y_lo..y_hi).contains(&oy) {
            row::<ACT, C, W, OW, KW, S, PL>(rows, weight, bias, out_row, (0..KH, oy * S - PT));
        } else {
            let (ky0, ky1) = taps(oy, H, KH, S, PT);
            row::<ACT, C, W, OW, KW, S, PL>(rows, weight, bias, out_row, (ky0..ky1, oy * S + ky0 - PT));
        }
    }
}

/// One output pixel, channels `c0..c0 + n` (`n <= CB`), summed over taps `ky` x `kx`, where
/// tap `(ky.start, kx.start)` reads input pixel `(iy, ix)`. All those taps must be inside the
/// input. When `n` and the ranges are constants the loops unroll fully.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<const ACT: u8, const C: usize, const W: usize, const KW: usize>(
    rows: &[[f32; C]],
    weight: &[[f32; C]],
    bias: &[f32; C],
    out: &mut [f32; C],
    (ky, iy): (Range<usize>, usize),
    (kx, ix): (Range<usize>, usize),
    c0: usize,
    n: usize,
) {
    let mut acc = [0.0f32; CB];
    let acc = &mut acc[..n];
    acc.copy_from_slice(&bias[c0..c0 + n]);
    for (dy, ky) in ky.enumerate() {
        for (dx, kx) in kx.clone().enumerate() {
            let x = &rows[(iy + dy) * W + ix + dx][c0..c0 + n];
            let w = &weight[ky * KW + kx][c0..c0 + n];
            for ((a, &x), &w) in acc.iter_mut().zip(x).zip(w) {
                *a += x * w;
            }
        }
    }
    for (o, &a) in out[c0..c0 + n].iter_mut().zip(acc.iter()) {
        *o = activate::<ACT>(a);
    }
}

/// All channels of one output pixel; see [`block`].
#[inline(always)]
fn pixel<const ACT: u8, const C: usize, const W: usize, const KW: usize>(
    rows: &[[f32; C]],
    weight: &[[f32; C]],
    bias: &[f32; C],
    out: &mut [f32; C],
    ys: (Range<usize>, usize),
    xs: (Range<usize>, usize),
) {
    let full = C / CB * CB;
    for c0 in (0..full).step_by(CB) {
        block::<ACT, C, W, KW>(rows, weight, bias, out, ys.clone(), xs.clone(), c0, CB);
    }
    if full < C {
        block::<ACT, C, W, KW>(rows, weight, bias, out, ys, xs, full, C - full);
    }
}

/// One output row: border pixels with clamped column taps, the interior with `0..KW`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row<
    const ACT: u8,
    const C: usize,
    const W: usize,
    const OW: usize,
    const KW: usize,
    const S: usize,
    const PL: usize,
>(
    rows: &[[f32; C]],
    weight: &[[f32; C]],
    bias: &[f32; C],
    out_row: &mut [[f32; C]],
    ys: (Range<usize>, usize),
) {
    let (x_lo, x_hi) = interior(W, OW, KW, S, PL);
    let border = |ox: usize, out: &mut [f32; C]| {
        let (kx0, kx1) = taps(ox, W, KW, S, PL);
        let xs = (kx0..kx1, ox * S + kx0 - PL);
        pixel::<ACT, C, W, KW>(rows, weight, bias, out, ys.clone(), xs);
    };
    for (ox, out) in out_row.iter_mut().enumerate().take(x_lo) {
        border(ox, out);
    }
    for (ox, out) in out_row.iter_mut().enumerate().take(x_hi).skip(x_lo) {
        let xs = (0..KW, ox * S - PL);
        pixel::<ACT, C, W, KW>(rows, weight, bias, out, ys.clone(), xs);
    }
    for (ox, out) in out_row.iter_mut().enumerate().skip(x_hi) {
        border(ox, out);
    }
}
