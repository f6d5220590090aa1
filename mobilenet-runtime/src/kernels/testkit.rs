//! What every kernel test shares: one random generator, one error measure ([`Sum`]) and one
//! reference per operator, direct loops over the PyTorch layouts accumulated in f64; and for
//! the int8 kernels ([`q`]) one reference per operator straight from TFLite's formulas over
//! its layouts, and a generator of quantized layers that reaches the edges. A kernel of a new
//! instruction set or data type is checked against these, not against another kernel.
//!
//! Compiled for the runtime's own tests and, with the `testkit` feature, for the workspace's
//! integration tests (the root crate's dev-dependency turns it on): `tests/forward.rs` runs
//! the generated forward pass against these same references. Not part of the API.

use crate::{ACT_RELU, ACT_RELU6};

/// Tiny deterministic xorshift generator, shared by the kernel tests; values in [-1, 1).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Spread small seeds over the state; xorshift must not start at zero.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next value. (Not `Iterator::next`: the stream never ends.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
    /// The next 64 random bits.
    #[cfg(test)]
    pub(crate) fn bits(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A value in `lo..=hi`.
    #[cfg(test)]
    pub(crate) fn int(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (hi as i64 - lo as i64 + 1) as u64;
        (lo as i64 + ((self.bits() >> 11) % span) as i64) as i32
    }
    /// `n` random `i8`.
    #[cfg(test)]
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.int(-128, 127) as i8).collect()
    }
}

/// A checksum of a sequence of `i32` (`h * 31 + v as u32`, wrapping): the int8 tests compare
/// long runs of results against checksums of the same runs through TFLite's and gemmlowp's
/// C++ (computed once, outside the repository, by the program described in
/// `kernels/i8/requant.rs`).
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Checksum(pub u64);

#[cfg(test)]
impl Checksum {
    pub(crate) fn add(&mut self, v: i32) {
        self.0 = self.0.wrapping_mul(31).wrapping_add(v as u32 as u64);
    }
}

/// Largest error allowed in a kernel's output, relative to the magnitude of the sum it
/// computes: `|bias| + sum |x * w|` over its terms ([`Sum`]). The f32 rounding error of a
/// sum is bounded in proportion to that magnitude, whatever order the additions run in
/// (the paths, their register blocking and the split over a team all change it), whereas
/// relative to the result itself it is unbounded when the terms cancel. A wrong or missing
/// term is off by that term's own size, about `1 / terms` of the magnitude: far above
/// this for the reductions here (up to 1024 terms).
pub const RTOL: f64 = 1e-5;

/// A reference output: the exact value (f64, activation applied) and the magnitude of its
/// sum before the activation, which [`RTOL`] is relative to.
#[derive(Clone, Copy, Debug)]
pub struct Sum {
    pub value: f64,
    pub magnitude: f64,
}

impl Sum {
    /// Starts a sum at `bias`.
    pub fn new(bias: f32) -> Self {
        Sum {
            value: bias as f64,
            magnitude: (bias as f64).abs(),
        }
    }

    /// Adds the term `x * w`.
    pub fn add(&mut self, x: f32, w: f32) {
        let t = x as f64 * w as f64;
        self.value += t;
        self.magnitude += t.abs();
    }

    /// The sum with activation `act` applied to its value.
    pub fn activated(self, act: u8) -> Self {
        Sum {
            value: activated(act, self.value),
            ..self
        }
    }

    /// Whether `got` is within [`RTOL`] of the value, relative to the magnitude (exact
    /// when the magnitude is 0).
    pub fn admits(self, got: f32) -> bool {
        (got as f64 - self.value).abs() <= RTOL * self.magnitude
    }
}

/// Activation `act` applied to an exact value.
fn activated(act: u8, v: f64) -> f64 {
    match act {
        ACT_RELU => v.max(0.0),
        ACT_RELU6 => v.clamp(0.0, 6.0),
        _ => v,
    }
}

/// Matrix product (pointwise convolution, fc, the products under them): `rows x n` outputs,
/// row `r` reading `a[r * lda ..][..k]`, weights `[n][k]` (PyTorch's `[COUT][CIN]`).
#[allow(clippy::too_many_arguments)]
pub fn matmul(rows: usize, k: usize, n: usize, lda: usize, act: u8, a: &[f32], w: &[f32], bias: &[f32]) -> Vec<Sum> {
    let mut out = Vec::with_capacity(rows * n);
    for r in 0..rows {
        for co in 0..n {
            let mut s = Sum::new(bias[co]);
            for ki in 0..k {
                s.add(a[r * lda + ki], w[co * k + ki]);
            }
            out.push(s.activated(act));
        }
    }
    out
}

