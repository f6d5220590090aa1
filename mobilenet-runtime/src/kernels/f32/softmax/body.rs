//! The softmax body and its copies compiled for each instruction set: the same loops, which
//! the compiler vectorises for the target features of each copy.

/// Softmax of `input` into `output`, as compiled for one instruction set.
///
/// # Safety
/// The CPU must run the instruction set the function was compiled for; `input` and `output`
/// have the same length.
pub(crate) type SoftmaxFn = unsafe fn(input: &[f32], output: &mut [f32]);

/// [`softmax_body`] for the baseline target.
///
/// # Safety
/// `input` and `output` have the same length (see [`SoftmaxFn`]).
pub(crate) unsafe fn scalar(input: &[f32], output: &mut [f32]) {
    softmax_body(input, output)
}

/// [`softmax_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU must support AVX-512F; see [`SoftmaxFn`].
#[cfg(x86_simd)]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn avx512(input: &[f32], output: &mut [f32]) {
    softmax_body(input, output)
}

/// [`softmax_body`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2; see [`SoftmaxFn`].
#[cfg(x86_simd)]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn avx2(input: &[f32], output: &mut [f32]) {
    softmax_body(input, output)
}

/// Independent lanes of the maximum and the sum: one AVX-512 vector.
const LANES: usize = 16;

/// The algorithm, written as plain loops over `LANES`-wide chunks that the compiler turns
/// into vector code for whatever target features the caller enables.
#[inline(always)]
fn softmax_body(input: &[f32], output: &mut [f32]) {
    debug_assert_eq!(input.len(), output.len());
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
pub(crate) fn exp_le0(x: f32) -> f32 {
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
