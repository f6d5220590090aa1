//! The AVX2 int8 depthwise 3x3 kernel (stride 1 or 2, padding at most 1, channels a multiple
//! of 8): per output pixel, 16 channels at a time (8 for a last half block), two taps per
//! `vpmaddwd`.
//!
//! Each tap's 16 inputs are sign-extended to `i16`; two taps' vectors are interleaved
//! (`vpunpcklwd` / `vpunpckhwd`: channels 0-3 and 8-11 in one vector, 4-7 and 12-15 in the
//! other, the order `vpunpck` leaves within 128-bit halves) and multiplied by the two taps'
//! weights laid out in the same order at load time ([`pack`]), so `vpmaddwd` adds both taps
//! per channel, exactly (inputs `-128..=127`, weights `-255..=255`). Nine taps are five pairs,
//! the last with a zero tap. The input zero point is folded into the bias
//! (`bias - izp * sum w`), and a padded tap reads a vector of the zero point instead of the
//! input, which contributes `izp * w` and so cancels its share of the fold: the same sum as
//! TFLite's skipped tap. The packing back to `i8` (`vpackssdw` per 128-bit half) puts the
//! channels back in order.

use super::ukernel::{Filter, Kernels3x3, Packed, RowsFn, Shape};
use crate::kernels::geometry::taps;
use crate::kernels::x86::avx2::{pack_i8_halves, plain_shifts, Requantizer};
use std::arch::x86_64::*;
use std::ops::Range;

/// The AVX2 3x3 kernels.
pub(crate) const KERNELS: Kernels3x3 = Kernels3x3 { pick, pack };

/// Channels per block.
const CB: usize = 16;

/// Tap pairs per block: taps `2p` and `2p + 1` (tap 9 is a zero weight).
const PAIRS: usize = 5;

/// The kernel for `sh`, if it serves it: 3x3, padding at most 1, stride 1 or 2, channels a
/// multiple of 8 (whole 8-byte loads for a last half block).
fn pick(sh: &Shape) -> Option<RowsFn> {
    let fits = sh.kh == 3 && sh.kw == 3 && sh.pt <= 1 && sh.pl <= 1 && matches!(sh.s, 1 | 2) && sh.c.is_multiple_of(8);
    fits.then_some(rows as RowsFn)
}

/// Channel of lane `lane` (0..8) of vector `half` (0: channels 0-3 and 8-11, 1: 4-7 and 12-15)
/// of a block.
fn channel(half: usize, lane: usize) -> usize {
    (lane / 4) * 8 + half * 4 + lane % 4
}

/// Lays a 3x3 layer out for [`rows`]: per block of 16 channels, per tap pair, per half, 8
/// channels x 2 taps of weights (16 `i16`); bias (the input zero point folded in) and
/// requantisation per block and half in lane order, 8 values each.
fn pack(f: &Filter) -> Packed {
    let cp = f.cp;
    debug_assert!(cp.is_multiple_of(CB) && f.weights.len() == 9 * cp);
    let blocks = cp / CB;
    let mut p = Packed {
        weights: vec![0; blocks * PAIRS * 2 * 16],
        bias: vec![0; cp],
        multiplier: vec![0; cp],
        left: vec![0; cp],
        right: vec![0; cp],
    };
    let w = |tap: usize, c: usize| if tap < 9 { f.weights[tap * cp + c] } else { 0 };
    for b in 0..blocks {
        for half in 0..2 {
            for lane in 0..8 {
                let c = b * CB + channel(half, lane);
                for pair in 0..PAIRS {
                    for t in 0..2 {
                        p.weights[(((b * PAIRS + pair) * 2 + half) * 8 + lane) * 2 + t] = w(2 * pair + t, c);
                    }
                }
                let sum = (0..9).fold(0i32, |s, tap| s.wrapping_add(w(tap, c) as i32));
                let i = (b * 2 + half) * 8 + lane;
                p.bias[i] = f.bias[c].wrapping_sub(f.input_zero_point.wrapping_mul(sum));
                p.multiplier[i] = f.rq.multiplier[c];
                p.left[i] = f.rq.left[c];
                p.right[i] = f.rq.right[c];
            }
        }
    }
    p
}