/// Standard convolution over the PyTorch layout `[COUT][CIN][KH][KW]`, padding handled by
/// skipping out-of-range taps (signed arithmetic).
#[allow(clippy::too_many_arguments)]
pub fn conv(
    (h, w, cin): (usize, usize, usize),
    (oh, ow, cout): (usize, usize, usize),
    (kh, kw, s, pt, pl): (usize, usize, usize, usize, usize),
    act: u8,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
) -> Vec<Sum> {
    let mut out = Vec::with_capacity(oh * ow * cout);
    for oy in 0..oh {
        for ox in 0..ow {
            for co in 0..cout {
                let mut sum = Sum::new(bias[co]);
                for ky in 0..kh {
                    for kx in 0..kw {
                        let iy = (oy * s + ky) as isize - pt as isize;
                        let ix = (ox * s + kx) as isize - pl as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let pixel = &input[(iy as usize * w + ix as usize) * cin..][..cin];
                        // Input channel `ci`'s tap is `weight[((co * cin + ci) * kh + ky) * kw + kx]`.
                        let taps = &weight[(co * cin * kh + ky) * kw + kx..];
                        // The terms of one tap position summed in locals, then added: with
                        // `Sum::add` per term the sum stayed in memory, and the full-convolution
                        // network of `tests/forward.rs` checked at half the speed.
                        let (mut value, mut magnitude) = (0.0f64, 0.0f64);
                        for (ci, &x) in pixel.iter().enumerate() {
                            let t = x as f64 * taps[ci * kh * kw] as f64;
                            value += t;
                            magnitude += t.abs();
                        }
                        sum.value += value;
                        sum.magnitude += magnitude;
                    }
                }
                out.push(sum.activated(act));
            }
        }
    }
    out
}

/// Depthwise convolution over the PyTorch layout `[C][1][KH][KW]`, skipping out-of-range
/// taps with signed arithmetic; the exact values.
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    (h, w, c): (usize, usize, usize),
    (oh, ow): (usize, usize),
    (kh, kw, s, pt, pl): (usize, usize, usize, usize, usize),
    act: u8,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
) -> Vec<f64> {
    let mut out = vec![0.0; oh * ow * c];
    for oy in 0..oh {
        for ox in 0..ow {
            for ch in 0..c {
                let mut sum = bias[ch] as f64;
                for ky in 0..kh {
                    for kx in 0..kw {
                        let iy = (oy * s + ky) as isize - pt as isize;
                        let ix = (ox * s + kx) as isize - pl as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let (iy, ix) = (iy as usize, ix as usize);
                        sum += input[(iy * w + ix) * c + ch] as f64 * weight[(ch * kh + ky) * kw + kx] as f64;
                    }
                }
                out[(oy * ow + ox) * c + ch] = activated(act, sum);
            }
        }
    }
    out
}

/// Average pooling without padding (every window inside the input), accumulated in f64.
pub fn avg_pool(
    (h, w, c): (usize, usize, usize),
    (oh, ow): (usize, usize),
    (kh, kw, s): (usize, usize, usize),
    input: &[f32],
) -> Vec<f64> {
    let mut out = vec![0.0; oh * ow * c];
    for oy in 0..oh {
        for ox in 0..ow {
            for ch in 0..c {
                let mut sum = 0.0;
                for ky in 0..kh {
                    for kx in 0..kw {
                        let (iy, ix) = (oy * s + ky, ox * s + kx);
                        assert!(iy < h && ix < w, "window outside the input");
                        sum += input[(iy * w + ix) * c + ch] as f64;
                    }
                }
                out[(oy * ow + ox) * c + ch] = sum / (kh * kw) as f64;
            }
        }
    }
    out
}

