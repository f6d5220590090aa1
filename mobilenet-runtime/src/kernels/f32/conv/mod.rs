//! Standard KxK convolution over all input channels (MobileNet's first layer, and every layer
//! of the "Conv MobileNet" baseline):
//! `out[oy][ox][co] = act(bias[co] + sum_{ky,kx,ci} in[oy*S-PT+ky][ox*S-PL+kx][ci] * w[co][ci][ky][kx])`,
//! with taps outside the input reading zero.
//!
//! Activations are NHWC. Weights are packed at load time as the matrix product's panels
//! (`kernels/f32/gemm/`) over the reduction index `(ky * KW + kx) * CIN + ci`. In NHWC the
//! `KW * CIN` inputs under one kernel row are contiguous, and so are their packed weights, so
//! each output row is one matrix product read straight from the input image (`direct_gemm`),
//! on every path: the portable one is the product's scalar micro-kernel under the same
//! driver and the same team split.
//!
//! Where the instruction set has a paired-step kernel (`pairs.rs`; AVX-512 and AVX2), a layer
//! with at most 8 output channels (MobileNet 0.25's first layer) computes its interior pixels
//! with it, which packs two reduction steps per vector: on AVX-512 instead of leaving half of
//! the 16 lanes on zero weights (33-35% less time for that layer, 4-6% of the 0.25-128
//! forward pass), on AVX2 instead of one input broadcast per multiply-add (18% less time for
//! that layer, 1-2.5% of the pass; A/B in one process).

pub(crate) mod pairs;
#[cfg(x86_simd)]
pub(crate) mod pairs_avx2;
#[cfg(x86_simd)]
pub(crate) mod pairs_avx512;

use super::config;
use super::gemm::{gemm_raw, Panels, Seg, MIN_SPLIT_MADDS};
use crate::kernels::activation::Clamp;
use crate::kernels::geometry::{interior, taps};
use crate::kernels::isa::Isa;
use crate::kernels::shared_ptr::SharedPtr;
use crate::parallel::Team;
use crate::ACT_RELU6;
use pairs::{conv_pairs, PairedWeights};
use std::ops::Range;

/// Folded weights and bias of a KxK convolution, packed for [`conv2d`].
#[derive(Clone)]
pub struct ConvParams<const KH: usize, const KW: usize, const CIN: usize, const COUT: usize> {
    /// Reduction index `(ky * KW + kx) * CIN + ci`.
    panels: Panels,
    /// With at most 8 output channels, on a path with a paired-step kernel, the same weights
    /// for the interior pixels' kernel (`pairs.rs`); the border pixels still use `panels`.
    pairs: Option<PairedWeights>,
}

impl<const KH: usize, const KW: usize, const CIN: usize, const COUT: usize> ConvParams<KH, KW, CIN, COUT> {
    /// Packs PyTorch-layout weights `[COUT][CIN][KH][KW]` (batch norm already folded in) and
    /// bias `[COUT]`.
    ///
    /// The kernel runs on the best path of this CPU ([`Isa::detect`]).
    ///
    /// Returns `None` if `weight.len() != COUT * CIN * KH * KW` or `bias.len() != COUT`.
    pub fn new(weight: &[f32], bias: &[f32]) -> Option<Self> {
        Self::new_for(Isa::detect(), weight, bias)
    }

    /// [`Self::new`] for a chosen path, for tests and benchmarks that compare paths.
    ///
    /// # Panics
    /// If this CPU cannot run `isa` ([`Isa::is_supported`]).
    pub fn new_for(isa: Isa, weight: &[f32], bias: &[f32]) -> Option<Self> {
        const {
            assert!(KH >= 1 && KW >= 1 && CIN >= 1 && COUT >= 1, "conv: zero-sized shape");
        };
        if weight.len() != COUT * CIN * KH * KW || bias.len() != COUT {
            return None;
        }
        // Reduction index k = (ky * KW + kx) * CIN + ci.
        let at = |co: usize, k: usize| {
            let (tap, ci) = (k / CIN, k % CIN);
            weight[(co * CIN + ci) * KH * KW + tap]
        };
        Some(Self {
            panels: Panels::new(isa, KH * KW * CIN, COUT, 0, &at, bias),
            pairs: config::for_isa(isa)
                .conv_pairs
                .and_then(|kernel| PairedWeights::new(kernel, KH, KW * CIN, COUT, &at, bias)),
        })
    }

