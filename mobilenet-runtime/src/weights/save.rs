//! Writing folded layers back as raw tensors, the inverse of [`super::TensorReader`].
//!
//! Batch norm cannot be un-folded (the split between convolution and normalisation is lost),
//! so a folded layer is saved with a batch norm that is the identity for the model's `eps`.
//! Loading such a file folds that identity away again and gives back the same weights to
//! `f32` rounding, and the file still has exactly the tensors PyTorch-style loaders expect.

use super::{Folded, Tensor, TensorSet};

/// Writes a folded convolution as `{prefix}.weight` of `shape` plus a batch norm that is the
/// identity for `eps` (see `identity_bn`): `running_mean` 0, `bn.bias` the folded bias, so
/// that loading folds it back to exactly the weights and bias written.
///
/// # Panics
/// If `folded.weight` does not hold `shape`'s element count or `folded.bias` does not hold
/// `shape[0]` values: folded weights come from this crate, so a mismatch is a bug.
pub fn insert_conv_bn(set: &mut TensorSet, prefix: &str, shape: [usize; 4], folded: &Folded, eps: f32) {
    let out = shape[0];
    assert_eq!(
        folded.bias.len(),
        out,
        "folded bias of `{prefix}` does not match {shape:?}"
    );
    set.insert(
        format!("{prefix}.weight"),
        Tensor::new(shape.to_vec(), folded.weight.clone()),
    );
    insert_bn_identity(set, prefix, folded.bias.clone(), eps);
}

/// Writes `{prefix}.bn.*`: a batch norm that is the identity for `eps` (see [`identity_bn`])
/// with `bias` as its shift, so that folding it gives back exactly the weights and `bias`.
pub(crate) fn insert_bn_identity(set: &mut TensorSet, prefix: &str, bias: Vec<f32>, eps: f32) {
    let out = bias.len();
    let (gamma, var) = identity_bn(eps);
    set.insert(format!("{prefix}.bn.weight"), Tensor::full(vec![out], gamma));
    set.insert(format!("{prefix}.bn.bias"), Tensor::new(vec![out], bias));
    set.insert(format!("{prefix}.bn.running_mean"), Tensor::full(vec![out], 0.0));
    set.insert(format!("{prefix}.bn.running_var"), Tensor::full(vec![out], var));
}

/// `(bn.weight, running_var)` of a batch norm that [`super::TensorReader::conv_bn`] folds back
/// to the weights exactly: `gamma = 1` and `running_var = 1 - eps` rounded to `f32`. Then
/// `var + eps` (summed in `f64` by the reader) is 1 within 3e-8, the scale `1/sqrt(var + eps)`
/// is 1 within 1.5e-8, below half an ulp of any `f32` relative to its value (at least 3e-8),
/// so `w * scale` rounds back to `w`, and the bias is `beta - 0 * scale = beta`. (The
/// `gamma = sqrt(1 + eps)`, `var = 1` identity is an ulp off now and then.) For `eps >= 1`,
/// where `1 - eps` is no variance, that older identity is the one left.
pub(crate) fn identity_bn(eps: f32) -> (f32, f32) {
    let var = (1.0 - f64::from(eps)) as f32;
    if var > 0.0 {
        (1.0, var)
    } else {
        ((1.0 + f64::from(eps)).sqrt() as f32, 1.0)
    }
}

/// Writes a fully connected layer as `{prefix}.weight` of `shape` (`[out, in]`) and
/// `{prefix}.bias` of `[out]`.
///
/// # Panics
/// If the lengths in `folded` do not match `shape` (a bug in the caller).
pub fn insert_fc(set: &mut TensorSet, prefix: &str, shape: [usize; 2], folded: &Folded) {
    set.insert(
        format!("{prefix}.weight"),
        Tensor::new(shape.to_vec(), folded.weight.clone()),
    );
    set.insert(
        format!("{prefix}.bias"),
        Tensor::new(vec![shape[0]], folded.bias.clone()),
    );
}
