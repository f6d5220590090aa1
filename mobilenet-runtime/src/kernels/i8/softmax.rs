//! Int8 softmax with output scale 1/256, as TFLite's reference quantized `Softmax`
//! (`tensorflow/lite/kernels/internal/reference/softmax.h` lines 66-149) with gemmlowp's fixed
//! point (`fixedpoint.rs`): each input's difference to the maximum, scaled into Q5.26, is
//! exponentiated into Q0.31; the sum (Q12.19) is inverted; each output is its exponential
//! times the inverse, rounded to 1/256 and offset by -128 (TFLite's int8 output; a uint8
//! model's output is this plus 128).
//!
//! The exponential depends only on the difference to the maximum, which lies in `-255..=0`,
//! so [`SoftmaxQuant::new`] tabulates it once (the reference computes each value in full; the
//! tests compare the two).

// Without `std`, the parts that prepare parameters (done at compile time then) go unused.
#![cfg_attr(not(feature = "std"), allow(dead_code))]

use super::fixedpoint::{exp_on_negative_values, get_reciprocal, mul};
#[cfg(feature = "std")]
use super::requant::quantize_multiplier;
use super::requant::{multiply_by_quantized_multiplier, rounding_divide_by_pot};

/// Integer bits of the scaled differences (TFLite's `kScaledDiffIntegerBits`).
pub(crate) const SCALED_DIFF_INTEGER_BITS: i32 = 5;

/// Integer bits of the sum of exponentials (TFLite's `kAccumulationIntegerBits`).
pub(crate) const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// A quantized softmax's parameters, as TFLite's `SoftmaxParams` holds them
/// (`input_multiplier`, `input_left_shift`, `diff_min`), with the exponentials of every
/// possible difference tabulated.
#[derive(Clone)]
pub struct SoftmaxQuant {
    input_multiplier: i32,
    input_left_shift: i32,
    diff_min: i32,
    /// `exp[d]`: Q0.31 `exp` of difference `-d`, 0 where `-d < diff_min` (TFLite skips those,
    /// which gives the same sum and output as a zero exponential).
    exp: [i32; 256],
}

impl SoftmaxQuant {
    /// TFLite's preparation (`PreprocessSoftmaxScaling(beta, input_scale, 5)`,
    /// quantization_util.cc lines 282-319, and `diff_min = -CalculateInputRadius(5, shift)`,
    /// lines 338-355) for an input of scale `input_scale` and softmax `beta`, both widened to
    /// `f64` as TFLite does.
    ///
    /// # Errors
    /// If `input_scale * beta` is not finite and positive, or so small (below about 2^-26)
    /// that TFLite's `QuantizeMultiplierGreaterThanOne` check fails, or so large (32 or more)
    /// that the left shift reaches 31 (undefined behaviour in TFLite's kernel).
    #[cfg(feature = "std")]
    pub fn new(input_scale: f32, beta: f32) -> Result<Self, String> {
        let product = beta as f64 * input_scale as f64;
        if !(product.is_finite() && product > 0.0) {
            return Err(format!(
                "softmax: input_scale {input_scale} times beta {beta} must be finite and positive"
            ));
        }
        // The double-rounding build's cap.
        let max_real_multiplier = ((1i64 << 31) - 1) as f64;
        let real = (product * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64).min(max_real_multiplier);
        if real <= 1.0 {
            return Err(format!(
                "softmax: input_scale {input_scale} times beta {beta} is too small for TFLite's \
                 quantized softmax (its multiplier {real} must exceed 1)"
            ));
        }
        let (multiplier, shift) = quantize_multiplier(real);
        let radius = calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift);
        Self::from_raw(multiplier, shift, -radius)
    }

    /// Parameters TFLite computed (or a loader read) directly.
    ///
    /// # Errors
    /// If `input_left_shift` is outside `0..=30` or `input_multiplier` is negative.
    #[cfg(feature = "std")]
    pub fn from_raw(input_multiplier: i32, input_left_shift: i32, diff_min: i32) -> Result<Self, String> {
        if !(0..=30).contains(&input_left_shift) {
            return Err(format!(
                "softmax: input_left_shift {input_left_shift} is outside 0..=30"
            ));
        }
        if input_multiplier < 0 {
            return Err(format!("softmax: input_multiplier {input_multiplier} is negative"));
        }
        let mut exp = [0i32; 256];
        for (d, e) in exp.iter_mut().enumerate() {
            *e = exp_of_difference(-(d as i32), input_multiplier, input_left_shift, diff_min);
        }
        Ok(SoftmaxQuant {
            input_multiplier,
            input_left_shift,
            diff_min,
            exp,
        })
    }

    /// Parameters with their exponentials already tabulated, as [`Self::table`] gives them:
    /// what `mobilenet!(spec, weights = ...)` writes as static data, having prepared the layer
    /// with [`Self::from_raw`] at compile time. A table that did not come from there gives
    /// wrong outputs, not undefined behaviour.
    pub const fn from_table(input_multiplier: i32, input_left_shift: i32, diff_min: i32, exp: [i32; 256]) -> Self {
        SoftmaxQuant {
            input_multiplier,
            input_left_shift,
            diff_min,
            exp,
        }
    }

    /// `exp[d]`: the Q0.31 exponential of difference `-d` to the maximum (0 below `diff_min`).
    pub fn table(&self) -> &[i32; 256] {
        &self.exp
    }

    /// TFLite's `input_multiplier`.
    pub fn input_multiplier(&self) -> i32 {
        self.input_multiplier
    }

    /// TFLite's `input_left_shift`.
    pub fn input_left_shift(&self) -> i32 {
        self.input_left_shift
    }

    /// TFLite's `diff_min`: differences to the maximum below it contribute nothing.
    pub fn diff_min(&self) -> i32 {
        self.diff_min
    }
}