    /// Gives the PyTorch layout back: `(weight [COUT][CIN][KH][KW], bias [COUT])`, bit for bit
    /// what [`Self::new`] was given.
    pub fn unpack(&self) -> (Vec<f32>, Vec<f32>) {
        let taps = KH * KW;
        let weight = (0..COUT * CIN * taps)
            .map(|i| {
                let (co, ci, tap) = (i / (CIN * taps), i / taps % CIN, i % taps);
                self.panels.weight(co, tap * CIN + ci)
            })
            .collect();
        (weight, self.panels.bias().to_vec())
    }
}

impl<const KH: usize, const KW: usize, const CIN: usize, const COUT: usize> std::fmt::Debug
    for ConvParams<KH, KW, CIN, COUT>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ConvParams<KH={KH}, KW={KW}, CIN={CIN}, COUT={COUT}>({:?})",
            self.panels.isa()
        )
    }
}

/// KxK convolution of an `H x W x CIN` NHWC map into `OH x OW x COUT`, stride `S`, with `PT`
/// zero rows above and `PL` zero columns left of the input (the bottom/right padding is
/// implied by `OH`/`OW`: taps outside the input read zero), then bias and activation `ACT`.
///
/// Each output row is a matrix product over the interior pixels, with no clamping; only the
/// border pixels clamp their tap ranges. A `team` splits the output rows.
///
/// # Panics
/// If `input.len() < H * W * CIN` or `output.len() < OH * OW * COUT` (generated code always
/// passes exactly sized buffers). Inconsistent const parameters (zero sizes, `S == 0`,
/// padding not smaller than the kernel, an output window lying wholly in the bottom/right
/// padding, unknown `ACT`) are compile errors.
// Never inlined: the generated forward pass is one huge function, and inlined into it (or
// into any caller) LLVM's vectorisation of the loops below depends on the surroundings; as
// its own function every instantiation compiles the same way as the one benchmarked.
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
    const ACT: u8,
>(
    input: &[f32],
    output: &mut [f32],
    params: &ConvParams<KH, KW, CIN, COUT>,
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
        assert!(ACT <= ACT_RELU6, "conv2d: unknown activation code");
    };
    let input = &input[..H * W * CIN];
    let output = &mut output[..OH * OW * COUT];
    direct_gemm::<H, W, CIN, OH, OW, COUT, KH, KW, S, PT, PL, ACT>(input, output, params, team);
}

/// [`conv2d`] on every path: each output row is a matrix product read straight from the
/// input image. An output pixel's window is `KH` runs of `KW * CIN` contiguous inputs (one per
/// kernel row), and horizontally adjacent interior pixels' runs are `S * CIN` floats apart, so
/// the interior of a row is one [`gemm_raw`] call with `lda = S * CIN` and one [`Seg`] per
/// kernel row (only the kernel rows inside the image, so the top and bottom rows need no
/// zeros). Border pixels clamp their runs and go a column at a time ([`border_columns`]). No
/// im2col copy is made.
///
/// A `team` splits the output rows.
fn direct_gemm<
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
    const ACT: u8,
