//! Pointwise (1x1, stride 1) convolution: `out[p][co] = act(bias[co] + sum_ci in[p][ci] * w[co][ci])`
//! for every pixel `p` of an NHWC map; about 95% of MobileNet's multiply-adds.
//!
//! Seen as a matrix product, the input is `[HW][CIN]`, the weights `[CIN][COUT]` and the output
//! `[HW][COUT]`: [`pointwise`] is the matrix product of `kernels/f32/gemm/` with weights packed
//! at load time into column panels for the CPU's best path (AVX-512 12x32 or 13x32 tiles,
//! AVX2+FMA 6x16, or the portable 4x8).

use super::gemm::{gemm_team, Panels};
use crate::kernels::isa::Isa;
use crate::parallel::Team;
use crate::ACT_RELU6;

/// Folded weights and bias of a pointwise convolution over an `HW`-pixel map, packed for
/// [`pointwise`] on one [`Isa`] (see `kernels/f32/gemm/` for the panel layouts, some of which
/// suit only large maps).
#[derive(Clone)]
pub struct PointwiseParams<const HW: usize, const CIN: usize, const COUT: usize> {
    panels: Panels,
}

impl<const HW: usize, const CIN: usize, const COUT: usize> PointwiseParams<HW, CIN, COUT> {
    /// Packs PyTorch-layout weights `[COUT][CIN][1][1]` (i.e. `[COUT][CIN]`, batch norm already
    /// folded in) and bias `[COUT]` for the best path of this CPU ([`Isa::detect`]).
    ///
    /// Returns `None` if `weight.len() != COUT * CIN` or `bias.len() != COUT`.
    pub fn new(weight: &[f32], bias: &[f32]) -> Option<Self> {
        Self::new_for(Isa::detect(), weight, bias)
    }

    /// [`Self::new`] for a chosen path, for tests and benchmarks that compare paths.
    ///
    /// # Panics
    /// If this CPU cannot run `isa` ([`Isa::is_supported`]).
    pub fn new_for(isa: Isa, weight: &[f32], bias: &[f32]) -> Option<Self> {
        const {
            assert!(
                HW >= 1 && CIN >= 1 && COUT >= 1,
                "pointwise needs HW, CIN and COUT >= 1"
            )
        };
        if weight.len() != COUT * CIN || bias.len() != COUT {
            return None;
        }
        Some(Self {
            panels: Panels::new(isa, CIN, COUT, HW, &|co, ci| weight[co * CIN + ci], bias),
        })
    }

    /// The path these weights are packed for.
    pub fn isa(&self) -> Isa {
        self.panels.isa()
    }

    /// Gives the PyTorch layout back: `(weight [COUT][CIN], bias [COUT])`, bit for bit what
    /// [`Self::new`] was given.
    pub fn unpack(&self) -> (Vec<f32>, Vec<f32>) {
        let weight = (0..COUT * CIN).map(|i| self.panels.weight(i / CIN, i % CIN)).collect();
        (weight, self.panels.bias().to_vec())
    }
}

impl<const HW: usize, const CIN: usize, const COUT: usize> std::fmt::Debug for PointwiseParams<HW, CIN, COUT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PointwiseParams<HW={HW}, CIN={CIN}, COUT={COUT}>({:?})", self.isa())
    }
}

