//! Depthwise KxK convolution, one filter per channel:
//! `out[oy][ox][c] = act(bias[c] + sum_{ky,kx} in[oy*S-PT+ky][ox*S-PL+kx][c] * w[c][0][ky][kx])`,
//! with taps outside the input reading zero.
//!
//! Activations are NHWC, so the channels of one pixel are contiguous. Weights are packed at
//! load time as `[KH][KW][C]` (tap-major) so that every tap is a multiply-add over contiguous
//! channels of both the input pixel and the weights, the same layout on every path.
//!
//! 3x3 layers with padding at most 1 run the kernel that the instruction set's config picks
//! for their shape (`avx2.rs`, `avx512.rs`); every other layer, and every layer on a path
//! without such kernels, runs the portable kernel (`scalar.rs`). Both are split over a team
//! by output rows the same way (`split_rows`).

#[cfg(x86_simd)]
pub(crate) mod avx2;
#[cfg(x86_simd)]
pub(crate) mod avx512;
#[cfg(x86_simd)]
mod c8_avx512;
mod scalar;
pub(crate) mod ukernel;
#[cfg(x86_simd)]
mod x86_3x3;

use super::config;
use crate::aligned::AlignedBuf;
use crate::kernels::activation::Clamp;
use crate::kernels::isa::Isa;
use crate::kernels::shared_ptr::SharedPtr;
use crate::parallel::Team;
use crate::ACT_RELU6;
use std::ops::Range;
use ukernel::{Pick3x3, RowsFn, Shape};

/// Below this many multiply-adds a depthwise layer runs on one thread. Far lower than the
/// products' threshold: a depthwise layer reads a map that the team's threads wrote in
/// parts, and on one thread it pulls the other parts from the other cores' caches, which
/// measured two to three times slower than the split, wake-up included, on small maps.
/// Lower under Miri (see `MIN_SPLIT_MADDS` in `kernels/f32/gemm/driver.rs`).
const MIN_SPLIT_MADDS_DW: usize = if cfg!(miri) { 1 << 8 } else { 1 << 15 };

/// From this input size (1 MiB, half of a 2 MiB L2) the 3x3 kernels walk the output rows
/// bottom to top. The layer before wrote the map top to bottom, so only its last rows are
/// still in L2: reading them first hits them before this layer's own traffic evicts them,
/// where a top-to-bottom walk would miss on every row. The pointwise layers between walk top
/// to bottom, so every large map is read in the reverse of the order it was written. On
/// 1.0-224 at one thread this took 11-16% off depthwise layers 3 and 7, 3-7% off pointwise
/// layers 2, 4 and 6 (their input, written bottom to top, starts in L2) and about 2% off the
/// forward pass (A/B in one process, alternating passes). On maps that fit in L2 with room to
/// spare it cost 3-10%, hence the threshold.
const BACKWARDS_MIN_FLOATS: usize = 1 << 18;

/// Output rows per step of a bottom-to-top walk; each step runs top to bottom inside, so
/// the row kernel's register blocking and prefetching work as usual.
const BACKWARDS_CHUNK_ROWS: usize = 8;

/// Folded weights and bias of a depthwise convolution, packed for [`depthwise`].
#[derive(Clone)]
pub struct DepthwiseParams<const KH: usize, const KW: usize, const C: usize> {
    /// The path the weights were packed for (the layout is the same for all).
    isa: Isa,
    /// That path's choice of 3x3 kernel, if it has any.
    pick_3x3: Option<Pick3x3>,
    /// `[KH][KW][C]`, 64-byte aligned: with `C` a multiple of the vector width, every
    /// weight vector the SIMD paths load lies within one cache line.
    weight: AlignedBuf,
    /// `[C]`.
    bias: Vec<f32>,
}

impl<const KH: usize, const KW: usize, const C: usize> DepthwiseParams<KH, KW, C> {
    /// Packs PyTorch-layout weights `[C][1][KH][KW]` (batch norm already folded in) and bias
    /// `[C]`.
    ///
    /// The kernel runs on the best path of this CPU ([`Isa::detect`]).
    ///
    /// Returns `None` if `weight.len() != C * KH * KW` or `bias.len() != C`.
    pub fn new(weight: &[f32], bias: &[f32]) -> Option<Self> {
        Self::new_for(Isa::detect(), weight, bias)
    }