>(
    input: &[f32],
    output: &mut [f32],
    params: &ConvParams<KH, KW, CIN, COUT>,
    team: &Team,
) {
    assert!(input.len() >= H * W * CIN && output.len() >= OH * OW * COUT);
    let (i, o) = (SharedPtr(input.as_ptr().cast_mut()), SharedPtr(output.as_mut_ptr()));
    let (y_lo, y_hi) = interior(H, OH, KH, S, PT);
    let rows = |oys: Range<usize>| {
        // The border pixels of the rows whose windows lie inside the image vertically go in
        // one product per border column; the other rows' one row at a time.
        let b_lo = oys.start.max(y_lo);
        let b_hi = oys.end.min(y_hi).max(b_lo);
        for oy in oys {
            // SAFETY: for both calls, `oy < OH`; the runs they build stay inside the
            // `H x W x CIN` input (the asserts above) and they write only output row `oy` (the
            // rows `b_lo..b_hi`), which no other part of the team touches.
            unsafe {
                conv_row::<H, W, CIN, OW, COUT, KH, KW, S, PT, PL, ACT>(i.get(), o.get(), params, oy);
                if !(b_lo..b_hi).contains(&oy) {
                    let kys = taps(oy, H, KH, S, PT);
                    border_columns::<H, W, CIN, OW, COUT, KH, KW, S, PT, PL, ACT>(
                        i.get(),
                        o.get(),
                        params,
                        oy..oy + 1,
                        kys,
                    );
                }
            }
        }
        // SAFETY: as above.
        unsafe {
            border_columns::<H, W, CIN, OW, COUT, KH, KW, S, PT, PL, ACT>(i.get(), o.get(), params, b_lo..b_hi, (0, KH))
        }
    };
    if team.threads() == 1 || OH * OW * COUT * KH * KW * CIN < MIN_SPLIT_MADDS {
        return rows(0..OH);
    }
    team.split(OH, 1, OH * OW * COUT * KH * KW * CIN, &rows);
}

/// The border pixels (columns outside `interior`) of output rows `oys`, whose windows all
/// cover kernel rows `ky0..ky1` inside the image: per border column, one product over the
/// rows, whose windows are `S * W * CIN` floats apart, with that column's clamped runs. One
/// call per pixel cost about a tenth of the 0.25 models' first layer (a border pixel in each
/// of 64 rows, 8 channels): alone on an AMD EPYC 30.2 us, batched 27.1 us.
///
/// # Safety
/// `input` readable for `H * W * CIN` floats, `output` writable for the border pixels of rows
/// `oys < OH` with nobody else accessing them; `(ky0, ky1)` is `taps(oy, H, KH, S, PT)` for
/// every `oy` in `oys`; `p` packed for `KH * KW * CIN` x `COUT`.
unsafe fn border_columns<
    const H: usize,
    const W: usize,
    const CIN: usize,
    const OW: usize,
    const COUT: usize,
    const KH: usize,
    const KW: usize,
    const S: usize,
    const PT: usize,
    const PL: usize,
    const ACT: u8,
>(
    input: *const f32,
    output: *mut f32,
    params: &ConvParams<KH, KW, CIN, COUT>,
    oys: Range<usize>,
    (ky0, ky1): (usize, usize),
) {
    if oys.is_empty() {
        return;
    }
    let p = &params.panels;
    let (x_lo, x_hi) = interior(W, OW, KW, S, PL);
    for ox in (0..OW).filter(|ox| !(x_lo..x_hi).contains(ox)) {
        let (kx0, kx1) = taps(ox, W, KW, S, PL);
        let segs: [Seg; KH] = std::array::from_fn(|d| Seg {
            a: d * W * CIN,
            k0: ((ky0 + d) * KW + kx0) * CIN,
            len: (kx1 - kx0) * CIN,
        });
        let first = input.wrapping_add(((oys.start * S + ky0 - PT) * W + ox * S + kx0 - PL) * CIN);
        // SAFETY: every row's window covers kernel rows `ky0..ky1` and columns `kx0..kx1`
        // inside the image (`taps` clamps them); row `r` of the product is output pixel
        // `(oys.start + r, ox)`, `OW * COUT` floats after the last.
        unsafe {
            gemm_raw(
                Clamp::of(ACT),
                first,
                S * W * CIN,
                output.wrapping_add((oys.start * OW + ox) * COUT),
                OW * COUT,
                0..oys.len(),
                p,
                0..p.count(),
                &segs[..ky1 - ky0],
            )
        }
    }
}

