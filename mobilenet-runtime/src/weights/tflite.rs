//! Trained TensorFlow Lite (`.tflite`) MobileNet-V1 models as weights.
//!
//! [`tensors_from_tflite`] checks a float TFLite model operator by operator against the
//! expanded layer table and returns the [`TensorSet`] the generated `Weights::from_tensors`
//! reads; [`tflite_from_tensors`] writes the other way; [`tflite_summary`] describes a file
//! that fits no table.
//!
//! How the table's rows map onto TFLite operators (in order, each operator's first input the
//! previous one's output, the first reading the model's only input):
//!
//! | row | operators |
//! |---|---|
//! | `conv` | `CONV_2D` (filter OHWI), or `DEPTHWISE_CONV_2D` on one input channel with depth multiplier = output channels (TFLite Micro's person_detect writes its first layer so) |
//! | `conv_dw` | `DEPTHWISE_CONV_2D`, depth multiplier 1 |
//! | `avg_pool` | `AVERAGE_POOL_2D`, no padding, no activation |
//! | `fc` | a 1x1 `CONV_2D` or a `FULLY_CONNECTED`, with bias and no activation, optionally followed by `RESHAPE`/`SQUEEZE` to `[1, classes]` |
//! | `softmax` | `SOFTMAX` with beta 1 |
//!
//! Padding: a TFLite operator matches a row when TFLite's padding (SAME or VALID) gives the
//! row's output size and the same zeros above and left ([`LayerInfo::pad_top_left`]). Rows
//! below and right need no check: zeros past the input are zeros either way. So a `tf_same`
//! table takes SAME (and VALID where nothing is padded, as for 1x1 kernels), and a `symmetric`
//! table takes SAME exactly where TensorFlow would pad `(k-1)/2` before: stride 1 with an odd
//! kernel, or stride 2 where the input size makes the split come out the same. Pooling must
//! pad nothing, since TFLite's average pool leaves padding out of the mean.
//!
//! TFLite folds batch norm into each convolution's bias, so every `conv`/`conv_dw` row gets a
//! batch norm that is the identity for the table's `eps`, chosen so that loading gives back the
//! file's weights bit for bit (see `insert_identity_bn`).
//!
//! Weights must be `FLOAT32`, or `FLOAT16` constants behind a `DEQUANTIZE` (converted exactly);
//! integer-quantized models are refused with [`WeightsError::TfliteQuantized`].

use std::collections::HashMap;
use std::fmt;

use mobilenet_tflite::generated::tflite as fb;
use mobilenet_tflite::{
    BuiltinOp, ElementType, FusedActivation, Operator, Options, Padding as TfPadding, Pool2DOptions,
    Tensor as TfTensor, TfliteModel,
};

use super::{Tensor, TensorReader, TensorSet, WeightsError};
use crate::layers::{Activation, LayerInfo, LayerKind, Padding};

pub use mobilenet_tflite::{associated_files, is_tflite, labels};

/// Reads a float TFLite MobileNet-V1 as the named tensors the generated `Weights::from_tensors`
/// expects for `layers` (PyTorch layouts, see the module docs of [`super`]), checking every
/// operator against its row: type, kernel, stride, dilation, padding, fused activation, tensor
/// shapes and types, finite values, and that nothing is missing or left over.
///
/// `padding`, `activation` and `bn_eps` are the table's (the generated `PADDING`, `ACTIVATION`
/// and `BN_EPS`).
///
/// # Errors
/// [`WeightsError::Tflite`] for a file that is not valid TFLite or whose structure does not fit
/// the table (subgraphs, missing or extra operators, the model's inputs and outputs),
/// [`WeightsError::TfliteOperator`] naming the operator, tensor and row that disagree,
/// [`WeightsError::TfliteQuantized`] for integer-quantized models.
pub fn tensors_from_tflite(
    bytes: &[u8],
    layers: &[LayerInfo],
    padding: Padding,
    activation: Activation,
    bn_eps: f32,
) -> Result<TensorSet, WeightsError> {
    let model = parse(bytes)?;
    let mut graph = Graph::new(&model, ElementType::FLOAT32)?;
    let mut set = TensorSet::new();
    for (row, layer) in layers.iter().enumerate() {
        let row = Row {
            index: row,
            layer,
            padding,
        };
        let Some((index, op)) = graph.next() else {
            return Err(WeightsError::Tflite {
                reason: format!(
                    "the file ends after {} operators, but {row} still needs {}",
                    graph.op_count(),
                    expected_ops(layer.kind)
                ),
            });
        };
        let at = At { index, op };
        graph.check_input(at, layer.input, &row)?;
        match layer.kind {
            LayerKind::Conv | LayerKind::ConvDw => {
                let (weight, bias) = graph.conv(at, &row, activation)?;
                insert_identity_bn(&mut set, layer.name, weight, bias, bn_eps);
            }
            LayerKind::AvgPool => graph.pool(at, &row)?,
            LayerKind::Fc => {
                let (weight, bias) = graph.fc(at, &row)?;
                set.insert(format!("{}.weight", layer.name), weight);
                set.insert(format!("{}.bias", layer.name), bias);
            }
            LayerKind::Softmax => graph.softmax(at, &row)?,
        }
    }
    graph.finish(layers)?;
    Ok(set)
}

