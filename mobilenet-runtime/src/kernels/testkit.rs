//! What every kernel test shares: one random generator, one error measure ([`Sum`]) and one
//! reference per operator, direct loops over the PyTorch layouts accumulated in f64. A kernel
//! of a new instruction set or data type is checked against these, not against another
//! kernel.
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
