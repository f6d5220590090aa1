//! The one error type of weight loading and saving.

use std::path::PathBuf;

/// Why a weights file could not be read, parsed or matched to the model.
///
/// Every message names the tensor (or file) at fault and says what was wrong with it, so a
/// user can fix the export script without reading this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsError {
    /// The file could not be read or written.
    #[error("cannot access weights file `{}`: {source}", path.display())]
    Io {
        /// The file that was being read or written.
        path: PathBuf,
        /// What the operating system reported.
        source: std::io::Error,
    },

    /// The bytes are not a safetensors file (too short, truncated, header not valid JSON, ...).
    #[error("not a valid safetensors file: {reason}")]
    Format {
        /// What is wrong with the bytes.
        reason: String,
    },

    /// A tensor the model needs is not in the file.
    #[error("tensor `{tensor}` is missing from the weights file")]
    Missing {
        /// The full name of the missing tensor.
        tensor: String,
    },

    /// The file holds a tensor that no layer of the model reads.
    #[error(
        "tensor `{tensor}` in the weights file is not used by any layer of this model \
         (weights for a different table or width multiplier?)"
    )]
    Unexpected {
        /// The first unused tensor name, in sorted order.
        tensor: String,
    },

    /// A tensor has a different shape from the one the model was compiled with.
    #[error("tensor `{tensor}` has shape {found:?}, but this model expects {expected:?}")]
    Shape {
        /// The tensor's full name.
        tensor: String,
        /// The shape the layer needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },

    /// A tensor is stored in a type this crate does not convert.
    #[error("tensor `{tensor}` is stored as {dtype}; only F32, F16 and BF16 weights can be loaded")]
    Dtype {
        /// The tensor's full name.
        tensor: String,
        /// The safetensors dtype name, e.g. `I64`.
        dtype: String,
    },

    /// A tensor holds NaN or an infinity.
    #[error("tensor `{tensor}` holds {value} at flat index {index}; weights must be finite")]
    NonFinite {
        /// The tensor's full name.
        tensor: String,
        /// Row-major index of the first bad element.
        index: usize,
        /// The bad element.
        value: f32,
    },

    /// `running_var + eps` is zero or negative, so batch norm cannot be folded.
    #[error(
        "tensor `{tensor}` at index {index}: running variance + eps is not positive, \
         so batch norm cannot be folded (variances must be >= 0)"
    )]
    BadVariance {
        /// The full name of the `running_var` tensor.
        tensor: String,
        /// The channel whose variance is bad.
        index: usize,
    },

    /// Folding batch norm produced a value outside the `f32` range although every input
    /// was finite (a huge `bn.weight` over a tiny `running_var + eps`).
    #[error(
        "folding batch norm into `{tensor}` overflows f32 at index {index} \
         (bn.weight / sqrt(running_var + eps) is too large)"
    )]
    FoldOverflow {
        /// The folded tensor: `{prefix}.weight` or `{prefix}.bn.bias`.
        tensor: String,
        /// Row-major index of the first value that overflowed.
        index: usize,
    },

    /// The bytes are not a valid TFLite model, or its overall structure does not fit the
    /// table: several subgraphs or inputs, operators missing at the end, the model's output
    /// not being the last layer's.
    #[error("TensorFlow Lite file does not fit this model: {reason}")]
    Tflite {
        /// What is wrong, with the operator, tensor or layer it concerns.
        reason: String,
    },

    /// The bytes are not a TFLite flatbuffer, or one whose tables point outside the file.
    #[error("{reason}")]
    TfliteFormat {
        /// What is wrong, beginning with "not a TensorFlow Lite file" or "malformed".
        reason: String,
    },

    /// An operator of a TFLite model disagrees with the table row it should compute.
    #[error(
        "TFLite operator {index} ({op}){}: {problem}",
        tensor.as_ref().map(|t| format!(", tensor `{t}`")).unwrap_or_default()
    )]
    TfliteOperator {
        /// The operator's index in the file's subgraph.
        index: usize,
        /// The operator's TFLite name, e.g. `DEPTHWISE_CONV_2D`.
        op: String,
        /// The tensor at fault, by its name in the file, when one is.
        tensor: Option<String>,
        /// What the file has and what the row needs.
        problem: String,
    },

    /// A TFLite model stores integer-quantized tensors, but the table is a float one.
    #[error(
        "TFLite operator {index} ({op}), tensor `{tensor}`: it is {dtype}, a quantized model, but \
         this table computes in float32; compile a table with `precision: uint8` or `precision: \
         int8` for it (see specs/tflite/quant/), or use the float model"
    )]
    TfliteQuantized {
        /// The operator's index in the file's subgraph.
        index: usize,
        /// The operator's TFLite name.
        op: String,
        /// The quantized tensor's name in the file.
        tensor: String,
        /// Its element type and quantization, e.g. `UINT8 (scale 0.02, zero point 128)`.
        dtype: String,
    },

    /// A kernel's parameter type refused the folded weights of a layer.
    #[error(
        "the kernel refused the folded weights of `{tensor}`: their lengths do not match the \
         layer's shape"
    )]
    Pack {
        /// The layer's weight tensor, `{prefix}.weight`.
        tensor: String,
    },
}