/// What a TFLite file holds, for telling a user why no compiled-in table fits it.
#[derive(Clone, Debug, PartialEq)]
pub struct TfliteSummary {
    /// The model's first input shape as stored (`[1, H, W, C]` for an image model).
    pub input: Vec<i32>,
    /// The model's first input element type (`FLOAT32`, `UINT8`, ...).
    pub input_dtype: String,
    /// Number of classes: the last dimension of the model's first output.
    pub classes: Option<usize>,
    /// Element type of the first operator's filter: the weights' type.
    pub weight_dtype: Option<String>,
    /// Output channels of the first convolution, 32 in MobileNet-V1 at width 1.
    pub first_channels: Option<usize>,
    /// Every operator in order: its name and its first output's shape.
    pub operators: Vec<(String, Vec<i32>)>,
}

impl TfliteSummary {
    /// MobileNet-V1's width multiplier, read from the first convolution's channels (32 at
    /// width 1), if the file has one.
    pub fn width_multiplier(&self) -> Option<f32> {
        self.first_channels.map(|c| c as f32 / 32.0)
    }
}

impl fmt::Display for TfliteSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input: Vec<String> = self.input.iter().skip(1).map(i32::to_string).collect();
        write!(f, "input {} {}", input.join("x"), self.input_dtype)?;
        if let Some(classes) = self.classes {
            write!(f, ", {classes} classes")?;
        }
        if let Some(dtype) = &self.weight_dtype {
            write!(f, ", {dtype} weights")?;
        }
        if let (Some(c), Some(w)) = (self.first_channels, self.width_multiplier()) {
            write!(f, ", first convolution {c} channels (width {w} of MobileNet-V1's 32)")?;
        }
        write!(f, ", {} operators", self.operators.len())
    }
}

/// Describes a TFLite file without matching it to a table: input shape and type, classes,
/// weight type, width, and the operator list with output shapes.
///
/// # Errors
/// [`WeightsError::Tflite`] if the bytes are not a valid TFLite model.
pub fn tflite_summary(bytes: &[u8]) -> Result<TfliteSummary, WeightsError> {
    let model = parse(bytes)?;
    let tensors = model.tensors();
    let input = model.inputs().first().map(|&i| &tensors[i]);
    let output = model.outputs().first().map(|&i| &tensors[i]);
    let first = model.operators().first();
    let filter = first
        .and_then(|op| op.inputs.get(1).copied().flatten())
        .map(|i| &tensors[i]);
    let first_conv = model
        .operators()
        .iter()
        .find(|op| [BuiltinOp::CONV_2D, BuiltinOp::DEPTHWISE_CONV_2D].contains(&op.opcode.builtin));
    Ok(TfliteSummary {
        input: input.map(|t| t.shape.clone()).unwrap_or_default(),
        input_dtype: input.map_or_else(|| "none".to_owned(), |t| t.dtype.to_string()),
        classes: output.and_then(|t| usize::try_from(*t.shape.last()?).ok()),
        weight_dtype: filter.map(|t| t.dtype.to_string()),
        first_channels: first_conv
            .and_then(|op| op.outputs.first())
            .and_then(|&i| usize::try_from(*tensors[i].shape.last()?).ok()),
        operators: model
            .operators()
            .iter()
            .map(|op| {
                let shape = op
                    .outputs
                    .first()
                    .map(|&i| tensors[i].shape.clone())
                    .unwrap_or_default();
                (op.opcode.to_string(), shape)
            })
            .collect(),
    })
}

pub(crate) fn parse(bytes: &[u8]) -> Result<TfliteModel<'_>, WeightsError> {
    TfliteModel::parse(bytes).map_err(|e| WeightsError::TfliteFormat { reason: e.to_string() })
}

/// Writes `{prefix}.weight` and a batch norm that is the identity for `eps`, such that
/// [`TensorReader::conv_bn`] folds it back to exactly `weight` and `bias` (see
/// [`super::save::identity_bn`]).
pub(crate) fn insert_identity_bn(set: &mut TensorSet, prefix: &str, weight: Tensor, bias: Vec<f32>, eps: f32) {
    set.insert(format!("{prefix}.weight"), weight);
    super::save::insert_bn_identity(set, prefix, bias, eps);
}

pub(crate) fn expected_ops(kind: LayerKind) -> &'static str {
    match kind {
        LayerKind::Conv => "CONV_2D (or DEPTHWISE_CONV_2D on one input channel)",
        LayerKind::ConvDw => "DEPTHWISE_CONV_2D",
        LayerKind::AvgPool => "AVERAGE_POOL_2D",
        LayerKind::Fc => "a 1x1 CONV_2D or FULLY_CONNECTED",
        LayerKind::Softmax => "SOFTMAX",
    }
}

/// A row of the table, displayed as messages name it: "layer 3 (`layers.3`, conv_dw)".
pub(crate) struct Row<'a> {
    pub(crate) index: usize,
    pub(crate) layer: &'a LayerInfo,
    pub(crate) padding: Padding,
}

impl fmt::Display for Row<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "layer {} (`{}`, {})",
            self.index,
            self.layer.name,
            self.layer.kind.as_str()
        )
    }
}

/// The operator being matched: its index in the file (messages count as the file does, so
/// a skipped `DEQUANTIZE` does not shift them) and the operator.
#[derive(Copy, Clone)]
pub(crate) struct At<'m> {
    pub(crate) index: usize,
    pub(crate) op: &'m Operator,
}

impl At<'_> {
    pub(crate) fn err(self, tensor: Option<&TfTensor<'_>>, problem: impl Into<String>) -> WeightsError {
        WeightsError::TfliteOperator {
            index: self.index,
            op: self.op.opcode.to_string(),
            tensor: tensor.map(|t| t.name.clone()),
            problem: problem.into(),
        }
    }
}

