//! Int8 depthwise KxK convolution, one filter per channel: for every output pixel and channel
//! `c`, `requant(bias[c] + sum_taps (x - izp) * (w - wzp))` over the taps inside the input
//! (TFLite skips the padded ones, as if they read the input zero point).
//!
//! Weights are packed at load time as `i16` `[KH][KW][C]` (tap-major, channels padded to whole
//! vectors), the weight zero point already subtracted; a path with 3x3 kernels (`avx2.rs`) lays
//! 3x3 layers out again its own way. 3x3 layers run the kernel the path's config picks for
//! their shape, if any; every other layer runs the portable kernel (`scalar.rs`). Both are
//! split over a team by output rows.

#[cfg(x86_simd)]
pub(crate) mod avx2;
mod scalar;
pub(crate) mod ukernel;

use super::config;
use super::quant::QuantConv;
use super::requant::ChannelRequant;
use crate::kernels::isa::Isa;
use crate::kernels::shared_ptr::SharedPtr;
use crate::parallel::Team;
use std::ops::Range;
use ukernel::{Filter, Kernels3x3, Packed, Shape};

/// Channels are padded to a multiple of this in the packed weights (the widest kernel's
/// vector of channels).
const CHANNEL_PAD: usize = 16;

/// Below this many multiply-adds a depthwise layer runs on one thread (see the f32 driver's
/// `MIN_SPLIT_MADDS_DW`).
const MIN_SPLIT_MADDS: usize = 1 << 15;

/// A quantized depthwise convolution's weights and requantisation, packed for [`depthwise`].
#[derive(Clone)]
pub struct DepthwiseParams<const KH: usize, const KW: usize, const C: usize> {
    isa: Isa,
    /// The path's 3x3 kernels, for a 3x3 layer on a path that has them.
    kernels_3x3: Option<&'static Kernels3x3>,
    /// Their packing of the layer.
    packed: Option<Packed>,
    /// `[KH][KW][cp]`, `w - weight_zero_point`.
    weights: Vec<i16>,
    /// `[cp]`.
    bias: Vec<i32>,
    rq: ChannelRequant,
    weight_zero_point: i32,
    input_zero_point: i32,
}

impl<const KH: usize, const KW: usize, const C: usize> DepthwiseParams<KH, KW, C> {
    /// Channels per tap in the packed weights.
    const CP: usize = C.next_multiple_of(CHANNEL_PAD);

    /// Packs a layer (weights `[KH][KW][C]`, TFLite's `[1][KH][KW][C]`) for the best path of
    /// this CPU ([`Isa::detect`]).
    ///
    /// # Errors
    /// What is wrong, if a length does not fit the layer or a value is out of range.
    pub fn from_quant(q: &QuantConv) -> Result<Self, String> {
        Self::from_quant_for(Isa::detect(), q)
    }

    /// [`Self::from_quant`] for a chosen path.
    ///
    /// # Errors
    /// As [`Self::from_quant`].
    ///
    /// # Panics
    /// If this CPU cannot run `isa` ([`Isa::is_supported`]).
    pub fn from_quant_for(isa: Isa, q: &QuantConv) -> Result<Self, String> {
        const { assert!(KH >= 1 && KW >= 1 && C >= 1, "depthwise: zero-sized shape") };
        let cp = Self::CP;
        let rq = q.check("depthwise", KH * KW * C, C, cp)?;
        let mut weights = vec![0i16; KH * KW * cp];
        for (i, &w) in q.weights.iter().enumerate() {
            weights[i / C * cp + i % C] = (w as i32 - q.weight_zero_point) as i16;
        }
        let mut bias = q.bias.clone();
        bias.resize(cp, 0);
        let mut p = Self {
            isa,
            kernels_3x3: config::for_isa(isa).depthwise_3x3.filter(|_| KH == 3 && KW == 3),
            packed: None,
            weights,
            bias,
            rq,
            weight_zero_point: q.weight_zero_point,
            input_zero_point: q.input_zero_point,
        };
        p.packed = p.kernels_3x3.map(|k| (k.pack)(&p.filter()));
        Ok(p)
    }

    /// The path these weights are packed for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// What the parameters were built from.
    pub fn to_quant(&self) -> QuantConv {
        let cp = Self::CP;
        QuantConv {
            weights: (0..KH * KW * C)
                .map(|i| (self.weights[i / C * cp + i % C] as i32 + self.weight_zero_point) as i8)
                .collect(),
            weight_zero_point: self.weight_zero_point,
            bias: self.bias[..C].to_vec(),
            input_zero_point: self.input_zero_point,
            output_zero_point: self.rq.zero_point,
            multiplier: self.rq.multiplier[..C].to_vec(),
            shift: self.rq.shifts(C),
            act_min: self.rq.min,
            act_max: self.rq.max,
        }
    }

