//! Deterministic random weights, for tests and benchmarks that have no trained file.
//!
//! The same seed must give the same bits on every platform and with every future release of
//! `rand`, so nothing here goes through a distribution type or a libm function: uniforms are
//! built from the raw 64-bit ChaCha8 stream, normals use the Marsaglia polar method with a
//! logarithm written out in basic IEEE arithmetic (`+ - * /` and `sqrt` are correctly
//! rounded everywhere; `ln` is not).

use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Tensor, TensorSet};
use crate::layers::{LayerInfo, LayerKind};

/// He-initialised raw (unfolded) tensors for every layer of `layers`, named and shaped as a
/// weights file for that table must be.
///
/// Convolution, depthwise and fc weights are normal with standard deviation
/// `sqrt(2 / fan_in)` (`fan_in` is `cin * kh * kw`, `kh * kw` and `in` respectively). Batch
/// norm is deliberately not the identity so folding is exercised: `bn.weight` is U(0.5, 1.5),
/// `bn.bias` and `running_mean` U(-0.1, 0.1), `running_var` U(0.5, 1.5); fc biases are
/// U(-0.1, 0.1).
///
/// Values are drawn from one `ChaCha8Rng` seeded with `seed`, layer by layer, each tensor in
/// row-major order: weight, then `bn.weight`, `bn.bias`, `running_mean`, `running_var` (or
/// weight, then bias for fc). Same seed, same bits, on every platform.
pub fn random_tensors(layers: &[LayerInfo], seed: u64) -> TensorSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut set = TensorSet::new();
    for layer in layers {
        let prefix = layer.name;
        let [kh, kw] = layer.kernel;
        let (cin, cout) = (layer.input[2], layer.output[2]);
        match layer.kind {
            LayerKind::Conv => random_conv_bn(&mut rng, &mut set, prefix, [cout, cin, kh, kw], cin * kh * kw),
            // One filter per input channel; a valid row has as many outputs.
            LayerKind::ConvDw => random_conv_bn(&mut rng, &mut set, prefix, [cin, 1, kh, kw], kh * kw),
            LayerKind::Fc => {
                let weight = he_normal(&mut rng, vec![cout, cin], cin);
                set.insert(format!("{prefix}.weight"), weight);
                let bias = uniform_tensor(&mut rng, cout, -0.1, 0.1);
                set.insert(format!("{prefix}.bias"), bias);
            }
            LayerKind::AvgPool | LayerKind::Softmax => {}
        }
    }
    set
}

fn random_conv_bn(rng: &mut ChaCha8Rng, set: &mut TensorSet, prefix: &str, shape: [usize; 4], fan_in: usize) {
    let out = shape[0];
    set.insert(format!("{prefix}.weight"), he_normal(rng, shape.to_vec(), fan_in));
    for (suffix, low, high) in [
        ("weight", 0.5, 1.5),
        ("bias", -0.1, 0.1),
        ("running_mean", -0.1, 0.1),
        ("running_var", 0.5, 1.5),
    ] {
        let tensor = uniform_tensor(rng, out, low, high);
        set.insert(format!("{prefix}.bn.{suffix}"), tensor);
    }
}

fn he_normal(rng: &mut ChaCha8Rng, shape: Vec<usize>, fan_in: usize) -> Tensor {
    // fan_in is 0 only when the tensor is empty, so the std is never used then.
    let std = (2.0 / fan_in.max(1) as f64).sqrt();
    let n = shape.iter().product();
    let data = (0..n).map(|_| (standard_normal(rng) * std) as f32).collect();
    Tensor::new(shape, data)
}

fn uniform_tensor(rng: &mut ChaCha8Rng, len: usize, low: f64, high: f64) -> Tensor {
    let data = (0..len).map(|_| (low + (high - low) * unit(rng)) as f32).collect();
    Tensor::new(vec![len], data)
}

/// Uniform in `[0, 1)` on the 2^-53 grid: the top 53 bits of one draw, scaled exactly.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// One standard normal sample (Marsaglia polar method, second value discarded to keep the
/// stream position simple to reason about).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    loop {
        let u = 2.0 * unit(rng) - 1.0;
        let v = 2.0 * unit(rng) - 1.0;
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * (-2.0 * ln(s) / s).sqrt();
        }
    }
}

/// Natural logarithm of a positive normal `x`, from basic arithmetic only, accurate to a few
/// ulp: `x = m * 2^e` with `m` in `[sqrt(1/2), sqrt(2))`, then `ln m = 2 atanh(t)`,
/// `t = (m - 1) / (m + 1)`, whose odd series converges fast because `|t| <= 0.172`.
fn ln(x: f64) -> f64 {
    // `s` in the polar method is a sum of squares of multiples of 2^-53, so it is never
    // subnormal; the exponent extraction below relies on that.
    debug_assert!(x.is_normal() && x > 0.0);
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        exponent += 1;
    }
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    // t2 <= 0.0295, so 12 terms put the truncation error below 1e-19 relative.
    let mut series = 0.0;
    for k in (0..12).rev() {
        series = series * t2 + 1.0 / f64::from(2 * k + 1);
    }
    exponent as f64 * std::f64::consts::LN_2 + 2.0 * t * series
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "Miri perturbs std's float functions on purpose, so `ln` is no reference there"
    )]
    fn portable_ln_matches_std() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..10_000 {
            let x = unit(&mut rng).max(1e-300);
            let (ours, std) = (ln(x), x.ln());
            assert!(
                (ours - std).abs() <= 4.0 * f64::EPSILON * std.abs().max(1.0),
                "ln({x}): {ours} vs {std}"
            );
        }
        for x in [1.0, 0.5, 0.25, std::f64::consts::FRAC_1_SQRT_2, 1e-30] {
            assert!((ln(x) - x.ln()).abs() <= 4.0 * f64::EPSILON * x.ln().abs().max(1.0));
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "100,000 samples of safe arithmetic: hours under Miri, nothing for it to check"
    )]
    fn normal_samples_have_unit_moments() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 100_000;
        let samples: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn unit_is_in_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Under Miri, where each draw takes milliseconds, 500 of them.
        let draws = if cfg!(miri) { 500 } else { 10_000 };
        assert!((0..draws).all(|_| (0.0..1.0).contains(&unit(&mut rng))));
    }
}
