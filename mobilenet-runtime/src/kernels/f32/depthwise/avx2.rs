//! The AVX2+FMA depthwise 3x3 kernel: the general one (`x86_3x3.rs`) over 8-lane vectors.

#![cfg(x86_simd)]

use super::ukernel::{RowsFn, Shape};
use super::x86_3x3::simd_depthwise;

/// The AVX2 [`super::ukernel::Pick3x3`]: one kernel for every shape.
pub(crate) fn pick(_: &Shape) -> RowsFn {
    body::run
}

simd_depthwise!(body, ops, "avx2,fma");

/// The AVX2 vector operations the depthwise body is written in.
mod ops {
    use std::arch::x86_64::*;
    pub(crate) type V = __m256;
    /// Lanes of [`V`].
    pub(crate) const L: usize = 8;
    /// Output rows and columns per register-blocked group: the `R * P` accumulators, the 9
    /// weights and the input vector in flight fill the 16 registers. 2 x 3 against 2 x 2 on
    /// an AMD EPYC, depthwise alone, A/B in one process, stride 1: 14-16% faster on
    /// 56x56x128 and 40x40x64, 5-7% on 14x14x512 and 7x7x1024, 2% slower on 28x28x256. With 8
    /// to 32 channels 2 x 3 also beat 2 x 6 groups that hold no weights and load each tap's
    /// weight once (12 accumulators; 15-30% slower), which themselves beat 2 x 2 by 5-40%.
    pub(crate) const R: usize = 2;
    /// See [`R`].
    pub(crate) const P: usize = 3;
    /// Most channels for which strides other than 1 use groups of [`P`] rather than 2: at
    /// stride 2, 2 x 3 groups (5 x 7 input pixels) ran 3-6% faster than 2 x 2 at 16 and 32
    /// channels, but 4-22% slower from 64 channels up (112x112x64 to 14x14x512).
    pub(crate) const P_STRIDED_MAX_C: usize = 32;
    /// Channel blocks per chunk (64 channels, as on AVX-512); see the AVX-512 `K`.
    pub(crate) const K: usize = 8;
    /// Channel counts whose interior sweeps are compiled with the count a constant, so that
    /// every input, weight and output offset of a group is an immediate, the blocks of a
    /// chunk unroll, and a single block keeps its weights in registers: every depthwise layer
    /// at width 0.25, 0.5 and 1.0. Depthwise alone, A/B in one process on an AMD EPYC:
    /// 64x64x8 22% faster, 80x80x16 and 32x32x32 14%, 40x40x64 9-13%, 112x112x32 10%; stride
    /// 2 64x64x16 15%, 80x80x32 16%, 112x112x64 8%. In the network (A/B in one process),
    /// 128 channels 6-12% faster, 256 2-7%, 512 5-8%, 1024 3%. Every entry is another copy of
    /// the interior sweeps at strides 1 and 2: the first four added about 1.5 s to this
    /// crate's release build (17.2 s without them, 18.3-18.7 s with), the four from 128 up
    /// took its LLVM IR from 0.72M to 0.80M lines. Width 0.75's counts (24 to 768) are left
    /// out: no benchmark measures them.
    pub(crate) const FIXED_C: [usize; 8] = [L, 2 * L, 4 * L, 8 * L, 16 * L, 32 * L, 64 * L, 128 * L];
    /// The lanes a masked load or store touches (sign bit set).
    pub(crate) type Mask = __m256i;

    /// The first `n` (0..=8) lanes.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn mask(n: usize) -> Mask {
        crate::kernels::x86::avx2::first_lanes(n)
    }

    /// Loads a vector, or with `MASKED` only the lanes in `m` (the others read as 0 and touch
    /// no memory).
    ///
    /// # Safety
    /// AVX2; `p` readable for the lanes loaded.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn ld<const MASKED: bool>(p: *const f32, m: Mask) -> V {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if MASKED {
                _mm256_maskload_ps(p, m)
            } else {
                _mm256_loadu_ps(p)
            }
        }
    }

    /// Stores a vector, or with `MASKED` only the lanes in `m`.
    ///
    /// # Safety
    /// AVX2; `p` writable for the lanes stored.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn st<const MASKED: bool>(p: *mut f32, v: V, m: Mask) {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if MASKED {
                _mm256_maskstore_ps(p, m, v)
            } else {
                _mm256_storeu_ps(p, v)
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(crate) fn fma(a: V, b: V, c: V) -> V {
        _mm256_fmadd_ps(a, b, c)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn max(a: V, b: V) -> V {
        _mm256_max_ps(a, b)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn min(a: V, b: V) -> V {
        _mm256_min_ps(a, b)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn zero() -> V {
        _mm256_setzero_ps()
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn splat(x: f32) -> V {
        _mm256_set1_ps(x)
    }
}