/// The AVX2 [`RowsFn`].
///
/// # Safety
/// As [`RowsFn`], for a shape [`pick`] accepts and a filter packed by [`pack`].
unsafe fn rows(input: *const i8, f: &Filter, output: *mut i8, sh: &Shape, oys: Range<usize>) {
    let p = f.packed.expect("the AVX2 kernel reads its own packing");
    // SAFETY: forwarded contract; the config holds this kernel only for CPUs with AVX2.
    unsafe {
        match (sh.c == 8, plain_shifts(&p.left, &p.right)) {
            (true, true) => rows_c8::<true>(input, f, output, sh, oys),
            (true, false) => rows_c8::<false>(input, f, output, sh, oys),
            (false, true) => rows_avx2::<true>(input, f, output, sh, oys),
            (false, false) => rows_avx2::<false>(input, f, output, sh, oys),
        }
    }
}

/// The per-block constants of the epilogue.
#[derive(Clone, Copy)]
struct Epilogue<const PLAIN: bool> {
    bias: [__m256i; 2],
    rq: [Requantizer<PLAIN>; 2],
}

/// [`rows`] with AVX2 enabled, for channels that pass [`plain_shifts`] if `PLAIN`.
///
/// # Safety
/// As [`rows`].
#[target_feature(enable = "avx2")]
unsafe fn rows_avx2<const PLAIN: bool>(input: *const i8, f: &Filter, output: *mut i8, sh: &Shape, oys: Range<usize>) {
    let p = f.packed.expect("the AVX2 kernel reads its own packing");
    let c = sh.c;
    let zp = _mm256_set1_epi32(f.rq.zero_point);
    let (min, max) = (_mm_set1_epi8(f.rq.min), _mm_set1_epi8(f.rq.max));
    let izp = _mm256_set1_epi16(f.input_zero_point as i16);
    for oy in oys {
        let ys = taps(oy, sh.h, 3, sh.s, sh.pt);
        // Input row of kernel row 0 (-1 when kernel row 0 is padding).
        let iy0 = (oy * sh.s) as isize - sh.pt as isize;
        // Row by row, every block of channels: the rows a layer reads stay in cache while it
        // walks them, whatever the number of channels.
        for c0 in (0..c).step_by(CB) {
            let half = c - c0 < CB;
            // SAFETY: the packed arrays hold `cp` values, `c0 + 16 <= cp`.
            let load = |v: &[i32], h: usize| unsafe { _mm256_loadu_si256(v.as_ptr().add(c0 + 8 * h).cast()) };
            let e = Epilogue::<PLAIN> {
                bias: [load(&p.bias, 0), load(&p.bias, 1)],
                rq: std::array::from_fn(|h| {
                    Requantizer::new(load(&p.multiplier, h), load(&p.left, h), load(&p.right, h), zp)
                }),
            };
            // SAFETY: block `c0 / 16` of the packed weights, `PAIRS * 2 * 16` values.
            let w = unsafe { p.weights.as_ptr().add(c0 / CB * PAIRS * 2 * 16) };
            for ox in 0..sh.ow {
                let ix0 = (ox * sh.s) as isize - sh.pl as isize;
                // SAFETY: pixel `(oy, ox)` of the output rows the caller owns, channel `c0`.
                let out = unsafe { output.add((oy * sh.ow + ox) * c + c0) };
                let at = (iy0, ix0, c, sh.w);
                let xs = taps(ox, sh.w, 3, sh.s, sh.pl);
                // Two inlined copies: the interior one with every tap valid, as constants.
                // SAFETY: for both calls, the taps read are those inside the input (`ys`,
                // `xs`), channels `c0..c0 + 16` (or 8 for a half block) of pixels inside it.
                unsafe {
                    if ys == (0, 3) && xs == (0, 3) {
                        pixel(input, at, ((0, 3), (0, 3)), c0, half, w, &e, izp, (min, max), out);
                    } else {
                        pixel(input, at, (ys, xs), c0, half, w, &e, izp, (min, max), out);
                    }
                }
            }
        }
    }
}

