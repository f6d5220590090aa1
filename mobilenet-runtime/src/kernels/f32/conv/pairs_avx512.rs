//! AVX-512 tiles of the paired-step convolution kernel (see `pairs.rs`): one
//! 16-lane vector per pixel holds its 8 channels' step pairs. At the end, adjacent lanes are
//! added and the even lanes gathered into the channel order.

#![cfg(x86_simd)]

use super::pairs::{PairsKernel, Pixels};
use crate::kernels::x86::avx512::activate;
use std::arch::x86_64::*;

/// The AVX-512 paired-step kernel: channels in slot order.
pub(crate) const KERNEL: PairsKernel = PairsKernel {
    slots: [0, 1, 2, 3, 4, 5, 6, 7],
    run: conv_pairs,
};

/// Pixels per register tile: 16 accumulators, the weight vector and the broadcasts fit in the
/// 32 registers with room for the loads to run ahead.
const MR: usize = 16;

/// `conv_pairs` of `pairs.rs` on AVX-512.
///
/// # Safety
/// The CPU must support AVX-512F; otherwise the contract of `conv_pairs` of `pairs.rs`.
#[target_feature(enable = "avx512f")]
unsafe fn conv_pairs(p: &Pixels) {
    let rows = p.rows;
    let mut r = 0;
    // SAFETY: for the whole function, each tile reads and writes only pixels
    // `r .. r + R < rows`, which the caller's contract covers.
    unsafe {
        while r + MR <= rows {
            tile::<MR>(p, r);
            r += MR;
        }
        macro_rules! tail {
            ($($n:literal)*) => {
                match rows - r {
                    $($n => tile::<$n>(p, r),)*
                    _ => {}
                }
            };
        }
        tail!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    }
}

/// Pixels `r0 .. r0 + R` of [`conv_pairs`].
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile<const R: usize>(p: &Pixels, r0: usize) {
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
    // packed rows hold `ceil(row / 2)` vectors each, and a run reads inputs `g.a .. g.a + row`
    // of its pixel, pairs `2j, 2j + 1` with `2j + 1 < row` and the last single one.
    unsafe {
        let mut acc = [_mm512_loadu_ps(w.bias().as_ptr()); R];
        let a = a.add(r0 * lda);
        let row = w.row();
        for g in runs {
            let x = a.add(g.a);
            let mut wp = g.w;
            for j in 0..row / 2 {
                let wv = _mm512_load_ps(wp);
                for (i, acc) in acc.iter_mut().enumerate() {
                    let two = x.add(i * lda + 2 * j).cast::<f64>().read_unaligned();
                    *acc = _mm512_fmadd_ps(_mm512_castpd_ps(_mm512_set1_pd(two)), wv, *acc);
                }
                wp = wp.add(16);
            }
            if row % 2 == 1 {
                let wv = _mm512_load_ps(wp);
                for (i, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(_mm512_set1_ps(*x.add(i * lda + row - 1)), wv, *acc);
                }
            }
        }
        // Lane 2c + 1 onto lane 2c, then the even lanes into lanes 0..8.
        let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
        let mask = ((1u32 << w.channels()) - 1) as __mmask16;
        for (i, &v) in acc.iter().enumerate() {
            let sums = _mm512_add_ps(v, _mm512_permute_ps::<0b1011_0001>(v));
            let y = activate(p.clamp, _mm512_permutexvar_ps(evens, sums));
            _mm512_mask_storeu_ps(c.add((r0 + i) * ldc), mask, y);
        }
    }
}
