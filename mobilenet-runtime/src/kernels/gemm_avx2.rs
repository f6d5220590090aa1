//! AVX2+FMA micro-kernel of [`super::gemm`]: `MR` (6) rows x 16 channels (2 ymm) of the output
//! in 12 accumulator registers; per reduction step, two weight loads and 6 broadcasts feeding
//! 12 FMAs. A last panel of 8 channels runs the 1-ymm variant. Bias and activation are
//! applied in registers; a partial last vector goes through a stack buffer.

#![cfg(target_arch = "x86_64")]

use super::gemm::Sweep;
use crate::{ACT_RELU, ACT_RELU6};
use std::arch::x86_64::*;

/// Rows per tile: 6 x 2 = 12 accumulators, 2 weights and 1 broadcast of 16 ymm registers.
const MR: usize = 6;

/// Sweeps one panel over `s.rows` rows, `MR` at a time, then the leftover rows.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `s` must satisfy the contract of
/// [`super::gemm::gemm_raw`] for its rows and panel (`s.w` is `k` rows of 8 or 16 floats,
/// `s.bias` as wide).
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn sweep<const ACT: u8>(s: &Sweep) {
    let width = s.bias.len();
    debug_assert!(width == 8 || width == 16);
    debug_assert!(s.w.len() == width * s.k);
    debug_assert!(s.segs.iter().all(|g| g.k0 + g.len <= s.k));
    // SAFETY: forwarded contract.
    unsafe {
        if width == 16 {
            sweep_nv::<2, ACT>(s)
        } else {
            sweep_nv::<1, ACT>(s)
        }
    }
}

/// [`sweep`] for panels of `NV` vectors.
#[target_feature(enable = "avx2,fma")]
unsafe fn sweep_nv<const NV: usize, const ACT: u8>(s: &Sweep) {
    let mut r = 0;
    // SAFETY: each `tile` call covers rows `r .. r + R`, all below `s.rows`.
    unsafe {
        // The first tile prefetches the next panel (see `Sweep`).
        if s.rows >= MR {
            tile::<MR, NV, ACT, true>(s, 0);
            r = MR;
        }
        while r + MR <= s.rows {
            tile::<MR, NV, ACT, false>(s, r);
            r += MR;
        }
        let pf = r == 0;
        macro_rules! tail {
            ($($n:literal)*) => {
                match (s.rows - r, pf) {
                    $(($n, true) => tile::<$n, NV, ACT, true>(s, r),
                      ($n, false) => tile::<$n, NV, ACT, false>(s, r),)*
                    _ => {}
                }
            };
        }
        tail!(1 2 3 4 5);
    }
}

/// Rows `r0 .. r0 + R` of the panel; see [`super::gemm_avx512`]'s `tile`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile<const R: usize, const NV: usize, const ACT: u8, const PF: bool>(s: &Sweep, r0: usize) {
    // SAFETY (whole function): the bias has NV * 8 floats; `w` has k rows of NV * 8; row
    // `r0 + i` (i < R) of `a` is readable over every run and of `c` has `s.n` writable floats.
    unsafe {
        let bias: [__m256; NV] = std::array::from_fn(|v| _mm256_loadu_ps(s.bias.as_ptr().add(8 * v)));
        let mut acc = [bias; R];
        let a = s.a.add(r0 * s.lda);
        let width = 8 * NV;
        for seg in s.segs {
            let a = a.add(seg.a);
            let mut w = s.w.as_ptr().add(seg.k0 * width);
            for kk in 0..seg.len {
                if PF {
                    // The same weight row of the next panel; prefetches never fault, so past
                    // the last panel this is only a wasted hint. One 64-byte line per row.
                    _mm_prefetch::<_MM_HINT_T1>(w.wrapping_add(width * s.k).cast());
                }
                let wv: [__m256; NV] = std::array::from_fn(|v| _mm256_loadu_ps(w.add(8 * v)));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*a.add(i * s.lda + kk));
                    for (acc, &wv) in acc.iter_mut().zip(&wv) {
                        *acc = _mm256_fmadd_ps(x, wv, *acc);
                    }
                }
                w = w.add(width);
            }
        }
        let zero = _mm256_setzero_ps();
        let six = _mm256_set1_ps(6.0);
        let c = s.c.add(r0 * s.ldc);
        for (i, acc) in acc.iter().enumerate() {
            for (v, &x) in acc.iter().enumerate() {
                // max(x, 0) returns the second operand for a NaN x: 0, as the portable path.
                let y = match ACT {
                    ACT_RELU => _mm256_max_ps(x, zero),
                    ACT_RELU6 => _mm256_min_ps(_mm256_max_ps(x, zero), six),
                    _ => x,
                };
                let dst = c.add(i * s.ldc + 8 * v);
                let valid = s.n.saturating_sub(8 * v).min(8);
                if valid == 8 {
                    _mm256_storeu_ps(dst, y);
                } else if valid > 0 {
                    let mut buf = [0.0f32; 8];
                    _mm256_storeu_ps(buf.as_mut_ptr(), y);
                    std::ptr::copy_nonoverlapping(buf.as_ptr(), dst, valid);
                }
            }
        }
    }
}
