//! Int8 convolutions as plain loops over parameters in TFLite's own layouts, borrowed rather
//! than packed: what `mobilenet!(spec, weights = "model.tflite")` calls, with every layer's
//! parameters written into the program as static data at compile time.
//!
//! They are the portable path for targets without `std` (microcontrollers), where weights
//! stay in flash exactly as the file held them (int8, one byte a weight: the packed layouts
//! of the SIMD kernels widen them to `i16`) and nothing is allocated. Each operator's
//! const-generic entry checks the shapes and calls one non-generic loop, so a network of
//! thirty layers compiles each loop once.
//!
//! The arithmetic is the crate's int8 interface ([`super`]): per output value,
//! `acc = bias[o] + sum (x - input_zp) * (w - weight_zp)` over the taps inside the input,
//! wrapping in `i32`, then TFLite's `clamp(mbqm(acc, multiplier[o], shift[o]) +
//! output_zp, act_min, act_max)`. The tests compare every operator with TFLite's reference
//! formulas (`testkit::q`).
//!
//! The dot products of `conv2d`, `pointwise` and `fc` run over contiguous channels; on ARM
//! cores with the DSP extension (Cortex-M4/M7, ARMv7-A: the cfg `arm_dsp`, set by `build.rs`)
//! `dsp.rs` computes them four multiply-adds at a time, with the same exact sums.

#[cfg(arm_dsp)]
mod dsp;

use super::requant::Requant;
use crate::kernels::geometry::taps;

/// A convolution's parameters in TFLite's layouts, borrowed: standard convolution weights are
/// `[COUT][KH][KW][CIN]`, depthwise `[KH][KW][C]`, pointwise and fully connected `[COUT][CIN]`.
/// All values are in the int8 domain (a uint8 model's weights and zero points minus 128).
#[derive(Clone, Copy, Debug)]
pub struct DirectConv<'a> {
    /// The weights, in the layout of the operator (see the type's docs).
    pub weights: &'a [i8],
    /// One per output channel.
    pub bias: &'a [i32],
    /// TFLite's quantized multiplier of each output channel (one entry for all channels is
    /// not allowed: per-tensor models repeat it).
    pub multiplier: &'a [i32],
    /// TFLite's shift of each output channel, `-31..=30` (positive shifts left).
    pub shift: &'a [i8],
    /// Subtracted from every input value.
    pub input_zero_point: i32,
    /// Subtracted from every weight (0 for int8 models).
    pub weight_zero_point: i32,
    /// Added to every requantized output.
    pub output_zero_point: i32,
    /// The fused activation's clamp, low end.
    pub act_min: i8,
    /// The fused activation's clamp, high end.
    pub act_max: i8,
}

impl DirectConv<'_> {
    /// Output channel `o`'s requantization.
    #[inline(always)]
    fn requant(&self, o: usize) -> Requant {
        let shift = i32::from(self.shift[o]);
        Requant {
            multiplier: self.multiplier[o],
            left: shift.max(0),
            right: (-shift).max(0),
            zero_point: self.output_zero_point,
            min: self.act_min,
            max: self.act_max,
        }
    }

    /// Panics with the operator's name unless there are `weights` weights and `channels`
    /// entries in each per-channel array.
    fn check(&self, what: &str, weights: usize, channels: usize) {
        assert!(
            self.weights.len() == weights
                && self.bias.len() == channels
                && self.multiplier.len() == channels
                && self.shift.len() == channels,
            "{what}: parameters of the wrong length"
        );
    }
}

/// `(x - input_zp) * (w - weight_zp)`.
#[inline(always)]
fn term(x: i8, w: i8, izp: i32, wzp: i32) -> i32 {
    (i32::from(x) - izp).wrapping_mul(i32::from(w) - wzp)
}

