//! Quantized TensorFlow Lite MobileNets as [`QuantLayer`]s: the operators are matched to the
//! table as for a float file (see [`crate::weights::tflite`]), and every tensor's quantization
//! is checked and turned into what TFLite's reference kernels compute with.
//!
//! What is computed here, as TFLite computes it when it prepares a model:
//! - each convolution's output multiplier and shift per channel, from
//!   `input_scale * filter_scale / output_scale` and TFLite's `QuantizeMultiplier`. For a
//!   uint8 model the product of the two scales is rounded to f32 first, as
//!   `GetQuantizedConvolutionMultipler` does; an int8 model's per-channel multipliers are
//!   products of doubles, as `PopulateConvolutionQuantizationParams` computes them;
//! - the clamp that implements the fused ReLU/ReLU6 (`CalculateActivationRangeQuantized`:
//!   `zero_point + round(x / scale)` in f32, within the type's range);
//! - the softmax's input scaling.
//!
//! A uint8 model is moved into the int8 domain as it is read: every value and zero point minus
//! 128 (see [`super`]).

use mobilenet_tflite::{BuiltinOp, ElementType, FusedActivation, Options, Tensor as TfTensor};

use super::elem::Quantization;
use super::reader::QuantLayer;
use crate::kernels::i8::{quantize_multiplier, PoolQuant, QuantConv, SoftmaxQuant};
use crate::weights::tflite::{
    check_dilation, check_padding, check_shape, check_stride, expected_ops, parse, At, Graph, Row,
};
use crate::{Activation, LayerInfo, LayerKind, Padding, Precision, WeightsError};

/// What [`quant_layers_from_tflite`] reads: one [`QuantLayer`] per row, and the model's input
/// and output quantization (in the file's own type: 0..=255 zero points for uint8).
#[derive(Debug)]
pub struct QuantFile {
    /// One per row of the table, in order.
    pub layers: Vec<QuantLayer>,
    /// The model input's quantization.
    pub input: Quantization,
    /// The model output's quantization.
    pub output: Quantization,
}

/// Reads a quantized TFLite MobileNet for the table `layers`, checking every operator as the
/// float reader does and every quantization parameter: scales positive and finite, zero
/// points in range (and 0 for int8 weights), one weight scale per output channel or one per
/// tensor, int32 biases, and the element type `precision` asks for.
///
/// # Errors
/// [`WeightsError::Tflite`] for a file whose structure does not fit the table,
/// [`WeightsError::TfliteOperator`] naming the operator, tensor and row at fault.
pub fn quant_layers_from_tflite(
    bytes: &[u8],
    layers: &[LayerInfo],
    padding: Padding,
    activation: Activation,
    precision: Precision,
) -> Result<QuantFile, WeightsError> {
    let dtype = match precision {
        Precision::Uint8 => ElementType::UINT8,
        Precision::Int8 => ElementType::INT8,
        Precision::Float32 => {
            return Err(WeightsError::Tflite {
                reason: "a float32 table reads float models with Weights::from_tflite, not as a quantized model"
                    .to_owned(),
            })
        }
    };
    let model = parse(bytes)?;
    let mut graph = Graph::new(&model, dtype)?;
    let q = Types { dtype };
    let input_tensor = graph.tensor(graph.current());
    let first = graph.peek().map(|(index, op)| At { index, op });
    let input = match first {
        Some(at) => {
            graph.check_type(at, input_tensor)?;
            q.activation(at, input_tensor)?
        }
        None => {
            return Err(WeightsError::Tflite {
                reason: "the file has no operators".to_owned(),
            })
        }
    };
    let mut out = Vec::with_capacity(layers.len());
    for (index, layer) in layers.iter().enumerate() {
        let row = Row { index, layer, padding };
        let Some((op_index, op)) = graph.next() else {
            return Err(WeightsError::Tflite {
                reason: format!(
                    "the file ends after {} operators, but {row} still needs {}",
                    graph.op_count(),
                    expected_ops(layer.kind)
                ),
            });
        };
        let at = At { index: op_index, op };
        graph.check_input(at, layer.input, &row)?;
        let in_q = q.activation(at, graph.tensor(graph.current()))?;
        let layer = match layer.kind {
            LayerKind::Conv | LayerKind::ConvDw => QuantLayer::Conv(q.conv(&mut graph, at, &row, activation, in_q)?),
            LayerKind::Fc => QuantLayer::Conv(q.fc(&mut graph, at, &row, in_q)?),
            LayerKind::AvgPool => QuantLayer::Pool(q.pool(&mut graph, at, &row, in_q)?),
            LayerKind::Softmax => QuantLayer::Softmax(Box::new(q.softmax(&mut graph, at, &row, in_q)?)),
        };
        out.push(layer);
    }
    graph.finish(layers)?;
    let last = graph.tensor(graph.current());
    let output = match graph.peek().or(first.map(|a| (a.index, a.op))) {
        Some((index, op)) => q.activation(At { index, op }, last)?,
        None => unreachable!("a file with operators has a first one"),
    };
    Ok(QuantFile {
        layers: out,
        input,
        output,
    })
}