    /// [`Self::new`] for a chosen path, for tests and benchmarks that compare paths.
    ///
    /// # Panics
    /// If this CPU cannot run `isa` ([`Isa::is_supported`]).
    pub fn new_for(isa: Isa, weight: &[f32], bias: &[f32]) -> Option<Self> {
        const { assert!(KH >= 1 && KW >= 1 && C >= 1, "depthwise: zero-sized shape") };
        let pick_3x3 = config::for_isa(isa).depthwise_3x3;
        if weight.len() != C * KH * KW || bias.len() != C {
            return None;
        }
        let taps = KH * KW;
        let mut packed = AlignedBuf::zeroed(taps * C);
        for (i, w) in packed.iter_mut().enumerate() {
            *w = weight[(i % C) * taps + i / C];
        }
        Some(Self {
            isa,
            pick_3x3,
            weight: packed,
            bias: bias.to_vec(),
        })
    }

    /// Gives the PyTorch layout back: `(weight [C][1][KH][KW], bias [C])`, bit for bit what
    /// [`Self::new`] was given.
    pub fn unpack(&self) -> (Vec<f32>, Vec<f32>) {
        let taps = KH * KW;
        let weight = (0..C * taps).map(|i| self.weight[(i % taps) * C + i / taps]).collect();
        (weight, self.bias.clone())
    }
}

impl<const KH: usize, const KW: usize, const C: usize> std::fmt::Debug for DepthwiseParams<KH, KW, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DepthwiseParams<KH={KH}, KW={KW}, C={C}>({:?})", self.isa)
    }
}

/// Depthwise KxK convolution of an `H x W x C` NHWC map into `OH x OW x C`, stride `S`, with
/// `PT` zero rows above and `PL` zero columns left of the input (the bottom/right padding is
/// implied by `OH`/`OW`: taps outside the input read zero), then bias and activation `ACT`.
///
/// Interior pixels (whole window inside the input) run with constant, fully unrolled tap
/// loops; only border rows and columns clamp their tap ranges. A `team` splits the output
/// rows.
///
/// # Panics
/// If `input.len() < H * W * C` or `output.len() < OH * OW * C` (generated code always passes
/// exactly sized buffers). Inconsistent const parameters (zero sizes, `S == 0`, padding not
/// smaller than the kernel, an output window lying wholly in the bottom/right padding,
/// unknown `ACT`) are compile errors.
// Never inlined: the generated forward pass is one huge function, and inlined into it (or
// into any caller) LLVM's vectorisation of the loops below depends on the surroundings; as
// its own function every instantiation compiles the same way as the one benchmarked.
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
    const ACT: u8,
>(
    input: &[f32],
    output: &mut [f32],
    params: &DepthwiseParams<KH, KW, C>,
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
        assert!(ACT <= ACT_RELU6, "depthwise: unknown activation code");
    };
    let input = &input[..H * W * C];
    let output = &mut output[..OH * OW * C];
    if KH == 3 && KW == 3 && PT <= 1 && PL <= 1 {
        if let Some(pick) = params.pick_3x3 {
            let sh = Shape {
                h: H,
                w: W,
                c: C,
                ow: OW,
                s: S,
                pt: PT,
                pl: PL,
                clamp: Clamp::of(ACT),
            };
            return rows_3x3(pick(&sh), input, &params.weight, &params.bias, output, (sh, OH), team);
        }
    }
    let (weight, bias) = (&params.weight[..], &params.bias[..]);
    let out = SharedPtr(output.as_mut_ptr());
    split_rows(OH, OH * OW * C * KH * KW, team, &|oys: Range<usize>| {
        // SAFETY: `output` holds `OH` rows of `OW * C` floats and is exclusively borrowed; the
        // team's parts get disjoint rows `oys`, so each part's slice is its own.
        let out = unsafe { std::slice::from_raw_parts_mut(out.get().add(oys.start * OW * C), oys.len() * OW * C) };
        scalar::rows::<H, W, C, OH, OW, KH, KW, S, PT, PL, ACT>(input, out, weight, bias, oys);
    });
}