/// One output pixel's block of channels: taps `ys x xs` (valid kernel rows and columns) read
/// the input, the others the zero point.
///
/// # Safety
/// Every valid tap's pixel `(iy0 + ky, ix0 + kx)` lies inside the input of width `w` and
/// `c` channels, readable at channels `c0..c0 + 16` (8 if `half`); `wt` points at the block's
/// packed weights; `out` writable for 16 (8) bytes; the CPU runs AVX2.
///
/// Not a `target_feature` function, so that it can be `inline(always)`: LLVM stopped inlining
/// it into [`rows_avx2`] once that became generic, and the call cost a third of the layer's
/// time. Inlined there, its intrinsics compile with AVX2 like the rest of the loop.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pixel<const PLAIN: bool>(
    input: *const i8,
    (iy0, ix0, c, w): (isize, isize, usize, usize),
    ((ky0, ky1), (kx0, kx1)): ((usize, usize), (usize, usize)),
    c0: usize,
    half: bool,
    wt: *const i16,
    e: &Epilogue<PLAIN>,
    izp: __m256i,
    (min, max): (__m128i, __m128i),
    out: *mut i8,
) {
    // SAFETY: the caller runs AVX2 (the contract); the memory accesses below carry their own.
    unsafe {
        let tap = |t: usize| -> __m256i {
            let (ky, kx) = (t / 3, t % 3);
            if t >= 9 {
                return _mm256_setzero_si256();
            }
            if !(ky0..ky1).contains(&ky) || !(kx0..kx1).contains(&kx) {
                return izp;
            }
            let offset = (((iy0 + ky as isize) as usize * w) + (ix0 + kx as isize) as usize) * c + c0;
            // SAFETY: a valid tap's channels `c0..` lie inside the input (the contract).
            {
                let p = input.add(offset);
                if half {
                    _mm256_cvtepi8_epi16(_mm_loadl_epi64(p.cast()))
                } else {
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(p.cast()))
                }
            }
        };
        let mut acc = e.bias;
        for pair in 0..PAIRS {
            let (a, b) = (tap(2 * pair), tap(2 * pair + 1));
            let x = [_mm256_unpacklo_epi16(a, b), _mm256_unpackhi_epi16(a, b)];
            for h in 0..2 {
                // SAFETY: pair `pair`, half `h` of the block's weights: 16 values.
                let wv = _mm256_loadu_si256(wt.add((pair * 2 + h) * 16).cast());
                acc[h] = _mm256_add_epi32(acc[h], _mm256_madd_epi16(x[h], wv));
            }
        }
        let q: [__m256i; 2] = std::array::from_fn(|h| e.rq[h].apply(acc[h]));
        // Channels 0-3 | 8-11 and 4-7 | 12-15: packing per 128-bit half restores 0-7 | 8-15.
        let bytes = pack_i8_halves(q[0], q[1], min, max);
        // SAFETY: 16 (8) writable bytes (the contract).
        {
            if half {
                _mm_storel_epi64(out.cast(), bytes);
            } else {
                _mm_storeu_si128(out.cast(), bytes);
            }
        }
    }
}

/// [`rows`] for a layer of exactly 8 channels: two output pixels per vector (the left one in
/// the low 128-bit half, its right neighbour in the high), where the blocks of 16 channels
/// would leave half of every vector on padding channels. The layout is the same, per half
/// and pair: lanes 0-3 of a packed vector are channels 0-3 (half 0) or 4-7 (half 1), so each
/// constant is those lanes copied into both halves; two pixels' channels 0-7 then come out of
/// the packing back to back, which is how NHWC stores neighbours of 8 channels.
///
/// # Safety
/// As [`rows`], with `sh.c == 8`, for channels that pass [`plain_shifts`] if `PLAIN`.
#[target_feature(enable = "avx2")]
unsafe fn rows_c8<const PLAIN: bool>(input: *const i8, f: &Filter, output: *mut i8, sh: &Shape, oys: Range<usize>) {
    let p = f.packed.expect("the AVX2 kernel reads its own packing");
    let both = |v: __m256i| _mm256_permute2x128_si256::<0x00>(v, v);
    // SAFETY: the packed arrays hold at least 16 values.
    let load = |v: &[i32], h: usize| both(unsafe { _mm256_loadu_si256(v.as_ptr().add(8 * h).cast()) });
    let bias = [load(&p.bias, 0), load(&p.bias, 1)];
    let zp = _mm256_set1_epi32(f.rq.zero_point);
    let rq: [Requantizer<PLAIN>; 2] =
        std::array::from_fn(|h| Requantizer::new(load(&p.multiplier, h), load(&p.left, h), load(&p.right, h), zp));
    let weights: [[__m256i; 2]; PAIRS] = std::array::from_fn(|pair| {
        std::array::from_fn(|h| {
            // SAFETY: block 0 of the packed weights: `PAIRS * 2` vectors of 16 values.
            both(unsafe { _mm256_loadu_si256(p.weights.as_ptr().add((pair * 2 + h) * 16).cast()) })
        })
    });
    let consts = (bias, rq, weights);
    let ends = (_mm_set1_epi8(f.rq.min), _mm_set1_epi8(f.rq.max));
    let izp = _mm_set1_epi8(f.input_zero_point as i8);
    for oy in oys {
        let ys = taps(oy, sh.h, 3, sh.s, sh.pt);
        let iy0 = (oy * sh.s) as isize - sh.pt as isize;
        let mut ox = 0;
        while ox < sh.ow {
            let two = ox + 1 < sh.ow;
            let xs = [
                taps(ox, sh.w, 3, sh.s, sh.pl),
                if two {
                    taps(ox + 1, sh.w, 3, sh.s, sh.pl)
                } else {
                    (0, 0)
                },
            ];
            let ix0 = [
                (ox * sh.s) as isize - sh.pl as isize,
                ((ox + 1) * sh.s) as isize - sh.pl as isize,
            ];
            // SAFETY: pixel `(oy, ox)` (and the next, if `two`) of the output rows the caller
            // owns.
            let out = unsafe { output.add((oy * sh.ow + ox) * 8) };
            // Two copies: the interior one with every tap valid, as constants.
            // SAFETY: for both calls, the taps read are those inside the input (`ys`, `xs`),
            // 8 channels of pixels inside it; `out` holds 16 bytes if `two`, else 8.
            unsafe {
                if two && ys == (0, 3) && xs == [(0, 3); 2] {
                    pixel_pair::<true, PLAIN>(input, (iy0, ix0, sh.w), (ys, xs), &consts, izp, ends, true, out);
                } else {
                    pixel_pair::<false, PLAIN>(input, (iy0, ix0, sh.w), (ys, xs), &consts, izp, ends, two, out);
                }
            }
            ox += 2;
        }
    }
}