/// Walks the operators as one chain, remembering which tensor flows between them.
pub(crate) struct Graph<'m, 'a> {
    model: &'m TfliteModel<'a>,
    /// Operators to match, with their file index; `DEQUANTIZE`s of `FLOAT16` constants are
    /// taken out and recorded in `dequantized` instead.
    ops: Vec<(usize, &'m Operator)>,
    next: usize,
    /// Output tensor of a skipped `DEQUANTIZE` -> its `FLOAT16` input.
    dequantized: HashMap<usize, usize>,
    /// The tensor the next operator must read: the model's input, then each output in turn.
    current: usize,
    /// The element type every activation must have: `FLOAT32` for a float table, `UINT8` or
    /// `INT8` for a quantized one.
    activations: ElementType,
}

impl<'m, 'a> Graph<'m, 'a> {
    pub(crate) fn new(model: &'m TfliteModel<'a>, activations: ElementType) -> Result<Self, WeightsError> {
        if model.subgraph_count() != 1 {
            return Err(WeightsError::Tflite {
                reason: format!(
                    "the model has {} subgraphs; a MobileNet is one (control flow or several \
                     signatures are not supported)",
                    model.subgraph_count()
                ),
            });
        }
        let &[input] = model.inputs() else {
            return Err(WeightsError::Tflite {
                reason: format!(
                    "the model has {} inputs; a MobileNet has one, the image",
                    model.inputs().len()
                ),
            });
        };
        let tensors = model.tensors();
        let mut ops = Vec::new();
        let mut dequantized = HashMap::new();
        for (index, op) in model.operators().iter().enumerate() {
            if op.opcode.builtin == BuiltinOp::DEQUANTIZE {
                if let (&[Some(from)], &[to]) = (op.inputs.as_slice(), op.outputs.as_slice()) {
                    let (src, dst) = (&tensors[from], &tensors[to]);
                    if src.dtype == ElementType::FLOAT16 && dst.dtype == ElementType::FLOAT32 && !src.data.is_empty() {
                        dequantized.insert(to, from);
                        continue;
                    }
                    if is_quantized(src) && activations == ElementType::FLOAT32 {
                        return Err(quantized(At { index, op }, src));
                    }
                }
            }
            ops.push((index, op));
        }
        Ok(Graph {
            model,
            ops,
            next: 0,
            dequantized,
            current: input,
            activations,
        })
    }

    /// The tensor the next operator must read.
    pub(crate) fn current(&self) -> usize {
        self.current
    }

    /// Checks an activation's element type against the table's precision.
    pub(crate) fn check_type(&self, at: At<'_>, tensor: &TfTensor<'_>) -> Result<(), WeightsError> {
        if self.activations == ElementType::FLOAT32 {
            return check_float(at, tensor);
        }
        if tensor.dtype == self.activations {
            return Ok(());
        }
        let why = if tensor.dtype == ElementType::FLOAT32 {
            "a float model; a table with `precision: int8` or `uint8` runs only quantized models (use a float32 table)"
                .to_owned()
        } else if [ElementType::UINT8, ElementType::INT8].contains(&tensor.dtype) {
            format!(
                "the table's precision is {} (set `precision: {}` in the spec for this file)",
                self.activations,
                tensor.dtype.to_string().to_lowercase()
            )
        } else {
            "an element type no MobileNet table runs".to_owned()
        };
        Err(at.err(
            Some(tensor),
            format!(
                "the tensor is {}, but the table computes in {}: {why}",
                tensor.dtype, self.activations
            ),
        ))
    }

    /// The next operator, without taking it.
    pub(crate) fn peek(&self) -> Option<(usize, &'m Operator)> {
        self.ops.get(self.next).copied()
    }

    pub(crate) fn op_count(&self) -> usize {
        self.model.operators().len()
    }

    pub(crate) fn next(&mut self) -> Option<(usize, &'m Operator)> {
        let op = self.ops.get(self.next).copied();
        self.next += 1;
        op
    }

    pub(crate) fn tensor(&self, index: usize) -> &'m TfTensor<'a> {
        &self.model.tensors()[index]
    }

    /// Checks that `at` reads the chain's current tensor, of shape `[1, H, W, C]` = `hwc`.
    pub(crate) fn check_input(&self, at: At<'_>, hwc: [usize; 3], row: &Row<'_>) -> Result<(), WeightsError> {
        let Some(&Some(input)) = at.op.inputs.first() else {
            return Err(at.err(None, "it has no input tensor"));
        };
        let tensor = self.tensor(input);
        if input != self.current {
            let source = if self.next == 1 {
                "the model's input"
            } else {
                "the previous operator's output"
            };
            let what = format!("{source} `{}`", self.tensor(self.current).name);
            return Err(at.err(
                Some(tensor),
                format!("it reads this tensor, but {row} reads {what} (the model is not one chain of layers)"),
            ));
        }
        self.check_type(at, tensor)?;
        if matches!(row.layer.kind, LayerKind::Fc | LayerKind::Softmax) {
            // Flattened or not, any shape with the channels last and ones before holds the vector.
            return check_vector(at, tensor, hwc[2], row, "input");
        }
        check_shape(at, tensor, &[1, hwc[0], hwc[1], hwc[2]], row, "input")
    }

    /// Checks `at`'s single output (`[1, H, W, C]` = `hwc`, or any `[1, ..., C]` when
    /// `vector`) and makes it the chain's current tensor.
    pub(crate) fn advance(
        &mut self,
        at: At<'_>,
        hwc: [usize; 3],
        vector: bool,
        row: &Row<'_>,
    ) -> Result<(), WeightsError> {
        let &[output] = at.op.outputs.as_slice() else {
            return Err(at.err(None, format!("it has {} outputs; expected one", at.op.outputs.len())));
        };
        let tensor = self.tensor(output);
        self.check_type(at, tensor)?;
        if vector {
            check_vector(at, tensor, hwc[2], row, "output")?;
        } else {
            check_shape(at, tensor, &[1, hwc[0], hwc[1], hwc[2]], row, "output")?;
        }
        self.current = output;
        Ok(())
    }