/// `acc + sum (x - izp) * (w - wzp)` over two slices of the same length, wrapping.
#[cfg(not(arm_dsp))]
#[inline(always)]
fn dot(x: &[i8], w: &[i8], izp: i32, wzp: i32, acc: i32) -> i32 {
    x.iter()
        .zip(w)
        .fold(acc, |acc, (&x, &w)| acc.wrapping_add(term(x, w, izp, wzp)))
}

#[cfg(arm_dsp)]
use dsp::dot;

/// Standard KxK convolution of an `H x W x CIN` NHWC map into `OH x OW x COUT`, stride `S`,
/// `PT` rows above and `PL` columns left of the input padded (padded taps contribute
/// nothing, as in TFLite).
///
/// # Panics
/// If `input` or `output` is shorter than its map, or `p`'s lengths do not fit the layer.
/// Zero sizes and a stride of 0 are compile errors.
pub fn conv2d<
    const H: usize,
    const W: usize,
    const CIN: usize,
    const OH: usize,
    const OW: usize,
    const COUT: usize,
    const KH: usize,
    const KW: usize,
    const S: usize,
    const PT: usize,
    const PL: usize,
>(
    input: &[i8],
    output: &mut [i8],
    p: &DirectConv<'_>,
) {
    const {
        assert!(
            H * W * CIN * OH * OW * COUT * KH * KW * S >= 1,
            "conv2d: zero size or stride"
        )
    };
    p.check("conv2d", COUT * KH * KW * CIN, COUT);
    conv(
        &input[..H * W * CIN],
        &mut output[..OH * OW * COUT],
        [H, W, CIN],
        [OW, COUT],
        [KH, KW, S, PT, PL],
        p,
    );
}

fn conv(
    input: &[i8],
    output: &mut [i8],
    [h, w, cin]: [usize; 3],
    [ow, cout]: [usize; 2],
    taps: [usize; 5],
    p: &DirectConv<'_>,
) {
    let (izp, wzp) = (p.input_zero_point, p.weight_zero_point);
    for (i, out) in output.chunks_exact_mut(cout).enumerate() {
        let at = [i / ow, i % ow];
        for (o, out) in out.iter_mut().enumerate() {
            let mut acc = p.bias[o];
            for_each_tap(at, [h, w], taps, |tap, pixel| {
                let x = &input[pixel * cin..][..cin];
                let wt = &p.weights[(o * taps[0] * taps[1] + tap) * cin..][..cin];
                acc = dot(x, wt, izp, wzp, acc);
            });
            *out = p.requant(o).apply(acc);
        }
    }
}

/// Calls `f(tap, pixel)` for each tap of the window of output pixel `[oy, ox]` that lies
/// inside the `[h, w]` input: `tap` is `ky * kw + kx`, `pixel` is `iy * w + ix`. Taps in the
/// padding are skipped, which is how TFLite's kernels treat them.
#[inline(always)]
fn for_each_tap(
    [oy, ox]: [usize; 2],
    [h, w]: [usize; 2],
    [kh, kw, s, pt, pl]: [usize; 5],
    mut f: impl FnMut(usize, usize),
) {
    let ((ky0, ky1), (kx0, kx1)) = (taps(oy, h, kh, s, pt), taps(ox, w, kw, s, pl));
    for ky in ky0..ky1 {
        let iy = oy * s + ky - pt;
        for kx in kx0..kx1 {
            f(ky * kw + kx, iy * w + ox * s + kx - pl);
        }
    }
}

/// Depthwise KxK convolution (depth multiplier 1) of an `H x W x C` map into `OH x OW x C`,
/// stride `S`, padding as [`conv2d`]'s.
///
/// # Panics
/// As [`conv2d`].
pub fn depthwise<
    const H: usize,
    const W: usize,
    const C: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const S: usize,
    const PT: usize,
    const PL: usize,
>(
    input: &[i8],
    output: &mut [i8],
    p: &DirectConv<'_>,
) {
    const { assert!(H * W * C * OH * OW * KH * KW * S >= 1, "depthwise: zero size or stride") };
    p.check("depthwise", KH * KW * C, C);
    dw(
        &input[..H * W * C],
        &mut output[..OH * OW * C],
        [H, W, C],
        OW,
        [KH, KW, S, PT, PL],
        p,
    );
}

