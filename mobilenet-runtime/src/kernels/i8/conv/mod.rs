//! Int8 standard KxK convolution over all input channels (MobileNet's first layer): for every
//! output pixel and channel `co`, `requant(bias[co] + sum_{ky,kx,ci} (x - izp) * (w - wzp))`
//! over the taps inside the input (TFLite skips the padded ones).
//!
//! Weights are packed at load time as `i16` `[KH][KW][CIN][COUTP]` (the reduction index major,
//! output channels contiguous and padded to whole vectors), the weight zero point already
//! subtracted. Every path runs the portable kernel (`scalar.rs`) for now, split over a team
//! by output rows.

mod scalar;
pub(crate) mod ukernel;

use super::quant::QuantConv;
use super::requant::ChannelRequant;
use crate::kernels::isa::Isa;
use crate::kernels::shared_ptr::SharedPtr;
use crate::parallel::Team;
use std::ops::Range;
use ukernel::{Filter, Shape};

/// Output channels are padded to a multiple of this in the packed weights.
const CHANNEL_PAD: usize = 16;

/// Below this many multiply-adds a convolution runs on one thread.
const MIN_SPLIT_MADDS: usize = 1 << 19;

/// A quantized standard convolution's weights and requantisation, packed for [`conv2d`].
#[derive(Clone)]
pub struct ConvParams<const KH: usize, const KW: usize, const CIN: usize, const COUT: usize> {
    isa: Isa,
    /// `[KH][KW][CIN][coutp]`, `w - weight_zero_point`.
    weights: Vec<i16>,
    /// `[coutp]`.
    bias: Vec<i32>,
    rq: ChannelRequant,
    weight_zero_point: i32,
    input_zero_point: i32,
}

impl<const KH: usize, const KW: usize, const CIN: usize, const COUT: usize> ConvParams<KH, KW, CIN, COUT> {
    /// Output channels per reduction step in the packed weights.
    const COUTP: usize = COUT.next_multiple_of(CHANNEL_PAD);

    /// Packs a layer (weights OHWI `[COUT][KH][KW][CIN]`) for the best path of this CPU
    /// ([`Isa::detect`]).
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
        const { assert!(KH >= 1 && KW >= 1 && CIN >= 1 && COUT >= 1, "conv: zero-sized shape") };
        assert!(isa.is_supported(), "{isa:?} kernels on a CPU without them");
        let (k, coutp) = (KH * KW * CIN, Self::COUTP);
        let rq = q.check("conv", COUT * k, COUT, coutp)?;
        let mut weights = vec![0i16; k * coutp];
        for (i, &w) in q.weights.iter().enumerate() {
            // OHWI: i = co * k + (ky * KW + kx) * CIN + ci.
            weights[i % k * coutp + i / k] = (w as i32 - q.weight_zero_point) as i16;
        }
        let mut bias = q.bias.clone();
        bias.resize(coutp, 0);
        Ok(Self {
            isa,
            weights,
            bias,
            rq,
            weight_zero_point: q.weight_zero_point,
            input_zero_point: q.input_zero_point,
        })
    }

    /// The path these weights are packed for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// What the parameters were built from.
    pub fn to_quant(&self) -> QuantConv {
        let (k, coutp) = (KH * KW * CIN, Self::COUTP);
        QuantConv {
            weights: (0..COUT * k)
                .map(|i| (self.weights[i % k * coutp + i / k] as i32 + self.weight_zero_point) as i8)
                .collect(),
            weight_zero_point: self.weight_zero_point,
            bias: self.bias[..COUT].to_vec(),
            input_zero_point: self.input_zero_point,
            output_zero_point: self.rq.zero_point,
            multiplier: self.rq.multiplier[..COUT].to_vec(),
            shift: self.rq.shifts(COUT),
            act_min: self.rq.min,
            act_max: self.rq.max,
        }
    }
}

impl<const KH: usize, const KW: usize, const CIN: usize, const COUT: usize> std::fmt::Debug
    for ConvParams<KH, KW, CIN, COUT>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "i8::ConvParams<KH={KH}, KW={KW}, CIN={CIN}, COUT={COUT}>({:?})",
            self.isa
        )
    }
}

/// Int8 KxK convolution of an `H x W x CIN` NHWC map into `OH x OW x COUT`, stride `S`, with
/// `PT` rows above and `PL` columns left of the input padded (the bottom/right padding follows
/// from `OH`/`OW`); padded taps contribute nothing. A `team` splits the output rows.
///
/// # Panics
/// If `input.len() < H * W * CIN` or `output.len() < OH * OW * COUT`. Inconsistent const
/// parameters are compile errors, as for the f32 kernel.
#[inline(never)]
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
    p: &ConvParams<KH, KW, CIN, COUT>,
    team: &Team,
) {
    const {
        assert!(H >= 1 && W >= 1 && CIN >= 1, "conv2d: zero-sized input");
        assert!(OH >= 1 && OW >= 1 && COUT >= 1, "conv2d: zero-sized output");
        assert!(KH >= 1 && KW >= 1 && S >= 1, "conv2d: zero kernel or stride");
        assert!(PT < KH && PL < KW, "conv2d: padding must be smaller than the kernel");
        assert!(
            (OH - 1) * S < H + PT && (OW - 1) * S < W + PL,
            "conv2d: the last output window lies wholly in the padding"
        );
    };
    let sh = Shape {
        h: H,
        w: W,
        cin: CIN,
        ow: OW,
        cout: COUT,
        kh: KH,
        kw: KW,
        s: S,
        pt: PT,
        pl: PL,
    };
    let f = Filter {
        weights: &p.weights,
        coutp: ConvParams::<KH, KW, CIN, COUT>::COUTP,
        bias: &p.bias,
        rq: &p.rq,
        input_zero_point: p.input_zero_point,
    };
    run(&input[..H * W * CIN], &mut output[..OH * OW * COUT], &f, (sh, OH), team);
}

