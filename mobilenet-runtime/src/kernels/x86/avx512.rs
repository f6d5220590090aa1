//! AVX-512 helpers shared by the AVX-512 kernels of every operator.

use crate::{ACT_RELU, ACT_RELU6};
use std::arch::x86_64::*;

/// Applies activation `act` to a vector, for every AVX-512 kernel. `max(x, 0)` returns its
/// second operand for a NaN `x`, so a NaN becomes 0 under both ReLUs, as on the portable path.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn activate(act: u8, x: __m512) -> __m512 {
    let zero = _mm512_setzero_ps();
    match act {
        ACT_RELU => _mm512_max_ps(x, zero),
        ACT_RELU6 => _mm512_min_ps(_mm512_max_ps(x, zero), _mm512_set1_ps(6.0)),
        _ => x,
    }
}