/// The element type the table computes in, and the checks and conversions that depend on it.
struct Types {
    dtype: ElementType,
}

impl Types {
    fn uint8(&self) -> bool {
        self.dtype == ElementType::UINT8
    }

    /// The type's range.
    fn range(&self) -> (i32, i32) {
        if self.uint8() {
            (0, 255)
        } else {
            (-128, 127)
        }
    }

    /// A value or zero point of the file's type moved into the int8 domain.
    fn domain(&self, v: i32) -> i32 {
        if self.uint8() {
            v - 128
        } else {
            v
        }
    }

    /// An activation tensor's single scale and zero point, checked.
    fn activation(&self, at: At<'_>, tensor: &TfTensor<'_>) -> Result<Quantization, WeightsError> {
        let (scales, zeros) = quantization(at, tensor)?;
        if scales.len() != 1 || zeros.len() != 1 {
            return Err(at.err(
                Some(tensor),
                format!(
                    "an activation needs one scale and one zero point, but the tensor has {} scales and {} zero points",
                    scales.len(),
                    zeros.len()
                ),
            ));
        }
        let zero_point = self.zero_point(at, tensor, zeros[0], "activation")?;
        Ok(Quantization {
            scale: scales[0],
            zero_point,
        })
    }

    /// A zero point of the table's type, checked to be in range.
    fn zero_point(&self, at: At<'_>, tensor: &TfTensor<'_>, z: i64, what: &str) -> Result<i32, WeightsError> {
        let (lo, hi) = self.range();
        match i32::try_from(z) {
            Ok(z) if (lo..=hi).contains(&z) => Ok(z),
            _ => Err(at.err(
                Some(tensor),
                format!(
                    "the {what}'s zero point is {z}, outside {}'s range {lo}..={hi}",
                    self.dtype
                ),
            )),
        }
    }

    /// TFLite's `CalculateActivationRangeQuantized` for `fused` on the output `q`, in the
    /// int8 domain.
    fn act_range(&self, at: At<'_>, fused: FusedActivation, q: Quantization) -> Result<(i8, i8), WeightsError> {
        let (lo, hi) = self.range();
        let quantize = |x: f32| {
            let t = (x / q.scale).round();
            // `t` is finite and small: the scale was checked positive and finite, x is 0 or 6.
            q.zero_point.saturating_add(t as i32)
        };
        let (min, max) = match fused {
            FusedActivation::None => (lo, hi),
            FusedActivation::Relu => (lo.max(quantize(0.0)), hi),
            FusedActivation::Relu6 => (lo.max(quantize(0.0)), hi.min(quantize(6.0))),
            other => return Err(at.err(None, format!("fused activation {other} is not one a MobileNet uses"))),
        };
        if min > max {
            return Err(at.err(
                None,
                format!(
                    "fused activation {fused} leaves no value of the output's range (scale {}, zero point {})",
                    q.scale, q.zero_point
                ),
            ));
        }
        let to_i8 = |v: i32| self.domain(v).clamp(-128, 127) as i8;
        Ok((to_i8(min), to_i8(max)))
    }

