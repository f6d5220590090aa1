//! Pointwise (1x1, stride 1) convolution: `out[p][co] = act(bias[co] + sum_ci in[p][ci] * w[co][ci])`
//! for every pixel `p` of an NHWC map; about 95% of MobileNet's multiply-adds.
//!
//! Seen as a matrix product, the input is `[HW][CIN]`, the weights `[CIN][COUT]` and the output
//! `[HW][COUT]`: [`pointwise`] is the `gemm` of `kernels/gemm.rs` with weights packed at load time into
//! column panels for the CPU's best path (AVX-512 12x32 or 13x32 tiles, AVX2+FMA 6x16, or the
//! portable code below).
//!
//! This file also keeps the portable building blocks: the `PB x NB` register-blocked
//! micro-kernel (`accumulate`) and the `NB`-wide packing helpers, shared with the portable
//! path of `gemm`, the standard convolution ([`super::conv`]) and the fully connected layer
//! ([`super::fc`](mod@super::fc)).

use super::gemm::{gemm_team, Panels};
use super::isa::Isa;
use crate::parallel::Team;
use crate::{ACT_RELU, ACT_RELU6};

/// Output channels computed together: one packed weight row, one accumulator block.
///
/// 8 `f32` are two SSE registers (or one AVX register); with `PB` pixels that is 8
/// accumulator registers, which leaves room for the weights and the broadcast input on the
/// baseline x86-64 target without spilling.
pub(crate) const NB: usize = 8;

/// Output pixels computed together, so that every weight load is reused `PB` times.
pub(crate) const PB: usize = 4;

/// `NB` consecutive output channels: one packed weight row, bias block or accumulator.
pub(crate) type Lane = [f32; NB];

/// Applies activation `ACT` ([`crate::ACT_NONE`], [`ACT_RELU`] or [`ACT_RELU6`]).
///
/// Written as comparisons rather than `f32::max`/`clamp` so that it can lower to a bare
/// `maxps`/`minps` (the NaN-propagation rules of `max` cost extra instructions); a NaN input
/// gives 0 under both ReLUs.
#[inline(always)]
pub(crate) fn activate<const ACT: u8>(v: f32) -> f32 {
    match ACT {
        ACT_RELU => {
            if v > 0.0 {
                v
            } else {
                0.0
            }
        }
        ACT_RELU6 => {
            let v = if v > 0.0 { v } else { 0.0 };
            if v < 6.0 {
                v
            } else {
                6.0
            }
        }
        _ => v,
    }
}

/// The micro-kernel: `acc[p][j] += sum_k rows[p][k] * panel[k][j]` for `P` pixels at once,
/// over `k < panel.len()` (each row must be at least that long).
///
/// `P` and `NB` are compile-time constants, so the accumulators live in registers and each
/// packed weight row is loaded once and used `P` times. Plain multiply-then-add:
/// `f32::mul_add` without the `fma` target feature becomes a slow library call.
///
/// Never inlined on purpose: inlined into its callers, LLVM splits the accumulator array
/// into `P * NB` scalars and fails to re-vectorise them (measured 4-7x slower); behind a
/// call it loads them as vectors. The call costs a few cycles per `panel.len() * P * NB`
/// multiply-adds.
#[inline(never)]
pub(crate) fn accumulate<const P: usize>(acc: &mut [Lane; P], rows: [&[f32]; P], panel: &[Lane]) {
    // Slicing every row to the panel's length up front lets the compiler drop the bounds
    // checks in the loop.
    let rows = rows.map(|row| &row[..panel.len()]);
    for (k, w) in panel.iter().enumerate() {
        for (a, row) in acc.iter_mut().zip(&rows) {
            let x = row[k];
            for (a, &w) in a.iter_mut().zip(w) {
                *a += x * w;
            }
        }
    }
}

/// Writes `act(acc)` into `out` (at most `NB` values: the last panel may be partial).
#[inline(always)]
pub(crate) fn store<const ACT: u8>(acc: &Lane, out: &mut [f32]) {
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = activate::<ACT>(a);
    }
}