/// Softmax evaluated directly in f64, also shifted by the maximum.
pub fn softmax(input: &[f32]) -> Vec<f64> {
    let max = input.iter().map(|&x| x as f64).fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = input.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// The int8 references: TFLite's reference kernels' formulas, written as directly as they
/// read, over TFLite's layouts; and [`q::layer`], random quantized layers that reach the edges
/// of every parameter's range.
#[cfg(test)]
pub(crate) mod q {
    use super::Rng;
    use crate::kernels::i8::{multiply_by_quantized_multiplier, quantize_multiplier, PoolQuant, QuantConv};

    /// TFLite's epilogue for channel `o`.
    fn requant(q: &QuantConv, o: usize, acc: i32) -> i8 {
        let v = multiply_by_quantized_multiplier(acc, q.multiplier[o], q.shift[o]);
        v.wrapping_add(q.output_zero_point)
            .clamp(q.act_min as i32, q.act_max as i32) as i8
    }

    /// One tap's term.
    fn term(q: &QuantConv, x: i8, w: i8) -> i32 {
        (x as i32 - q.input_zero_point) * (w as i32 - q.weight_zero_point)
    }

    /// Standard convolution, OHWI weights `[cout][kh][kw][cin]`, taps outside the input
    /// skipped (TFLite's `ConvPerChannel` and uint8 `Conv`).
    pub(crate) fn conv(
        (h, w, cin): (usize, usize, usize),
        (oh, ow, cout): (usize, usize, usize),
        (kh, kw, s, pt, pl): (usize, usize, usize, usize, usize),
        q: &QuantConv,
        input: &[i8],
    ) -> Vec<i8> {
        let mut out = Vec::with_capacity(oh * ow * cout);
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..cout {
                    let mut acc = q.bias[co];
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * s + ky) as isize - pt as isize;
                            let ix = (ox * s + kx) as isize - pl as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            for ci in 0..cin {
                                let x = input[(iy as usize * w + ix as usize) * cin + ci];
                                let wt = q.weights[((co * kh + ky) * kw + kx) * cin + ci];
                                acc = acc.wrapping_add(term(q, x, wt));
                            }
                        }
                    }
                    out.push(requant(q, co, acc));
                }
            }
        }
        out
    }

    /// Depthwise convolution, weights `[kh][kw][c]`, taps outside the input skipped
    /// (TFLite's `DepthwiseConvPerChannel` and uint8 `DepthwiseConv`, depth multiplier 1).
    pub(crate) fn depthwise(
        (h, w, c): (usize, usize, usize),
        (oh, ow): (usize, usize),
        (kh, kw, s, pt, pl): (usize, usize, usize, usize, usize),
        q: &QuantConv,
        input: &[i8],
    ) -> Vec<i8> {
        let mut out = Vec::with_capacity(oh * ow * c);
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let mut acc = q.bias[ch];
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * s + ky) as isize - pt as isize;
                            let ix = (ox * s + kx) as isize - pl as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let x = input[(iy as usize * w + ix as usize) * c + ch];
                            acc = acc.wrapping_add(term(q, x, q.weights[(ky * kw + kx) * c + ch]));
                        }
                    }
                    out.push(requant(q, ch, acc));
                }
            }
        }
        out
    }

    /// Matrix product (pointwise and fully connected): `rows x n` outputs from `rows x k`
    /// inputs and weights `[n][k]`.
    pub(crate) fn matmul(rows: usize, k: usize, n: usize, q: &QuantConv, input: &[i8]) -> Vec<i8> {
        let mut out = Vec::with_capacity(rows * n);
        for r in 0..rows {
            for o in 0..n {
                let mut acc = q.bias[o];
                for i in 0..k {
                    acc = acc.wrapping_add(term(q, input[r * k + i], q.weights[o * k + i]));
                }
                out.push(requant(q, o, acc));
            }
        }
        out
    }

    /// Average pool without padding, as TFLite's int8 reference (`domain_offset` 0) or its
    /// uint8 reference run on the values shifted back by 128 (`domain_offset` 128).
    pub(crate) fn avg_pool(
        (h, w, c): (usize, usize, usize),
        (oh, ow): (usize, usize),
        (kh, kw, s): (usize, usize, usize),
        p: &PoolQuant,
        input: &[i8],
    ) -> Vec<i8> {
        let mut out = Vec::with_capacity(oh * ow * c);
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let mut acc = 0i32;
                    let mut count = 0i32;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let (iy, ix) = (oy * s + ky, ox * s + kx);
                            assert!(iy < h && ix < w);
                            acc += input[(iy * w + ix) * c + ch] as i32 + p.domain_offset;
                            count += 1;
                        }
                    }
                    let avg = if p.domain_offset == 128 {
                        // reference_ops::AveragePool for uint8: the sum is never negative.
                        (acc + count / 2) / count
                    } else {
                        // reference_integer_ops::AveragePool.
                        if acc > 0 {
                            (acc + count / 2) / count
                        } else {
                            (acc - count / 2) / count
                        }
                    };
                    let (lo, hi) = (p.act_min as i32 + p.domain_offset, p.act_max as i32 + p.domain_offset);
                    out.push((avg.clamp(lo, hi) - p.domain_offset) as i8);
                }
            }
        }
        out
    }

    /// TFLite's reference quantized softmax (int8 output, scale 1/256, zero point -128), each
    /// value computed in full with gemmlowp's fixed point; where TFLite's
    /// `exponent <= 31` check would stop, every output is -128 (the kernel's documented
    /// choice).
    pub(crate) fn softmax(input: &[i8], input_multiplier: i32, input_left_shift: i32, diff_min: i32) -> Vec<i8> {
        use crate::kernels::i8::fixedpoint::{exp_on_negative_values, get_reciprocal, mul};
        use crate::kernels::i8::requant::rounding_divide_by_pot;
        let max = input.iter().copied().fold(i8::MIN, i8::max) as i32;
        let exp = |x: i8| {
            let diff = x as i32 - max;
            (diff >= diff_min).then(|| {
                // MultiplyByQuantizedMultiplierGreaterThanOne (common.h lines 405-410).
                let rescaled = mul(diff.wrapping_mul(1 << input_left_shift), input_multiplier);
                exp_on_negative_values::<5>(rescaled)
            })
        };
        let mut sum = 0i32;
        for &x in input {
            if let Some(e) = exp(x) {
                sum = sum.wrapping_add(rounding_divide_by_pot(e, 12));
            }
        }
        let (scale, bits) = get_reciprocal(sum, 12);
        let exponent = bits + 31 - 8;
        input
            .iter()
            .map(|&x| match exp(x) {
                _ if exponent > 31 => i8::MIN,
                Some(e) => {
                    let unsat = rounding_divide_by_pot(mul(scale, e), exponent);
                    (unsat - 128).clamp(-128, 127) as i8
                }
                None => i8::MIN,
            })
            .collect()
    }

    /// Zero points a layer may have, edges first: int8 per-channel models have weight zero
    /// point 0; uint8 models any of `-128..=127` after the shift.
    const ZERO_POINTS: [i32; 6] = [-128, 127, 0, -1, 1, 64];

    /// A random quantized layer of `weights` weights and `channels` output channels, for a
    /// reduction of about `terms` products per output. `case` chooses the zero points and the
    /// clamp among the edges (so that consecutive cases cover them all); multipliers and
    /// shifts are mostly realistic (outputs spread over the range), with edge channels mixed
    /// in (the largest multiplier, zero, left shifts, the extreme shifts), except in every
    /// third case, which has realistic ones only.
    pub(crate) fn layer(rng: &mut Rng, weights: usize, channels: usize, terms: usize, case: usize) -> QuantConv {
        let zp = |i: usize, rng: &mut Rng| {
            if i < ZERO_POINTS.len() {
                ZERO_POINTS[i]
            } else {
                rng.int(-128, 127)
            }
        };
        let input_zero_point = zp(case % 8, rng);
        // Weight zero point 0 (every int8 model's: the weights fit the byte products of
        // `Kernels::gemm_bytes`) in every third case, and in half the realistic-only ones.
        let weight_zero_point = if case.is_multiple_of(3) || case % 6 == 5 {
            0
        } else {
            zp((case / 3) % 8, rng)
        };
        let output_zero_point = zp((case / 2) % 8, rng);
        let (act_min, act_max) = match case % 4 {
            0 => (-128, 127),
            1 => (output_zero_point as i8, 127),
            2 => (output_zero_point as i8, (output_zero_point + 40).min(127) as i8),
            _ => (-5, 5),
        };
        // Typical |acc|: about sqrt(terms) * 128 * 128 (plus the zero points' offsets); aim
        // the realistic multipliers at outputs of tens.
        let typical = (terms.max(1) as f64).sqrt() * 16384.0;
        let mut multiplier = Vec::with_capacity(channels);
        let mut shift = Vec::with_capacity(channels);
        // Every third case has realistic multipliers only: right shifts throughout, which the
        // AVX2 kernels run on their `PLAIN` path (edge channels would send nearly every block
        // of 8 or 16 channels to the other one).
        let plain = case % 3 == 2;
        for _ in 0..channels {
            let (m, s) = match if plain { 6 } else { rng.int(0, 19) } {
                0 => (i32::MAX, 0),
                1 => (0, 0),
                2 => (rng.int(1 << 30, i32::MAX), rng.int(1, 4)),
                3 => (rng.int(1 << 30, i32::MAX), -31),
                4 => (1 << 30, 30),
                5 => (rng.int(0, i32::MAX), rng.int(-31, 30)),
                _ => {
                    let real = 40.0 / typical * 2f64.powf(rng.next() as f64 * 3.0);
                    quantize_multiplier(real)
                }
            };
            multiplier.push(m);
            shift.push(s);
        }
        let big = rng.int(0, 3) == 0;
        QuantConv {
            weights: rng.bytes(weights),
            weight_zero_point,
            bias: (0..channels)
                .map(|_| {
                    if big {
                        rng.int(-(1 << 24), 1 << 24)
                    } else {
                        rng.int(-(1 << 14), 1 << 14)
                    }
                })
                .collect(),
            input_zero_point,
            output_zero_point,
            multiplier,
            shift,
            act_min,
            act_max,
        }
    }
}
