//! TFLite's integer requantisation, ported bit for bit: how a real multiplier becomes an
//! `(i32, shift)` pair ([`quantize_multiplier`]) and how an `i32` accumulator is scaled by it
//! ([`multiply_by_quantized_multiplier`]), in TFLite's default build (double rounding: a
//! rounding high multiply, then a rounding right shift; not `TFLITE_SINGLE_ROUNDING`).
//!
//! Sources (tensorflow/tflite-micro at 90b983c, the same code as tensorflow/lite):
//! - `tensorflow/lite/kernels/internal/common.cc` lines 78-90: `MultiplyByQuantizedMultiplier`
//!   (double rounding);
//! - `tensorflow/lite/kernels/internal/quantization_util.cc` lines 53-104: `QuantizeMultiplier`;
//! - google/gemmlowp `fixedpoint/fixedpoint.h` lines 337-379:
//!   `SaturatingRoundingDoublingHighMul` and `RoundingDivideByPOT` for `int32`.
//!
//! Every kernel's epilogue is `Requant::apply` (or a vector copy of it that the tests hold to
//! the same results).

// Without `std`, the parts that prepare parameters (done at compile time then) go unused.
#![cfg_attr(not(feature = "std"), allow(dead_code))]

/// TFLite's `QuantizeMultiplier` (quantization_util.cc lines 53-104, default build): `real` as
/// `multiplier * 2^(shift - 31)` with `multiplier` in `[2^30, 2^31)` (or 0), rounding half away
/// from zero; `shift > 0` means a left shift.
///
/// In the default (double-rounding) build TFLite does not cap `shift` at 30 (only
/// `TFLITE_SINGLE_ROUNDING` does), so neither does this: a `real` of `2^30` or more gives a
/// shift above 30, which the kernels' parameter checks then refuse (TFLite's kernels would
/// shift `1 << 31`, undefined behaviour). Below about `2^-32`, `(0, 0)` (TFLite's flush to
/// zero of shifts below -31).
///
/// # Panics
/// If `real` is not finite (TFLite's `std::round` of an infinity cast to `int64_t` is
/// undefined); loaders should check scales first.
#[cfg(feature = "std")]
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    assert!(real.is_finite(), "quantize_multiplier: {real} is not finite");
    if real == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(real);
    // `TfLiteRound` is `std::round`: half away from zero, as `f64::round`.
    let mut q_fixed = (q * (1u64 << 31) as f64).round() as i64;
    debug_assert!(q_fixed.abs() <= 1 << 31);
    if q_fixed == 1 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// `std::frexp`: `x = q * 2^e` with `|q|` in `[0.5, 1)`, for finite nonzero `x` (subnormals
