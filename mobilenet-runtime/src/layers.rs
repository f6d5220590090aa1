//! The per-layer records that `mobilenet!` emits as the `LAYERS` constant.
//!
//! They describe the expanded table (after `repeat`, the width multiplier and the resolution
//! have been applied), so the runtime can name tensors, draw random weights and report costs
//! without knowing anything about the YAML the table came from.

/// What a row of the table computes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum LayerKind {
    /// Standard KxK convolution over all input channels, then batch norm and the activation.
    Conv,
    /// Depthwise KxK convolution (one filter per channel), then batch norm and the activation.
    ConvDw,
    /// Average pooling (no padding; global when the window covers the whole input).
    AvgPool,
    /// Fully connected layer with a bias and no activation.
    Fc,
    /// Softmax over the channels.
    Softmax,
}

impl LayerKind {
    /// The spelling used in spec files and reports (`conv`, `conv_dw`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            LayerKind::Conv => "conv",
            LayerKind::ConvDw => "conv_dw",
            LayerKind::AvgPool => "avg_pool",
            LayerKind::Fc => "fc",
            LayerKind::Softmax => "softmax",
        }
    }

    /// Whether the layer is followed by batch norm (and so stores BN tensors).
    pub const fn has_batch_norm(self) -> bool {
        matches!(self, LayerKind::Conv | LayerKind::ConvDw)
    }
}

/// How a convolution pads its input.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    /// `(k - 1) / 2` zeros on every side, as PyTorch and timm do.
    Symmetric,
    /// TensorFlow/Keras `SAME`: output `ceil(in / stride)`, the odd extra zero at bottom/right.
    TfSame,
}

/// The non-linearity after each batch-normalised convolution.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
}

/// The number type a network computes in, as the spec's `precision` sets it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 activations and weights.
    Float32,
    /// TensorFlow Lite's int8 scheme: int8 activations, int8 weights with one scale per
    /// output channel (zero point 0), int32 biases.
    Int8,
    /// TensorFlow Lite's uint8 scheme: uint8 activations and weights with one scale and zero
    /// point per tensor, int32 biases.
    Uint8,
}

/// Kernel activation code: no activation (fc).
pub const ACT_NONE: u8 = 0;
/// Kernel activation code: ReLU.
pub const ACT_RELU: u8 = 1;
/// Kernel activation code: ReLU6.
pub const ACT_RELU6: u8 = 2;

impl Activation {
    /// The `ACT` const-generic code the kernels take for this activation.
    pub const fn code(self) -> u8 {
        match self {
            Activation::Relu => ACT_RELU,
            Activation::Relu6 => ACT_RELU6,
        }
    }
}

/// One expanded row of the table, with the shapes and costs the compiler computed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// Tensor-name prefix of the layer's parameters: `layers.{i}` or the row's own `name`.
    pub name: &'static str,
    /// What the layer computes.
    pub kind: LayerKind,
    /// Stride in both spatial dimensions (1 for fc and softmax).
    pub stride: usize,
    /// Kernel height and width (`[1, 1]` for fc and softmax).
    pub kernel: [usize; 2],
    /// Zeros added above and left of the input (below/right follow from the output size).
    pub pad_top_left: [usize; 2],
    /// Input shape, H x W x C.
    pub input: [usize; 3],
    /// Output shape, H x W x C.
    pub output: [usize; 3],
    /// Weights counted as the paper counts them (no biases, no batch norm).
    pub params: u64,
    /// Every number this layer stores in a weights file (batch norm and biases included).
    pub stored_params: u64,
    /// Multiply-adds, as the paper counts them (zero for pooling and softmax).
    pub mult_adds: u64,
}