impl core::fmt::Debug for SoftmaxQuant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SoftmaxQuant")
            .field("input_multiplier", &self.input_multiplier)
            .field("input_left_shift", &self.input_left_shift)
            .field("diff_min", &self.diff_min)
            .finish_non_exhaustive()
    }
}

/// TFLite's `CalculateInputRadius(input_integer_bits, input_left_shift, 31)` (the float
/// version, quantization_util.cc lines 338-355).
#[cfg(feature = "std")]
pub(crate) fn calculate_input_radius(input_integer_bits: i32, input_left_shift: i32) -> i32 {
    let max_input_rescaled =
        1.0 * ((1i64 << input_integer_bits) - 1) as f64 * (1i64 << (31 - input_integer_bits)) as f64
            / (1i64 << input_left_shift) as f64;
    max_input_rescaled.floor() as i32
}

/// The Q0.31 exponential TFLite computes for difference `diff` (`<= 0`) to the maximum, or 0
/// where it skips the value (`diff < diff_min`).
pub(crate) fn exp_of_difference(diff: i32, multiplier: i32, left_shift: i32, diff_min: i32) -> i32 {
    if diff < diff_min {
        return 0;
    }
    // `MultiplyByQuantizedMultiplierGreaterThanOne` is the general function at a shift >= 0.
    let rescaled = multiply_by_quantized_multiplier(diff, multiplier, left_shift);
    exp_on_negative_values::<SCALED_DIFF_INTEGER_BITS>(rescaled)
}

/// The output of a value whose exponential is `exp`, given the reciprocal of the sum
/// (`scale`, `bits` over the unit): `clamp(round(scale * exp / 2^(bits + 23)) - 128)`.
///
/// Where `bits + 23` exceeds 31 (a sum of exponentials of 256 or more: every probability
/// below 1/256) TFLite's reference stops (`TFLITE_CHECK(exponent <= 31)`); the exact rounding
/// there is 0, so every output is -128.
#[inline(always)]
pub(crate) fn output_of(exp: i32, scale: i32, bits: i32) -> i8 {
    let exponent = bits + 31 - 8;
    if exponent > 31 {
        return i8::MIN;
    }
    let unsat = rounding_divide_by_pot(mul(scale, exp), exponent);
    (unsat - 128).clamp(-128, 127) as i8
}

/// Int8 softmax of the first `N` values of `input` into the first `N` of `output` (see the
/// module docs).
///
/// # Panics
/// If `input.len() < N` or `output.len() < N`. `N == 0` is a compile error.
pub fn softmax<const N: usize>(input: &[i8], output: &mut [i8], p: &SoftmaxQuant) {
    const { assert!(N >= 1, "softmax: N must be at least 1") };
    run(&input[..N], &mut output[..N], p);
}

