//! Loading, checking, folding, generating and saving MobileNet weights.
//!
//! A weights file is a safetensors file of raw PyTorch-layout tensors. Row `i` of the expanded
//! layer table (pooling and softmax rows included) owns the tensors prefixed by its
//! [`LayerInfo::name`](crate::LayerInfo::name), `layers.{i}` unless the row is named:
//!
//! | kind              | tensors                                                          |
//! |-------------------|------------------------------------------------------------------|
//! | `conv`            | `{p}.weight` `[out, in, kh, kw]`, `{p}.bn.{weight,bias,running_mean,running_var}` `[out]` |
//! | `conv_dw`         | `{p}.weight` `[c, 1, kh, kw]`, the same four batch-norm tensors `[c]` |
//! | `fc`              | `{p}.weight` `[out, in]`, `{p}.bias` `[out]`                      |
//! | `avg_pool`, `softmax` | none                                                         |
//!
//! Tensors are `f32`; F16 and BF16 are converted on load, anything else is refused.
//!
//! The flow the generated `Weights` type follows:
//! 1. [`read_file`] and [`TensorSet::from_safetensors`] turn a file into named `f32` tensors
//!    (or [`random_tensors`] makes them from a seed);
//! 2. a [`TensorReader`] takes each layer's tensors in turn ([`TensorReader::conv_bn`],
//!    [`TensorReader::fc`]), checks shape and finiteness and folds batch norm into a
//!    [`Folded`] weight and bias, which the kernels then pack;
//! 3. [`TensorReader::finish`] refuses files with tensors no layer used;
//! 4. saving goes the other way through [`insert_conv_bn`], [`insert_fc`] and
//!    [`TensorSet::to_safetensors`].
//!
//! Trained TensorFlow Lite models load through [`tflite::tensors_from_tflite`], which checks the
//! file against the layer table and returns the same named tensors.
//!
//! Every failure is a [`WeightsError`] naming the tensor or file at fault; malformed input
//! never panics.

mod error;
mod format;
mod layer;
mod random;
mod reader;
mod save;
mod tensors;
pub mod tflite;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tflite_tests;

pub use error::WeightsError;
pub use format::WeightsFormat;
pub use layer::{torch_shape, LayerReader, LayerWriter};
pub use random::random_tensors;
pub use reader::{Folded, TensorReader};
pub use save::{insert_conv_bn, insert_fc};
pub use tensors::{read_file, write_file, Tensor, TensorSet};
pub use tflite::{tensors_from_tflite, tflite_from_tensors, tflite_summary, TfliteSummary};