/// Pointwise convolution of an `HW x CIN` NHWC map (`HW = H * W` pixels) into `HW x COUT`,
/// with bias and activation `ACT`, on the path the parameters were packed for, split over the
/// threads of `team`.
///
/// Pixels are processed in tiles that stay in L2; within a tile every weight panel sweeps
/// the tile a register tile of pixels at a time (see `kernels/f32/gemm/`). A team splits the
/// pixels, or for the late layers (more weights than pixels) the output channels.
///
/// # Panics
/// If `input.len() < HW * CIN` or `output.len() < HW * COUT` (generated code always passes
/// exactly sized buffers). Invalid const parameters (zero sizes, unknown `ACT`) are compile
/// errors.
// Never inlined: the generated forward pass is one huge function; as its own function every
// instantiation compiles the same way as the one benchmarked.
#[inline(never)]
pub fn pointwise<const HW: usize, const CIN: usize, const COUT: usize, const ACT: u8>(
    input: &[f32],
    output: &mut [f32],
    params: &PointwiseParams<HW, CIN, COUT>,
    team: &Team,
) {
    const {
        assert!(HW >= 1 && CIN >= 1 && COUT >= 1, "pointwise: zero-sized shape");
        assert!(ACT <= ACT_RELU6, "pointwise: unknown activation code");
    };
    let input = &input[..HW * CIN];
    let output = &mut output[..HW * COUT];
    gemm_team::<ACT>(input, CIN, output, COUT, HW, &params.panels, team);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{self, Rng};
    use crate::{ACT_NONE, ACT_RELU};

    fn check<const HW: usize, const CIN: usize, const COUT: usize, const ACT: u8>(seed: u64) {
        let mut rng = Rng::new(seed);
        // Scale so that relu6 clips some outputs and relu zeroes about half.
        let input: Vec<f32> = rng.vec(HW * CIN).iter().map(|v| v * 4.0).collect();
        let weight = rng.vec(COUT * CIN);
        let bias = rng.vec(COUT);
        let want = testkit::matmul(HW, CIN, COUT, CIN, ACT, &input, &weight, &bias);
        let teams = [Team::single(), Team::new(2).unwrap(), Team::new(3).unwrap()];
        for (isa, team) in Isa::supported()
            .into_iter()
            .flat_map(|isa| teams.iter().map(move |t| (isa, t)))
        {
            let params = PointwiseParams::<HW, CIN, COUT>::new_for(isa, &weight, &bias).unwrap();
            // Oversized buffers: the kernel must touch only the prefixes.
            let mut padded_in = input.clone();
            padded_in.extend([f32::NAN; 5]);
            let mut out = vec![-7.0; HW * COUT + 5];
            pointwise::<HW, CIN, COUT, ACT>(&padded_in, &mut out, &params, team);
            for (i, (&g, w)) in out.iter().zip(&want).enumerate() {
                assert!(
                    w.admits(g),
                    "{isa:?} {team:?} HW={HW} CIN={CIN} COUT={COUT} ACT={ACT} at {i}: got {g}, want {w:?}"
                );
            }
            assert!(
                out[HW * COUT..].iter().all(|&v| v == -7.0),
                "{isa:?} wrote past the output"
            );
        }
    }

    #[test]
    fn matches_reference() {
        check::<1, 1, 1, ACT_NONE>(1);
        check::<1, 3, 5, ACT_RELU>(2);
        check::<3, 5, 17, ACT_RELU6>(3);
        check::<4, 17, 8, ACT_NONE>(4);
        check::<7, 33, 16, ACT_RELU>(5);
        check::<9, 16, 33, ACT_RELU6>(6);
        check::<25, 8, 3, ACT_RELU>(7);
        check::<50, 17, 1, ACT_NONE>(9);
        if cfg!(miri) {
            // A few thousand multiply-adds each, for what the shapes below cover. Miri's split
            // thresholds are lower (`MIN_SPLIT_MADDS`, `PIECE_MIN_MADDS`), so the team of two
            // takes the three splits of `gemm_team` with these: by pixels in two pieces per
            // part, by pixels with the panels cut into pieces, and by panels. Its `TILE_FLOATS`
            // is lower too, so the 50 pixels above already run in several passes, ragged.
            check::<49, 8, 8, ACT_RELU6>(8);
            check::<6, 17, 24, ACT_RELU>(10);
            check::<2, 8, 56, ACT_NONE>(14);
            return;
        }
        check::<49, 64, 24, ACT_RELU6>(8);
        check::<121, 32, 64, ACT_RELU>(10);
        // More pixels than one pass over the weights (`pass_rows` in `kernels/f32/gemm/driver.rs`), with a ragged last
        // pass.
        check::<4100, 33, 5, ACT_RELU6>(11);
        check::<70, 1024, 9, ACT_NONE>(12);
        // Large enough to be split over a team: by pixels, then by output channels.
        check::<3000, 64, 40, ACT_RELU>(13);
        check::<49, 512, 1024, ACT_RELU6>(14);
    }

    #[test]
    fn new_rejects_wrong_lengths() {
        let w = vec![0.0; 15];
        let b = vec![0.0; 5];
        assert!(PointwiseParams::<2, 3, 5>::new(&w, &b).is_some());
        assert!(PointwiseParams::<2, 3, 5>::new(&w[..14], &b).is_none());
        assert!(PointwiseParams::<2, 3, 5>::new(&[0.0; 16], &b).is_none());
        assert!(PointwiseParams::<2, 3, 5>::new(&w, &b[..4]).is_none());
        assert!(PointwiseParams::<2, 3, 5>::new(&w, &[0.0; 6]).is_none());
    }

    #[test]
    fn unpack_round_trips() {
        let mut rng = Rng::new(99);
        let w = rng.vec(17 * 33);
        let b = rng.vec(17);
        for isa in Isa::supported() {
            let (w2, b2) = PointwiseParams::<4, 33, 17>::new_for(isa, &w, &b).unwrap().unpack();
            assert_eq!(
                w.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                w2.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            assert_eq!(b, b2);
        }
    }
}
