//! int8 versions of the bench networks, in TFLite's int8 scheme, for LiteRT (and our own int8
//! model) to run: post-training quantization of the float `.tflite` file the runtime's writer
//! makes from the bench weights, calibrated on the bench input.
//!
//! What TensorFlow's converter does with a representative dataset, done here without
//! TensorFlow (see `bench/README.md`):
//! - activations: int8, one scale and zero point per tensor, from the range the float network's
//!   tensor took on the calibration input, widened to hold 0 (`GetAsymmetricQuantizationParams`
//!   over [-128, 127]); a fused ReLU6's output starts at 0, so its zero point is -128;
//! - weights: int8, symmetric, one scale per output channel, `max |w| / 127`, values in
//!   [-127, 127] (`SymmetricPerChannelQuantization`), along dimension 0 of a `CONV_2D` filter
//!   `[out, kh, kw, in]` and dimension 3 of a `DEPTHWISE_CONV_2D` filter `[1, kh, kw, channels]`;
//! - biases: int32, scale `float32(s_input * s_weight[c])`, zero point 0
//!   (`SymmetricPerChannelBiasQuantize`);
//! - `AVERAGE_POOL_2D` and `RESHAPE` keep their input's scale and zero point; `SOFTMAX` outputs
//!   scale 1/256 and zero point -128, which TFLite's int8 kernel requires.
//!
//! The structure is TF-slim's quantized export: `CONV_2D` and `DEPTHWISE_CONV_2D` with their
//! activation fused, `AVERAGE_POOL_2D`, the classifier as a 1x1 `CONV_2D` (the float file's
//! `FULLY_CONNECTED`), `RESHAPE` to `[1, classes]`, `SOFTMAX`. Input and output are int8; the
//! caller quantizes the image with [`Int8Model::input`].

use mobilenet_tflite::generated::tflite as fb;
use mobilenet_tflite::{BuiltinOp, ElementType, FusedActivation, Options, Padding, Tensor, TfliteModel};

use crate::Error;

/// The smallest and largest value a tensor took during calibration.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Range {
    /// Smallest value.
    pub min: f32,
    /// Largest value.
    pub max: f32,
}

impl Range {
    /// The range of `values` (0 to 0 for none).
    pub fn of(values: &[f32]) -> Self {
        let (min, max) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
        if min > max {
            Self { min: 0.0, max: 0.0 }
        } else {
            Self { min, max }
        }
    }
}

/// Affine int8 quantization of a tensor: `real = scale * (q - zero_point)`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Affine {
    /// Real value of one step.
    pub scale: f32,
    /// The integer that stands for 0.0.
    pub zero_point: i32,
}

/// What TFLite's int8 softmax outputs: probabilities in steps of 1/256 from -128.
pub const SOFTMAX_OUTPUT: Affine = Affine {
    scale: 1.0 / 256.0,
    zero_point: -128,
};

impl Affine {
    /// The parameters TFLite's converter derives from a calibrated range
    /// (`GetAsymmetricQuantizationParams` with quant_min -128, quant_max 127).
    pub fn calibrated(range: Range) -> Self {
        let (qmin, qmax) = (-128.0f32, 127.0f32);
        let min = range.min.min(0.0);
        let max = range.max.max(0.0);
        let scale = (max - min) / (qmax - qmin);
        if scale <= 0.0 || !scale.is_finite() {
            // A tensor that was 0 everywhere: any scale represents it; TFLite wants one > 0.
            return Self {
                scale: 1.0,
                zero_point: -128,
            };
        }
        let from_min = qmin - min / scale;
        let zero_point = if from_min < qmin {
            qmin
        } else if from_min > qmax {
            qmax
        } else {
            from_min.round()
        };
        Self {
            scale,
            zero_point: zero_point as i32,
        }
    }

    /// `x` quantized as TFLite's QUANTIZE kernel does: `round(x / scale) + zero_point`, clamped.
    pub fn quantize(self, x: f32) -> i8 {
        ((x / self.scale).round() as i32 + self.zero_point).clamp(-128, 127) as i8
    }