    /// The fused activation must be the table's, or NONE on an output whose quantized range
    /// lies within the activation's (TensorFlow's quantized uint8 MobileNets write ReLU6 so:
    /// the output's 256 steps span 0 to 6, and clamping to the type is the ReLU6).
    fn check_activation(
        &self,
        at: At<'_>,
        row: &Row<'_>,
        fused: FusedActivation,
        activation: Activation,
        output: Quantization,
    ) -> Result<(), WeightsError> {
        let want = match activation {
            Activation::Relu => FusedActivation::Relu,
            Activation::Relu6 => FusedActivation::Relu6,
        };
        if fused == want {
            return Ok(());
        }
        let (lo, hi) = self.range();
        let (low, high) = (output.dequantize(lo), output.dequantize(hi));
        let half = output.scale / 2.0;
        let within = low >= -half && (activation == Activation::Relu || high <= 6.0 + half);
        if fused == FusedActivation::None && within {
            return Ok(());
        }
        let range = if fused == FusedActivation::None {
            format!(", and the output's range [{low}, {high}] does not imply it")
        } else {
            String::new()
        };
        Err(at.err(
            None,
            format!("fused activation is {fused}, but {row} applies {want} (the table's activation is {activation:?}){range}"),
        ))
    }

    /// The operator's single output tensor's quantization (the graph has checked its type
    /// and shape in `advance`).
    fn output(&self, at: At<'_>, graph: &Graph<'_, '_>) -> Result<Quantization, WeightsError> {
        self.activation(at, graph.tensor(graph.current()))
    }