/// Two neighbouring output pixels of an 8-channel layer (see [`rows_c8`]): taps `ys x xs[i]`
/// of pixel `i` read the input, the others the zero point; pixel 1's taps are all zero point
/// (and its output not stored) unless `two`. `INTERIOR`: both pixels' taps are all valid
/// (and `two`), which spares the checks.
///
/// # Safety
/// Every valid tap's pixel `(iy0 + ky, ix0[i] + kx)` lies inside the input of width `w` and 8
/// channels; `out` writable for 16 bytes if `two`, else 8.
#[target_feature(enable = "avx2")]
#[inline]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
unsafe fn pixel_pair<const INTERIOR: bool, const PLAIN: bool>(
    input: *const i8,
    (iy0, ix0, w): (isize, [isize; 2], usize),
    ((ky0, ky1), xs): ((usize, usize), [(usize, usize); 2]),
    (bias, rq, weights): &([__m256i; 2], [Requantizer<PLAIN>; 2], [[__m256i; 2]; PAIRS]),
    izp: __m128i,
    (min, max): (__m128i, __m128i),
    two: bool,
    out: *mut i8,
) {
    let tap8 = |t: usize, i: usize| -> __m128i {
        let (ky, kx) = (t / 3, t % 3);
        if !INTERIOR && ((i == 1 && !two) || !(ky0..ky1).contains(&ky) || !(xs[i].0..xs[i].1).contains(&kx)) {
            return izp;
        }
        let offset = (((iy0 + ky as isize) as usize * w) + (ix0[i] + kx as isize) as usize) * 8;
        // SAFETY: a valid tap's 8 channels lie inside the input (the contract).
        unsafe { _mm_loadl_epi64(input.add(offset).cast()) }
    };
    let tap = |t: usize| -> __m256i {
        if t >= 9 {
            return _mm256_setzero_si256();
        }
        _mm256_cvtepi8_epi16(_mm_unpacklo_epi64(tap8(t, 0), tap8(t, 1)))
    };
    let mut acc = *bias;
    for (pair, w) in weights.iter().enumerate() {
        let (a, b) = (tap(2 * pair), tap(2 * pair + 1));
        let x = [_mm256_unpacklo_epi16(a, b), _mm256_unpackhi_epi16(a, b)];
        for h in 0..2 {
            acc[h] = _mm256_add_epi32(acc[h], _mm256_madd_epi16(x[h], w[h]));
        }
    }
    let q: [__m256i; 2] = std::array::from_fn(|h| rq[h].apply(acc[h]));
    // Per 128-bit half, channels 0-3 and 4-7 of one pixel: the left pixel's 8 bytes, then the
    // right one's.
    let bytes = pack_i8_halves(q[0], q[1], min, max);
    // SAFETY: 16 (8) writable bytes (the contract).
    unsafe {
        if two {
            _mm_storeu_si128(out.cast(), bytes);
        } else {
            _mm_storel_epi64(out.cast(), bytes);
        }
    }
}
