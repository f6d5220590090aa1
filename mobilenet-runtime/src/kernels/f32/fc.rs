//! Fully connected layer: `out[o] = bias[o] + sum_i in[i] * w[o][i]`, no activation
//! (MobileNet's classifier, `IN = 1024` features to `OUT = 1000` logits).
//!
//! With batch 1 this is a matrix-vector product, bound by streaming the weights. They are
//! packed at load time like pointwise weights, and the product is the matrix product of
//! `kernels/f32/gemm/` with a single row, which every path runs with its one-row kernel where
//! it has one (AVX2 and portable: several panels side by side, so that several weight streams
//! and accumulator chains are in flight), on every path split over a team.

use super::gemm::{gemm_team, prefetch_ahead, stop_prefetch_ahead, Panels};
use crate::kernels::isa::Isa;
use crate::parallel::Team;
use crate::ACT_NONE;

/// Folded weights and bias of a fully connected layer, packed for [`fc`].
#[derive(Clone)]
pub struct FcParams<const IN: usize, const OUT: usize> {
    /// Reduction index `i`, one panel row per input.
    panels: Panels,
}

impl<const IN: usize, const OUT: usize> FcParams<IN, OUT> {
    /// Packs PyTorch-layout weights `[OUT][IN]` and bias `[OUT]`.
    ///
    /// The kernel runs on the best path of this CPU ([`Isa::detect`]).
    ///
    /// Returns `None` if `weight.len() != OUT * IN` or `bias.len() != OUT`.
    pub fn new(weight: &[f32], bias: &[f32]) -> Option<Self> {
        Self::new_for(Isa::detect(), weight, bias)
    }

    /// [`Self::new`] for a chosen path, for tests and benchmarks that compare paths.
    ///
    /// # Panics
    /// If this CPU cannot run `isa` ([`Isa::is_supported`]).
    pub fn new_for(isa: Isa, weight: &[f32], bias: &[f32]) -> Option<Self> {
        const { assert!(IN >= 1 && OUT >= 1, "fc: zero-sized shape") };
        if weight.len() != OUT * IN || bias.len() != OUT {
            return None;
        }
        Some(Self {
            panels: Panels::new(isa, IN, OUT, 1, &|o, i| weight[o * IN + i], bias),
        })
    }

    /// Asks the matrix products (pointwise layers) that run next on the calling thread to
    /// pull these weights into L2 as they compute, so that [`fc`] finds them in cache instead
    /// of streaming them from memory; [`fc`] ends the request. Worth it only when the weights
    /// and what the layers in between touch fit in L2 together: generated code asks at one
    /// thread, for a classifier of at most 1 MiB, as many layers ahead as their weights and
    /// outputs fit in another 1 MiB. A hint: it never changes results.
    pub fn prefetch_ahead(&self, team: &Team) {
        // With several threads `fc` splits the weights; the other threads would need their
        // own share prefetched on their own cores.
        if team.threads() == 1 {
            prefetch_ahead(self.panels.packed());
        }
    }

    /// Gives the PyTorch layout back: `(weight [OUT][IN], bias [OUT])`, bit for bit what
    /// [`Self::new`] was given.
    pub fn unpack(&self) -> (Vec<f32>, Vec<f32>) {
        let weight = (0..OUT * IN).map(|k| self.panels.weight(k / IN, k % IN)).collect();
        (weight, self.panels.bias().to_vec())
    }
}

impl<const IN: usize, const OUT: usize> std::fmt::Debug for FcParams<IN, OUT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FcParams<IN={IN}, OUT={OUT}>({:?})", self.panels.isa())
    }
}

/// Fully connected layer: the first `IN` values of `input` to the first `OUT` values of
/// `output`, plus bias, no activation. A `team` of several threads splits the output channels (and so
/// the weights streamed).
///
/// # Panics
/// If `input.len() < IN` or `output.len() < OUT` (generated code always passes exactly sized
/// buffers). Zero sizes are compile errors.
// Never inlined: the generated forward pass is one huge function, and inlined into it (or
// into any caller) LLVM's vectorisation of the loops below depends on the surroundings; as
// its own function every instantiation compiles the same way as the one benchmarked.
#[inline(never)]
pub fn fc<const IN: usize, const OUT: usize>(
    input: &[f32],
    output: &mut [f32],
    params: &FcParams<IN, OUT>,
    team: &Team,
) {
    const { assert!(IN >= 1 && OUT >= 1, "fc: zero-sized shape") };
    let x: &[f32; IN] = input[..IN].try_into().expect("slice of length IN");
    let output = &mut output[..OUT];
    stop_prefetch_ahead();
    gemm_team::<ACT_NONE>(x, IN, output, OUT, 1, &params.panels, team);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{self, Rng};

    fn check<const IN: usize, const OUT: usize>(seed: u64) {
        let mut rng = Rng::new(seed);
        let x: Vec<f32> = rng.vec(IN).iter().map(|v| v * 4.0).collect();
        let w = rng.vec(OUT * IN);
        let b = rng.vec(OUT);
        let teams = [Team::single(), Team::new(2).unwrap()];
        for (isa, team) in Isa::supported()
            .into_iter()
            .flat_map(|isa| teams.iter().map(move |t| (isa, t)))
        {
            let params = FcParams::<IN, OUT>::new_for(isa, &w, &b).unwrap();
            let mut padded_in = x.clone();
            padded_in.extend([f32::NAN; 3]);
            let mut out = vec![-7.0; OUT + 3];
            fc::<IN, OUT>(&padded_in, &mut out, &params, team);
            for (o, (&g, want)) in out
                .iter()
                .zip(&testkit::matmul(1, IN, OUT, IN, ACT_NONE, &x, &w, &b))
                .enumerate()
            {
                assert!(
                    want.admits(g),
                    "{isa:?} {team:?} IN={IN} OUT={OUT} at {o}: got {g}, want {want:?}"
                );
            }
            assert_eq!(out[OUT..], [-7.0; 3], "{isa:?} wrote past the output");
        }
    }

    #[test]
    fn matches_reference() {
        check::<1, 1>(1);
        check::<3, 5>(2);
        check::<17, 33>(3);
        check::<33, 17>(4);
        check::<5, 32>(5);
        check::<16, 40>(6);
        check::<64, 3>(7);
        if cfg!(miri) {
            // Nine panels, the last partial, split between the team of two mid-group.
            check::<40, 65>(8);
            return;
        }
        check::<1024, 1000>(8);
        check::<256, 1001>(9);
    }

    #[test]
    fn new_rejects_wrong_lengths() {
        let w = vec![0.0; 15];
        let b = vec![0.0; 3];
        assert!(FcParams::<5, 3>::new(&w, &b).is_some());
        assert!(FcParams::<5, 3>::new(&w[1..], &b).is_none());
        assert!(FcParams::<5, 3>::new(&[0.0; 16], &b).is_none());
        assert!(FcParams::<5, 3>::new(&w, &b[1..]).is_none());
        assert!(FcParams::<3, 5>::new(&w, &b).is_none());
    }

    #[test]
    fn unpack_round_trips() {
        let mut rng = Rng::new(3);
        let w = rng.vec(33 * 17);
        let b = rng.vec(33);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for isa in Isa::supported() {
            let (w2, b2) = FcParams::<17, 33>::new_for(isa, &w, &b).unwrap().unpack();
            assert_eq!(bits(&w), bits(&w2));
            assert_eq!(bits(&b), bits(&b2));
        }
    }
}