/// The driver, not generic (compiled once, with this crate): output rows split across `team`.
fn run(input: &[i8], output: &mut [i8], f: &Filter, (sh, oh): (Shape, usize), team: &Team) {
    let row_len = sh.ow * sh.cout;
    assert!(input.len() >= sh.h * sh.w * sh.cin && output.len() >= oh * row_len);
    let o = SharedPtr(output.as_mut_ptr());
    let rows = |oys: Range<usize>| {
        // SAFETY: rows `oys` of the exclusively borrowed output, disjoint between parts.
        let out = unsafe { std::slice::from_raw_parts_mut(o.get().add(oys.start * row_len), oys.len() * row_len) };
        scalar::rows(input, f, out, &sh, oys);
    };
    let madds = oh * row_len * sh.kh * sh.kw * sh.cin;
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
        seed: u64,
    ) {
        let teams = [Team::single(), Team::new(2).unwrap()];
        for case in 0..CASES {
            let mut rng = Rng::new(seed * 1000 + case as u64);
            let layer = q::layer(&mut rng, COUT * KH * KW * CIN, COUT, KH * KW * CIN, case);
            let input = rng.bytes(H * W * CIN);
            let want = q::conv((H, W, CIN), (OH, OW, COUT), (KH, KW, S, PT, PL), &layer, &input);
            for isa in Isa::supported() {
                let p = ConvParams::<KH, KW, CIN, COUT>::from_quant_for(isa, &layer).unwrap();
                assert_eq!(p.to_quant(), layer, "{isa:?}: to_quant");
                for team in &teams {
                    let mut padded = input.clone();
                    padded.extend([7i8; 3]);
                    let mut out = vec![99i8; OH * OW * COUT + 3];
                    conv2d::<H, W, CIN, OH, OW, COUT, KH, KW, S, PT, PL>(&padded, &mut out, &p, team);
                    if let Some(i) = (0..OH * OW * COUT).find(|&i| out[i] != want[i]) {
                        panic!(
                            "{isa:?} {team:?} H={H} W={W} CIN={CIN} OH={OH} OW={OW} COUT={COUT} K={KH}x{KW} \
                             S={S} PT={PT} PL={PL} case {case} at ({}, {}, {}): got {}, want {}",
                            i / COUT / OW,
                            i / COUT % OW,
                            i % COUT,
                            out[i],
                            want[i]
                        );
                    }
                    assert_eq!(out[OH * OW * COUT..], [99; 3], "{isa:?} wrote past the output");
                }
            }
        }
    }

    /// The first layers: 3x3 stride 2 from 1 channel (person_detect) and from 3 (ImageNet),
    /// with TF's SAME padding for even and odd inputs.
    #[test]
    fn first_layers() {
        check::<8, 8, 1, 4, 4, 8, 3, 3, 2, 0, 0>(1);
        check::<7, 9, 3, 4, 5, 8, 3, 3, 2, 1, 1>(2);
        check::<8, 8, 3, 4, 4, 32, 3, 3, 2, 0, 0>(3);
        check::<6, 10, 3, 3, 5, 17, 3, 3, 2, 0, 0>(4);
        if !cfg!(miri) {
            check::<24, 24, 1, 12, 12, 8, 3, 3, 2, 0, 0>(5);
            check::<32, 32, 3, 16, 16, 32, 3, 3, 2, 0, 0>(6);
            check::<33, 31, 3, 17, 16, 16, 3, 3, 2, 1, 1>(7);
            // Large enough to split over a team.
            check::<64, 64, 3, 32, 32, 32, 3, 3, 2, 0, 0>(8);
        }
    }

    #[test]
    fn other_shapes() {
        check::<5, 5, 3, 5, 5, 5, 3, 3, 1, 1, 1>(11);
        check::<5, 4, 17, 5, 4, 33, 1, 1, 1, 0, 0>(12);
        check::<1, 1, 5, 1, 1, 3, 3, 3, 1, 1, 1>(13);
        if !cfg!(miri) {
            check::<2, 2, 3, 1, 1, 3, 3, 3, 2, 1, 1>(14);
            check::<7, 8, 3, 5, 8, 5, 3, 1, 1, 0, 0>(15);
            check::<9, 9, 3, 9, 9, 8, 5, 5, 1, 2, 2>(16);
            check::<8, 8, 17, 8, 8, 8, 3, 3, 1, 1, 1>(17);
        }
    }

    #[test]
    fn from_quant_names_what_is_wrong() {
        let mut rng = Rng::new(8);
        let good = q::layer(&mut rng, 4 * 27, 4, 27, 3);
        assert!(ConvParams::<3, 3, 3, 4>::from_quant(&good).is_ok());
        let err = ConvParams::<3, 3, 1, 4>::from_quant(&good).unwrap_err();
        assert!(
            err.contains("conv: weights has 108 values, the layer needs 36"),
            "{err}"
        );
        let mut bad = good.clone();
        bad.act_max = -100;
        let err = ConvParams::<3, 3, 3, 4>::from_quant(&bad).unwrap_err();
        assert!(err.contains("act_min"), "{err}");
    }
}