/// The interior pixels of output row `oy` of [`direct_gemm`] ([`border_columns`] computes
/// the others).
///
/// # Safety
/// `input` readable for `H * W * CIN` floats, `output` writable for row `oy < OH`
/// (`OW * COUT` floats at `oy * OW * COUT`) with nobody else accessing it; `p` packed for
/// `KH * KW * CIN` x `COUT`.
unsafe fn conv_row<
    const H: usize,
    const W: usize,
    const CIN: usize,
    const OW: usize,
    const COUT: usize,
    const KH: usize,
    const KW: usize,
    const S: usize,
    const PT: usize,
    const PL: usize,
    const ACT: u8,
>(
    input: *const f32,
    output: *mut f32,
    params: &ConvParams<KH, KW, CIN, COUT>,
    oy: usize,
) {
    let p = &params.panels;
    let (ky0, ky1) = taps(oy, H, KH, S, PT);
    // Input row of kernel row `ky0`.
    let iy = oy * S + ky0 - PT;
    let (x_lo, x_hi) = interior(W, OW, KW, S, PL);
    let out = output.wrapping_add((oy * OW + x_lo) * COUT);
    // One run per kernel row inside the image, whole: interior windows lie inside it.
    let segs: [Seg; KH] = std::array::from_fn(|d| Seg {
        a: d * W * CIN,
        k0: (ky0 + d) * KW * CIN,
        len: KW * CIN,
    });
    let segs = &segs[..ky1 - ky0];
    if x_lo < x_hi {
        let first = input.wrapping_add((iy * W + x_lo * S - PL) * CIN);
        if let Some(pairs) = &params.pairs {
            // SAFETY: as below; the runs are whole kernel rows, and `pairs` exists only for a
            // path that `new_for` checked this CPU runs.
            unsafe { conv_pairs(Clamp::of(ACT), first, S * CIN, out, COUT, x_hi - x_lo, segs, pairs) };
            return;
        }
        // SAFETY: interior pixels' whole windows (rows `ky0..ky1`) lie inside the image, and
        // pixel `ox` starts `(ox - x_lo) * S * CIN` floats after the first.
        unsafe {
            gemm_raw(
                Clamp::of(ACT),
                first,
                S * CIN,
                out,
                COUT,
                0..x_hi - x_lo,
                p,
                0..p.count(),
                segs,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{self, Rng};
    use crate::{ACT_NONE, ACT_RELU};

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
        const ACT: u8,
    >(
        seed: u64,
    ) {
        let mut rng = Rng::new(seed);
        let input: Vec<f32> = rng.vec(H * W * CIN).iter().map(|v| v * 3.0).collect();
        let weight = rng.vec(COUT * CIN * KH * KW);
        let bias = rng.vec(COUT);
        let want = testkit::conv(
            (H, W, CIN),
            (OH, OW, COUT),
            (KH, KW, S, PT, PL),
            ACT,
            &input,
            &weight,
            &bias,
        );
        let teams = [Team::single(), Team::new(2).unwrap()];
        for (isa, team) in Isa::supported()
            .into_iter()
            .flat_map(|isa| teams.iter().map(move |t| (isa, t)))
        {
            let params = ConvParams::<KH, KW, CIN, COUT>::new_for(isa, &weight, &bias).unwrap();
            let mut padded_in = input.clone();
            padded_in.extend([f32::NAN; 3]);
            let mut out = vec![-7.0; OH * OW * COUT + 3];
            conv2d::<H, W, CIN, OH, OW, COUT, KH, KW, S, PT, PL, ACT>(&padded_in, &mut out, &params, team);
            for (i, (&g, w)) in out.iter().zip(&want).enumerate() {
                assert!(
                    w.admits(g),
                    "{isa:?} {team:?} H={H} W={W} CIN={CIN} OH={OH} OW={OW} COUT={COUT} K={KH}x{KW} S={S} \
                     PT={PT} PL={PL} ACT={ACT} at {i}: got {g}, want {w:?}"
                );
            }
            assert!(
                out[OH * OW * COUT..].iter().all(|&v| v == -7.0),
                "{isa:?} wrote past the output"
            );
        }
    }

    // Under Miri, which interprets a few thousand multiply-adds a second, each test runs its
    // smallest shapes (a few thousand multiply-adds each) and shrunken ones for what only
    // the larger shapes cover; Miri's split thresholds are lower too (`MIN_SPLIT_MADDS`), so
    // the team of two still splits them.

    #[test]
    fn symmetric_padding() {
        // 3x3, pad 1, stride 1: OH = H.
        check::<5, 5, 3, 5, 5, 5, 3, 3, 1, 1, 1, ACT_RELU>(1);
        check::<6, 7, 1, 6, 7, 17, 3, 3, 1, 1, 1, ACT_RELU6>(2);
        // 3x3, pad 1, stride 2: OH = (H + 2 - 3) / 2 + 1.
        check::<7, 7, 3, 4, 4, 16, 3, 3, 2, 1, 1, ACT_RELU6>(5);
        if cfg!(miri) {
            // Wider inputs, and five panels of outputs (the last of one channel).
            check::<3, 3, 9, 3, 3, 4, 3, 3, 1, 1, 1, ACT_NONE>(3);
            check::<4, 3, 5, 2, 2, 33, 3, 3, 2, 1, 1, ACT_NONE>(7);
            return;
        }
        check::<8, 8, 17, 8, 8, 8, 3, 3, 1, 1, 1, ACT_NONE>(3);
        check::<13, 11, 5, 13, 11, 33, 3, 3, 1, 1, 1, ACT_RELU>(4);
        check::<8, 8, 3, 4, 4, 32, 3, 3, 2, 1, 1, ACT_RELU>(6);
        check::<9, 12, 33, 5, 6, 5, 3, 3, 2, 1, 1, ACT_NONE>(7);
        check::<16, 15, 3, 8, 8, 17, 3, 3, 2, 1, 1, ACT_RELU6>(8);
    }

    #[test]
    fn tf_same_padding() {
        // Even input, stride 2: pad 0 top/left, the extra zero row/column at bottom/right.
        check::<14, 12, 1, 7, 6, 3, 3, 3, 2, 0, 0, ACT_NONE>(13);
        // Odd input, stride 2: SAME pads one on every side.
        check::<7, 9, 3, 4, 5, 8, 3, 3, 2, 1, 1, ACT_RELU6>(14);
        if cfg!(miri) {
            check::<6, 4, 5, 3, 2, 17, 3, 3, 2, 0, 0, ACT_RELU>(12);
            // Stride 1: SAME pads one on every side too.
            check::<4, 4, 9, 4, 4, 5, 3, 3, 1, 1, 1, ACT_RELU>(15);
            return;
        }
        check::<8, 8, 3, 4, 4, 32, 3, 3, 2, 0, 0, ACT_RELU6>(11);
        check::<6, 10, 5, 3, 5, 17, 3, 3, 2, 0, 0, ACT_RELU>(12);
        check::<6, 6, 17, 6, 6, 5, 3, 3, 1, 1, 1, ACT_RELU>(15);
    }

    #[test]
    fn one_by_one_and_other_shapes() {
        check::<6, 6, 3, 3, 3, 5, 1, 1, 2, 0, 0, ACT_NONE>(22);
        check::<1, 1, 5, 1, 1, 3, 3, 3, 1, 1, 1, ACT_RELU>(23);
        check::<2, 2, 3, 1, 1, 3, 3, 3, 2, 1, 1, ACT_RELU>(24);
        check::<3, 3, 3, 1, 1, 17, 3, 3, 1, 0, 0, ACT_NONE>(25);
        // Rectangular kernel with unequal padding.
        check::<7, 8, 3, 5, 8, 5, 3, 1, 1, 0, 0, ACT_RELU6>(26);
        check::<7, 8, 3, 4, 4, 5, 1, 3, 2, 0, 1, ACT_RELU>(27);
        if cfg!(miri) {
            check::<3, 2, 17, 3, 2, 33, 1, 1, 1, 0, 0, ACT_RELU6>(21);
            // 5x5, pad 2.
            check::<5, 5, 2, 5, 5, 3, 5, 5, 1, 2, 2, ACT_NONE>(28);
            return;
        }
        check::<5, 4, 17, 5, 4, 33, 1, 1, 1, 0, 0, ACT_RELU6>(21);
        check::<9, 9, 3, 9, 9, 8, 5, 5, 1, 2, 2, ACT_NONE>(28);
        // Wide enough for several row tiles, and large enough to be split over a team.
        check::<40, 700, 3, 20, 350, 5, 3, 3, 2, 1, 1, ACT_RELU6>(29);
    }

    /// At most 8 output channels: on AVX-512 and AVX2 the interior runs the paired kernel
    /// (`pairs.rs`), with kernel rows of odd and even length, full and partial tiles,
    /// and fewer than 8 channels (masked stores).
    #[test]
    fn narrow_outputs() {
        check::<12, 12, 2, 6, 6, 7, 3, 3, 2, 0, 0, ACT_RELU>(42);
        check::<11, 13, 3, 6, 7, 1, 3, 3, 2, 1, 1, ACT_NONE>(43);
        if cfg!(miri) {
            check::<5, 6, 4, 5, 6, 8, 3, 3, 1, 1, 1, ACT_RELU6>(41);
            check::<6, 9, 6, 6, 9, 4, 1, 1, 1, 0, 0, ACT_RELU6>(44);
            return;
        }
        check::<9, 10, 4, 9, 10, 8, 3, 3, 1, 1, 1, ACT_RELU6>(41);
        check::<10, 40, 6, 10, 40, 4, 1, 1, 1, 0, 0, ACT_RELU6>(44);
        // MobileNet's first layer at 64x64.
        check::<64, 64, 3, 32, 32, 8, 3, 3, 2, 1, 1, ACT_RELU6>(45);
    }

    #[test]
    fn new_rejects_wrong_lengths() {
        let w = vec![0.0; 5 * 3 * 9];
        let b = vec![0.0; 5];
        assert!(ConvParams::<3, 3, 3, 5>::new(&w, &b).is_some());
        assert!(ConvParams::<3, 3, 3, 5>::new(&w[1..], &b).is_none());
        assert!(ConvParams::<3, 3, 3, 5>::new(&[0.0; 5 * 3 * 9 + 1], &b).is_none());
        assert!(ConvParams::<3, 3, 3, 5>::new(&w, &b[1..]).is_none());
        assert!(ConvParams::<3, 3, 3, 5>::new(&w, &[0.0; 6]).is_none());
        assert!(ConvParams::<3, 1, 3, 5>::new(&w, &b).is_none());
    }

    #[test]
    fn unpack_round_trips() {
        let mut rng = Rng::new(77);
        let w = rng.vec(17 * 3 * 3 * 2);
        let b = rng.vec(17);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for isa in Isa::supported() {
            let (w2, b2) = ConvParams::<3, 2, 3, 17>::new_for(isa, &w, &b).unwrap().unpack();
            assert_eq!(bits(&w), bits(&w2));
            assert_eq!(bits(&b), bits(&b2));
        }
    }
}