fn dw(input: &[i8], output: &mut [i8], [h, w, c]: [usize; 3], ow: usize, taps: [usize; 5], p: &DirectConv<'_>) {
    let (izp, wzp) = (p.input_zero_point, p.weight_zero_point);
    for (i, out) in output.chunks_exact_mut(c).enumerate() {
        let at = [i / ow, i % ow];
        for (ch, out) in out.iter_mut().enumerate() {
            let mut acc = p.bias[ch];
            for_each_tap(at, [h, w], taps, |tap, pixel| {
                let (x, wt) = (input[pixel * c + ch], p.weights[tap * c + ch]);
                acc = acc.wrapping_add(term(x, wt, izp, wzp));
            });
            *out = p.requant(ch).apply(acc);
        }
    }
}

/// Pointwise (1x1, stride 1) convolution of `HW` pixels of `CIN` channels into `COUT`.
///
/// # Panics
/// As [`conv2d`].
pub fn pointwise<const HW: usize, const CIN: usize, const COUT: usize>(
    input: &[i8],
    output: &mut [i8],
    p: &DirectConv<'_>,
) {
    const { assert!(HW * CIN * COUT >= 1, "pointwise: zero size") };
    p.check("pointwise", COUT * CIN, COUT);
    matmul(&input[..HW * CIN], &mut output[..HW * COUT], CIN, p);
}

/// Fully connected layer: `COUT` outputs from `CIN` inputs.
///
/// # Panics
/// As [`conv2d`].
pub fn fc<const CIN: usize, const COUT: usize>(input: &[i8], output: &mut [i8], p: &DirectConv<'_>) {
    const { assert!(CIN * COUT >= 1, "fc: zero size") };
    p.check("fc", COUT * CIN, COUT);
    matmul(&input[..CIN], &mut output[..COUT], CIN, p);
}

