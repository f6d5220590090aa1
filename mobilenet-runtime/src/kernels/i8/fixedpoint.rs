//! The parts of gemmlowp's fixed-point arithmetic (`fixedpoint/fixedpoint.h`, google/gemmlowp
//! at 16e8662) that TFLite's quantized softmax uses, for scalar `int32` raw values, ported
//! operation for operation. A value of `FixedPoint<int32_t, I>` (`I` integer bits) is its raw
//! `i32` here; the integer bits are the functions' const parameters.
//!
//! gemmlowp's plain `+`/`-` on raw values are C++ `int` arithmetic (overflow undefined, never
//! reached by the softmax's ranges); they wrap here.

// Without `std`, the parts that prepare parameters (done at compile time then) go unused.
#![cfg_attr(not(feature = "std"), allow(dead_code))]

use super::requant::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul};

/// `FixedPoint * FixedPoint` (fixedpoint.h lines 549-556): the integer bits add up.
#[inline(always)]
pub(crate) fn mul(a: i32, b: i32) -> i32 {
    saturating_rounding_doubling_high_mul(a, b)
}

/// `SaturatingRoundingMultiplyByPOT<EXPONENT>` (fixedpoint.h lines 385-429): a saturating left
/// shift for a positive exponent, a rounding right shift for a negative one.
#[inline(always)]
pub(crate) fn saturating_rounding_multiply_by_pot<const EXPONENT: i32>(x: i32) -> i32 {
    if EXPONENT > 0 {
        let threshold = (1i32 << (31 - EXPONENT)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            // gemmlowp's `ShiftLeft` (lines 125-135), which cannot overflow inside the
            // thresholds.
            x << EXPONENT
        }
    } else if EXPONENT < 0 {
        rounding_divide_by_pot(x, -EXPONENT)
    } else {
        x
    }
}

/// [`saturating_rounding_multiply_by_pot`] for a positive exponent given as a value.
#[inline(always)]
fn saturating_shift_left(x: i32, exponent: i32) -> i32 {
    let threshold = (1i32 << (31 - exponent)) - 1;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << exponent
    }
}

/// `RoundingHalfSum` for `int32` (fixedpoint.h lines 236-243): `(a + b) / 2` rounded away from
/// zero.
#[inline(always)]
pub(crate) fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `FixedPoint<int32_t, 0>::One()`: the largest raw value (1 is not representable).
pub(crate) const ONE_Q0: i32 = i32::MAX;

/// `exp_on_interval_between_negative_one_quarter_and_0_excl` (fixedpoint.h lines 731-753):
/// `exp(a)` for `a` in `[-1/4, 0)`, both in Q0.31.
pub(crate) fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1_895_147_668; // exp(-1/8)
    const CONSTANT_1_OVER_3: i32 = 715_827_883;
    // Taylor expansion around -1/8: x = a + 1/8 (1/8 is 1 << 28 in Q0.31).
    let x = a.wrapping_add(1 << 28);
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot::<-2>(x4);
    let x4_over_24_plus_x3_over_6_plus_x2_over_2 =
        saturating_rounding_multiply_by_pot::<-1>(mul(x4_over_4.wrapping_add(x3), CONSTANT_1_OVER_3).wrapping_add(x2));
    // `AddSaturatingIf16Bit` is a plain add for int32.
    CONSTANT_TERM.wrapping_add(mul(
        CONSTANT_TERM,
        x.wrapping_add(x4_over_24_plus_x3_over_6_plus_x2_over_2),
    ))
}

/// `exp_on_negative_values` (fixedpoint.h lines 756-801): `exp(a)` in Q0.31 for `a <= 0` with
/// `INTEGER_BITS` integer bits.
pub(crate) fn exp_on_negative_values<const INTEGER_BITS: i32>(a: i32) -> i32 {
    let fractional_bits = 31 - INTEGER_BITS;
    let one_quarter = 1i32 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale_to_q0(
        a_mod_quarter_minus_one_quarter,
        INTEGER_BITS,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    // The barrel shifter: exp(-2^e) for each bit of the remainder.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947), // exp(-1/4)
        (-1, 1_302_514_674), // exp(-1/2)
        (0, 790_015_084),    // exp(-1)
        (1, 290_630_308),    // exp(-2)
        (2, 39_332_535),     // exp(-4)
        (3, 720_401),        // exp(-8)
        (4, 242),            // exp(-16)
    ];
    for (exponent, multiplier) in BARREL {
        if INTEGER_BITS > exponent {
            let shift = fractional_bits + exponent;
            if remainder & (1 << shift) != 0 {
                result = mul(result, multiplier);
            }
        }
    }
    if INTEGER_BITS > 5 {
        let clamp = -(1i32 << (36 - INTEGER_BITS));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = ONE_Q0;
    }
    result
}

/// `Rescale<0>` of a value with `integer_bits` integer bits: a saturating left shift.
#[inline(always)]
fn rescale_to_q0(x: i32, integer_bits: i32) -> i32 {
    if integer_bits == 0 {
        x
    } else {
        saturating_shift_left(x, integer_bits)
    }
}

