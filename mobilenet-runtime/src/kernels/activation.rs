//! Activations as the interval the kernels' epilogues clamp to ([`Clamp`]), and the scalar
//! epilogue that every portable kernel shares (the SIMD kernels apply the same in registers,
//! `kernels/x86/`).

use crate::{ACT_RELU, ACT_RELU6};

/// An activation as the interval `[lo, hi]` that the epilogue clamps to: ReLU is `[0, inf]`,
/// ReLU6 `[0, 6]`, none `[-inf, inf]`. A bound at infinity is skipped, not applied, so that no
/// activation costs nothing and a NaN passes it unchanged; a bound that applies turns a NaN
/// into the bound (a NaN becomes 0 under both ReLUs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Clamp {
    pub lo: f32,
    pub hi: f32,
}

impl Clamp {
    /// No activation.
    pub(crate) const NONE: Clamp = Clamp {
        lo: f32::NEG_INFINITY,
        hi: f32::INFINITY,
    };

    /// The clamp of activation code `act` ([`crate::ACT_NONE`], [`ACT_RELU`] or [`ACT_RELU6`]).
    pub(crate) const fn of(act: u8) -> Clamp {
        match act {
            ACT_RELU => Clamp {
                lo: 0.0,
                hi: f32::INFINITY,
            },
            ACT_RELU6 => Clamp { lo: 0.0, hi: 6.0 },
            _ => Clamp::NONE,
        }
    }

    /// Whether the lower bound applies.
    #[inline(always)]
    pub(crate) fn has_lo(self) -> bool {
        self.lo != f32::NEG_INFINITY
    }

    /// Whether the upper bound applies.
    #[inline(always)]
    pub(crate) fn has_hi(self) -> bool {
        self.hi != f32::INFINITY
    }

    /// Clamps `v`, with whether each bound applies given as `LO` and `HI` (constants, so that
    /// loops over it compile without the tests).
    ///
    /// Written as comparisons rather than `f32::max`/`clamp` so that it can lower to a bare
    /// `maxps`/`minps` (the NaN-propagation rules of `max` cost extra instructions).
    #[inline(always)]
    pub(crate) fn apply<const LO: bool, const HI: bool>(self, v: f32) -> f32 {
        let v = if LO {
            if v > self.lo {
                v
            } else {
                self.lo
            }
        } else {
            v
        };
        if HI {
            if v < self.hi {
                v
            } else {
                self.hi
            }
        } else {
            v
        }
    }
}

/// Applies activation `ACT` ([`crate::ACT_NONE`], [`ACT_RELU`] or [`ACT_RELU6`]) as its
/// [`Clamp`], every bound a constant.
#[inline(always)]
pub(crate) fn activate<const ACT: u8>(v: f32) -> f32 {
    match ACT {
        ACT_RELU => const { Clamp::of(ACT_RELU) }.apply::<true, false>(v),
        ACT_RELU6 => const { Clamp::of(ACT_RELU6) }.apply::<true, true>(v),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ACT_NONE;

    #[test]
    fn activation_codes() {
        assert_eq!(activate::<ACT_NONE>(-3.0), -3.0);
        assert_eq!(activate::<ACT_RELU>(-3.0), 0.0);
        assert_eq!(activate::<ACT_RELU>(7.5), 7.5);
        assert_eq!(activate::<ACT_RELU6>(7.5), 6.0);
        assert_eq!(activate::<ACT_RELU6>(-1.0), 0.0);
        assert_eq!(activate::<ACT_RELU6>(2.5), 2.5);
        assert_eq!(activate::<ACT_RELU>(f32::NAN), 0.0);
        assert!(activate::<ACT_NONE>(f32::NAN).is_nan());
    }

    #[test]
    fn clamps_of_the_codes() {
        assert_eq!(Clamp::of(ACT_NONE), Clamp::NONE);
        assert!(!Clamp::NONE.has_lo() && !Clamp::NONE.has_hi());
        let relu = Clamp::of(ACT_RELU);
        assert!(relu.has_lo() && !relu.has_hi());
        let relu6 = Clamp::of(ACT_RELU6);
        assert!(relu6.has_lo() && relu6.has_hi());
        assert_eq!(relu6.apply::<true, true>(7.5), 6.0);
        assert_eq!(relu6.apply::<true, true>(-0.5), 0.0);
        assert_eq!(relu.apply::<true, false>(f32::NAN), 0.0);
        let other = Clamp { lo: -1.0, hi: 1.0 };
        assert_eq!(other.apply::<true, true>(-3.0), -1.0);
        assert_eq!(other.apply::<true, true>(0.25), 0.25);
    }
}
