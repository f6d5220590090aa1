//! [`TensorReader`]: checks the tensors of one model layer by layer and folds batch norm.

use std::collections::BTreeSet;

use super::{Tensor, TensorSet, WeightsError};

/// A layer's weights with batch norm folded in, still in PyTorch layout.
///
/// For a convolution `weight` is `[out, in, kh, kw]` (or `[c, 1, kh, kw]` depthwise) and `bias`
/// is `[out]`; for a fully connected layer they are `[out, in]` and `[out]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Folded {
    /// Folded weights, row-major.
    pub weight: Vec<f32>,
    /// Folded bias, one per output channel.
    pub bias: Vec<f32>,
}

/// Reads the tensors of one model, layer by layer, remembering which names were used so
/// [`finish`](Self::finish) can reject files that hold more than the model needs.
#[derive(Debug)]
pub struct TensorReader<'a> {
    set: &'a TensorSet,
    used: BTreeSet<&'a str>,
}

impl<'a> TensorReader<'a> {
    /// A reader over `set` that has used nothing yet.
    pub fn new(set: &'a TensorSet) -> Self {
        TensorReader {
            set,
            used: BTreeSet::new(),
        }
    }

    /// Reads `{prefix}.weight` of `shape` (`[out, in, kh, kw]` or `[c, 1, kh, kw]`) and
    /// `{prefix}.bn.{weight,bias,running_mean,running_var}` of shape `[out]`, checks shapes and
    /// finiteness, and folds the batch norm into the convolution:
    /// `scale = gamma / sqrt(var + eps)`, `w' = w * scale` per output channel,
    /// `b' = beta - mean * scale`.
    ///
    /// The fold is computed in `f64` and rounded once to `f32`, so it adds no error beyond that
    /// rounding and saving then reloading ([`super::insert_conv_bn`]) is stable.
    pub fn conv_bn(&mut self, prefix: &str, shape: [usize; 4], eps: f32) -> Result<Folded, WeightsError> {
        let out = shape[0];
        let weight_name = format!("{prefix}.weight");
        let weight = self.read(&weight_name, &shape)?;
        let gamma = self.read(&format!("{prefix}.bn.weight"), &[out])?;
        let beta = self.read(&format!("{prefix}.bn.bias"), &[out])?;
        let mean = self.read(&format!("{prefix}.bn.running_mean"), &[out])?;
        let var_name = format!("{prefix}.bn.running_var");
        let var = self.read(&var_name, &[out])?;

        let mut scales = Vec::with_capacity(out);
        for (index, &v) in var.iter().enumerate() {
            let denom = f64::from(v) + f64::from(eps);
            // The values are checked finite, but `eps` is not: a NaN would slip past `<= 0`.
            if denom.is_nan() || denom <= 0.0 {
                return Err(WeightsError::BadVariance {
                    tensor: var_name,
                    index,
                });
            }
            scales.push(f64::from(gamma[index]) / denom.sqrt());
        }

        // From the checked length rather than the shape product, which could overflow.
        let per_channel = weight.len().checked_div(out).unwrap_or(0);
        let folded_weight = if per_channel == 0 {
            Vec::new()
        } else {
            weight
                .chunks_exact(per_channel)
                .zip(&scales)
                .flat_map(|(channel, &scale)| channel.iter().map(move |&w| (f64::from(w) * scale) as f32))
                .collect()
        };
        let folded_bias: Vec<f32> = beta
            .iter()
            .zip(mean)
            .zip(&scales)
            .map(|((&b, &m), &scale)| (f64::from(b) - f64::from(m) * scale) as f32)
            .collect();

        check_folded(&weight_name, &folded_weight)?;
        check_folded(&format!("{prefix}.bn.bias"), &folded_bias)?;
        Ok(Folded {
            weight: folded_weight,
            bias: folded_bias,
        })
    }

    /// Reads `{prefix}.weight` of `shape` (`[out, in]`) and `{prefix}.bias` of `[out]`,
    /// checking shapes and finiteness.
    pub fn fc(&mut self, prefix: &str, shape: [usize; 2]) -> Result<Folded, WeightsError> {
        let weight = self.read(&format!("{prefix}.weight"), &shape)?.to_vec();
        let bias = self.read(&format!("{prefix}.bias"), &[shape[0]])?.to_vec();
        Ok(Folded { weight, bias })
    }

    /// Checks that every tensor of the set was read by some layer.
    ///
    /// Returns [`WeightsError::Unexpected`] naming the first unused tensor in sorted order.
    pub fn finish(self) -> Result<(), WeightsError> {
        match self.set.names().find(|name| !self.used.contains(name)) {
            Some(name) => Err(WeightsError::Unexpected {
                tensor: name.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// Looks `name` up, marks it used and checks its shape and that every value is finite.
    fn read(&mut self, name: &str, shape: &[usize]) -> Result<&'a [f32], WeightsError> {
        let (key, tensor) = self.set.get_key_value(name).ok_or_else(|| WeightsError::Missing {
            tensor: name.to_owned(),
        })?;
        self.used.insert(key);
        check_shape(name, tensor, shape)?;
        if let Some((index, &value)) = tensor.data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(WeightsError::NonFinite {
                tensor: name.to_owned(),
                index,
                value,
            });
        }
        Ok(&tensor.data)
    }
}

fn check_shape(name: &str, tensor: &Tensor, expected: &[usize]) -> Result<(), WeightsError> {
    let found = if tensor.shape != expected {
        tensor.shape.clone()
    } else if tensor.data.len() != tensor.numel() {
        // Only reachable for a hand-built tensor whose fields disagree; report what it holds.
        vec![tensor.data.len()]
    } else {
        return Ok(());
    };
    Err(WeightsError::Shape {
        tensor: name.to_owned(),
        expected: expected.to_vec(),
        found,
    })
}

fn check_folded(name: &str, values: &[f32]) -> Result<(), WeightsError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(WeightsError::FoldOverflow {
            tensor: name.to_owned(),
            index,
        }),
        None => Ok(()),
    }
}