    /// A `conv` or `conv_dw` row.
    fn conv(
        &self,
        graph: &mut Graph<'_, '_>,
        at: At<'_>,
        row: &Row<'_>,
        activation: Activation,
        input: Quantization,
    ) -> Result<QuantConv, WeightsError> {
        let layer = row.layer;
        let [kh, kw] = layer.kernel;
        let (cin, cout) = (layer.input[2], layer.output[2]);
        let depthwise_op = at.op.opcode.builtin == BuiltinOp::DEPTHWISE_CONV_2D;
        let (tf_padding, stride, dilation, fused) = match (&at.op.options, layer.kind) {
            (Options::Conv2D(o), LayerKind::Conv) if at.op.opcode.builtin == BuiltinOp::CONV_2D => {
                (o.padding, o.stride, o.dilation, o.activation)
            }
            (Options::DepthwiseConv2D(o), kind) if depthwise_op => {
                let multiplier = if kind == LayerKind::ConvDw { 1 } else { cout };
                if kind == LayerKind::Conv && cin != 1 {
                    return Err(at.err(
                        None,
                        format!("DEPTHWISE_CONV_2D computes {row} only on one input channel, but the layer has {cin}"),
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
                (o.padding, o.stride, o.dilation, o.activation)
            }
            _ => return Err(graph.wrong_op(at, row)),
        };
        check_stride(at, stride, layer.stride, row)?;
        check_dilation(at, dilation)?;
        check_padding(at, tf_padding, row)?;
        // Filter as stored: OHWI for CONV_2D, [1, kh, kw, c] for DEPTHWISE_CONV_2D (whose
        // channels are the outputs: quantized along dimension 3).
        let (shape, channel_dim) = if depthwise_op {
            (vec![1, kh, kw, cout], 3)
        } else {
            (vec![cout, kh, kw, cin], 0)
        };
        let (raw, wzp, scales) = self.filter(graph, at, row, &shape, channel_dim, cout)?;
        let weights = if depthwise_op && layer.kind == LayerKind::Conv {
            // One input channel fanned out: [1][kh][kw][cout] -> OHWI [cout][kh][kw][1].
            let mut w = vec![0; raw.len()];
            for o in 0..cout {
                for t in 0..kh * kw {
                    w[o * kh * kw + t] = raw[t * cout + o];
                }
            }
            w
        } else {
            raw
        };
        let bias = self.bias(graph, at, row, cout, input, &scales)?;
        graph.advance(at, layer.output, false, row)?;
        let output = self.output(at, graph)?;
        self.check_activation(at, row, fused, activation, output)?;
        let filter = (weights, wzp, scales);
        self.layer(at, filter, bias, (input, output), fused)
    }

    /// An `fc` row: a 1x1 `CONV_2D` or a `FULLY_CONNECTED`, then any `RESHAPE`/`SQUEEZE`,
    /// which must keep the quantization.
    fn fc(
        &self,
        graph: &mut Graph<'_, '_>,
        at: At<'_>,
        row: &Row<'_>,
        input: Quantization,
    ) -> Result<QuantConv, WeightsError> {
        let (cin, cout) = (row.layer.input[2], row.layer.output[2]);
        let (fused, shape) = match &at.op.options {
            Options::Conv2D(o) if at.op.opcode.builtin == BuiltinOp::CONV_2D => {
                check_dilation(at, o.dilation)?;
                (o.activation, vec![cout, 1, 1, cin])
            }
            Options::FullyConnected(o) if at.op.opcode.builtin == BuiltinOp::FULLY_CONNECTED => {
                if o.shuffled_weights {
                    return Err(at.err(None, "weights use the SHUFFLED4x16INT8 layout, which is not supported"));
                }
                (o.activation, vec![cout, cin])
            }
            _ => return Err(graph.wrong_op(at, row)),
        };
        if fused != FusedActivation::None {
            return Err(at.err(None, format!("fused activation is {fused}, but {row} is linear (NONE)")));
        }
        let (weights, wzp, scales) = self.filter(graph, at, row, &shape, 0, cout)?;
        let bias = self.bias(graph, at, row, cout, input, &scales)?;
        graph.advance(at, row.layer.output, true, row)?;
        let output = self.output(at, graph)?;
        while let Some((index, op)) = graph.peek() {
            if ![BuiltinOp::RESHAPE, BuiltinOp::SQUEEZE].contains(&op.opcode.builtin) {
                break;
            }
            let _ = graph.next();
            let at = At { index, op };
            graph.check_input(at, row.layer.output, row)?;
            graph.advance(at, row.layer.output, true, row)?;
            let q = self.output(at, graph)?;
            if q != output {
                return Err(at.err(
                    Some(graph.tensor(graph.current())),
                    format!(
                        "the reshape changes the quantization from scale {} zero point {} to scale {} zero point {}",
                        output.scale, output.zero_point, q.scale, q.zero_point
                    ),
                ));
            }
        }
        let filter = (weights, wzp, scales);
        self.layer(at, filter, bias, (input, output), FusedActivation::None)
    }

    /// A convolution or fc layer in the int8 domain: `filter` as [`Types::filter`] returns it,
    /// the requantization from the input's, filter's and output's scales, and `fused`'s clamp.
    fn layer(
        &self,
        at: At<'_>,
        (weights, weight_zero_point, scales): (Vec<i8>, i32, Vec<f32>),
        bias: Vec<i32>,
        (input, output): (Quantization, Quantization),
        fused: FusedActivation,
    ) -> Result<QuantConv, WeightsError> {
        let (act_min, act_max) = self.act_range(at, fused, output)?;
        let (multiplier, shift) = self.requantization(input, &scales, output);
        Ok(QuantConv {
            weights,
            weight_zero_point,
            bias,
            input_zero_point: self.domain(input.zero_point),
            output_zero_point: self.domain(output.zero_point),
            multiplier,
            shift,
            act_min,
            act_max,
        })
    }

    /// An `avg_pool` row: TFLite's quantized average pool keeps its input's quantization.
    fn pool(
        &self,
        graph: &mut Graph<'_, '_>,
        at: At<'_>,
        row: &Row<'_>,
        input: Quantization,
    ) -> Result<PoolQuant, WeightsError> {
        let o = graph.pool_options(at, row)?;
        graph.advance(at, row.layer.output, false, row)?;
        let output = self.output(at, graph)?;
        if output != input {
            return Err(at.err(
                Some(graph.tensor(graph.current())),
                format!(
                    "the output's quantization (scale {}, zero point {}) differs from the input's (scale {}, zero \
                     point {}); TFLite's quantized average pool keeps it",
                    output.scale, output.zero_point, input.scale, input.zero_point
                ),
            ));
        }
        let (act_min, act_max) = self.act_range(at, o.activation, output)?;
        Ok(PoolQuant {
            domain_offset: if self.uint8() { 128 } else { 0 },
            act_min,
            act_max,
        })
    }

    /// A `softmax` row: the output must be TFLite's fixed 1/256 scale.
    fn softmax(
        &self,
        graph: &mut Graph<'_, '_>,
        at: At<'_>,
        row: &Row<'_>,
        input: Quantization,
    ) -> Result<SoftmaxQuant, WeightsError> {
        let beta = match &at.op.options {
            Options::Softmax { beta } if at.op.opcode.builtin == BuiltinOp::SOFTMAX => *beta,
            _ => return Err(graph.wrong_op(at, row)),
        };
        if beta != 1.0 {
            return Err(at.err(None, format!("beta is {beta}, but {row} is a plain softmax (beta 1)")));
        }
        graph.advance(at, row.layer.output, true, row)?;
        let output = self.output(at, graph)?;
        let zero = if self.uint8() { 0 } else { -128 };
        if output.zero_point != zero || (output.scale - 1.0 / 256.0).abs() > 0.001 / 256.0 {
            return Err(at.err(
                Some(graph.tensor(graph.current())),
                format!(
                    "a quantized softmax outputs scale 1/256 and zero point {zero}, but this tensor has scale {} and \
                     zero point {}",
                    output.scale, output.zero_point
                ),
            ));
        }
        SoftmaxQuant::new(input.scale, beta).map_err(|e| at.err(None, e))
    }

    /// The filter's bytes (in the int8 domain), its zero point (int8 domain) and its scales
    /// (one, or one per output channel), checked.
    fn filter(
        &self,
        graph: &Graph<'_, '_>,
        at: At<'_>,
        row: &Row<'_>,
        shape: &[usize],
        channel_dim: i32,
        channels: usize,
    ) -> Result<(Vec<i8>, i32, Vec<f32>), WeightsError> {
        let tensor = constant(graph, at, 1, "filter")?;
        if tensor.dtype != self.dtype {
            return Err(at.err(
                Some(tensor),
                format!(
                    "the filter is {}, but the table's weights are {}",
                    tensor.dtype, self.dtype
                ),
            ));
        }
        check_shape(at, tensor, shape, row, "filter")?;
        let len = shape.iter().product::<usize>();
        if tensor.data.len() != len {
            return Err(at.err(
                Some(tensor),
                format!(
                    "the filter holds {} bytes, not the {len} values of its shape (truncated buffer)",
                    tensor.data.len()
                ),
            ));
        }
        let (scales, zeros) = quantization(at, tensor)?;
        let per_channel = scales.len() == channels && channels > 1;
        if scales.len() != 1 && !per_channel {
            return Err(at.err(
                Some(tensor),
                format!(
                    "the filter has {} scales; it needs one, or one per output channel ({channels})",
                    scales.len()
                ),
            ));
        }
        if zeros.len() != scales.len() {
            return Err(at.err(
                Some(tensor),
                format!("the filter has {} scales but {} zero points", scales.len(), zeros.len()),
            ));
        }
        let quantization = tensor.quantization.as_ref();
        if per_channel && quantization.map(|q| q.quantized_dimension) != Some(channel_dim) {
            return Err(at.err(
                Some(tensor),
                format!(
                    "the filter's scales run along dimension {}, but its output channels are dimension {channel_dim}",
                    quantization.map_or(0, |q| q.quantized_dimension)
                ),
            ));
        }
        let zero_point = if self.uint8() {
            if per_channel {
                return Err(at.err(
                    Some(tensor),
                    "a uint8 filter has one scale per tensor, not one per channel",
                ));
            }
            self.zero_point(at, tensor, zeros[0], "filter")? - 128
        } else {
            if let Some(z) = zeros.iter().find(|&&z| z != 0) {
                return Err(at.err(
                    Some(tensor),
                    format!("an int8 filter is symmetric (zero point 0), but this one has zero point {z}"),
                ));
            }
            0
        };
        let flip = if self.uint8() { 0x80 } else { 0 };
        let weights = tensor.data.iter().map(|&b| (b ^ flip) as i8).collect();
        let scales = if per_channel { scales } else { vec![scales[0]; channels] };
        Ok((weights, zero_point, scales))
    }

    /// The int32 bias (input 2), zeros when omitted. TFLite requires its scale to be close to
    /// `input_scale * filter_scale`; the values are used as stored.
    fn bias(
        &self,
        graph: &Graph<'_, '_>,
        at: At<'_>,
        row: &Row<'_>,
        channels: usize,
        input: Quantization,
        filter_scales: &[f32],
    ) -> Result<Vec<i32>, WeightsError> {
        if matches!(at.op.inputs.get(2), None | Some(None)) {
            return Ok(vec![0; channels]);
        }
        let tensor = constant(graph, at, 2, "bias")?;
        if tensor.dtype != ElementType::INT32 {
            return Err(at.err(
                Some(tensor),
                format!(
                    "the bias is {}, but a {} model's biases are INT32{}",
                    tensor.dtype,
                    self.dtype,
                    if tensor.dtype == ElementType::INT64 {
                        " (INT64 biases belong to int16-activation models)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        check_shape(at, tensor, &[channels], row, "bias")?;
        if tensor.data.len() != 4 * channels {
            return Err(at.err(
                Some(tensor),
                format!(
                    "the bias holds {} bytes, not {} int32 values (truncated buffer)",
                    tensor.data.len(),
                    channels
                ),
            ));
        }
        let (scales, _) = quantization(at, tensor)?;
        if scales.len() != 1 && scales.len() != channels {
            return Err(at.err(
                Some(tensor),
                format!(
                    "the bias has {} scales; it needs one, or one per output channel ({channels})",
                    scales.len()
                ),
            ));
        }
        // A bias is only meaningful at scale input x filter (TFLite checks the same within 2%
        // of the output scale); a factor of two off means the file's quantization is broken.
        for (c, &s) in scales.iter().enumerate() {
            let product = f64::from(input.scale) * f64::from(filter_scales[c]);
            if !(0.5..=2.0).contains(&(f64::from(s) / product)) {
                return Err(at.err(
                    Some(tensor),
                    format!(
                        "bias scale {s} (channel {c}) is not the input scale times the filter scale ({product}), as a \
                         quantized convolution needs"
                    ),
                ));
            }
        }
        Ok(tensor
            .data
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// Each channel's multiplier and shift, as TFLite's `Prepare` computes them (see the
    /// module docs for the uint8 and int8 products).
    fn requantization(&self, input: Quantization, filter_scales: &[f32], output: Quantization) -> (Vec<i32>, Vec<i32>) {
        filter_scales
            .iter()
            .map(|&f| {
                let product = if self.uint8() {
                    f64::from(input.scale * f)
                } else {
                    f64::from(input.scale) * f64::from(f)
                };
                quantize_multiplier(product / f64::from(output.scale))
            })
            .unzip()
    }
}

/// A constant input of `at` (weights or bias), stored in the file.
fn constant<'m, 'a>(
    graph: &Graph<'m, 'a>,
    at: At<'_>,
    slot: usize,
    role: &str,
) -> Result<&'m TfTensor<'a>, WeightsError> {
    let Some(&Some(index)) = at.op.inputs.get(slot) else {
        return Err(at.err(None, format!("it has no {role} tensor (input {slot})")));
    };
    let tensor = graph.tensor(index);
    if tensor.is_sparse || tensor.is_external {
        return Err(at.err(
            Some(tensor),
            format!("the {role} is stored sparse or in an external file, which is not supported"),
        ));
    }
    Ok(tensor)
}

/// A tensor's scales and zero points, every scale checked positive and finite.
fn quantization(at: At<'_>, tensor: &TfTensor<'_>) -> Result<(Vec<f32>, Vec<i64>), WeightsError> {
    let Some(q) = &tensor.quantization else {
        return Err(at.err(Some(tensor), "the tensor has no quantization (scale and zero point)"));
    };
    if q.scale.is_empty() {
        return Err(at.err(Some(tensor), "the tensor's quantization has no scale"));
    }
    if let Some((i, s)) = q.scale.iter().enumerate().find(|(_, s)| !(s.is_finite() && **s > 0.0)) {
        return Err(at.err(
            Some(tensor),
            format!("scale {i} is {s}; a scale must be positive and finite"),
        ));
    }
    Ok((q.scale.clone(), q.zero_point.clone()))
}
