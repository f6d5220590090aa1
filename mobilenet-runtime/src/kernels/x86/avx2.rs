//! AVX2 helpers shared by the AVX2 kernels of every operator.

use crate::kernels::activation::Clamp;
use std::arch::x86_64::*;

/// Applies the activation `c` in registers: `max` with the lower bound, `min` with the upper,
/// each only where it applies (see [`Clamp`]). `max` returns its second operand for a NaN
/// `x`, so a NaN becomes the lower bound, as on the portable path.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn activate(c: Clamp, x: __m256) -> __m256 {
    let x = if c.has_lo() {
        _mm256_max_ps(x, _mm256_set1_ps(c.lo))
    } else {
        x
    };
    if c.has_hi() {
        _mm256_min_ps(x, _mm256_set1_ps(c.hi))
    } else {
        x
    }
}

/// A lane mask for `_mm256_maskload_ps` / `_mm256_maskstore_ps`: the first `n` (0..=8) lanes,
/// whose sign bits are set.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn first_lanes(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}