    /// The real value of `q`.
    pub fn dequantize(self, q: i8) -> f32 {
        self.scale * (i32::from(q) - self.zero_point) as f32
    }
}

/// An int8 TFLite model and the quantization of its ends.
pub struct Int8Model {
    /// The flatbuffer.
    pub bytes: Vec<u8>,
    /// How the input image is quantized.
    pub input: Affine,
    /// The output's parameters ([`SOFTMAX_OUTPUT`] when the network ends in softmax).
    pub output: Affine,
}

/// Name of the classifier's output tensor (the int8 logits) in the files [`quantize`] writes;
/// `bench/py/worker.py` reads it by this name.
pub const LOGITS: &str = "logits";

/// Quantizes a float model written by `tflite_from_tensors` (one operator per layer, the last
/// ones `FULLY_CONNECTED` and optionally `SOFTMAX`). `input` is the calibration input's range,
/// `outputs[i]` the range of operator `i`'s output on it.
pub fn quantize(float_file: &[u8], input: Range, outputs: &[Range]) -> Result<Int8Model, Error> {
    let model = TfliteModel::parse(float_file)?;
    let ops = model.operators();
    if ops.len() != outputs.len() {
        return Err(format!("{} operators but {} calibrated outputs", ops.len(), outputs.len()).into());
    }
    let tensors = model.tensors();
    let &[input_index] = model.inputs() else {
        return Err("the float model must have one input".into());
    };
    let mut w = Writer::default();
    let input_affine = Affine::calibrated(input);
    let mut current = w.activation("input", &tensors[input_index].shape, input_affine);
    let mut current_affine = input_affine;
    let mut current_shape = tensors[input_index].shape.clone();
    let mut logits_affine = None;

    for (i, (op, &range)) in ops.iter().zip(outputs).enumerate() {
        let name = format!("op{i}");
        let out_shape = &tensors[op.outputs[0]].shape;
        let operand = |k: usize| -> Result<&Tensor<'_>, Error> {
            let index = op.inputs.get(k).copied().flatten();
            Ok(&tensors[index.ok_or_else(|| format!("operator {i}: input {k} is missing"))?])
        };
        match (op.opcode.builtin, &op.options) {
            (BuiltinOp::CONV_2D, Options::Conv2D(o)) => {
                let (filter, bias) = (operand(1)?, operand(2)?);
                let out_affine = Affine::calibrated(range);
                let (f, b) = w.filter_and_bias(&name, filter, bias, 0, current_affine)?;
                let output = w.activation(&format!("{name}/output"), out_shape, out_affine);
                let options = fb::BuiltinOptions::Conv2DOptions(Box::new(fb::Conv2DOptions {
                    padding: padding(o.padding),
                    stride_h: o.stride[0],
                    stride_w: o.stride[1],
                    dilation_h_factor: o.dilation[0],
                    dilation_w_factor: o.dilation[1],
                    fused_activation_function: activation(o.activation)?,
                    ..Default::default()
                }));
                w.op(fb::BuiltinOperator::Conv2d, 3, vec![current, f, b], output, options);
                (current, current_affine) = (output, out_affine);
            }
            (BuiltinOp::DEPTHWISE_CONV_2D, Options::DepthwiseConv2D(o)) => {
                let (filter, bias) = (operand(1)?, operand(2)?);
                let out_affine = Affine::calibrated(range);
                let (f, b) = w.filter_and_bias(&name, filter, bias, 3, current_affine)?;
                let output = w.activation(&format!("{name}/output"), out_shape, out_affine);
                let options = fb::BuiltinOptions::DepthwiseConv2DOptions(Box::new(fb::DepthwiseConv2DOptions {
                    padding: padding(o.padding),
                    stride_h: o.stride[0],
                    stride_w: o.stride[1],
                    dilation_h_factor: o.dilation[0],
                    dilation_w_factor: o.dilation[1],
                    depth_multiplier: o.depth_multiplier,
                    fused_activation_function: activation(o.activation)?,
                }));
                w.op(
                    fb::BuiltinOperator::DepthwiseConv2d,
                    3,
                    vec![current, f, b],
                    output,
                    options,
                );
                (current, current_affine) = (output, out_affine);
            }
            (BuiltinOp::AVERAGE_POOL_2D, Options::Pool2D(o)) => {
                // TFLite's int8 average pool does not rescale: output and input share parameters.
                let output = w.activation(&format!("{name}/output"), out_shape, current_affine);
                let options = fb::BuiltinOptions::Pool2DOptions(Box::new(fb::Pool2DOptions {
                    padding: padding(o.padding),
                    stride_h: o.stride[0],
                    stride_w: o.stride[1],
                    filter_height: o.filter[0],
                    filter_width: o.filter[1],
                    fused_activation_function: activation(o.activation)?,
                }));
                w.op(fb::BuiltinOperator::AveragePool2d, 2, vec![current], output, options);
                current = output;
            }
            (BuiltinOp::FULLY_CONNECTED, Options::FullyConnected(o)) => {
                // TF-slim's classifier is a 1x1 convolution on the pooled [1, 1, 1, C] tensor,
                // then RESHAPE to [1, classes].
                let (filter, bias) = (operand(1)?, operand(2)?);
                let (&[classes, cin], [1, 1, 1, c]) = (filter.shape.as_slice(), current_shape.as_slice()) else {
                    return Err(format!(
                        "operator {i}: the classifier must take a [1, 1, 1, C] tensor, got {current_shape:?}"
                    )
                    .into());
                };
                if *c != cin {
                    return Err(format!("operator {i}: the classifier takes {cin} channels, the input has {c}").into());
                }
                let as_conv = Tensor {
                    shape: vec![classes, 1, 1, cin],
                    ..filter.clone()
                };
                let out_affine = Affine::calibrated(range);
                let (f, b) = w.filter_and_bias(&name, &as_conv, bias, 0, current_affine)?;
                let logits = w.activation(LOGITS, &[1, 1, 1, classes], out_affine);
                let options = fb::BuiltinOptions::Conv2DOptions(Box::new(fb::Conv2DOptions {
                    padding: fb::Padding::Same,
                    stride_h: 1,
                    stride_w: 1,
                    dilation_h_factor: 1,
                    dilation_w_factor: 1,
                    fused_activation_function: activation(o.activation)?,
                    ..Default::default()
                }));
                w.op(fb::BuiltinOperator::Conv2d, 3, vec![current, f, b], logits, options);
                let shape = w.constant(
                    &format!("{name}/shape"),
                    &[2],
                    fb::TensorType::Int32,
                    [1, classes].iter().flat_map(|d| d.to_le_bytes()).collect(),
                    None,
                );
                let output = w.activation(&format!("{name}/reshaped"), &[1, classes], out_affine);
                let options = fb::BuiltinOptions::ReshapeOptions(Box::new(fb::ReshapeOptions {
                    new_shape: Some(vec![1, classes]),
                }));
                w.op(fb::BuiltinOperator::Reshape, 1, vec![logits, shape], output, options);
                (current, current_affine) = (output, out_affine);
                logits_affine = Some(out_affine);
            }
            (BuiltinOp::SOFTMAX, Options::Softmax { beta }) => {
                let output = w.activation(&format!("{name}/output"), out_shape, SOFTMAX_OUTPUT);
                let options = fb::BuiltinOptions::SoftmaxOptions(Box::new(fb::SoftmaxOptions { beta: *beta }));
                w.op(fb::BuiltinOperator::Softmax, 2, vec![current], output, options);
                (current, current_affine) = (output, SOFTMAX_OUTPUT);
            }
            (code, _) => {
                let name = code.name().unwrap_or("an unknown operator");
                return Err(format!("operator {i}: {name} is not one the bench quantizes").into());
            }
        }
        current_shape = w.tensors[current as usize].shape.clone().unwrap_or_default();
    }
    if logits_affine.is_none() {
        return Err("the float model has no FULLY_CONNECTED classifier".into());
    }
    Ok(Int8Model {
        bytes: mobilenet_tflite::to_bytes(&w.finish(current)),
        input: input_affine,
        output: current_affine,
    })
}