/// included); `(x, 0)` for zero.
#[cfg(feature = "std")]
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first (exact).
        let (q, e) = frexp(x * f64::from_bits((1023 + 64) << 52));
        return (q, e - 64);
    }
    let q = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (q, biased - 1022)
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul` for `int32` (fixedpoint.h lines 339-350):
/// `a * b / 2^31` rounded to nearest with ties *up* (toward +inf: the nudge `1 - 2^30` of a
/// negative product and C++'s truncating division make `-1.5` round to `-1`), and `i32::MAX`
/// for `MIN * MIN`. What ARM's `VQRDMULH` computes. Equivalently
/// `floor((a * b + 2^30) / 2^31)`, which is what the vector kernels compute.
#[inline(always)]
pub(crate) fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    let overflow = a == b && a == i32::MIN;
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Truncating division, as C++'s.
    let high = ((ab + nudge) / (1i64 << 31)) as i32;
    if overflow {
        i32::MAX
    } else {
        high
    }
}

/// gemmlowp's `RoundingDivideByPOT` (fixedpoint.h lines 367-379): `x / 2^exponent` rounded to
/// nearest, ties away from zero, for `exponent` in `0..=31` (gemmlowp asserts it; outside it
/// the result is unspecified, but nothing panics).
#[inline(always)]
pub(crate) fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let e = exponent as u32;
    let mask = (1i64.wrapping_shl(e) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    x.wrapping_shr(e) + i32::from(remainder > threshold)
}

/// TFLite's `MultiplyByQuantizedMultiplier(int32_t, int32_t, int)` of the default build
/// (common.cc lines 80-90): `x * multiplier * 2^(shift - 31)`, rounded twice as TFLite does.
///
/// `x * (1 << left_shift)` is signed overflow in C++ (undefined behaviour); compilers emit a
/// plain multiply, which wraps, and so does this. `shift` must be in `-31..=30`, the range
/// TFLite asserts; outside it the result is unspecified (nothing panics).
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32.wrapping_shl(left as u32)), multiplier),
        right,
    )
}

/// Shifts a layer's parameters may hold: TFLite's kernels assert `-31..=30` (a right shift of
/// at most 31, a left shift `1 << shift` that fits an `int`).
pub(crate) const SHIFTS: core::ops::RangeInclusive<i32> = -31..=30;

/// The requantisation of one output channel of a layer: multiplier, shift (split into its
/// left and right parts, as the kernels apply them), output zero point and clamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Requant {
    pub multiplier: i32,
    /// `max(shift, 0)`.
    pub left: i32,
    /// `max(-shift, 0)`.
    pub right: i32,
    pub zero_point: i32,
    pub min: i8,
    pub max: i8,
}

impl Requant {
    /// The output of accumulator `acc`: `clamp(mbqm(acc) + zero_point, min, max)`, the
    /// zero point added with wrapping (C++ `int` overflow in TFLite).
    #[inline(always)]
    pub(crate) fn apply(self, acc: i32) -> i8 {
        let scaled = rounding_divide_by_pot(
            saturating_rounding_doubling_high_mul(
                acc.wrapping_mul(1i32.wrapping_shl(self.left as u32)),
                self.multiplier,
            ),
            self.right,
        );
        scaled
            .wrapping_add(self.zero_point)
            .clamp(self.min as i32, self.max as i32) as i8
    }
}

/// Per-channel requantisation parameters of a layer, each array padded with copies of the
/// last channel's values to `len` (a kernel's whole vectors), as the vector epilogues load them.
#[cfg(feature = "std")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChannelRequant {
    pub multiplier: Vec<i32>,
    pub left: Vec<i32>,
    pub right: Vec<i32>,
    pub zero_point: i32,
    pub min: i8,
    pub max: i8,
}

#[cfg(feature = "std")]
impl ChannelRequant {
    /// From TFLite's per-channel `multiplier` and `shift` (checked by the caller), padded to
    /// `len >= multiplier.len()` entries.
    pub(crate) fn new(multiplier: &[i32], shift: &[i32], zero_point: i32, (min, max): (i8, i8), len: usize) -> Self {
        let pad = |v: Vec<i32>| {
            let last = *v.last().expect("at least one channel");
            let mut v = v;
            v.resize(len, last);
            v
        };
        ChannelRequant {
            multiplier: pad(multiplier.to_vec()),
            left: pad(shift.iter().map(|&s| s.max(0)).collect()),
            right: pad(shift.iter().map(|&s| (-s).max(0)).collect()),
            zero_point,
            min,
            max,
        }
    }

    /// Channel `c`'s parameters.
    #[inline(always)]
    pub(crate) fn at(&self, c: usize) -> Requant {
        Requant {
            multiplier: self.multiplier[c],
            left: self.left[c],
            right: self.right[c],
            zero_point: self.zero_point,
            min: self.min,
            max: self.max,
        }
    }

    /// TFLite's shift of the first `n` channels (`left - right`).
    pub(crate) fn shifts(&self, n: usize) -> Vec<i32> {
        (0..n).map(|c| self.left[c] - self.right[c]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{Checksum, Rng};

    /// `2^e`, exactly, for `e` in the normal range (`powi` may round: under Miri it does).
    fn pow2(e: i32) -> f64 {
        assert!((-1022..=1023).contains(&e));
        f64::from_bits(((e + 1023) as u64) << 52)
    }

    /// Runs of 100,000 random arguments (the `Rng` of the kernel tests, seeded 1..), checked
    /// against checksums of the same runs through the C++ originals: gemmlowp's
    /// `fixedpoint.h` at 16e8662 and TFLite's `QuantizeMultiplier` /
    /// `MultiplyByQuantizedMultiplier` as in tflite-micro 90b983c (the left shift's multiply
    /// done unsigned, as compilers do it), built with g++ -O1 on x86-64. The same program gave
    /// the checksums in `fixedpoint.rs` and `softmax.rs`.
    #[test]
    fn golden_checksums_of_the_cpp_originals() {
        let n = if cfg!(miri) { 0 } else { 100_000 };
        let run = |seed: u64, f: &mut dyn FnMut(&mut Rng, &mut Checksum)| {
            let (mut rng, mut h) = (Rng::new(seed), Checksum::default());
            for _ in 0..n {
                f(&mut rng, &mut h);
            }
            h.0
        };
        if n == 0 {
            return;
        }
        let srdhm = run(1, &mut |r, h| {
            let (a, b) = (r.bits() as i32, r.bits() as i32);
            h.add(saturating_rounding_doubling_high_mul(a, b));
        });
        assert_eq!(srdhm, 10825739166744873723);
        let rdbpot = run(2, &mut |r, h| {
            let x = r.bits() as i32;
            let e = (r.bits() % 32) as i32;
            h.add(rounding_divide_by_pot(x, e));
        });
        assert_eq!(rdbpot, 16680756814870570056);
        let mbqm = run(3, &mut |r, h| {
            let x = (r.bits() as i32) >> (r.bits() % 32);
            let m = (r.bits() >> 33) as i32;
            let s = (r.bits() % 62) as i32 - 31;
            h.add(multiply_by_quantized_multiplier(x, m, s));
        });
        assert_eq!(mbqm, 10197157518094306504);
        let qm = run(4, &mut |r, h| {
            let mantissa = (r.bits() >> 11) as f64 / pow2(53);
            let real = mantissa * pow2((r.bits() % 80) as i32 - 60);
            let (m, s) = quantize_multiplier(real);
            h.add(m);
            h.add(s);
        });
        assert_eq!(qm, 8433260369655632038);
    }

    /// `a * b / 2^31` rounded half up, computed in i128 as a second opinion (the form the
    /// vector kernels use: `floor((a * b + 2^30) / 2^31)`), saturated.
    fn srdhm_wide(a: i32, b: i32) -> i32 {
        let r = (a as i128 * b as i128 + (1 << 30)) >> 31;
        r.clamp(i32::MIN as i128, i32::MAX as i128) as i32
    }

    #[test]
    fn high_mul_known_values() {
        let f = saturating_rounding_doubling_high_mul;
        assert_eq!(f(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(f(i32::MAX, i32::MAX), i32::MAX - 1);
        assert_eq!(f(i32::MIN, i32::MAX), -i32::MAX);
        assert_eq!(f(1 << 30, 1 << 30), 1 << 29);
        // Half-way cases round up: 3 * 2^30 / 2^31 = 1.5 -> 2, -1.5 -> -1; 0.5 -> 1,
        // -0.5 -> 0.
        assert_eq!(f(3, 1 << 30), 2);
        assert_eq!(f(-3, 1 << 30), -1);
        assert_eq!(f(1, 1 << 30), 1);
        assert_eq!(f(-1, 1 << 30), 0);
        assert_eq!(f(-5, 1 << 30), -2);
        assert_eq!(f(1, (1 << 30) - 1), 0);
        assert_eq!(f(-1, (1 << 30) - 1), 0);
        assert_eq!(f(0, i32::MIN), 0);
    }

    #[test]
    fn high_mul_matches_wide_arithmetic() {
        let mut s = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let edges = [
            0,
            1,
            -1,
            2,
            -2,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
            1 << 29,
            12345,
        ];
        for &a in &edges {
            for &b in &edges {
                assert_eq!(saturating_rounding_doubling_high_mul(a, b), srdhm_wide(a, b), "{a} {b}");
            }
        }
        for _ in 0..if cfg!(miri) { 200 } else { 200_000 } {
            let (a, b) = (next() as i32, (next() >> 17) as i32);
            assert_eq!(saturating_rounding_doubling_high_mul(a, b), srdhm_wide(a, b), "{a} {b}");
        }
    }

    #[test]
    fn rounding_divide_known_values() {
        let f = rounding_divide_by_pot;
        assert_eq!(f(5, 1), 3);
        assert_eq!(f(-5, 1), -3);
        assert_eq!(f(4, 1), 2);
        assert_eq!(f(7, 2), 2);
        assert_eq!(f(6, 2), 2);
        assert_eq!(f(-6, 2), -2);
        assert_eq!(f(-7, 2), -2);
        assert_eq!(f(10, 2), 3);
        assert_eq!(f(-10, 2), -3);
        assert_eq!(f(i32::MAX, 31), 1);
        assert_eq!(f(i32::MIN, 31), -1);
        assert_eq!(f(i32::MIN, 0), i32::MIN);
        assert_eq!(f(i32::MAX, 0), i32::MAX);
        assert_eq!(f(1 << 30, 31), 1);
        assert_eq!(f((1 << 30) - 1, 31), 0);
        assert_eq!(f(-(1 << 30), 31), -1);
        assert_eq!(f(-(1 << 30) + 1, 31), 0);
        // Against round-half-away-from-zero of the exact quotient.
        for x in -300..300 {
            for e in 0..10 {
                let q = x as f64 / (1 << e) as f64;
                assert_eq!(f(x, e), q.round() as i32, "{x} / 2^{e}");
            }
        }
    }

    #[test]
    fn quantize_multiplier_known_values() {
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        assert_eq!(quantize_multiplier(0.75), (3 << 29, 0));
        assert_eq!(quantize_multiplier(2.0), (1 << 30, 2));
        // A mantissa that rounds up to 2^31 is halved and the shift bumped.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), (1 << 30, 1));
        assert_eq!(quantize_multiplier(-0.5), (-(1 << 30), 0));
        // Flushed to zero below 2^-32.
        assert_eq!(quantize_multiplier(pow2(-33)), (0, 0));
        assert_eq!(quantize_multiplier(pow2(-32)), (1 << 30, -31));
        assert_eq!(quantize_multiplier(f64::MIN_POSITIVE / 4.0), (0, 0));
        // No cap on the shift in the double-rounding build.
        assert_eq!(quantize_multiplier(pow2(40)), (1 << 30, 41));
        // A typical MobileNet scale, against the real value.
        let real = 0.0235294122248888 * 0.0174297020345926 / 0.0235294122248888f64;
        let (m, s) = quantize_multiplier(real);
        assert!((m as f64 * pow2(s - 31) - real).abs() <= pow2(s - 32));
        assert!((1 << 30..=i32::MAX).contains(&m));
    }

    #[test]
    fn frexp_matches_definition() {
        for x in [1.0, 0.5, 3.0, 1e-300, 5e-324, 1e300, -7.25, 0.1] {
            let (q, e) = frexp(x);
            assert!((0.5..1.0).contains(&q.abs()), "{x}: {q}");
            if e < -1000 {
                // A subnormal: scaled by 2^200 so that the power of two is a normal number.
                assert_eq!(q * pow2(e + 200), x * pow2(200), "{x}");
            } else {
                assert_eq!(q * pow2(e), x, "{x}");
            }
        }
        assert_eq!(frexp(0.0), (0.0, 0));
    }

    #[test]
    fn multiply_known_values() {
        let f = multiply_by_quantized_multiplier;
        // 1000 * 0.5 = 500, as (2^30, 0).
        assert_eq!(f(1000, 1 << 30, 0), 500);
        // Double rounding: 1001 * 0.25 = 250.25, but the high multiply rounds 500.5 up to 501
        // first, and 501 / 2 = 250.5 rounds to 251.
        assert_eq!(f(1001, 1 << 30, -1), 251);
        assert_eq!(f(1001, 1 << 30, -2), 125);
        // 1002 * 0.25 = 250.5 -> 251; -1002 * 0.25 -> -251.
        assert_eq!(f(1002, 1 << 30, -1), 251);
        assert_eq!(f(-1002, 1 << 30, -1), -251);
        // Left shifts: 3 * 2 * 0.5 * 2^2... (2^30, 3) is 4.0.
        assert_eq!(f(3, 1 << 30, 3), 12);
        assert_eq!(f(-3, 1 << 30, 3), -12);
        // Double rounding: 3 * 0.75 = 2.25 rounds to 2 in the high multiply, then 2 / 2 = 1.
        assert_eq!(f(3, 3 << 29, -1), 1);
        // The left shift wraps, as the C++ multiply does in practice.
        assert_eq!(
            f(1 << 30, 1 << 30, 2),
            saturating_rounding_doubling_high_mul(0, 1 << 30)
        );
        assert_eq!(f(i32::MIN, i32::MIN, 0), i32::MAX);
        assert_eq!(f(i32::MIN, i32::MIN, -31), 1);
        // Against f64 where only the shift rounds: even x, so that x * 0.5 is exact, times
        // 2^(1-k) rounded half away from zero.
        for x in [-100_000, -8, -6, 0, 10, 123_456] {
            for k in 1..=31 {
                let want = (x as f64 / pow2(k)).round() as i32;
                assert_eq!(f(x, 1 << 30, 1 - k), want, "{x} 2^-{k}");
            }
        }
    }

    #[test]
    fn requant_applies_zero_point_and_clamp() {
        let rq = ChannelRequant::new(&[1 << 30, 3 << 29], &[0, -2], 5, (-10, 20), 4);
        assert_eq!(rq.multiplier, [1 << 30, 3 << 29, 3 << 29, 3 << 29]);
        assert_eq!(rq.left, [0, 0, 0, 0]);
        assert_eq!(rq.right, [0, 2, 2, 2]);
        assert_eq!(rq.shifts(2), [0, -2]);
        assert_eq!(rq.at(0).apply(20), 15);
        assert_eq!(rq.at(0).apply(100), 20);
        assert_eq!(rq.at(0).apply(-100), -10);
        // 40 * 0.75 / 4 = 7.5 -> srdhm gives 30 (exact), /4 = 7.5 -> 8; + 5 = 13.
        assert_eq!(rq.at(1).apply(40), 13);
        let wide = Requant {
            multiplier: i32::MAX,
            left: 0,
            right: 0,
            zero_point: i32::MAX,
            min: i8::MIN,
            max: i8::MAX,
        };
        // The zero point's add wraps: (MAX - 1) + MAX is -3.
        assert_eq!(wide.apply(i32::MAX), -3);
        assert_eq!(wide.apply(1 << 20), i8::MIN);
    }
}