/// The kernel, not generic.
fn run(input: &[i8], output: &mut [i8], p: &SoftmaxQuant) {
    let max = input.iter().copied().max().unwrap_or(0) as i32;
    let exp = |x: i8| p.exp[(max - x as i32) as usize];
    // `Rescale<12>` of each Q0.31 exponential into the Q12.19 sum.
    let sum = input.iter().fold(0i32, |s, &x| {
        s.wrapping_add(rounding_divide_by_pot(exp(x), ACCUMULATION_INTEGER_BITS))
    });
    let (scale, bits) = get_reciprocal(sum, ACCUMULATION_INTEGER_BITS);
    for (o, &x) in output.iter_mut().zip(input) {
        *o = output_of(exp(x), scale, bits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{q, Checksum, Rng};

    /// 2,000 softmaxes (1 to 255 values, scales in (0, 0.5], beta 1, inputs spread over
    /// random ranges) against a checksum of TFLite's preparation and reference `Softmax`
    /// (int8 output) in C++ (see `requant.rs`'s golden test for how it was made).
    #[test]
    fn golden_checksum_of_tflite() {
        let trials = if cfg!(miri) { 0 } else { 2000 };
        if trials == 0 {
            return;
        }
        let (mut r, mut h) = (Rng::new(7), Checksum::default());
        for _ in 0..trials {
            let depth = 1 + (r.bits() % 255) as usize;
            let scale = ((r.bits() % 10000) + 1) as f32 / 10000.0 * 0.5;
            let spread = 1 + r.bits() % 256;
            let input: Vec<i8> = (0..depth).map(|_| (127 - (r.bits() % spread) as i32) as i8).collect();
            let p = SoftmaxQuant::new(scale, 1.0).unwrap();
            h.add(p.input_multiplier);
            h.add(p.input_left_shift);
            h.add(p.diff_min);
            let mut out = vec![0i8; depth];
            run(&input, &mut out, &p);
            for o in out {
                h.add(o as i32);
            }
        }
        assert_eq!(h.0, 11137480143432459252);
    }

    fn check<const N: usize>(input: &[i8], p: &SoftmaxQuant) {
        let want = q::softmax(input, p.input_multiplier, p.input_left_shift, p.diff_min);
        let mut padded = input.to_vec();
        padded.push(7);
        let mut out = vec![99i8; N + 2];
        softmax::<N>(&padded, &mut out, p);
        assert_eq!(out[..N], want[..], "N={N} {p:?}");
        assert_eq!(out[N..], [99, 99], "wrote past the output");
    }

    #[test]
    fn matches_reference() {
        let mut rng = Rng::new(1);
        // MobileNet's classifier input scales (uint8 and int8 models), beta 1, and edges.
        for (scale, beta) in [
            (0.1, 1.0),
            (0.0625, 1.0),
            (0.2, 1.0),
            (0.05, 2.0),
            (1.0, 1.0),
            (0.002, 1.0),
            (3.0, 1.0),
        ] {
            let p = SoftmaxQuant::new(scale, beta).unwrap();
            check::<1>(&[5], &p);
            check::<3>(&[-128, 0, 127], &p);
            check::<4>(&[127, 127, 127, 127], &p);
            check::<17>(&rng.bytes(17), &p);
            let peaked: Vec<i8> = (0..1001)
                .map(|i| if i == 500 { 100 } else { rng.int(-128, 60) as i8 })
                .collect();
            check::<1001>(&peaked, &p);
            check::<1001>(&rng.bytes(1001), &p);
            // Every probability below 1/256: TFLite's reference stops, we give -128.
            check::<1000>(&[3; 1000], &p);
        }
    }

    /// The output against the real softmax: within the fixed point's error of the nearest
    /// multiple of 1/256 (TFLite's outputs carry a bias of about 1 LSB).
    #[test]
    fn close_to_real_softmax() {
        let mut rng = Rng::new(2);
        let (scale, beta) = (0.1f32, 1.0f32);
        let p = SoftmaxQuant::new(scale, beta).unwrap();
        let input: Vec<i8> = (0..10).map(|_| rng.int(-20, 100) as i8).collect();
        let mut out = [0i8; 10];
        softmax::<10>(&input, &mut out, &p);
        let e: Vec<f64> = input.iter().map(|&x| ((x as f64) * scale as f64).exp()).collect();
        let sum: f64 = e.iter().sum();
        for (o, e) in out.iter().zip(&e) {
            let want = e / sum * 256.0 - 128.0;
            assert!((*o as f64 - want.min(127.0)).abs() <= 1.5, "{o} vs {want}");
        }
    }

    #[test]
    fn preparation_matches_tflite() {
        // beta * scale * 2^26 = 0.1 * 2^26: frexp gives 0.8 * 2^23.
        let p = SoftmaxQuant::new(0.1, 1.0).unwrap();
        assert_eq!(p.input_left_shift(), 23);
        assert_eq!(
            p.input_multiplier(),
            (0.1f32 as f64 * 2f64.powi(26) / 2f64.powi(23) * 2f64.powi(31)).round() as i32
        );
        // 31 * 2^26 / 2^23 = 248.
        assert_eq!(p.diff_min(), -248);
        assert_eq!(calculate_input_radius(5, 20), 1984);
        assert_eq!(calculate_input_radius(5, 30), 1);
        assert!(SoftmaxQuant::new(1e-9, 1.0).unwrap_err().contains("too small"));
        assert!(SoftmaxQuant::new(64.0, 1.0)
            .unwrap_err()
            .contains("input_left_shift 31"));
        assert!(SoftmaxQuant::new(f32::NAN, 1.0).is_err());
        assert!(SoftmaxQuant::new(-1.0, 1.0).is_err());
        assert!(SoftmaxQuant::from_raw(1 << 30, 5, -100).is_ok());
        assert!(SoftmaxQuant::from_raw(-1, 5, -100).is_err());
    }
}
