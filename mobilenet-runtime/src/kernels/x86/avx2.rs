//! AVX2 helpers shared by the AVX2 kernels of every operator.

use crate::{ACT_RELU, ACT_RELU6};
use std::arch::x86_64::*;

/// Applies the activation `act` in registers. `max` returns its second operand for a NaN `x`,
/// so a NaN becomes 0 under both ReLUs, as on the portable path.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn activate(act: u8, x: __m256) -> __m256 {
    let zero = _mm256_setzero_ps();
    match act {
        ACT_RELU => _mm256_max_ps(x, zero),
        ACT_RELU6 => _mm256_min_ps(_mm256_max_ps(x, zero), _mm256_set1_ps(6.0)),
        _ => x,
    }
}

/// A lane mask for `_mm256_maskload_ps` / `_mm256_maskstore_ps`: the first `n` (0..=8) lanes,
/// whose sign bits are set.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn first_lanes(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}
