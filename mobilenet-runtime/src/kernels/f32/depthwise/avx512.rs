//! The AVX-512 depthwise 3x3 kernels: the general one (`x86_3x3.rs`) over 16-lane vectors,
//! and for 8 channels at stride 1 the two-pixels-per-vector one (`c8_avx512.rs`).

#![cfg(x86_simd)]

use super::c8_avx512 as c8;
use super::ukernel::{RowsFn, Shape};
use super::x86_3x3::simd_depthwise;
use crate::kernels::activation::Clamp;
use crate::{ACT_NONE, ACT_RELU, ACT_RELU6};

/// The AVX-512 [`super::ukernel::Pick3x3`]: the 8-channel kernel where it applies (stride 1,
/// and an activation that it is compiled for), else the general one.
pub(crate) fn pick(sh: &Shape) -> RowsFn {
    if sh.c == c8::C && sh.s == 1 {
        for act in [ACT_NONE, ACT_RELU, ACT_RELU6] {
            if sh.clamp == Clamp::of(act) {
                return match act {
                    ACT_RELU => c8::run::<ACT_RELU>,
                    ACT_RELU6 => c8::run::<ACT_RELU6>,
                    _ => c8::run::<ACT_NONE>,
                };
            }
        }
    }
    body::run
}

simd_depthwise!(body, ops, "avx512f,fma");

/// The AVX-512 vector operations the depthwise body is written in.
mod ops {
    use std::arch::x86_64::*;
    pub(crate) type V = __m512;
    /// Lanes of [`V`].
    pub(crate) const L: usize = 16;
    /// Output rows and columns per register-blocked group: the `R * P` accumulators, the 9
    /// weights and the input vector in flight fit in the 32 registers. Measured against
    /// 1 x 4, 3 x 4 and 2 x 6 on Sapphire Rapids.
    pub(crate) const R: usize = 2;
    /// See [`R`].
    pub(crate) const P: usize = 4;
    /// Channel blocks per chunk (64 channels): a group sweeps them all before moving on, so
    /// that the input columns it shares with the next group are still in L1. Measured
    /// against 2, 8 and 32.
    pub(crate) const K: usize = 4;
    /// Most channels for which strides other than 1 use groups of [`P`] (all), rather than 2.
    pub(crate) const P_STRIDED_MAX_C: usize = usize::MAX;
    /// Channel counts with a sweep of their own (see the AVX2 `FIXED_C`): none, since that was
    /// measured only on AVX2 (0 never matches a layer, and is the generic sweep anyway).
    pub(crate) const FIXED_C: [usize; 8] = [0; 8];
    /// The lanes a masked load or store touches.
    pub(crate) type Mask = __mmask16;

    /// The first `n` (1..=16) lanes.
    #[inline(always)]
    pub(crate) fn mask(n: usize) -> Mask {
        ((1u32 << n) - 1) as Mask
    }

    /// Loads a vector, or with `MASKED` only the lanes in `m` (the others read as 0 and touch
    /// no memory).
    ///
    /// # Safety
    /// AVX-512F; `p` readable for the lanes loaded.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) unsafe fn ld<const MASKED: bool>(p: *const f32, m: Mask) -> V {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if MASKED {
                _mm512_maskz_loadu_ps(m, p)
            } else {
                _mm512_loadu_ps(p)
            }
        }
    }

    /// Stores a vector, or with `MASKED` only the lanes in `m`.
    ///
    /// # Safety
    /// AVX-512F; `p` writable for the lanes stored.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) unsafe fn st<const MASKED: bool>(p: *mut f32, v: V, m: Mask) {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if MASKED {
                _mm512_mask_storeu_ps(p, m, v)
            } else {
                _mm512_storeu_ps(p, v)
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn fma(a: V, b: V, c: V) -> V {
        _mm512_fmadd_ps(a, b, c)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn max(a: V, b: V) -> V {
        _mm512_max_ps(a, b)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn min(a: V, b: V) -> V {
        _mm512_min_ps(a, b)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn zero() -> V {
        _mm512_setzero_ps()
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn splat(x: f32) -> V {
        _mm512_set1_ps(x)
    }
}