    fn filter(&self) -> Filter<'_> {
        Filter {
            weights: &self.weights,
            cp: Self::CP,
            bias: &self.bias,
            rq: &self.rq,
            input_zero_point: self.input_zero_point,
            packed: self.packed.as_ref(),
        }
    }
}

impl<const KH: usize, const KW: usize, const C: usize> std::fmt::Debug for DepthwiseParams<KH, KW, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "i8::DepthwiseParams<KH={KH}, KW={KW}, C={C}>({:?})", self.isa)
    }
}

/// Int8 depthwise KxK convolution of an `H x W x C` NHWC map into `OH x OW x C`, stride `S`,
/// with `PT` rows above and `PL` columns left of the input padded (the bottom/right padding
/// follows from `OH`/`OW`); padded taps contribute nothing. A `team` splits the output rows.
///
/// # Panics
/// If `input.len() < H * W * C` or `output.len() < OH * OW * C`. Inconsistent const
/// parameters are compile errors, as for the f32 kernel.
#[inline(never)]
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
    p: &DepthwiseParams<KH, KW, C>,
    team: &Team,
) {
    const {
        assert!(H >= 1 && W >= 1 && C >= 1, "depthwise: zero-sized input");
        assert!(OH >= 1 && OW >= 1, "depthwise: zero-sized output");
        assert!(KH >= 1 && KW >= 1 && S >= 1, "depthwise: zero kernel or stride");
        assert!(PT < KH && PL < KW, "depthwise: padding must be smaller than the kernel");
        assert!(
            (OH - 1) * S < H + PT && (OW - 1) * S < W + PL,
            "depthwise: the last output window lies wholly in the padding"
        );
    };
    let sh = Shape {
        h: H,
        w: W,
        c: C,
        ow: OW,
        kh: KH,
        kw: KW,
        s: S,
        pt: PT,
        pl: PL,
    };
    run(
        &input[..H * W * C],
        &mut output[..OH * OW * C],
        &p.filter(),
        p.kernels_3x3,
        (sh, OH),
        team,
    );
}