/// `one_over_one_plus_x_for_x_in_0_1` (fixedpoint.h lines 853-874): `1 / (1 + a)` for `a` in
/// `[0, 1)`, both in Q0.31, by three Newton-Raphson steps in Q2.29.
pub(crate) fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    const CONSTANT_48_OVER_17: i32 = 1_515_870_810;
    const CONSTANT_NEG_32_OVER_17: i32 = -1_010_580_540;
    const ONE_Q2: i32 = 1 << 29;
    let half_denominator = rounding_half_sum(a, ONE_Q0);
    let mut x = CONSTANT_48_OVER_17.wrapping_add(mul(half_denominator, CONSTANT_NEG_32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus_half_denominator_times_x = ONE_Q2.wrapping_sub(half_denominator_times_x);
        // Q2 * Q2 is Q4; `Rescale<2>` from 4 integer bits.
        x = x.wrapping_add(saturating_shift_left(mul(x, one_minus_half_denominator_times_x), 2));
    }
    // `ExactMulByPot<-1>` makes it Q1.30 without touching the raw value; `Rescale<0>`.
    saturating_shift_left(x, 1)
}

/// TFLite's `GetReciprocal` (tensorflow/lite/kernels/internal/common.h lines 981-996): for a
/// positive `x` with `x_integer_digits` integer bits, `(1 / x` scaled into `[0.5, 1)` in
/// Q0.31, `num_bits_over_unit)`.
pub(crate) fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros();
    let num_bits_over_unit = x_integer_digits - headroom_plus_one as i32;
    let shifted_sum_minus_one = (x as u32)
        .checked_shl(headroom_plus_one)
        .unwrap_or(0)
        .wrapping_sub(1 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{Checksum, Rng};

    /// 100,000 random arguments each against checksums of gemmlowp's C++ (see
    /// `requant.rs`'s golden test for how they were made).
    #[test]
    fn golden_checksums_of_gemmlowp() {
        if cfg!(miri) {
            return;
        }
        let (mut rng, mut h) = (Rng::new(5), Checksum::default());
        for _ in 0..100_000 {
            h.add(exp_on_negative_values::<5>(-((rng.bits() >> 33) as i32)));
        }
        assert_eq!(h.0, 11338373388734840846);
        let (mut rng, mut h) = (Rng::new(6), Checksum::default());
        for _ in 0..100_000 {
            h.add(one_over_one_plus_x_for_x_in_0_1((rng.bits() >> 33) as i32));
        }
        assert_eq!(h.0, 7426063792288790458);
    }

    fn q(raw: i32, integer_bits: i32) -> f64 {
        raw as f64 / 2f64.powi(31 - integer_bits)
    }

    #[test]
    fn exp_is_close_to_exp() {
        // Q5.26 inputs over [-32, 0].
        let step = if cfg!(miri) { 1 << 22 } else { 1 << 12 };
        for a in (i32::MIN as i64..=0).rev().step_by(step).map(|a| a as i32) {
            let got = q(exp_on_negative_values::<5>(a), 0);
            let want = q(a, 5).exp();
            assert!((got - want).abs() < 1e-6, "exp({}) = {got}, want {want}", q(a, 5));
        }
        assert_eq!(exp_on_negative_values::<5>(0), i32::MAX);
    }

    #[test]
    fn reciprocal_is_close() {
        for x in [0.0, 0.1, 0.25, 0.5, 0.75, 0.999] {
            let raw = (x * 2f64.powi(31)) as i32;
            let got = q(one_over_one_plus_x_for_x_in_0_1(raw), 0);
            assert!((got - 1.0 / (1.0 + x)).abs() < 1e-8, "1 / (1 + {x}) = {got}");
        }
        // 1.0 in Q12.19: no bits over the unit, reciprocal 1.
        let (scale, bits) = get_reciprocal(1 << 19, 12);
        assert_eq!(bits, 0);
        assert!((q(scale, 0) - 1.0).abs() < 1e-8);
        // 3.0 = 1.5 * 2^1: one bit over the unit, 1 / 1.5 in Q0.31.
        let (scale, bits) = get_reciprocal(3 << 19, 12);
        assert_eq!(bits, 1);
        assert!((q(scale, 0) - 2.0 / 3.0).abs() < 1e-8);
    }

    #[test]
    fn pot_helpers() {
        assert_eq!(saturating_rounding_multiply_by_pot::<2>(1 << 28), 1 << 30);
        assert_eq!(saturating_rounding_multiply_by_pot::<2>(1 << 29), i32::MAX);
        assert_eq!(saturating_rounding_multiply_by_pot::<2>(-(1 << 29)), i32::MIN);
        assert_eq!(saturating_rounding_multiply_by_pot::<-2>(7), 2);
        assert_eq!(saturating_rounding_multiply_by_pot::<0>(7), 7);
        assert_eq!(rounding_half_sum(3, 4), 4);
        assert_eq!(rounding_half_sum(-3, -4), -4);
        assert_eq!(rounding_half_sum(i32::MAX, i32::MAX), i32::MAX);
        assert_eq!(rescale_to_q0(1 << 20, 5), 1 << 25);
    }
}
