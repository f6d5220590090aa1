//! Int8 fully connected layer: `out[o] = requant(bias[o] + sum_i (in[i] - izp) * (w[o][i] - wzp))`
//! (MobileNet's classifier), the int8 matrix product of `kernels/i8/gemm/` with one row, split
//! over a team by output channels.

use super::gemm::{gemm_team, Panels};
use super::quant::QuantConv;
use crate::kernels::isa::Isa;
use crate::parallel::Team;

/// A quantized fully connected layer's weights and requantisation, packed for [`fc`].
#[derive(Clone)]
pub struct FcParams<const CIN: usize, const COUT: usize> {
    panels: Panels,
}

impl<const CIN: usize, const COUT: usize> FcParams<CIN, COUT> {
    /// Packs a layer (weights `[COUT][CIN]`, TFLite's fully connected layout) for the best
    /// path of this CPU ([`Isa::detect`]).
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
        const { assert!(CIN >= 1 && COUT >= 1, "fc: zero-sized shape") };
        Ok(Self {
            panels: Panels::from_rows(isa, "fc", (CIN, COUT), q)?,
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

impl<const CIN: usize, const COUT: usize> std::fmt::Debug for FcParams<CIN, COUT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "i8::FcParams<CIN={CIN}, COUT={COUT}>({:?})", self.isa())
    }
}

/// Int8 fully connected layer: the first `CIN` values of `input` to the first `COUT` of
/// `output`; a `team` of several threads splits the output channels.
///
/// # Panics
/// If `input.len() < CIN` or `output.len() < COUT`. Zero sizes are compile errors.
#[inline(never)]
pub fn fc<const CIN: usize, const COUT: usize>(input: &[i8], output: &mut [i8], p: &FcParams<CIN, COUT>, team: &Team) {
    const { assert!(CIN >= 1 && COUT >= 1, "fc: zero-sized shape") };
    gemm_team(&input[..CIN], CIN, &mut output[..COUT], COUT, 1, &p.panels, team);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{q, Rng};

    const CASES: usize = if cfg!(miri) { 2 } else { 12 };

    fn check<const CIN: usize, const COUT: usize>(seed: u64) {
        let teams = [Team::single(), Team::new(2).unwrap()];
        for case in 0..CASES {
            let mut rng = Rng::new(seed * 1000 + case as u64);
            let layer = q::layer(&mut rng, COUT * CIN, COUT, CIN, case);
            let input = rng.bytes(CIN);
            let want = q::matmul(1, CIN, COUT, &layer, &input);
            for isa in Isa::supported() {
                let p = FcParams::<CIN, COUT>::from_quant_for(isa, &layer).unwrap();
                assert_eq!(p.to_quant(), layer, "{isa:?}: to_quant");
                for team in &teams {
                    let mut padded = input.clone();
                    padded.extend([7i8; 3]);
                    let mut out = vec![99i8; COUT + 3];
                    fc::<CIN, COUT>(&padded, &mut out, &p, team);
                    assert_eq!(
                        out[..COUT],
                        want[..],
                        "{isa:?} {team:?} CIN={CIN} COUT={COUT} case {case}"
                    );
                    assert_eq!(out[COUT..], [99; 3], "{isa:?} wrote past the output");
                }
            }
        }
    }

    #[test]
    fn matches_reference() {
        check::<1, 1>(1);
        check::<3, 5>(2);
        check::<17, 33>(3);
        check::<33, 17>(4);
        check::<16, 40>(5);
        if !cfg!(miri) {
            check::<64, 3>(6);
            check::<1024, 1000>(7);
            check::<256, 1001>(8);
        }
    }

    #[test]
    fn from_quant_names_what_is_wrong() {
        let mut rng = Rng::new(6);
        let good = q::layer(&mut rng, 15, 3, 5, 1);
        assert!(FcParams::<5, 3>::from_quant(&good).is_ok());
        let mut bad = good.clone();
        bad.bias.pop();
        let err = FcParams::<5, 3>::from_quant(&bad).unwrap_err();
        assert!(err.contains("fc: bias has 2 values, the layer needs 3"), "{err}");
    }
}
