//! Numerically stable softmax over `N` values: `out[i] = exp(in[i] - m) / sum_j exp(in[j] - m)`
//! with `m = max_j in[j]`, so that no `exp` overflows. MobileNet applies it to the `N` class
//! logits (a `1 x 1 x N` map).

use super::isa::Isa;

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
    let input: &[f32; N] = input[..N].try_into().expect("slice of length N");
    let output: &mut [f32; N] = (&mut output[..N]).try_into().expect("slice of length N");
    softmax_on(Isa::detect(), input, output)
}

/// [`softmax`] compiled for `isa`.
///
/// # Panics
/// If this CPU cannot run `isa` ([`Isa::is_supported`]).
fn softmax_on<const N: usize>(isa: Isa, input: &[f32; N], output: &mut [f32; N]) {
    assert!(isa.is_supported(), "{isa:?} softmax on a CPU without it");
    match isa {
        // SAFETY: the CPU supports the path (asserted above).
        #[cfg(x86_simd)]
        Isa::Avx512 => unsafe { softmax_avx512(input, output) },
        // SAFETY: as above.
        #[cfg(x86_simd)]
        Isa::Avx2 => unsafe { softmax_avx2(input, output) },
        _ => softmax_body(input, output),
    }
}

/// [`softmax_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(x86_simd)]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_avx512<const N: usize>(input: &[f32; N], output: &mut [f32; N]) {
    softmax_body(input, output)
}

/// [`softmax_body`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(x86_simd)]
#[target_feature(enable = "avx2")]
unsafe fn softmax_avx2<const N: usize>(input: &[f32; N], output: &mut [f32; N]) {
    softmax_body(input, output)
}

/// Independent lanes of the maximum and the sum: one AVX-512 vector.
const LANES: usize = 16;

/// The algorithm, written as plain loops over `LANES`-wide chunks that the compiler turns
/// into vector code for whatever target features the caller enables.
#[inline(always)]
fn softmax_body<const N: usize>(input: &[f32; N], output: &mut [f32; N]) {
    let (chunks, rest) = input.as_chunks::<LANES>();
    // `x > m` is false for a NaN, so NaNs are skipped here as `f32::max` would; the NaN still
    // reaches the sum through its own `exp`.
    let mut lanes = [f32::NEG_INFINITY; LANES];
    for chunk in chunks {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = if x > *m { x } else { *m };
        }
    }
    let max = lanes.iter().chain(rest).copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sums = [0.0f32; LANES];
    let (out_chunks, out_rest) = output.as_chunks_mut::<LANES>();
    for (o, chunk) in out_chunks.iter_mut().zip(chunks) {
        for ((o, s), &x) in o.iter_mut().zip(&mut sums).zip(chunk) {
            *o = exp_le0(x - max);
            *s += *o;
        }
    }
    let mut sum = 0.0f32;
    for (o, &x) in out_rest.iter_mut().zip(rest) {
        *o = exp_le0(x - max);
        sum += *o;
    }
    let sum = sums.iter().sum::<f32>() + sum;
    for o in output.iter_mut() {
        *o /= sum;
    }
}

/// `e^x` for `x <= 0` (and NaN), within about 1 ulp: `x = n ln 2 + r` with `|r| <= ln 2 / 2`,
/// `e^r` by the degree-7 polynomial of Cephes' `expf`, times `2^n` built in the exponent bits.
/// Below `-87.33` (where `e^x` leaves the normal floats) it returns 0; a NaN stays NaN.
///
/// Branch-free and without library calls, so that loops over it vectorise.
#[inline(always)]
fn exp_le0(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that `n * LN2_HI` is exact for the `n` that occur.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer, which lands in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // `n` in -126..=0 here, so `n + 127` is a valid exponent field.
    let n_bits = t.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    if x < -87.33 {
        0.0
    } else {
        e * scale
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

    /// Every path this CPU has, on `input`.
    fn check<const N: usize>(input: &[f32]) {
        let mut padded_in = input.to_vec();
        padded_in.push(f32::NAN);
        let mut out = vec![-7.0; N + 2];
        softmax::<N>(&padded_in, &mut out);
        assert_eq!(out[N..], [-7.0, -7.0], "wrote past the output");
        let input: &[f32; N] = input.try_into().unwrap();
        for isa in Isa::supported() {
            let mut out = [0.0; N];
            softmax_on(isa, input, &mut out);
            for (i, (&g, &w)) in out.iter().zip(&reference(input)).enumerate() {
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
        for i in 0..=2_000_000 {
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
