//! Numerically stable softmax over `N` values: `out[i] = exp(in[i] - m) / sum_j exp(in[j] - m)`
//! with `m = max_j in[j]`, so that no `exp` overflows. MobileNet applies it to the `N` class
//! logits (a `1 x 1 x N` map).
//!
//! One body for every path, compiled once per instruction set with its target features
//! (`body.rs`); the config of the detected path names the copy that runs.

pub(crate) mod body;

use super::config;

/// Softmax of the first `N` values of `input` into the first `N` values of `output`.
///
/// Subtracting the maximum keeps every `exp` in `(0, 1]`, so the sum is at least 1 and the
/// result is finite for any finite input. A NaN anywhere, or an infinite maximum, makes every
/// output NaN rather than hiding the problem.
///
/// Vectorised on every path: `exp` is a polynomial (`exp_le0`) (the library `expf` is a
/// scalar call per value, 4 us of MobileNet 0.25-128's 0.25 ms), and the maximum and the sum
/// run in `LANES` independent lanes.
///
/// # Panics
/// If `input.len() < N` or `output.len() < N` (generated code always passes exactly sized
/// buffers). `N == 0` is a compile error.
pub fn softmax<const N: usize>(input: &[f32], output: &mut [f32]) {
    const { assert!(N >= 1, "softmax: N must be at least 1") };
    let (input, output) = (&input[..N], &mut output[..N]);
    // SAFETY: the detected path's kernels run on this CPU; both slices hold `N` values.
    unsafe { (config::detected().softmax)(input, output) }
}

#[cfg(test)]
mod tests {
    use super::body::exp_le0;
    use super::*;
    use crate::kernels::isa::Isa;
    use crate::kernels::testkit::{self, Rng};

    /// Every path this CPU has, on `input`.
    fn check<const N: usize>(input: &[f32]) {
        let mut padded_in = input.to_vec();
        padded_in.push(f32::NAN);
        let mut out = vec![-7.0; N + 2];
        softmax::<N>(&padded_in, &mut out);
        assert_eq!(out[N..], [-7.0, -7.0], "wrote past the output");
        assert_eq!(input.len(), N);
        for isa in Isa::supported() {
            let mut out = [0.0; N];
            // SAFETY: `for_isa` gives only kernels this CPU runs; the lengths match.
            unsafe { (config::for_isa(isa).softmax)(input, &mut out) };
            for (i, (&g, &w)) in out.iter().zip(&testkit::softmax(input)).enumerate() {
                let err = (g as f64 - w).abs() / w.abs().max(1.0);
                assert!(err <= 1e-6, "{isa:?} N={N} at {i}: got {g}, want {w}");
            }
            let total: f64 = out.iter().map(|&v| v as f64).sum();
            assert!((total - 1.0).abs() < 1e-5, "{isa:?} N={N}: sums to {total}");
        }
    }

    #[test]
    fn matches_reference() {
        check::<1>(&[3.5]);
        check::<3>(&[1.0, 2.0, 3.0]);
        check::<17>(&Rng::new(1).vec(17));
        check::<40>(&Rng::new(3).vec(40));
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

    /// The polynomial against the library `exp` over the whole range it serves, and the
    /// edges: 0, the cut-off, NaN.
    #[test]
    fn exp_le0_is_within_two_ulp() {
        let mut worst = 0.0f64;
        // Under Miri every 10007th point (200 of them): it checks the polynomial's memory
        // safety, which needs no dense sweep.
        let step = if cfg!(miri) { 10_007 } else { 1 };
        for i in (0..=2_000_000).step_by(step) {
            let x = -87.3 * i as f32 / 2_000_000.0;
            let want = (x as f64).exp();
            let got = exp_le0(x) as f64;
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 2.0 * f32::EPSILON as f64, "relative error {worst:e}");
        assert_eq!(exp_le0(0.0), 1.0);
        assert_eq!(exp_le0(-88.0), 0.0);
        assert_eq!(exp_le0(f32::NEG_INFINITY), 0.0);
        assert!(exp_le0(f32::NAN).is_nan());
    }

    #[test]
    fn nan_propagates() {
        let mut out = [0.0; 3];
        softmax::<3>(&[1.0, f32::NAN, 2.0], &mut out);
        assert!(out.iter().all(|v| v.is_nan()));
    }
}
