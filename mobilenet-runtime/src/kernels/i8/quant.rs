//! What a loader hands the int8 kernels: one conv-like layer's quantized parameters in
//! TFLite's layouts ([`QuantConv`]), and the checks every parameter pack runs on them.

use super::requant::{ChannelRequant, SHIFTS};

/// One conv-like layer's quantized parameters as the loader reads them: TFLite's layouts, int8
/// domain (a uint8 model's values and zero points already shifted by -128).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantConv {
    /// Conv, pointwise and fc: OHWI, `[cout][kh][kw][cin]`; depthwise: `[kh][kw][c]`.
    pub weights: Vec<i8>,
    /// Per tensor; 0 for int8 per-channel models. `-128..=127`.
    pub weight_zero_point: i32,
    /// `[cout]`.
    pub bias: Vec<i32>,
    /// `-128..=127`.
    pub input_zero_point: i32,
    /// `-128..=127`.
    pub output_zero_point: i32,
    /// `[cout]`, `0..=i32::MAX` (TFLite's `QuantizeMultiplier` of a positive scale is in
    /// `2^30..2^31`, or 0); per-tensor models repeat one value.
    pub multiplier: Vec<i32>,
    /// `[cout]`, TFLite's sign: `> 0` shifts left; `-31..=30`.
    pub shift: Vec<i32>,
    /// The activation's clamp, `act_min <= act_max`.
    pub act_min: i8,
    /// See `act_min`.
    pub act_max: i8,
}

/// Every per-tensor value in range, in one error message per problem.
fn check_zero_point(name: &str, v: i32) -> Result<(), String> {
    if (-128..=127).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name} {v} is outside -128..=127 (int8 domain)"))
    }
}

impl QuantConv {
    /// What every kernel's `from_quant` checks, for a layer of `weights` weights and `channels`
    /// output channels: lengths, zero points, shifts and clamp (`what` names the layer in the
    /// message). For loaders that pack parameters elsewhere (`mobilenet!`'s compile-time
    /// weights).
    ///
    /// # Errors
    /// The first problem found, described.
    pub fn validate(&self, what: &str, weights: usize, channels: usize) -> Result<(), String> {
        self.check(what, weights, channels, channels).map(|_| ())
    }

    /// Checks the lengths against a layer of `weights` weights and `channels` output channels
    /// (`what` names the layer kind in the message) and every value's range; gives the
    /// per-channel requantisation padded to `padded` channels.
    pub(crate) fn check(
        &self,
        what: &str,
        weights: usize,
        channels: usize,
        padded: usize,
    ) -> Result<ChannelRequant, String> {
        let len = |name: &str, got: usize, want: usize| {
            if got == want {
                Ok(())
            } else {
                Err(format!("{what}: {name} has {got} values, the layer needs {want}"))
            }
        };
        len("weights", self.weights.len(), weights)?;
        len("bias", self.bias.len(), channels)?;
        len("multiplier", self.multiplier.len(), channels)?;
        len("shift", self.shift.len(), channels)?;
        check_zero_point("weight_zero_point", self.weight_zero_point).map_err(|e| format!("{what}: {e}"))?;
        check_zero_point("input_zero_point", self.input_zero_point).map_err(|e| format!("{what}: {e}"))?;
        check_zero_point("output_zero_point", self.output_zero_point).map_err(|e| format!("{what}: {e}"))?;
        if let Some((c, s)) = self.shift.iter().enumerate().find(|(_, s)| !SHIFTS.contains(s)) {
            return Err(format!(
                "{what}: shift {s} of channel {c} is outside {}..={} (TFLite's kernels assert that range)",
                SHIFTS.start(),
                SHIFTS.end()
            ));
        }
        if let Some((c, m)) = self.multiplier.iter().enumerate().find(|(_, m)| **m < 0) {
            return Err(format!(
                "{what}: multiplier {m} of channel {c} is negative (TFLite's multipliers come from positive scales)"
            ));
        }
        if self.act_min > self.act_max {
            return Err(format!(
                "{what}: act_min {} is above act_max {}",
                self.act_min, self.act_max
            ));
        }
        Ok(ChannelRequant::new(
            &self.multiplier,
            &self.shift,
            self.output_zero_point,
            (self.act_min, self.act_max),
            padded.max(channels),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(weights: usize, channels: usize) -> QuantConv {
        QuantConv {
            weights: vec![1; weights],
            weight_zero_point: 0,
            bias: vec![0; channels],
            input_zero_point: -128,
            output_zero_point: 3,
            multiplier: vec![1 << 30; channels],
            shift: vec![-3; channels],
            act_min: -128,
            act_max: 127,
        }
    }

    #[test]
    fn check_names_the_problem() {
        let q = sample(6, 2);
        assert!(q.check("conv", 6, 2, 8).is_ok());
        assert_eq!(q.check("conv", 6, 2, 8).unwrap().multiplier.len(), 8);
        let err = |q: &QuantConv| q.check("conv", 6, 2, 2).unwrap_err();
        assert!(err(&sample(5, 2)).contains("weights has 5 values, the layer needs 6"));
        let mut bad = sample(6, 2);
        bad.bias.push(0);
        assert!(err(&bad).contains("bias has 3 values"));
        let mut bad = sample(6, 2);
        bad.multiplier.pop();
        assert!(err(&bad).contains("multiplier has 1 values"));
        let mut bad = sample(6, 2);
        bad.shift = vec![0, 31];
        assert!(err(&bad).contains("shift 31 of channel 1"));
        let mut bad = sample(6, 2);
        bad.shift = vec![-32, 0];
        assert!(err(&bad).contains("shift -32 of channel 0"));
        let mut bad = sample(6, 2);
        bad.input_zero_point = 128;
        assert!(err(&bad).contains("input_zero_point 128"));
        let mut bad = sample(6, 2);
        bad.weight_zero_point = -129;
        assert!(err(&bad).contains("weight_zero_point -129"));
        let mut bad = sample(6, 2);
        bad.output_zero_point = 200;
        assert!(err(&bad).contains("output_zero_point 200"));
        let mut bad = sample(6, 2);
        bad.multiplier = vec![1 << 30, -1];
        assert!(err(&bad).contains("multiplier -1 of channel 1 is negative"));
        let mut bad = sample(6, 2);
        bad.act_min = 5;
        bad.act_max = 4;
        assert!(err(&bad).contains("act_min 5 is above act_max 4"));
    }
}