/// Each row of `k` inputs times each row of `k` weights.
fn matmul(input: &[i8], output: &mut [i8], k: usize, p: &DirectConv<'_>) {
    let (izp, wzp) = (p.input_zero_point, p.weight_zero_point);
    let n = p.bias.len();
    for (x, out) in input.chunks_exact(k).zip(output.chunks_exact_mut(n)) {
        for ((o, out), wt) in out.iter_mut().enumerate().zip(p.weights.chunks_exact(k)) {
            *out = p.requant(o).apply(dot(x, wt, izp, wzp, p.bias[o]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::i8::QuantConv;
    use crate::kernels::testkit::{q, Rng};

    /// `q` borrowed as the direct kernels take it (shifts narrowed to `i8`).
    fn with_direct<R>(q: &QuantConv, f: impl FnOnce(&DirectConv<'_>) -> R) -> R {
        let shift: Vec<i8> = q.shift.iter().map(|&s| i8::try_from(s).unwrap()).collect();
        f(&DirectConv {
            weights: &q.weights,
            bias: &q.bias,
            multiplier: &q.multiplier,
            shift: &shift,
            input_zero_point: q.input_zero_point,
            weight_zero_point: q.weight_zero_point,
            output_zero_point: q.output_zero_point,
            act_min: q.act_min,
            act_max: q.act_max,
        })
    }

    fn input(rng: &mut Rng, n: usize) -> Vec<i8> {
        (0..n).map(|_| rng.int(-128, 127) as i8).collect()
    }

    fn check_conv<
        const H: usize,
        const W: usize,
        const CIN: usize,
        const OH: usize,
        const OW: usize,
        const COUT: usize,
        const K: usize,
        const S: usize,
        const PT: usize,
        const PL: usize,
    >(
        seed: u64,
    ) {
        let mut rng = Rng::new(seed);
        for case in 0..8 {
            let layer = q::layer(&mut rng, COUT * K * K * CIN, COUT, K * K * CIN, case);
            let x = input(&mut rng, H * W * CIN);
            let want = q::conv((H, W, CIN), (OH, OW, COUT), (K, K, S, PT, PL), &layer, &x);
            let mut got = vec![0i8; OH * OW * COUT];
            with_direct(&layer, |p| {
                conv2d::<H, W, CIN, OH, OW, COUT, K, K, S, PT, PL>(&x, &mut got, p)
            });
            assert_eq!(
                got, want,
                "conv {H}x{W}x{CIN} -> {OH}x{OW}x{COUT} k{K} s{S}, case {case}"
            );
        }
    }

    fn check_dw<
        const H: usize,
        const W: usize,
        const C: usize,
        const OH: usize,
        const OW: usize,
        const K: usize,
        const S: usize,
        const PT: usize,
        const PL: usize,
    >(
        seed: u64,
    ) {
        let mut rng = Rng::new(seed);
        for case in 0..8 {
            let layer = q::layer(&mut rng, K * K * C, C, K * K, case);
            let x = input(&mut rng, H * W * C);
            let want = q::depthwise((H, W, C), (OH, OW), (K, K, S, PT, PL), &layer, &x);
            let mut got = vec![0i8; OH * OW * C];
            with_direct(&layer, |p| {
                depthwise::<H, W, C, OH, OW, K, K, S, PT, PL>(&x, &mut got, p)
            });
            assert_eq!(got, want, "depthwise {H}x{W}x{C} k{K} s{S}, case {case}");
        }
    }

    #[test]
    fn conv2d_matches_tflites_reference() {
        // TF SAME at stride 2 (no padding above), symmetric padding, odd sizes, one channel in
        // (person_detect's first layer).
        check_conv::<9, 9, 3, 5, 5, 8, 3, 2, 1, 1>(1);
        check_conv::<8, 8, 3, 4, 4, 8, 3, 2, 0, 0>(2);
        check_conv::<6, 7, 1, 3, 4, 8, 3, 2, 0, 0>(3);
        check_conv::<5, 5, 2, 5, 5, 3, 3, 1, 1, 1>(4);
    }

    #[test]
    fn depthwise_matches_tflites_reference() {
        check_dw::<6, 6, 5, 6, 6, 3, 1, 1, 1>(5);
        check_dw::<8, 8, 16, 4, 4, 3, 2, 0, 0>(6);
        check_dw::<7, 5, 3, 4, 3, 3, 2, 1, 1>(7);
        check_dw::<3, 3, 17, 3, 3, 3, 1, 1, 1>(8);
    }

    #[test]
    fn pointwise_and_fc_match_tflites_reference() {
        let mut rng = Rng::new(9);
        for case in 0..8 {
            let layer = q::layer(&mut rng, 7 * 5, 7, 5, case);
            let x = input(&mut rng, 6 * 5);
            let want = q::matmul(6, 5, 7, &layer, &x);
            let mut got = vec![0i8; 6 * 7];
            with_direct(&layer, |p| pointwise::<6, 5, 7>(&x, &mut got, p));
            assert_eq!(got, want, "pointwise, case {case}");

            let layer = q::layer(&mut rng, 3 * 40, 3, 40, case);
            let x = input(&mut rng, 40);
            let want = q::matmul(1, 40, 3, &layer, &x);
            let mut got = vec![0i8; 3];
            with_direct(&layer, |p| fc::<40, 3>(&x, &mut got, p));
            assert_eq!(got, want, "fc, case {case}");
        }
    }

    #[test]
    #[should_panic(expected = "pointwise: parameters of the wrong length")]
    fn parameters_of_the_wrong_length_are_refused() {
        let mut rng = Rng::new(10);
        let layer = q::layer(&mut rng, 4 * 3, 4, 3, 0);
        let mut out = [0i8; 8];
        with_direct(&layer, |p| pointwise::<2, 3, 5>(&[0; 6], &mut out, p));
    }
}
