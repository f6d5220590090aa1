//! AVX2+FMA tiles of the paired-step convolution kernel (see `pairs.rs`).
//!
//! A pixel's 8 channel slots take two 8-lane vectors, slots 0-3 and 4-7, each as
//! `[step k, step k + 1]` lane pairs, which is the 16-lane paired layout cut in halves. The
//! slots hold channels 0, 1, 4, 5 and 2, 3, 6, 7 ([`KERNEL`]'s slots), so
//! that the horizontal add of the two vectors leaves the sums in channel order. A tile of
//! [`MR`] pixels keeps 12 accumulators; per step pair it loads the two weight vectors and one
//! 64-bit broadcast per pixel, as many loads per multiply-add as the 6 x 16 tile of
//! the AVX2 matrix product (`kernels/f32/gemm/avx2.rs`) on a 16-channel layer.

#![cfg(x86_simd)]

use super::pairs::{PairsKernel, Pixels};
use crate::kernels::x86::avx2::{activate, first_lanes};
use std::arch::x86_64::*;

/// The AVX2 paired-step kernel. `_mm256_hadd_ps` of the two halves adds each lane pair and
/// returns `[s0 s1 s4 s5 | s2 s3 s6 s7]`, which with these slots is channels 0 to 7. The
/// cross-lane permute that the plain order needed after it cost 2-3% of the 0.25 models'
/// first layer on an AMD EPYC (A/B in one process, in the network).
pub(crate) const KERNEL: PairsKernel = PairsKernel {
    slots: [0, 1, 4, 5, 2, 3, 6, 7],
    run: conv_pairs,
};

/// Pixels per register tile: 2 x 6 accumulators, 2 weights and 1 broadcast of 16 registers.
const MR: usize = 6;

/// `conv_pairs` of `pairs.rs` on AVX2.
///
/// # Safety
/// The CPU must support AVX2 and FMA; otherwise the contract of
/// `conv_pairs` of `pairs.rs`.
#[target_feature(enable = "avx2,fma")]
unsafe fn conv_pairs(p: &Pixels) {
    // SAFETY: forwarded contract.
    unsafe {
        // The first layer of every MobileNet (a 3x3 kernel over 3 channels at stride 2: kernel
        // rows of 9 inputs, pixels 6 inputs apart) with that geometry constant: the step loops
        // unroll and every broadcast is a register plus an immediate. 128x128x3 to 64x64x8,
        // A/B in one process on an AMD EPYC: 6% faster.
        if p.w.row() == 9 && p.runs.len() == 3 && p.lda == 6 {
            return tiles::<9, 3, 6>(p);
        }
        tiles::<0, 0, 0>(p)
    }
}

/// [`conv_pairs`] in tiles of [`MR`] pixels, then the leftover ones; with the kernel row
/// length, the number of kernel rows and the pixel stride `ROW`, `NRUNS` and `LDA` when they
/// are not 0.
///
/// # Safety
/// As [`conv_pairs`], with the nonzero constants equal to `p`'s values.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tiles<const ROW: usize, const NRUNS: usize, const LDA: usize>(p: &Pixels) {
    let rows = p.rows;
    let mut r = 0;
    // SAFETY: for the whole block, each tile reads and writes only pixels `r .. r + R <= rows`,
    // which the caller's contract covers.
    unsafe {
        while r + MR <= rows {
            tile::<MR, ROW, NRUNS, LDA>(p, r);
            r += MR;
        }
        match rows - r {
            1 => tile::<1, ROW, NRUNS, LDA>(p, r),
            2 => tile::<2, ROW, NRUNS, LDA>(p, r),
            3 => tile::<3, ROW, NRUNS, LDA>(p, r),
            4 => tile::<4, ROW, NRUNS, LDA>(p, r),
            5 => tile::<5, ROW, NRUNS, LDA>(p, r),
            _ => {}
        }
    }
}

/// Pixels `r0 .. r0 + R` of [`conv_pairs`] (`ROW`, `NRUNS`, `LDA` as in [`tiles`]).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile<const R: usize, const ROW: usize, const NRUNS: usize, const LDA: usize>(p: &Pixels, r0: usize) {
    let Pixels {
        a,
        lda,
        c,
        ldc,
        runs,
        w,
        ..
    } = *p;
    // SAFETY: for the whole function, the caller's contract covers pixels `r0 .. r0 + R`; the
    // packed rows hold `ceil(row / 2)` vectors of 16 floats each, and a run reads inputs
    // `g.a .. g.a + row` of its pixel: pairs `2j, 2j + 1` with `2j + 1 < row`, then the last
    // single one.
    unsafe {
        let bias = w.bias();
        let init = [_mm256_loadu_ps(bias.as_ptr()), _mm256_loadu_ps(bias.as_ptr().add(8))];
        let mut acc = [init; R];
        let lda = if LDA == 0 { lda } else { LDA };
        let runs = if NRUNS == 0 { runs } else { &runs[..NRUNS] };
        let a = a.add(r0 * lda);
        let row = if ROW == 0 { w.row() } else { ROW };
        for g in runs {
            let x = a.add(g.a);
            let mut wp = g.w;
            for j in 0..row / 2 {
                let wv = [_mm256_loadu_ps(wp), _mm256_loadu_ps(wp.add(8))];
                for (i, acc) in acc.iter_mut().enumerate() {
                    let two = x.add(i * lda + 2 * j).cast::<f64>().read_unaligned();
                    let xv = _mm256_castpd_ps(_mm256_set1_pd(two));
                    acc[0] = _mm256_fmadd_ps(xv, wv[0], acc[0]);
                    acc[1] = _mm256_fmadd_ps(xv, wv[1], acc[1]);
                }
                wp = wp.add(16);
            }
            if row % 2 == 1 {
                let wv = [_mm256_loadu_ps(wp), _mm256_loadu_ps(wp.add(8))];
                for (i, acc) in acc.iter_mut().enumerate() {
                    let xv = _mm256_set1_ps(*x.add(i * lda + row - 1));
                    acc[0] = _mm256_fmadd_ps(xv, wv[0], acc[0]);
                    acc[1] = _mm256_fmadd_ps(xv, wv[1], acc[1]);
                }
            }
        }
        let n = w.channels();
        let mask = first_lanes(n);
        for (i, acc) in acc.iter().enumerate() {
            // Adds each lane pair: slots [s0 s1 s4 s5 | s2 s3 s6 s7], channels 0 to 7.
            let y = activate(p.clamp, _mm256_hadd_ps(acc[0], acc[1]));
            let dst = c.add((r0 + i) * ldc);
            if n == 8 {
                _mm256_storeu_ps(dst, y);
            } else {
                _mm256_maskstore_ps(dst, mask, y);
            }
        }
    }
}
