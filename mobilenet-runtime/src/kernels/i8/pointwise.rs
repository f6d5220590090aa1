//! Int8 pointwise (1x1, stride 1) convolution: for every pixel `p` and channel `co`,
//! `out[p][co] = requant(bias[co] + sum_ci (in[p][ci] - izp) * (w[co][ci] - wzp))`; the int8
//! matrix product of `kernels/i8/gemm/` with `HW` rows.

use super::gemm::{gemm_team, Panels};
use super::quant::QuantConv;
use crate::kernels::isa::Isa;
use crate::parallel::Team;

/// A quantized pointwise convolution's weights and requantisation, packed for [`pointwise`] on
/// one [`Isa`].
#[derive(Clone)]
pub struct PointwiseParams<const CIN: usize, const COUT: usize> {
    panels: Panels,
}

impl<const CIN: usize, const COUT: usize> PointwiseParams<CIN, COUT> {
    /// Packs a layer (weights OHWI `[COUT][1][1][CIN]`) for the best path of this CPU
    /// ([`Isa::detect`]).
    ///
    /// # Errors
    /// What is wrong, if a length does not fit the layer or a value is out of range.
    pub fn from_quant(q: &QuantConv) -> Result<Self, String> {
        Self::from_quant_for(Isa::detect(), q)
    }

    /// [`Self::from_quant`] for a chosen path, for tests and benchmarks that compare paths.
    ///
    /// # Errors
    /// As [`Self::from_quant`].
    ///
    /// # Panics
    /// If this CPU cannot run `isa` ([`Isa::is_supported`]).
    pub fn from_quant_for(isa: Isa, q: &QuantConv) -> Result<Self, String> {
        const { assert!(CIN >= 1 && COUT >= 1, "pointwise needs CIN and COUT >= 1") };
        Ok(Self {
            panels: Panels::from_rows(isa, "pointwise", (CIN, COUT), q)?,
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

impl<const CIN: usize, const COUT: usize> std::fmt::Debug for PointwiseParams<CIN, COUT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "i8::PointwiseParams<CIN={CIN}, COUT={COUT}>({:?})", self.isa())
    }
}

/// Int8 pointwise convolution of an `HW x CIN` NHWC map (`HW = H * W` pixels) into
/// `HW x COUT`, on the path the parameters were packed for, split over the threads of `team`.
///
/// # Panics
/// If `input.len() < HW * CIN` or `output.len() < HW * COUT`. Zero sizes are compile errors.
#[inline(never)]
pub fn pointwise<const HW: usize, const CIN: usize, const COUT: usize>(
    input: &[i8],
    output: &mut [i8],
    p: &PointwiseParams<CIN, COUT>,
    team: &Team,
) {
    const { assert!(HW >= 1 && CIN >= 1 && COUT >= 1, "pointwise: zero-sized shape") };
    let input = &input[..HW * CIN];
    let output = &mut output[..HW * COUT];
    gemm_team(input, CIN, output, COUT, HW, &p.panels, team);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{q, Rng};

    /// Cases per shape (zero points, clamps, multipliers: see `testkit::q::layer`).
    const CASES: usize = if cfg!(miri) { 2 } else { 12 };

    fn check<const HW: usize, const CIN: usize, const COUT: usize>(seed: u64) {
        let teams = [Team::single(), Team::new(2).unwrap(), Team::new(3).unwrap()];
        for case in 0..CASES {
            let mut rng = Rng::new(seed * 1000 + case as u64);
            let layer = q::layer(&mut rng, COUT * CIN, COUT, CIN, case);
            let input = rng.bytes(HW * CIN);
            let want = q::matmul(HW, CIN, COUT, &layer, &input);
            for isa in Isa::supported() {
                let p = PointwiseParams::<CIN, COUT>::from_quant_for(isa, &layer).unwrap();
                assert_eq!(p.to_quant(), layer, "{isa:?}: to_quant");
                for team in &teams {
                    let mut padded = input.clone();
                    padded.extend([7i8; 5]);
                    let mut out = vec![99i8; HW * COUT + 5];
                    pointwise::<HW, CIN, COUT>(&padded, &mut out, &p, team);
                    if let Some(i) = (0..HW * COUT).find(|&i| out[i] != want[i]) {
                        panic!(
                            "{isa:?} {team:?} HW={HW} CIN={CIN} COUT={COUT} case {case} at pixel {} channel {}: \
                             got {}, want {}",
                            i / COUT,
                            i % COUT,
                            out[i],
                            want[i]
                        );
                    }
                    assert_eq!(out[HW * COUT..], [99; 5], "{isa:?} wrote past the output");
                }
            }
        }
    }

    #[test]
    fn matches_reference() {
        check::<1, 1, 1>(1);
        check::<1, 3, 5>(2);
        check::<3, 5, 17>(3);
        check::<4, 17, 8>(4);
        check::<7, 33, 16>(5);
        check::<9, 16, 33>(6);
        check::<25, 8, 3>(7);
        check::<13, 7, 24>(8);
        if !cfg!(miri) {
            check::<49, 64, 24>(9);
            check::<121, 32, 64>(10);
            check::<50, 17, 1>(11);
            check::<2100, 40, 17>(12);
            check::<70, 1024, 9>(13);
            // Large enough to split over a team: by pixels, then by output channels.
            check::<3000, 64, 40>(14);
            check::<49, 256, 1024>(15);
            // More rows than one pass over the panels holds.
            check::<4200, 72, 9>(16);
        }
    }

    #[test]
    fn from_quant_names_what_is_wrong() {
        let mut rng = Rng::new(5);
        let good = q::layer(&mut rng, 15, 5, 3, 0);
        assert!(PointwiseParams::<3, 5>::from_quant(&good).is_ok());
        let err = PointwiseParams::<3, 4>::from_quant(&good).unwrap_err();
        assert!(
            err.contains("pointwise: weights has 15 values, the layer needs 12"),
            "{err}"
        );
        let mut bad = good.clone();
        bad.shift[2] = 31;
        let err = PointwiseParams::<3, 5>::from_quant(&bad).unwrap_err();
        assert!(err.contains("shift 31 of channel 2"), "{err}");
    }
}
