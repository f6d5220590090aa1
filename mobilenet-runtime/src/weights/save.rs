//! Writing folded layers back as raw tensors, the inverse of [`super::TensorReader`].
//!
//! Batch norm cannot be un-folded (the split between convolution and normalisation is lost),
//! so a folded layer is saved with a batch norm that is the identity for the model's `eps`.
//! Loading such a file folds that identity away again and gives back the same weights to
//! `f32` rounding, and the file still has exactly the tensors PyTorch-style loaders expect.

use super::{Folded, Tensor, TensorSet};

/// Writes a folded convolution as `{prefix}.weight` of `shape` plus a batch norm that is the
/// identity for `eps`: `running_mean` 0, `running_var` 1, `bn.weight = sqrt(1 + eps)`
/// (computed in `f64`) and `bn.bias` the folded bias.
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
    // Loading divides by sqrt(var + eps) = sqrt(1 + eps); storing that as gamma makes the
    // scale 1 up to one f32 rounding instead of the (1 + eps)^-1/2 drift of gamma = 1.
    let gamma = (1.0 + f64::from(eps)).sqrt() as f32;
    set.insert(format!("{prefix}.bn.weight"), Tensor::full(vec![out], gamma));
    set.insert(format!("{prefix}.bn.bias"), Tensor::new(vec![out], folded.bias.clone()));
    set.insert(format!("{prefix}.bn.running_mean"), Tensor::full(vec![out], 0.0));
    set.insert(format!("{prefix}.bn.running_var"), Tensor::full(vec![out], 1.0));
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
