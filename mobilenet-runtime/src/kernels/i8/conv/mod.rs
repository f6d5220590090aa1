//! Int8 standard KxK convolution over all input channels (MobileNet's first layer): for every
//! output pixel and channel `co`, `requant(bias[co] + sum_{ky,kx,ci} (x - izp) * (w - wzp))`
//! over the taps inside the input (TFLite skips the padded ones).
//!
//! A convolution is the int8 matrix product (`kernels/i8/gemm/`) over its unrolled windows:
//! each block of output pixels is laid out as rows of `KH * KW * CIN` taps (OHWI's reduction
//! order, so the weights pack as the product's `[COUT][k]` rows), a tap in the padding reading
//! the input zero point. The product's bias has `izp * sum_k (w - wzp)` folded in at load time,
//! so a padded tap adds `(izp - izp) * (w - wzp) = 0`: TFLite's skipping it, exactly. Every
//! path's product thus serves the convolution, border pixels included; the rows are short (27
//! bytes for 3 x 3 x 3) and unrolling them costs little beside the product. Split over a team
//! by output rows.

use super::gemm::{gemm, gemm_widened, Panels};
use super::quant::QuantConv;
use crate::kernels::geometry::taps;
use crate::kernels::isa::Isa;
use crate::kernels::shared_ptr::SharedPtr;
use crate::parallel::Team;
use std::ops::Range;

/// Below this many multiply-adds a convolution runs on one thread.
const MIN_SPLIT_MADDS: usize = 1 << 19;

/// Bytes of unrolled windows per product call: small enough that they (and their widened
/// copy) stay in L1/L2 between the unrolling and the product.
const BLOCK_BYTES: usize = 16 << 10;

/// A quantized standard convolution's weights and requantisation, packed for [`conv2d`].
#[derive(Clone)]
pub struct ConvParams<const KH: usize, const KW: usize, const CIN: usize, const COUT: usize> {
    /// The weights as the product's `[COUT][KH * KW * CIN]` rows.
    panels: Panels,
}

impl<const KH: usize, const KW: usize, const CIN: usize, const COUT: usize> ConvParams<KH, KW, CIN, COUT> {
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
        Ok(Self {
            panels: Panels::from_rows(isa, "conv", (KH * KW * CIN, COUT), q)?,
        })
    }

    /// The path these weights are packed for.
    pub fn isa(&self) -> Isa {
        self.panels.isa()
    }

    /// What the parameters were built from.
    pub fn to_quant(&self) -> QuantConv {
        self.panels.to_quant()
    }
}

impl<const KH: usize, const KW: usize, const CIN: usize, const COUT: usize> std::fmt::Debug
    for ConvParams<KH, KW, CIN, COUT>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "i8::ConvParams<KH={KH}, KW={KW}, CIN={CIN}, COUT={COUT}>({:?})",
            self.isa()
        )
    }
}

/// One convolution call's shapes, as runtime values.
#[derive(Clone, Copy, Debug)]
struct Shape {
    h: usize,
    w: usize,
    ow: usize,
    s: usize,
    pt: usize,
    pl: usize,
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
        ow: OW,
        s: S,
        pt: PT,
        pl: PL,
    };
    run(
        &input[..H * W * CIN],
        &mut output[..OH * OW * COUT],
        &p.panels,
        (sh, OH),
        (unroll::<i8, KH, KW, CIN>, unroll::<i16, KH, KW, CIN>),
        team,
    );
}