    /// A `conv` or `conv_dw` row: the weight in PyTorch layout and the bias.
    fn conv(&mut self, at: At<'_>, row: &Row<'_>, activation: Activation) -> Result<(Tensor, Vec<f32>), WeightsError> {
        let layer = row.layer;
        let [kh, kw] = layer.kernel;
        let (cin, cout) = (layer.input[2], layer.output[2]);
        let (options, weight) = match (layer.kind, &at.op.options) {
            (LayerKind::Conv, Options::Conv2D(o)) if at.op.opcode.builtin == BuiltinOp::CONV_2D => {
                let filter = self.constant(at, 1, &[cout, kh, kw, cin], row, "filter")?;
                // OHWI -> OIHW.
                let mut w = vec![0.0; filter.len()];
                for o in 0..cout {
                    for y in 0..kh {
                        for x in 0..kw {
                            for i in 0..cin {
                                w[((o * cin + i) * kh + y) * kw + x] = filter[((o * kh + y) * kw + x) * cin + i];
                            }
                        }
                    }
                }
                let options = (o.padding, o.stride, o.dilation, o.activation);
                (options, Tensor::new(vec![cout, cin, kh, kw], w))
            }
            (kind, Options::DepthwiseConv2D(o)) if at.op.opcode.builtin == BuiltinOp::DEPTHWISE_CONV_2D => {
                // conv_dw: multiplier 1; conv: one input channel fanned out to all outputs.
                let multiplier = if kind == LayerKind::ConvDw { 1 } else { cout };
                if kind == LayerKind::Conv && cin != 1 {
                    return Err(at.err(
                        None,
                        format!(
                            "DEPTHWISE_CONV_2D computes {row} only on one input channel, but the \
                             layer has {cin}"
                        ),
                    ));
                }
                if usize::try_from(o.depth_multiplier).ok() != Some(multiplier) {
                    return Err(at.err(
                        None,
                        format!(
                            "depth multiplier is {}, but {row} needs {multiplier}",
                            o.depth_multiplier
                        ),
                    ));
                }
                // [1, kh, kw, c] -> [c, 1, kh, kw].
                let filter = self.constant(at, 1, &[1, kh, kw, cout], row, "filter")?;
                let mut w = vec![0.0; filter.len()];
                for c in 0..cout {
                    for y in 0..kh {
                        for x in 0..kw {
                            w[(c * kh + y) * kw + x] = filter[(y * kw + x) * cout + c];
                        }
                    }
                }
                let options = (o.padding, o.stride, o.dilation, o.activation);
                (options, Tensor::new(vec![cout, 1, kh, kw], w))
            }
            _ => return Err(self.wrong_op(at, row)),
        };
        let (tf_padding, stride, dilation, fused) = options;
        check_stride(at, stride, layer.stride, row)?;
        check_dilation(at, dilation)?;
        check_padding(at, tf_padding, row)?;
        let want = match activation {
            Activation::Relu => FusedActivation::Relu,
            Activation::Relu6 => FusedActivation::Relu6,
        };
        if fused != want {
            return Err(at.err(
                None,
                format!(
                    "fused activation is {fused}, but {row} applies {want} (the table's activation \
                     is {activation:?})"
                ),
            ));
        }
        let bias = self.bias(at, cout, row)?;
        self.advance(at, layer.output, false, row)?;
        Ok((weight, bias))
    }

    fn pool(&mut self, at: At<'_>, row: &Row<'_>) -> Result<(), WeightsError> {
        let o = self.pool_options(at, row)?;
        if o.activation != FusedActivation::None {
            return Err(at.err(
                None,
                format!("fused activation is {}, but {row} has none", o.activation),
            ));
        }
        self.advance(at, row.layer.output, false, row)
    }

    /// An `avg_pool` row's operator, float or quantized: an `AVERAGE_POOL_2D` with the row's
    /// window, stride and padding. Gives its options, for the fused activation, which the two
    /// readers treat differently.
    pub(crate) fn pool_options<'o>(&self, at: At<'o>, row: &Row<'_>) -> Result<&'o Pool2DOptions, WeightsError> {
        let layer = row.layer;
        let o = match &at.op.options {
            Options::Pool2D(o) if at.op.opcode.builtin == BuiltinOp::AVERAGE_POOL_2D => o,
            _ => return Err(self.wrong_op(at, row)),
        };
        let [kh, kw] = layer.kernel;
        if o.filter != [kh as i32, kw as i32] {
            return Err(at.err(
                None,
                format!(
                    "pooling window is {}x{}, but {row} pools {kh}x{kw}",
                    o.filter[0], o.filter[1]
                ),
            ));
        }
        // A window covering the whole input gives one output whatever the stride.
        let global = layer.output[..2] == [1, 1] && layer.input[..2] == layer.kernel;
        if !global {
            check_stride(at, o.stride, layer.stride, row)?;
        }
        check_padding(at, o.padding, row)?;
        Ok(o)
    }