/// Folded weights and bias of a pointwise convolution over an `HW`-pixel map, packed for
/// [`pointwise`] on one [`Isa`] (see `kernels/gemm.rs` for the panel layouts, some of which
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
/// the tile a register tile of pixels at a time (see `kernels/gemm.rs`). A team splits the
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
pub(crate) mod tests {
    use super::*;
    use crate::ACT_NONE;

    /// Tiny deterministic xorshift generator, shared by the kernel tests; values in [-1, 1).
    pub(crate) struct Rng(u64);
    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            // Spread small seeds over the state; xorshift must not start at zero.
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }
        pub(crate) fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
        pub(crate) fn vec(&mut self, n: usize) -> Vec<f32> {
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
    pub(crate) const RTOL: f64 = 1e-5;

    /// A reference output: the exact value (f64, activation applied) and the magnitude of its
    /// sum before the activation, which [`RTOL`] is relative to.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Sum {
        pub value: f64,
        pub magnitude: f64,
    }

    impl Sum {
        /// Starts a sum at `bias`.
        pub(crate) fn new(bias: f32) -> Self {
            Sum {
                value: bias as f64,
                magnitude: (bias as f64).abs(),
            }
        }

        /// Adds the term `x * w`.
        pub(crate) fn add(&mut self, x: f32, w: f32) {
            let t = x as f64 * w as f64;
            self.value += t;
            self.magnitude += t.abs();
        }

        /// The sum with activation `act` applied to its value.
        pub(crate) fn activated(self, act: u8) -> Self {
            let value = match act {
                ACT_RELU => self.value.max(0.0),
                ACT_RELU6 => self.value.clamp(0.0, 6.0),
                _ => self.value,
            };
            Sum { value, ..self }
        }

        /// Whether `got` is within [`RTOL`] of the value, relative to the magnitude (exact
        /// when the magnitude is 0).
        pub(crate) fn admits(self, got: f32) -> bool {
            (got as f64 - self.value).abs() <= RTOL * self.magnitude
        }
    }

    /// Direct loops over the PyTorch layout, accumulated in f64.
    fn reference(hw: usize, cin: usize, cout: usize, act: u8, input: &[f32], weight: &[f32], bias: &[f32]) -> Vec<Sum> {
        let mut out = Vec::with_capacity(hw * cout);
        for p in 0..hw {
            for co in 0..cout {
                let mut s = Sum::new(bias[co]);
                for ci in 0..cin {
                    s.add(input[p * cin + ci], weight[co * cin + ci]);
                }
                out.push(s.activated(act));
            }
        }
        out
    }

    fn check<const HW: usize, const CIN: usize, const COUT: usize, const ACT: u8>(seed: u64) {
        let mut rng = Rng::new(seed);
        // Scale so that relu6 clips some outputs and relu zeroes about half.
        let input: Vec<f32> = rng.vec(HW * CIN).iter().map(|v| v * 4.0).collect();
        let weight = rng.vec(COUT * CIN);
        let bias = rng.vec(COUT);
        let want = reference(HW, CIN, COUT, ACT, &input, &weight, &bias);
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
        check::<49, 64, 24, ACT_RELU6>(8);
        check::<50, 17, 1, ACT_NONE>(9);
        check::<121, 32, 64, ACT_RELU>(10);
        // More pixels than one pass over the weights (`gemm::pass_rows`), with a ragged last
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

    #[test]
    fn activation_codes() {
        assert_eq!(activate::<ACT_NONE>(-3.0), -3.0);
        assert_eq!(activate::<ACT_RELU>(-3.0), 0.0);
        assert_eq!(activate::<ACT_RELU>(7.5), 7.5);
        assert_eq!(activate::<ACT_RELU6>(7.5), 6.0);
        assert_eq!(activate::<ACT_RELU6>(-1.0), 0.0);
        assert_eq!(activate::<ACT_RELU6>(2.5), 2.5);
        assert_eq!(activate::<ACT_RELU>(f32::NAN), 0.0);
    }
}
