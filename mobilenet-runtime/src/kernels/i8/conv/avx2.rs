//! The AVX2 int8 standard-convolution kernel (any kernel size, stride and channel counts;
//! written for MobileNet's first layer: 3x3 stride 2 from 1 or 3 channels): per interior
//! output pixel, up to 32 output channels at a time (4 vectors of 8), two reduction steps per
//! `vpmaddwd`; border pixels run the portable per-pixel kernel.
//!
//! An interior pixel's window is `kh` runs of `kw * cin` contiguous inputs (NHWC). Each run is
//! read 16 bytes at a time and sign-extended; `vpermd` broadcasts one pair of steps to every
//! lane, and `vpmaddwd` against 8 channels' weights for those steps adds both products per
//! channel, exactly (inputs `-128..=127`, weights `-255..=255`). Each run is padded to an even
//! length with a zero weight, so a pair never straddles two runs. The input zero point is
//! folded into the bias at load time, which is exact for pixels whose whole window lies inside
//! the input; the others are the portable kernel's, with the zero point subtracted tap by tap.

use super::scalar;
use super::ukernel::{ConvKernels, Dims, Filter, Packed, RowsFn, Shape};
use crate::kernels::geometry::taps;
use crate::kernels::i8::requant::ChannelRequant;
use crate::kernels::x86::avx2::{pack_i8, requantize};
use std::arch::x86_64::*;
use std::ops::Range;

/// The AVX2 convolution kernels.
pub(crate) const KERNELS: ConvKernels = ConvKernels { pick, pack };

/// Every shape.
fn pick(_: &Shape) -> Option<RowsFn> {
    Some(rows as RowsFn)
}

/// Step pairs of one kernel row's run of `kw * cin` inputs.
fn pairs_per_row(d: Dims) -> usize {
    (d.kw * d.cin).div_ceil(2)
}

/// Lays a layer out for [`rows`]: output channels in blocks of `8 * nv` (`nv` = 4, or 1 or 2
/// for a layer of at most 8 or 16 channels); per block, per step pair `q` (`kh` runs of
/// [`pairs_per_row`]), per vector, 8 channels x 2 steps of weights.
fn pack(f: &Filter, d: Dims) -> Packed {
    let nv = match d.cout {
        0..=8 => 1,
        9..=16 => 2,
        _ => 4,
    };
    let bw = 8 * nv;
    let blocks = d.cout.div_ceil(bw);
    let (ppr, run) = (pairs_per_row(d), d.kw * d.cin);
    let nq = d.kh * ppr;
    // Weight of channel `co` at step `j` of kernel row `ky`'s run (0 past the run).
    let w = |co: usize, ky: usize, j: usize| -> i16 {
        if co < d.cout && j < run {
            f.weights[(ky * run + j) * f.coutp + co]
        } else {
            0
        }
    };
    let mut weights = vec![0i16; blocks * nq * nv * 16];
    for b in 0..blocks {
        for ky in 0..d.kh {
            for pr in 0..ppr {
                let q = ky * ppr + pr;
                for v in 0..nv {
                    for lane in 0..8 {
                        let co = b * bw + 8 * v + lane;
                        for t in 0..2 {
                            weights[(((b * nq + q) * nv + v) * 8 + lane) * 2 + t] = w(co, ky, 2 * pr + t);
                        }
                    }
                }
            }
        }
    }
    let bias = (0..blocks * bw)
        .map(|co| {
            if co >= d.cout {
                return 0;
            }
            let sum = (0..d.kh)
                .flat_map(|ky| (0..run).map(move |j| (ky, j)))
                .fold(0i32, |s, (ky, j)| s.wrapping_add(w(co, ky, j) as i32));
            f.bias[co].wrapping_sub(f.input_zero_point.wrapping_mul(sum))
        })
        .collect();
    let rq = ChannelRequant::new(
        &f.rq.multiplier[..d.cout],
        &f.rq.shifts(d.cout),
        f.rq.zero_point,
        (f.rq.min, f.rq.max),
        blocks * bw,
    );
    Packed { weights, bias, rq, nv }
}

/// The AVX2 [`RowsFn`].
///
/// # Safety
/// As [`RowsFn`], for a filter packed by [`pack`].
unsafe fn rows(input: *const i8, f: &Filter, output: *mut i8, sh: &Shape, oys: Range<usize>) {
    let p = f.packed.expect("the AVX2 kernel reads its own packing");
    // SAFETY: forwarded contract; the config holds this kernel only for CPUs with AVX2.
    unsafe {
        match p.nv {
            1 => rows_nv::<1>(input, f, p, output, sh, oys),
            2 => rows_nv::<2>(input, f, p, output, sh, oys),
            _ => rows_nv::<4>(input, f, p, output, sh, oys),
        }
    }
}

