//! AVX-512 helpers shared by the AVX-512 kernels of every operator.

use crate::kernels::activation::Clamp;
use std::arch::x86_64::*;

/// Applies the activation `c` in registers: `max` with the lower bound, `min` with the upper,
/// each only where it applies (see [`Clamp`]). `max` returns its second operand for a NaN
/// `x`, so a NaN becomes the lower bound, as on the portable path.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn activate(c: Clamp, x: __m512) -> __m512 {
    let x = if c.has_lo() {
        _mm512_max_ps(x, _mm512_set1_ps(c.lo))
    } else {
        x
    };
    if c.has_hi() {
        _mm512_min_ps(x, _mm512_set1_ps(c.hi))
    } else {
        x
    }
}