fn padding(p: Padding) -> fb::Padding {
    match p {
        Padding::Same => fb::Padding::Same,
        Padding::Valid => fb::Padding::Valid,
    }
}

fn activation(a: FusedActivation) -> Result<fb::ActivationFunctionType, Error> {
    Ok(match a {
        FusedActivation::None => fb::ActivationFunctionType::None,
        FusedActivation::Relu => fb::ActivationFunctionType::Relu,
        FusedActivation::Relu6 => fb::ActivationFunctionType::Relu6,
        other => return Err(format!("fused {other} is not one the bench quantizes").into()),
    })
}

/// The float32 values of a constant tensor.
fn floats(t: &Tensor<'_>) -> Result<Vec<f32>, Error> {
    if t.dtype != ElementType::FLOAT32 || !t.data.len().is_multiple_of(4) {
        return Err(format!("tensor {:?}: expected float32 constant data", t.name).into());
    }
    Ok(t.data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Per-channel symmetric int8 weights: one scale per slice along `axis`, `max |w| / 127`,
/// values `round(w / scale)` in [-127, 127] (TFLite's `SymmetricPerChannelQuantization`).
fn per_channel(values: &[f32], shape: &[usize], axis: usize) -> (Vec<i8>, Vec<f32>) {
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let channel_of = |i: usize| (i / inner) % channels;
    let mut max = vec![0.0f32; channels];
    for (i, v) in values.iter().enumerate() {
        let c = channel_of(i);
        max[c] = max[c].max(v.abs());
    }
    let scales: Vec<f32> = max.iter().map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 }).collect();
    let inverse: Vec<f32> = scales.iter().map(|s| 1.0 / s).collect();
    let q = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v * inverse[channel_of(i)]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scales)
}