/// [`rows`] for blocks of `NV` vectors.
///
/// # Safety
/// As [`rows`], with `p.nv == NV`.
#[target_feature(enable = "avx2")]
unsafe fn rows_nv<const NV: usize>(
    input: *const i8,
    f: &Filter,
    p: &Packed,
    output: *mut i8,
    sh: &Shape,
    oys: Range<usize>,
) {
    let len = sh.h * sh.w * sh.cin;
    // SAFETY: the contract: `input` readable for the whole map.
    let input_slice = unsafe { std::slice::from_raw_parts(input, len) };
    for oy in oys {
        let ys = taps(oy, sh.h, sh.kh, sh.s, sh.pt);
        for ox in 0..sh.ow {
            // SAFETY: pixel `(oy, ox)` of the rows the caller owns: `cout` bytes.
            let out = unsafe { output.add((oy * sh.ow + ox) * sh.cout) };
            if ys == (0, sh.kh) && taps(ox, sh.w, sh.kw, sh.s, sh.pl) == (0, sh.kw) {
                // SAFETY: the whole window lies inside the input.
                unsafe { interior::<NV>(input, len, p, out, sh, (oy, ox)) };
            } else {
                // SAFETY: as above; nobody else accesses the pixel.
                let out = unsafe { std::slice::from_raw_parts_mut(out, sh.cout) };
                scalar::pixel(input_slice, f, out, sh, (oy, ox));
            }
        }
    }
}

/// Up to 16 bytes of a run at `at` (`n` of them used), sign-extended: a direct load where 16
/// bytes lie inside the input's `len`, else a copy of the `n`.
///
/// # Safety
/// `input` readable for `len` bytes, `at + n <= len`, `n <= 16`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn run_bytes(input: *const i8, len: usize, at: usize, n: usize) -> __m256i {
    let bytes = if at + 16 <= len {
        // SAFETY: 16 bytes inside the input.
        unsafe { _mm_loadu_si128(input.add(at).cast()) }
    } else {
        let mut tmp = [0i8; 16];
        // SAFETY: `n` bytes inside the input, into a local array of 16.
        unsafe {
            std::ptr::copy_nonoverlapping(input.add(at), tmp.as_mut_ptr(), n);
            _mm_loadu_si128(tmp.as_ptr().cast())
        }
    };
    _mm256_cvtepi8_epi16(bytes)
}

/// An interior output pixel, every block of output channels.
///
/// # Safety
/// The pixel's whole window lies inside the input (`len` bytes at `input`); `out` writable
/// for `cout` bytes; `p` packed by [`pack`] with `nv == NV` for this layer.
#[target_feature(enable = "avx2")]
unsafe fn interior<const NV: usize>(
    input: *const i8,
    len: usize,
    p: &Packed,
    out: *mut i8,
    sh: &Shape,
    (oy, ox): (usize, usize),
) {
    let run = sh.kw * sh.cin;
    let ppr = run.div_ceil(2);
    let nq = sh.kh * ppr;
    let bw = 8 * NV;
    let (iy0, ix0) = (oy * sh.s - sh.pt, ox * sh.s - sh.pl);
    let zp = _mm256_set1_epi32(p.rq.zero_point);
    let (min, max) = (_mm_set1_epi8(p.rq.min), _mm_set1_epi8(p.rq.max));
    for c0 in (0..sh.cout).step_by(bw) {
        let b = c0 / bw;
        // SAFETY: the packed arrays hold whole blocks.
        let load = |v: &[i32], i: usize| unsafe { _mm256_loadu_si256(v.as_ptr().add(c0 + 8 * i).cast()) };
        let mut acc: [__m256i; NV] = std::array::from_fn(|v| load(&p.bias, v));
        // SAFETY: block `b`'s weights: `nq * NV * 16` values.
        let wb = unsafe { p.weights.as_ptr().add(b * nq * NV * 16) };
        for ky in 0..sh.kh {
            let at = ((iy0 + ky) * sh.w + ix0) * sh.cin;
            for j0 in (0..run).step_by(16) {
                // SAFETY: the run's bytes `j0..run` lie inside the input.
                let x = unsafe { run_bytes(input, len, at + j0, (run - j0).min(16)) };
                for pr in 0..(ppr - j0 / 2).min(8) {
                    let bx = _mm256_permutevar8x32_epi32(x, _mm256_set1_epi32(pr as i32));
                    let q = ky * ppr + j0 / 2 + pr;
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: pair `q`, vector `v` of the block: 16 weights.
                        let w = unsafe { _mm256_loadu_si256(wb.add((q * NV + v) * 16).cast()) };
                        *a = _mm256_add_epi32(*a, _mm256_madd_epi16(bx, w));
                    }
                }
            }
        }
        let q: [__m256i; NV] = std::array::from_fn(|v| {
            requantize(
                acc[v],
                load(&p.rq.multiplier, v),
                load(&p.rq.left, v),
                load(&p.rq.right, v),
            )
        });
        let mut bytes = [0i8; 32];
        for h in 0..NV.div_ceil(2) {
            let packed = pack_i8(q[2 * h], q[(2 * h + 1).min(NV - 1)], zp, min, max);
            // SAFETY: 16 bytes of a local array of 32.
            unsafe { _mm_storeu_si128(bytes.as_mut_ptr().add(16 * h).cast(), packed) };
        }
        let n = bw.min(sh.cout - c0);
        // SAFETY: `n` bytes of the pixel's output.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.add(c0), n) };
    }
}