/// Runs `rows` over output rows `0..oh` of a layer of `madds` multiply-adds: on the calling
/// thread for small layers (see [`MIN_SPLIT_MADDS_DW`]), else split over `team`, each part a
/// block of whole rows.
fn split_rows(oh: usize, madds: usize, team: &Team, rows: &(dyn Fn(Range<usize>) + Sync)) {
    if team.threads() == 1 || madds < MIN_SPLIT_MADDS_DW {
        return rows(0..oh);
    }
    team.split(oh, 1, madds, rows);
}

/// The threaded driver of the 3x3 kernels (padding at most 1): `oh` output rows of shape `sh`
/// from `input`, with tap-major `[3][3][c]` weights, by `run` (chosen once, for the whole
/// call), on `team`.
///
/// Not generic, so that it is compiled once, with this crate, rather than in every crate
/// that expands a network (see `gemm_raw` in `kernels/f32/gemm/`).
///
/// # Panics
/// If a slice is shorter than the shape needs.
fn rows_3x3(
    run: RowsFn,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    output: &mut [f32],
    (sh, oh): (Shape, usize),
    team: &Team,
) {
    let in_len = sh.h * sh.w * sh.c;
    assert!(
        input.len() >= in_len && output.len() >= oh * sh.ow * sh.c,
        "depthwise: map too short"
    );
    assert!(
        weight.len() >= 9 * sh.c && bias.len() >= sh.c,
        "depthwise: weights too short"
    );
    let (i, w, b, o) = (
        SharedPtr(input.as_ptr().cast_mut()),
        SharedPtr(weight.as_ptr().cast_mut()),
        SharedPtr(bias.as_ptr().cast_mut()),
        SharedPtr(output.as_mut_ptr()),
    );
    // SAFETY: `run` comes from the config of a path that `new_for` checked this CPU runs;
    // the asserts above cover what it reads and writes, `output` is exclusively borrowed, and
    // the team's parts get disjoint output rows.
    let rows = |rows: Range<usize>| unsafe { run(i.get(), w.get(), b.get(), o.get(), sh, rows) };
    // Bottom to top on large maps: see `BACKWARDS_MIN_FLOATS`.
    let rows = |range: Range<usize>| {
        if in_len < BACKWARDS_MIN_FLOATS {
            return rows(range);
        }
        let mut end = range.end;
        while end > range.start {
            let start = end.saturating_sub(BACKWARDS_CHUNK_ROWS).max(range.start);
            rows(start..end);
            end = start;
        }
    };
    split_rows(oh, oh * sh.ow * sh.c * 9, team, &rows);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{self, Rng};
    use crate::{ACT_NONE, ACT_RELU};

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
        const ACT: u8,
    >(
        seed: u64,
    ) {
        let mut rng = Rng::new(seed);
        let input: Vec<f32> = rng.vec(H * W * C).iter().map(|v| v * 5.0).collect();
        let weight = rng.vec(C * KH * KW);
        let bias = rng.vec(C);
        let want = testkit::depthwise((H, W, C), (OH, OW), (KH, KW, S, PT, PL), ACT, &input, &weight, &bias);
        let teams = [Team::single(), Team::new(2).unwrap()];
        for (isa, team) in Isa::supported()
            .into_iter()
            .flat_map(|isa| teams.iter().map(move |t| (isa, t)))
        {
            let params = DepthwiseParams::<KH, KW, C>::new_for(isa, &weight, &bias).unwrap();
            let mut padded_in = input.clone();
            padded_in.extend([f32::NAN; 3]);
            let mut out = vec![-7.0; OH * OW * C + 3];
            depthwise::<H, W, C, OH, OW, KH, KW, S, PT, PL, ACT>(&padded_in, &mut out, &params, team);
            for (i, (&g, &w)) in out.iter().zip(&want).enumerate() {
                let err = (g as f64 - w).abs() / w.abs().max(1.0);
                assert!(
                    err <= 1e-5,
                    "{isa:?} {team:?} H={H} W={W} C={C} OH={OH} OW={OW} K={KH}x{KW} S={S} PT={PT} PL={PL} \
                     ACT={ACT} at {i}: got {g}, want {w}"
                );
            }
            assert!(
                out[OH * OW * C..].iter().all(|&v| v == -7.0),
                "{isa:?} wrote past the output"
            );
        }
    }

    // Under Miri, which interprets a few thousand multiply-adds a second, each test runs its
    // smallest shapes and shrunken ones for what only the larger shapes cover (channels in
    // full blocks of 16 and a tail, 5x5 kernels); Miri's split threshold is lower too
    // (`MIN_SPLIT_MADDS_DW`), so the team of two still splits them.

    #[test]
    fn symmetric_padding() {
        check::<5, 5, 1, 5, 5, 3, 3, 1, 1, 1, ACT_RELU>(1);
        check::<6, 7, 3, 6, 7, 3, 3, 1, 1, 1, ACT_RELU6>(2);
        check::<7, 7, 5, 4, 4, 3, 3, 2, 1, 1, ACT_RELU6>(6);
        check::<8, 8, 16, 4, 4, 3, 3, 2, 1, 1, ACT_RELU>(7);
        if cfg!(miri) {
            check::<4, 4, 17, 4, 4, 3, 3, 1, 1, 1, ACT_NONE>(3);
            check::<3, 4, 33, 3, 4, 3, 3, 1, 1, 1, ACT_RELU>(4);
            check::<6, 5, 17, 3, 3, 3, 3, 2, 1, 1, ACT_RELU6>(9);
            return;
        }
        check::<8, 8, 17, 8, 8, 3, 3, 1, 1, 1, ACT_NONE>(3);
        check::<7, 6, 33, 7, 6, 3, 3, 1, 1, 1, ACT_RELU>(4);
        check::<4, 4, 64, 4, 4, 3, 3, 1, 1, 1, ACT_RELU6>(5);
        check::<9, 12, 33, 5, 6, 3, 3, 2, 1, 1, ACT_NONE>(8);
        check::<14, 13, 17, 7, 7, 3, 3, 2, 1, 1, ACT_RELU6>(9);
    }

    #[test]
    fn tf_same_padding() {
        // Even input, stride 2: nothing above/left, one implicit zero below/right.
        check::<8, 8, 3, 4, 4, 3, 3, 2, 0, 0, ACT_RELU6>(11);
        check::<6, 10, 17, 3, 5, 3, 3, 2, 0, 0, ACT_RELU>(12);
        check::<2, 2, 5, 1, 1, 3, 3, 2, 0, 0, ACT_RELU>(14);
        // Odd input, stride 2: one zero on every side.
        check::<7, 9, 5, 4, 5, 3, 3, 2, 1, 1, ACT_RELU6>(15);
        if cfg!(miri) {
            check::<6, 4, 33, 3, 2, 3, 3, 2, 0, 0, ACT_NONE>(13);
        } else {
            check::<14, 12, 33, 7, 6, 3, 3, 2, 0, 0, ACT_NONE>(13);
        }
    }

    #[test]
    fn other_shapes() {
        // 1x1 depthwise is a per-channel scale.
        check::<5, 4, 17, 5, 4, 1, 1, 1, 0, 0, ACT_RELU6>(21);
        check::<6, 5, 3, 3, 3, 1, 1, 2, 0, 0, ACT_NONE>(22);
        // Input smaller than the kernel: every pixel is border.
        check::<1, 1, 5, 1, 1, 3, 3, 1, 1, 1, ACT_RELU>(23);
        check::<2, 3, 33, 2, 3, 3, 3, 1, 1, 1, ACT_NONE>(24);
        check::<1, 7, 3, 1, 7, 3, 3, 1, 1, 1, ACT_RELU6>(25);
        // Rectangular kernel, 5x5 kernel with pad 2, no padding at all.
        check::<7, 8, 3, 5, 8, 3, 1, 1, 0, 0, ACT_RELU6>(26);
        check::<6, 6, 5, 4, 4, 3, 3, 1, 0, 0, ACT_RELU>(29);
        if cfg!(miri) {
            check::<5, 5, 5, 5, 5, 5, 5, 1, 2, 2, ACT_NONE>(27);
            check::<5, 5, 3, 3, 3, 5, 5, 2, 2, 2, ACT_RELU>(28);
            // The larger shapes below add the team split, which Miri's lower threshold
            // already gives the shapes above, and the bottom-to-top walk of the x86 3x3
            // kernels, which Miri does not run.
            return;
        }
        check::<9, 9, 17, 9, 9, 5, 5, 1, 2, 2, ACT_NONE>(27);
        check::<9, 9, 17, 5, 5, 5, 5, 2, 2, 2, ACT_RELU>(28);
        // Large enough to be split over a team.
        check::<56, 56, 24, 28, 28, 3, 3, 2, 1, 1, ACT_RELU6>(30);
        check::<40, 40, 40, 40, 40, 3, 3, 1, 1, 1, ACT_RELU>(31);
        // Large enough to be walked bottom to top (`BACKWARDS_MIN_FLOATS`), with an output
        // height that is not a multiple of `BACKWARDS_CHUNK_ROWS` (nor are the halves of a
        // team's split).
        check::<75, 75, 48, 75, 75, 3, 3, 1, 1, 1, ACT_RELU6>(32);
        check::<75, 75, 48, 38, 38, 3, 3, 2, 1, 1, ACT_NONE>(33);
    }

    /// 8 channels at stride 1 take the two-pixels-per-vector kernel on AVX-512
    /// (`c8_avx512.rs`): odd and even widths, with and without padding.
    #[test]
    fn eight_channels() {
        check::<7, 7, 8, 5, 5, 3, 3, 1, 0, 0, ACT_NONE>(53);
        check::<1, 1, 8, 1, 1, 3, 3, 1, 1, 1, ACT_RELU>(54);
        check::<2, 3, 8, 2, 3, 3, 3, 1, 1, 1, ACT_NONE>(55);
        // Widths where an unmasked group of pairs would end exactly at the right padding.
        check::<5, 10, 8, 5, 10, 3, 3, 1, 1, 1, ACT_NONE>(57);
        // The rest only vary the AVX-512 kernel's widths, which Miri does not run.
        if cfg!(miri) {
            return;
        }
        check::<4, 18, 8, 4, 18, 3, 3, 1, 1, 1, ACT_RELU>(58);
        check::<9, 9, 8, 9, 9, 3, 3, 1, 1, 1, ACT_RELU6>(51);
        check::<10, 12, 8, 10, 12, 3, 3, 1, 1, 1, ACT_RELU>(52);
        check::<64, 64, 8, 64, 64, 3, 3, 1, 1, 1, ACT_RELU6>(56);
    }

    #[test]
    fn new_rejects_wrong_lengths() {
        let w = vec![0.0; 5 * 9];
        let b = vec![0.0; 5];
        assert!(DepthwiseParams::<3, 3, 5>::new(&w, &b).is_some());
        assert!(DepthwiseParams::<3, 3, 5>::new(&w[1..], &b).is_none());
        assert!(DepthwiseParams::<3, 3, 5>::new(&[0.0; 46], &b).is_none());
        assert!(DepthwiseParams::<3, 3, 5>::new(&w, &b[1..]).is_none());
        assert!(DepthwiseParams::<3, 3, 5>::new(&w, &[0.0; 6]).is_none());
    }

    #[test]
    fn unpack_round_trips() {
        let mut rng = Rng::new(5);
        let w = rng.vec(33 * 3 * 2);
        let b = rng.vec(33);
        let (w2, b2) = DepthwiseParams::<3, 2, 33>::new(&w, &b).unwrap().unpack();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&w), bits(&w2));
        assert_eq!(bits(&b), bits(&b2));
    }
}
