//! Numerically stable softmax over `N` values: `out[i] = exp(in[i] - m) / sum_j exp(in[j] - m)`
//! with `m = max_j in[j]`, so that no `exp` overflows. MobileNet applies it to the `N` class
//! logits (a `1 x 1 x N` map).

/// Softmax of the first `N` values of `input` into the first `N` values of `output`.
///
/// Subtracting the maximum keeps every `exp` in `(0, 1]`, so the sum is at least 1 and the
/// result is finite for any finite input. A NaN anywhere, or an infinite maximum, makes every
/// output NaN rather than hiding the problem.
///
/// # Panics
/// If `input.len() < N` or `output.len() < N` (generated code always passes exactly sized
/// buffers). `N == 0` is a compile error.
pub fn softmax<const N: usize>(input: &[f32], output: &mut [f32]) {
    const { assert!(N >= 1, "softmax: N must be at least 1") };
    let input: &[f32; N] = input[..N].try_into().expect("slice of length N");
    let output: &mut [f32; N] = (&mut output[..N]).try_into().expect("slice of length N");
    // `f32::max` skips NaNs here; the NaN still reaches the sum through its own `exp`.
    let max = input.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (o, &x) in output.iter_mut().zip(input) {
        let e = (x - max).exp();
        *o = e;
        sum += e;
    }
    for o in output.iter_mut() {
        *o /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::super::pointwise::tests::Rng;
    use super::*;

    /// Direct f64 evaluation, also shifted by the maximum.
    fn reference(input: &[f32]) -> Vec<f64> {
        let max = input.iter().map(|&x| x as f64).fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = input.iter().map(|&x| (x as f64 - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|v| v / sum).collect()
    }

    fn check<const N: usize>(input: &[f32]) {
        let mut padded_in = input.to_vec();
        padded_in.push(f32::NAN);
        let mut out = vec![-7.0; N + 2];
        softmax::<N>(&padded_in, &mut out);
        for (i, (&g, &w)) in out.iter().zip(&reference(input)).enumerate() {
            let err = (g as f64 - w).abs() / w.abs().max(1.0);
            assert!(err <= 1e-6, "N={N} at {i}: got {g}, want {w}");
        }
        assert_eq!(out[N..], [-7.0, -7.0], "wrote past the output");
        let total: f64 = out[..N].iter().map(|&v| v as f64).sum();
        assert!((total - 1.0).abs() < 1e-5, "N={N}: sums to {total}");
    }

    #[test]
    fn matches_reference() {
        check::<1>(&[3.5]);
        check::<3>(&[1.0, 2.0, 3.0]);
        check::<17>(&Rng::new(1).vec(17));
        let logits: Vec<f32> = Rng::new(2).vec(1000).iter().map(|v| v * 20.0).collect();
        check::<1000>(&logits);
    }

    #[test]
    fn large_logits_do_not_overflow() {
        // exp(1000) overflows f32; the shift by the maximum avoids it.
        check::<4>(&[1000.0, 999.0, -1000.0, 998.5]);
        check::<2>(&[-1e30, -1e30]);
        let mut out = [0.0; 3];
        softmax::<3>(&[f32::MAX, 0.0, f32::MAX], &mut out);
        assert_eq!(out, [0.5, 0.0, 0.5]);
    }

    #[test]
    fn nan_propagates() {
        let mut out = [0.0; 3];
        softmax::<3>(&[1.0, f32::NAN, 2.0], &mut out);
        assert!(out.iter().all(|v| v.is_nan()));
    }
}