/// Accumulates the int8 model's tensors, buffers and operators.
#[derive(Default)]
struct Writer {
    tensors: Vec<fb::Tensor>,
    buffers: Vec<fb::Buffer>,
    codes: Vec<(fb::BuiltinOperator, i32)>,
    ops: Vec<fb::Operator>,
}

fn quantization(scale: Vec<f32>, zero_point: Vec<i64>, axis: usize) -> Option<Box<fb::QuantizationParameters>> {
    Some(Box::new(fb::QuantizationParameters {
        scale: Some(scale),
        zero_point: Some(zero_point),
        quantized_dimension: axis as i32,
        ..Default::default()
    }))
}

impl Writer {
    /// An int8 activation tensor with per-tensor parameters.
    fn activation(&mut self, name: &str, shape: &[i32], affine: Affine) -> i32 {
        self.tensors.push(fb::Tensor {
            shape: Some(shape.to_vec()),
            type_: fb::TensorType::Int8,
            buffer: 0,
            name: Some(name.to_owned()),
            quantization: quantization(vec![affine.scale], vec![i64::from(affine.zero_point)], 0),
            ..Default::default()
        });
        self.tensors.len() as i32 - 1
    }

    /// A constant tensor holding `data`.
    fn constant(
        &mut self,
        name: &str,
        shape: &[i32],
        type_: fb::TensorType,
        data: Vec<u8>,
        quantization: Option<Box<fb::QuantizationParameters>>,
    ) -> i32 {
        if self.buffers.is_empty() {
            // Buffer 0 is the empty buffer every activation points at.
            self.buffers.push(fb::Buffer::default());
        }
        self.buffers.push(fb::Buffer {
            data: Some(data),
            ..Default::default()
        });
        self.tensors.push(fb::Tensor {
            shape: Some(shape.to_vec()),
            type_,
            buffer: self.buffers.len() as u32 - 1,
            name: Some(name.to_owned()),
            quantization,
            ..Default::default()
        });
        self.tensors.len() as i32 - 1
    }