/// The windows of output rows `oys` into `dst`, one row of `KH * KW * CIN` taps per output
/// pixel, rows `ld` apart (what lies between is left as it is), `izp` for a tap in the
/// padding; as bytes, or widened to `i16` for a product that reads its rows so. Generic so
/// that a kernel row's run of taps is a copy of known length, not a call.
fn unroll<T: Copy + From<i8>, const KH: usize, const KW: usize, const CIN: usize>(
    input: &[i8],
    sh: &Shape,
    izp: i8,
    oys: Range<usize>,
    dst: &mut [T],
    ld: usize,
) {
    let run = KW * CIN;
    let copy = |dst: &mut [T], src: &[i8]| {
        for (d, &x) in dst.iter_mut().zip(src) {
            *d = T::from(x);
        }
    };
    let mut rows = dst.chunks_mut(ld);
    for oy in oys {
        let (ky0, ky1) = taps(oy, sh.h, KH, sh.s, sh.pt);
        for ox in 0..sh.ow {
            let Some(row) = rows.next() else {
                unreachable!("dst holds a row per pixel");
            };
            let row = &mut row[..KH * run];
            let (kx0, kx1) = taps(ox, sh.w, KW, sh.s, sh.pl);
            let at = |ky: usize, kx: usize| ((oy * sh.s + ky - sh.pt) * sh.w + ox * sh.s + kx - sh.pl) * CIN;
            if (ky0, ky1, kx0, kx1) == (0, KH, 0, KW) {
                for (ky, taps) in row.chunks_exact_mut(run).enumerate() {
                    copy(taps, &input[at(ky, 0)..][..run]);
                }
            } else {
                row.fill(T::from(izp));
                for ky in ky0..ky1 {
                    let n = (kx1 - kx0) * CIN;
                    copy(&mut row[ky * run + kx0 * CIN..][..n], &input[at(ky, kx0)..][..n]);
                }
            }
        }
    }
}

/// The instances of [`unroll`] a layer runs: into bytes, and widened.
type UnrollFns = (
    fn(&[i8], &Shape, i8, Range<usize>, &mut [i8], usize),
    fn(&[i8], &Shape, i8, Range<usize>, &mut [i16], usize),
);

/// The driver, not generic (compiled once, with this crate): blocks of output rows unrolled,
/// then multiplied, over output rows split across `team`. A product that reads its rows
/// widened gets them widened by the unrolling, which saves it a pass over them.
fn run(input: &[i8], output: &mut [i8], p: &Panels, (sh, oh): (Shape, usize), unroll: UnrollFns, team: &Team) {
    let (k, cout) = (p.k(), p.n());
    let row_len = sh.ow * cout;
    assert!(output.len() >= oh * row_len);
    let izp = p.zero_points().1 as i8;
    let block = (BLOCK_BYTES / (sh.ow * k)).max(1);
    let o = SharedPtr(output.as_mut_ptr());
    let rows = |oys: Range<usize>| {
        let block_px = block.min(oys.len()) * sh.ow;
        let (mut bytes, mut wide) = if p.widened() {
            (Vec::new(), vec![0i16; block_px * p.kp()])
        } else {
            (vec![0i8; block_px * k], Vec::new())
        };
        let mut oy = oys.start;
        while oy < oys.end {
            let end = (oy + block).min(oys.end);
            let pixels = (end - oy) * sh.ow;
            // SAFETY: rows `oy..end` of the exclusively borrowed output, disjoint between
            // the team's parts.
            let out = unsafe { std::slice::from_raw_parts_mut(o.get().add(oy * row_len), pixels * cout) };
            if p.widened() {
                let kp = p.kp();
                (unroll.1)(input, &sh, izp, oy..end, &mut wide[..pixels * kp], kp);
                gemm_widened(&wide, out, cout, pixels, p);
            } else {
                (unroll.0)(input, &sh, izp, oy..end, &mut bytes[..pixels * k], k);
                gemm(&bytes, k, out, cout, pixels, p);
            }
            oy = end;
        }
    };
    let madds = oh * row_len * k;
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
            // On AVX2: two blocks of 32 channels, the last partial; runs of 3 x 17 bytes.
            check::<7, 6, 17, 4, 3, 40, 3, 3, 2, 1, 1>(18);
            check::<6, 6, 2, 6, 6, 24, 3, 3, 1, 1, 1>(19);
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
