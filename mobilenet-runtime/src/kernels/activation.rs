//! The activation codes applied to one value: the scalar epilogue that every portable kernel
//! shares (the SIMD kernels apply the same in registers, `kernels/x86/`).

use crate::{ACT_RELU, ACT_RELU6};

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
    }
}