/// The driver, not generic (compiled once, with this crate): the path's 3x3 kernel for the
/// shape if it has one, else the portable kernel, over output rows split across `team`.
fn run(
    input: &[i8],
    output: &mut [i8],
    f: &Filter,
    kernels: Option<&Kernels3x3>,
    (sh, oh): (Shape, usize),
    team: &Team,
) {
    assert!(input.len() >= sh.h * sh.w * sh.c && output.len() >= oh * sh.ow * sh.c);
    let kernel = kernels.and_then(|k| (k.pick)(&sh));
    let (i, o) = (SharedPtr(input.as_ptr().cast_mut()), SharedPtr(output.as_mut_ptr()));
    let rows = |oys: Range<usize>| match kernel {
        // SAFETY: the kernel comes from the config of a path that `from_quant_for` checked
        // this CPU runs; the assert above covers what it reads and writes, and the team's
        // parts get disjoint output rows.
        Some(k) => unsafe { k(i.get(), f, o.get(), &sh, oys) },
        None => {
            // SAFETY: rows `oys` of the exclusively borrowed output, disjoint between parts.
            let out = unsafe {
                std::slice::from_raw_parts_mut(o.get().add(oys.start * sh.ow * sh.c), oys.len() * sh.ow * sh.c)
            };
            scalar::rows(input, f, out, &sh, oys);
        }
    };
    let madds = oh * sh.ow * sh.c * sh.kh * sh.kw;
    if team.threads() == 1 || madds < MIN_SPLIT_MADDS {
        return rows(0..oh);
    }
    team.split(oh, 1, madds, &rows);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{q, Rng};

    const CASES: usize = if cfg!(miri) { 2 } else { 8 };

    fn check<
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
        seed: u64,
    ) {
        let teams = [Team::single(), Team::new(2).unwrap()];
        for case in 0..CASES {
            let mut rng = Rng::new(seed * 1000 + case as u64);
            let layer = q::layer(&mut rng, KH * KW * C, C, KH * KW, case);
            let input = rng.bytes(H * W * C);
            let want = q::depthwise((H, W, C), (OH, OW), (KH, KW, S, PT, PL), &layer, &input);
            for isa in Isa::supported() {
                let p = DepthwiseParams::<KH, KW, C>::from_quant_for(isa, &layer).unwrap();
                assert_eq!(p.to_quant(), layer, "{isa:?}: to_quant");
                for team in &teams {
                    let mut padded = input.clone();
                    padded.extend([7i8; 3]);
                    let mut out = vec![99i8; OH * OW * C + 3];
                    depthwise::<H, W, C, OH, OW, KH, KW, S, PT, PL>(&padded, &mut out, &p, team);
                    if let Some(i) = (0..OH * OW * C).find(|&i| out[i] != want[i]) {
                        panic!(
                            "{isa:?} {team:?} H={H} W={W} C={C} OH={OH} OW={OW} K={KH}x{KW} S={S} PT={PT} \
                             PL={PL} case {case} at ({}, {}, {}): got {}, want {}",
                            i / C / OW,
                            i / C % OW,
                            i % C,
                            out[i],
                            want[i]
                        );
                    }
                    assert_eq!(out[OH * OW * C..], [99; 3], "{isa:?} wrote past the output");
                }
            }
        }
    }

    #[test]
    fn three_by_three() {
        check::<5, 5, 1, 5, 5, 3, 3, 1, 1, 1>(1);
        check::<6, 7, 3, 6, 7, 3, 3, 1, 1, 1>(2);
        check::<8, 8, 17, 8, 8, 3, 3, 1, 1, 1>(3);
        check::<7, 7, 5, 4, 4, 3, 3, 2, 1, 1>(4);
        check::<8, 8, 16, 4, 4, 3, 3, 2, 0, 0>(5);
        check::<1, 1, 5, 1, 1, 3, 3, 1, 1, 1>(6);
        check::<2, 2, 5, 1, 1, 3, 3, 2, 0, 0>(7);
        check::<6, 6, 5, 4, 4, 3, 3, 1, 0, 0>(8);
        if !cfg!(miri) {
            check::<7, 6, 33, 7, 6, 3, 3, 1, 1, 1>(9);
            check::<4, 4, 64, 4, 4, 3, 3, 1, 1, 1>(10);
            check::<9, 12, 33, 5, 6, 3, 3, 2, 1, 1>(11);
            check::<14, 13, 48, 7, 7, 3, 3, 2, 1, 1>(12);
            check::<14, 12, 32, 7, 6, 3, 3, 2, 0, 0>(13);
            check::<2, 3, 33, 2, 3, 3, 3, 1, 1, 1>(14);
            check::<1, 7, 24, 1, 7, 3, 3, 1, 1, 1>(15);
            check::<3, 40, 8, 3, 40, 3, 3, 1, 1, 1>(16);
            check::<7, 7, 1024, 7, 7, 3, 3, 1, 1, 1>(17);
            // Half blocks (8 channels past the last 16) on the AVX2 kernel, every padding.
            check::<9, 10, 8, 5, 5, 3, 3, 2, 1, 1>(26);
            check::<10, 9, 24, 5, 5, 3, 3, 2, 0, 0>(27);
            check::<6, 5, 40, 6, 5, 3, 3, 1, 1, 1>(28);
            check::<5, 6, 8, 3, 4, 3, 3, 1, 0, 0>(29);
            // 8 channels, two pixels per vector on AVX2: odd output widths leave one alone.
            check::<5, 7, 8, 5, 7, 3, 3, 1, 1, 1>(30);
            check::<7, 9, 8, 4, 5, 3, 3, 2, 1, 1>(31);
            check::<8, 6, 8, 4, 3, 3, 3, 2, 0, 0>(32);
            check::<64, 64, 8, 64, 64, 3, 3, 1, 1, 1>(33);
            // Large enough to split over a team.
            check::<56, 56, 24, 28, 28, 3, 3, 2, 1, 1>(18);
            check::<40, 40, 40, 40, 40, 3, 3, 1, 1, 1>(19);
        }
    }

    #[test]
    fn other_shapes() {
        check::<5, 4, 17, 5, 4, 1, 1, 1, 0, 0>(21);
        check::<7, 8, 3, 5, 8, 3, 1, 1, 0, 0>(22);
        if !cfg!(miri) {
            check::<9, 9, 17, 9, 9, 5, 5, 1, 2, 2>(23);
            check::<9, 9, 17, 5, 5, 5, 5, 2, 2, 2>(24);
            check::<6, 5, 3, 3, 3, 1, 1, 2, 0, 0>(25);
        }
    }

    #[test]
    fn from_quant_names_what_is_wrong() {
        let mut rng = Rng::new(7);
        let good = q::layer(&mut rng, 9 * 5, 5, 9, 2);
        assert!(DepthwiseParams::<3, 3, 5>::from_quant(&good).is_ok());
        let mut bad = good.clone();
        bad.multiplier.push(1);
        let err = DepthwiseParams::<3, 3, 5>::from_quant(&bad).unwrap_err();
        assert!(
            err.contains("depthwise: multiplier has 6 values, the layer needs 5"),
            "{err}"
        );
    }
}