    /// An `fc` row: a 1x1 `CONV_2D` or a `FULLY_CONNECTED`, then any `RESHAPE`/`SQUEEZE`.
    fn fc(&mut self, at: At<'_>, row: &Row<'_>) -> Result<(Tensor, Tensor), WeightsError> {
        let (cin, cout) = (row.layer.input[2], row.layer.output[2]);
        let (fused, weight) = match &at.op.options {
            Options::Conv2D(o) if at.op.opcode.builtin == BuiltinOp::CONV_2D => {
                // Stride and padding do nothing to a 1x1 kernel on a 1x1 input.
                check_dilation(at, o.dilation)?;
                (o.activation, self.constant(at, 1, &[cout, 1, 1, cin], row, "filter")?)
            }
            Options::FullyConnected(o) if at.op.opcode.builtin == BuiltinOp::FULLY_CONNECTED => {
                if o.shuffled_weights {
                    return Err(at.err(
                        None,
                        "weights use the SHUFFLED4x16INT8 layout, which is for int8 models",
                    ));
                }
                (o.activation, self.constant(at, 1, &[cout, cin], row, "filter")?)
            }
            _ => return Err(self.wrong_op(at, row)),
        };
        if fused != FusedActivation::None {
            return Err(at.err(None, format!("fused activation is {fused}, but {row} is linear (NONE)")));
        }
        let bias = self.bias(at, cout, row)?;
        self.advance(at, row.layer.output, true, row)?;
        // Converters flatten the [1, 1, 1, classes] result; that changes no value.
        while let Some(&(index, op)) = self.ops.get(self.next) {
            if ![BuiltinOp::RESHAPE, BuiltinOp::SQUEEZE].contains(&op.opcode.builtin) {
                break;
            }
            self.next += 1;
            let at = At { index, op };
            self.check_input(at, row.layer.output, row)?;
            self.advance(at, row.layer.output, true, row)?;
        }
        Ok((Tensor::new(vec![cout, cin], weight), Tensor::new(vec![cout], bias)))
    }

    fn softmax(&mut self, at: At<'_>, row: &Row<'_>) -> Result<(), WeightsError> {
        match &at.op.options {
            Options::Softmax { beta } if at.op.opcode.builtin == BuiltinOp::SOFTMAX => {
                if *beta != 1.0 {
                    return Err(at.err(None, format!("beta is {beta}, but {row} is a plain softmax (beta 1)")));
                }
            }
            _ => return Err(self.wrong_op(at, row)),
        }
        self.advance(at, row.layer.output, true, row)
    }