    /// The per-channel int8 filter (channels along `axis`) and int32 bias of a convolution
    /// whose input has parameters `input`.
    fn filter_and_bias(
        &mut self,
        name: &str,
        filter: &Tensor<'_>,
        bias: &Tensor<'_>,
        axis: usize,
        input: Affine,
    ) -> Result<(i32, i32), Error> {
        let shape = filter
            .dims()
            .filter(|d| d.len() == 4)
            .ok_or_else(|| format!("{name}: the filter must be 4-D, got {:?}", filter.shape))?;
        let (weights, bias_values) = (floats(filter)?, floats(bias)?);
        if weights.len() != shape.iter().product::<usize>() || bias_values.len() != shape[axis] {
            return Err(format!("{name}: filter or bias size does not match the filter's shape").into());
        }
        let (q, scales) = per_channel(&weights, &shape, axis);
        let zeros = vec![0i64; scales.len()];
        let f = self.constant(
            &format!("{name}/weights"),
            &filter.shape,
            fb::TensorType::Int8,
            q.iter().map(|&v| v as u8).collect(),
            quantization(scales.clone(), zeros.clone(), axis),
        );
        // float32(s_in * s_w[c]), and the value times its float32 inverse, rounded
        // (SymmetricPerChannelBiasQuantize).
        let bias_scales: Vec<f32> = scales.iter().map(|s| input.scale * s).collect();
        let quantized: Vec<u8> = bias_values
            .iter()
            .zip(&bias_scales)
            .flat_map(|(b, s)| {
                let inverse = if *s == 0.0 { 0.0 } else { 1.0 / s };
                let q = f64::from((b * inverse).round()).clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
                q.to_le_bytes()
            })
            .collect();
        let b = self.constant(
            &format!("{name}/bias"),
            &bias.shape,
            fb::TensorType::Int32,
            quantized,
            quantization(bias_scales, zeros, 0),
        );
        Ok((f, b))
    }

    fn op(
        &mut self,
        code: fb::BuiltinOperator,
        version: i32,
        inputs: Vec<i32>,
        output: i32,
        options: fb::BuiltinOptions,
    ) {
        let index = match self.codes.iter().position(|&c| c == (code, version)) {
            Some(i) => i,
            None => {
                self.codes.push((code, version));
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
                    .map(|&(code, version)| fb::OperatorCode {
                        deprecated_builtin_code: (code as i32).min(127) as i8,
                        builtin_code: code,
                        version,
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
            description: Some("int8 (per-channel) MobileNet-V1, quantized by mobilenet-bench".to_owned()),
            buffers: Some(self.buffers),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_follows_tflites_converter() {
        // A ReLU6 output: the range starts at 0, so 0.0 is -128.
        let a = Affine::calibrated(Range { min: 0.0, max: 5.1 });
        assert_eq!(
            a,
            Affine {
                scale: 0.02,
                zero_point: -128
            }
        );
        // A range that does not hold 0 is widened to it.
        assert_eq!(Affine::calibrated(Range { min: 1.0, max: 5.1 }), a);
        // [-1, 1] gives 2/255 and a zero point of round(-128 + 127.5) = -1 (half away from
        // zero, as std::round).
        let b = Affine::calibrated(Range { min: -1.0, max: 1.0 });
        assert_eq!(b.zero_point, -1);
        assert!((b.scale - 2.0 / 255.0).abs() < 1e-9);
        assert_eq!(b.quantize(0.0), -1);
        // 1.0 / scale is 127.49999 in float32.
        assert_eq!(b.quantize(1.0), 126);
        assert_eq!(b.quantize(-1.0), -128);
        assert_eq!(b.quantize(7.0), 127);
        assert_eq!(b.dequantize(-1), 0.0);
    }

    #[test]
    fn weights_are_symmetric_per_channel() {
        // Two output channels of two values each, channels first.
        let (q, s) = per_channel(&[0.5, -1.27, 2.54, 0.0], &[2, 1, 1, 2], 0);
        assert_eq!(s, [0.01, 0.02]);
        assert_eq!(q, [50, -127, 127, 0]);
        // Channels last (depthwise [1, kh, kw, C]).
        let (q, s) = per_channel(&[0.5, 2.54, -1.27, 0.0], &[1, 2, 1, 2], 3);
        assert_eq!(s, [0.01, 0.02]);
        assert_eq!(q, [50, 127, -127, 0]);
    }
}