    /// After the last row: no operator may be left, and the model's output must be the chain's.
    pub(crate) fn finish(&mut self, layers: &[LayerInfo]) -> Result<(), WeightsError> {
        if let Some(&(index, op)) = self.ops.get(self.next) {
            let at = At { index, op };
            let problem =
                if op.opcode.builtin == BuiltinOp::SOFTMAX && !layers.iter().any(|l| l.kind == LayerKind::Softmax) {
                    "the file applies a softmax, but the table ends without one (it returns logits); \
                 use a table with a softmax row or a file without SOFTMAX"
                        .to_owned()
                } else {
                    format!(
                        "the table's {} layers are all matched, but the file has this and {} more \
                     operators after them",
                        layers.len(),
                        self.ops.len() - self.next - 1
                    )
                };
            return Err(at.err(None, problem));
        }
        if self.model.outputs() != [self.current] {
            let names: Vec<String> = self
                .model
                .outputs()
                .iter()
                .map(|&i| format!("`{}`", self.tensor(i).name))
                .collect();
            return Err(WeightsError::Tflite {
                reason: format!(
                    "the model's outputs are [{}], but the last layer writes `{}`",
                    names.join(", "),
                    self.tensor(self.current).name
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn wrong_op(&self, at: At<'_>, row: &Row<'_>) -> WeightsError {
        let options = if at.op.options == Options::None {
            " (without options)"
        } else {
            ""
        };
        at.err(
            None,
            format!(
                "{row} needs {}, but the file has {}{options} here",
                expected_ops(row.layer.kind),
                at.op.opcode
            ),
        )
    }

    /// The `f32` values of `at`'s input `slot` (a constant of `shape`), through a skipped
    /// `DEQUANTIZE` for `FLOAT16` weights.
    fn constant(
        &self,
        at: At<'_>,
        slot: usize,
        shape: &[usize],
        row: &Row<'_>,
        role: &str,
    ) -> Result<Vec<f32>, WeightsError> {
        let Some(&Some(index)) = at.op.inputs.get(slot) else {
            return Err(at.err(None, format!("it has no {role} tensor (input {slot})")));
        };
        let index = self.dequantized.get(&index).copied().unwrap_or(index);
        let tensor = self.tensor(index);
        if tensor.is_sparse || tensor.is_external {
            let how = if tensor.is_sparse {
                "sparse"
            } else {
                "in an external file"
            };
            return Err(at.err(
                Some(tensor),
                format!("the {role} is stored {how}, which is not supported"),
            ));
        }
        let values = decode(at, tensor, role)?;
        check_shape(at, tensor, shape, row, role)?;
        if values.len() != shape.iter().product::<usize>() {
            return Err(at.err(
                Some(tensor),
                format!(
                    "the {role} holds {} bytes, not the {} values of its shape {:?} (truncated buffer)",
                    tensor.data.len(),
                    shape.iter().product::<usize>(),
                    tensor.shape
                ),
            ));
        }
        if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(at.err(
                Some(tensor),
                format!("the {role} holds {v} at flat index {i}; weights must be finite"),
            ));
        }
        Ok(values)
    }

    /// The bias (input 2); an omitted optional bias is zero, as TFLite treats it.
    fn bias(&self, at: At<'_>, out: usize, row: &Row<'_>) -> Result<Vec<f32>, WeightsError> {
        match at.op.inputs.get(2) {
            None | Some(None) => Ok(vec![0.0; out]),
            Some(Some(_)) => self.constant(at, 2, &[out], row, "bias"),
        }
    }
}

fn is_quantized(tensor: &TfTensor<'_>) -> bool {
    tensor.dtype == ElementType::UINT8 || tensor.dtype == ElementType::INT8 || tensor.quantization.is_some()
}

fn quantized(at: At<'_>, tensor: &TfTensor<'_>) -> WeightsError {
    let params = match &tensor.quantization {
        Some(q) if q.scale.len() == 1 && q.zero_point.len() == 1 => {
            format!(" (scale {}, zero point {})", q.scale[0], q.zero_point[0])
        }
        Some(q) => format!(" ({} scales along dimension {})", q.scale.len(), q.quantized_dimension),
        None => String::new(),
    };
    WeightsError::TfliteQuantized {
        index: at.index,
        op: at.op.opcode.to_string(),
        tensor: tensor.name.clone(),
        dtype: format!("{}{params}", tensor.dtype),
    }
}

/// Activations must be `FLOAT32`; integer ones mean a quantized model.
fn check_float(at: At<'_>, tensor: &TfTensor<'_>) -> Result<(), WeightsError> {
    if tensor.dtype == ElementType::FLOAT32 {
        Ok(())
    } else if is_quantized(tensor) {
        Err(quantized(at, tensor))
    } else {
        Err(at.err(
            Some(tensor),
            format!("the tensor is {}, but this runtime computes in FLOAT32", tensor.dtype),
        ))
    }
}

fn decode(at: At<'_>, tensor: &TfTensor<'_>, role: &str) -> Result<Vec<f32>, WeightsError> {
    match tensor.dtype {
        ElementType::FLOAT32 => Ok(tensor
            .data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        ElementType::FLOAT16 => Ok(tensor
            .data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect()),
        _ if is_quantized(tensor) => Err(quantized(at, tensor)),
        other => Err(at.err(
            Some(tensor),
            format!("the {role} is {other}; weights must be FLOAT32 (or FLOAT16)"),
        )),
    }
}

pub(crate) fn check_shape(
    at: At<'_>,
    tensor: &TfTensor<'_>,
    expected: &[usize],
    row: &Row<'_>,
    role: &str,
) -> Result<(), WeightsError> {
    if tensor.dims().as_deref() == Some(expected) {
        return Ok(());
    }
    Err(at.err(
        Some(tensor),
        format!(
            "the {role} has shape {:?}, but {row} needs {expected:?}{}",
            tensor.shape,
            shape_hint(tensor, expected, row, role)
        ),
    ))
}

/// Names the likely cause of a shape mismatch in the table's own terms.
fn shape_hint(tensor: &TfTensor<'_>, expected: &[usize], row: &Row<'_>, role: &str) -> String {
    let Some(found) = tensor.dims() else {
        return String::new();
    };
    if found.len() != expected.len() || found.len() != 4 {
        return String::new();
    }
    let filter = role == "filter" && matches!(row.layer.kind, LayerKind::Conv | LayerKind::ConvDw);
    if found[..3] == expected[..3] || found[1..] == expected[1..] {
        " (different channel count: another width multiplier or class count?)".to_owned()
    } else if filter && found[1..3] != expected[1..3] {
        format!(" (kernel {}x{} in the file)", found[1], found[2])
    } else if !filter && found[0] == 1 && found[3] == expected[3] {
        " (different spatial size: another input resolution?)".to_owned()
    } else {
        String::new()
    }
}

/// `[1, ..., 1, len]`: a vector of `len` however many leading ones a converter left.
pub(crate) fn check_vector(
    at: At<'_>,
    tensor: &TfTensor<'_>,
    len: usize,
    row: &Row<'_>,
    role: &str,
) -> Result<(), WeightsError> {
    match tensor.dims() {
        Some(d) if d.len() >= 2 && d.last() == Some(&len) && d[..d.len() - 1].iter().all(|&x| x == 1) => Ok(()),
        _ => Err(at.err(
            Some(tensor),
            format!(
                "the {role} has shape {:?}, but {row} needs {len} values ([1, {len}] or \
                 [1, 1, 1, {len}]){}",
                tensor.shape,
                if tensor.shape.last().is_some_and(|&l| l as usize != len) {
                    " (different class count or width?)"
                } else {
                    ""
                }
            ),
        )),
    }
}

pub(crate) fn check_stride(at: At<'_>, stride: [i32; 2], want: usize, row: &Row<'_>) -> Result<(), WeightsError> {
    if stride.iter().all(|&s| usize::try_from(s).ok() == Some(want)) {
        return Ok(());
    }
    let found = if stride[0] == stride[1] {
        stride[0].to_string()
    } else {
        format!("{}x{}", stride[0], stride[1])
    };
    Err(at.err(None, format!("stride is {found}, but {row} has stride {want}")))
}

pub(crate) fn check_dilation(at: At<'_>, dilation: [i32; 2]) -> Result<(), WeightsError> {
    if dilation == [1, 1] {
        return Ok(());
    }
    Err(at.err(
        None,
        format!(
            "dilation is {}x{}; MobileNet-V1 layers are not dilated",
            dilation[0], dilation[1]
        ),
    ))
}

/// TFLite's output size and zeros before, for one dimension: `(out, before, total)`.
fn tf_pads(input: usize, k: usize, stride: usize, padding: TfPadding) -> Option<(usize, usize, usize)> {
    let stride = stride.max(1);
    match padding {
        TfPadding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out.checked_sub(1)? * stride) + k).saturating_sub(input);
            Some((out, total / 2, total))
        }
        TfPadding::Valid => Some(((input.checked_sub(k)? / stride) + 1, 0, 0)),
    }
}

/// See the module docs: TFLite's padding must give the row's output size and top/left zeros
/// (and for pooling, no zeros at all).
pub(crate) fn check_padding(at: At<'_>, padding: TfPadding, row: &Row<'_>) -> Result<(), WeightsError> {
    padding_mismatch(padding, row).map_or(Ok(()), |problem| Err(at.err(None, problem)))
}

/// What is wrong with computing `row` under TFLite's `padding`, or `None` if it fits.
fn padding_mismatch(padding: TfPadding, row: &Row<'_>) -> Option<String> {
    let layer = row.layer;
    let pool = layer.kind == LayerKind::AvgPool;
    let mut fits = true;
    let mut got = Vec::new();
    for d in 0..2 {
        let found = tf_pads(layer.input[d], layer.kernel[d], layer.stride, padding);
        match found {
            Some((out, before, total)) => {
                fits &= out == layer.output[d] && before == layer.pad_top_left[d] && (!pool || total == 0);
                got.push((out, before, total));
            }
            None => fits = false,
        }
    }
    if fits {
        return None;
    }
    let table = match row.padding {
        Padding::Symmetric => "symmetric",
        Padding::TfSame => "tf_same",
    };
    let what = match got.as_slice() {
        [(oh, _, th), (ow, _, tw)] if pool => {
            format!("{oh}x{ow} outputs with {th}x{tw} padding zeros (pooling must pad nothing)")
        }
        [(oh, bh, _), (ow, bw, _)] => format!("{oh}x{ow} outputs with {bh}x{bw} zeros above/left"),
        _ => "no output (window larger than the input)".to_owned(),
    };
    Some(format!(
        "padding is {padding}, which gives {what}, but {row} (table padding {table}) outputs {}x{} \
         with {}x{} zeros above/left",
        layer.output[0], layer.output[1], layer.pad_top_left[0], layer.pad_top_left[1]
    ))
}

/// Writes the model that `set` describes for `layers` as a float TFLite file that
/// [`tensors_from_tflite`] reads back to the same folded weights, bit for bit.
///
/// Batch norm is folded in (as TFLite does); `conv` rows become `CONV_2D`, `conv_dw` rows
/// `DEPTHWISE_CONV_2D`, `avg_pool` `AVERAGE_POOL_2D`, `fc` a `FULLY_CONNECTED` and `softmax` a
/// `SOFTMAX`, all `FLOAT32`.
///
/// # Errors
/// Anything [`TensorReader`] refuses in `set` (missing, unexpected or misshapen tensors,
/// non-finite values); [`WeightsError::Tflite`] when a row's padding cannot be expressed as
/// TFLite's SAME or VALID (e.g. symmetric padding with stride 2 where TensorFlow would pad
/// differently).
pub fn tflite_from_tensors(
    set: &TensorSet,
    layers: &[LayerInfo],
    padding: Padding,
    activation: Activation,
    bn_eps: f32,
) -> Result<Vec<u8>, WeightsError> {
    let model = model_from_tensors(set, layers, padding, activation, bn_eps)?;
    Ok(mobilenet_tflite::to_bytes(&model))
}

/// [`tflite_from_tensors`] before serialising: the owned flatbuffer, which tests edit.
pub(crate) fn model_from_tensors(
    set: &TensorSet,
    layers: &[LayerInfo],
    padding: Padding,
    activation: Activation,
    bn_eps: f32,
) -> Result<fb::Model, WeightsError> {
    let mut w = Writer::default();
    let first = layers.first().map_or([1, 1, 1], |l| l.input);
    let mut current = w.tensor("input", &[1, first[0], first[1], first[2]], None);
    let mut reader = TensorReader::new(set);
    for (index, layer) in layers.iter().enumerate() {
        let row = Row { index, layer, padding };
        let name = layer.name;
        let [kh, kw] = layer.kernel;
        let (cin, cout) = (layer.input[2], layer.output[2]);
        let [h, wd, c] = layer.output;
        let fused = match activation {
            Activation::Relu => fb::ActivationFunctionType::Relu,
            Activation::Relu6 => fb::ActivationFunctionType::Relu6,
        };
        let output_shape: Vec<usize> = match layer.kind {
            LayerKind::Fc | LayerKind::Softmax => vec![1, c],
            _ => vec![1, h, wd, c],
        };
        let (op, inputs, options) = match layer.kind {
            LayerKind::Conv => {
                let folded = reader.conv_bn(name, [cout, cin, kh, kw], bn_eps)?;
                let mut filter = vec![0.0; folded.weight.len()];
                for o in 0..cout {
                    for i in 0..cin {
                        for y in 0..kh {
                            for x in 0..kw {
                                filter[((o * kh + y) * kw + x) * cin + i] =
                                    folded.weight[((o * cin + i) * kh + y) * kw + x];
                            }
                        }
                    }
                }
                let f = w.tensor(&format!("{name}/weights"), &[cout, kh, kw, cin], Some(&filter));
                let b = w.tensor(&format!("{name}/bias"), &[cout], Some(&folded.bias));
                let padding = writable_padding(&row)?;
                let options = fb::BuiltinOptions::Conv2DOptions(Box::new(fb::Conv2DOptions {
                    padding,
                    stride_w: layer.stride as i32,
                    stride_h: layer.stride as i32,
                    fused_activation_function: fused,
                    dilation_w_factor: 1,
                    dilation_h_factor: 1,
                    ..Default::default()
                }));
                (fb::BuiltinOperator::Conv2d, vec![current, f, b], options)
            }
            LayerKind::ConvDw => {
                let folded = reader.conv_bn(name, [cout, 1, kh, kw], bn_eps)?;
                let mut filter = vec![0.0; folded.weight.len()];
                for ch in 0..cout {
                    for y in 0..kh {
                        for x in 0..kw {
                            filter[(y * kw + x) * cout + ch] = folded.weight[(ch * kh + y) * kw + x];
                        }
                    }
                }
                let f = w.tensor(&format!("{name}/depthwise_weights"), &[1, kh, kw, cout], Some(&filter));
                let b = w.tensor(&format!("{name}/bias"), &[cout], Some(&folded.bias));
                let padding = writable_padding(&row)?;
                let options = fb::BuiltinOptions::DepthwiseConv2DOptions(Box::new(fb::DepthwiseConv2DOptions {
                    padding,
                    stride_w: layer.stride as i32,
                    stride_h: layer.stride as i32,
                    depth_multiplier: 1,
                    fused_activation_function: fused,
                    dilation_w_factor: 1,
                    dilation_h_factor: 1,
                }));
                (fb::BuiltinOperator::DepthwiseConv2d, vec![current, f, b], options)
            }
            LayerKind::AvgPool => {
                let padding = writable_padding(&row)?;
                let options = fb::BuiltinOptions::Pool2DOptions(Box::new(fb::Pool2DOptions {
                    padding,
                    stride_w: layer.stride as i32,
                    stride_h: layer.stride as i32,
                    filter_width: kw as i32,
                    filter_height: kh as i32,
                    fused_activation_function: fb::ActivationFunctionType::None,
                }));
                (fb::BuiltinOperator::AveragePool2d, vec![current], options)
            }
            LayerKind::Fc => {
                let folded = reader.fc(name, [cout, cin])?;
                let f = w.tensor(&format!("{name}/weights"), &[cout, cin], Some(&folded.weight));
                let b = w.tensor(&format!("{name}/bias"), &[cout], Some(&folded.bias));
                let options = fb::BuiltinOptions::FullyConnectedOptions(Box::default());
                (fb::BuiltinOperator::FullyConnected, vec![current, f, b], options)
            }
            LayerKind::Softmax => {
                let options = fb::BuiltinOptions::SoftmaxOptions(Box::new(fb::SoftmaxOptions { beta: 1.0 }));
                (fb::BuiltinOperator::Softmax, vec![current], options)
            }
        };
        let output = w.tensor(&format!("{name}/output"), &output_shape, None);
        w.op(op, inputs, output, options);
        current = output;
    }
    reader.finish()?;
    Ok(w.finish(current))
}

/// SAME or VALID, whichever reproduces the row's padding (SAME when both do).
fn writable_padding(row: &Row<'_>) -> Result<fb::Padding, WeightsError> {
    if padding_mismatch(TfPadding::Same, row).is_none() {
        return Ok(fb::Padding::Same);
    }
    if padding_mismatch(TfPadding::Valid, row).is_none() {
        return Ok(fb::Padding::Valid);
    }
    Err(WeightsError::Tflite {
        reason: format!(
            "{row} pads {}x{} above/left with stride {} and outputs {}x{}, which neither TFLite SAME \
             nor VALID padding reproduces",
            row.layer.pad_top_left[0],
            row.layer.pad_top_left[1],
            row.layer.stride,
            row.layer.output[0],
            row.layer.output[1]
        ),
    })
}

/// Accumulates tensors, buffers and operators of the model being written.
#[derive(Default)]
struct Writer {
    tensors: Vec<fb::Tensor>,
    buffers: Vec<fb::Buffer>,
    codes: Vec<fb::BuiltinOperator>,
    ops: Vec<fb::Operator>,
}

impl Writer {
    /// Adds a `FLOAT32` tensor (a constant when `data` is given) and returns its index.
    fn tensor(&mut self, name: &str, shape: &[usize], data: Option<&[f32]>) -> i32 {
        let buffer = match data {
            Some(values) => {
                if self.buffers.is_empty() {
                    // Buffer 0 is the empty buffer that every activation tensor points at.
                    self.buffers.push(fb::Buffer::default());
                }
                self.buffers.push(fb::Buffer {
                    data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
                    ..Default::default()
                });
                self.buffers.len() as u32 - 1
            }
            None => 0,
        };
        self.tensors.push(fb::Tensor {
            shape: Some(shape.iter().map(|&d| d as i32).collect()),
            type_: fb::TensorType::Float32,
            buffer,
            name: Some(name.to_owned()),
            ..Default::default()
        });
        self.tensors.len() as i32 - 1
    }

    fn op(&mut self, code: fb::BuiltinOperator, inputs: Vec<i32>, output: i32, options: fb::BuiltinOptions) {
        let index = match self.codes.iter().position(|&c| c == code) {
            Some(i) => i,
            None => {
                self.codes.push(code);
                self.codes.len() - 1
            }
        };
        self.ops.push(fb::Operator {
            opcode_index: index as u32,
            inputs: Some(inputs),
            outputs: Some(vec![output]),
            builtin_options: Some(options),
            ..Default::default()
        });
    }

    fn finish(mut self, output: i32) -> fb::Model {
        if self.buffers.is_empty() {
            self.buffers.push(fb::Buffer::default());
        }
        fb::Model {
            version: 3,
            operator_codes: Some(
                self.codes
                    .iter()
                    .map(|&code| fb::OperatorCode {
                        // Readers before schema 3a only look at the i8 field.
                        deprecated_builtin_code: (code as i32).min(127) as i8,
                        builtin_code: code,
                        version: 1,
                        ..Default::default()
                    })
                    .collect(),
            ),
            subgraphs: Some(vec![fb::SubGraph {
                tensors: Some(self.tensors),
                inputs: Some(vec![0]),
                outputs: Some(vec![output]),
                operators: Some(self.ops),
                name: Some("main".to_owned()),
                ..Default::default()
            }]),
            description: Some("mobilenet-runtime".to_owned()),
            buffers: Some(self.buffers),
            ..Default::default()
        }
    }
}
