//! [`TfliteModel`]: a checked, owned view of one TFLite model's tensors and operators.
//!
//! Parsing reads every table this crate understands once, up front, so that a damaged file
//! fails in [`TfliteModel::parse`] with the location of the damage, and everything after that
//! (index lookups, buffer slices) is plain Rust data that cannot fail.

use std::fmt;

use planus::ReadAsRoot;

use crate::generated::tflite as fb;
use crate::names::{BUILTIN_OPERATORS, TENSOR_TYPES};
use crate::TfliteError;

/// The file identifier every TFLite flatbuffer carries at bytes 4..8.
pub const FILE_IDENTIFIER: &[u8; 4] = b"TFL3";

/// Whether `bytes` look like a TFLite model: the cheap sniff a loader does before choosing a
/// parser. It only checks the file identifier; [`TfliteModel::parse`] checks the rest.
pub fn is_tflite(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(FILE_IDENTIFIER.as_slice())
}

/// A TFLite builtin operator code (`BuiltinOperator` in schema.fbs).
///
/// Kept as the raw code so that an operator newer than this crate's schema still has a name
/// in messages ("builtin operator 250") instead of failing the whole parse.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct BuiltinOp(pub i32);

impl BuiltinOp {
    /// `ADD`.
    pub const ADD: BuiltinOp = BuiltinOp(0);
    /// `AVERAGE_POOL_2D`.
    pub const AVERAGE_POOL_2D: BuiltinOp = BuiltinOp(1);
    /// `CONV_2D`.
    pub const CONV_2D: BuiltinOp = BuiltinOp(3);
    /// `DEPTHWISE_CONV_2D`.
    pub const DEPTHWISE_CONV_2D: BuiltinOp = BuiltinOp(4);
    /// `DEQUANTIZE`.
    pub const DEQUANTIZE: BuiltinOp = BuiltinOp(6);
    /// `FULLY_CONNECTED`.
    pub const FULLY_CONNECTED: BuiltinOp = BuiltinOp(9);
    /// `RESHAPE`.
    pub const RESHAPE: BuiltinOp = BuiltinOp(22);
    /// `SOFTMAX`.
    pub const SOFTMAX: BuiltinOp = BuiltinOp(25);
    /// `CUSTOM`: the operator is named by [`OpCode::custom`].
    pub const CUSTOM: BuiltinOp = BuiltinOp(32);
    /// `SQUEEZE`.
    pub const SQUEEZE: BuiltinOp = BuiltinOp(43);

    /// TFLite's name for the operator (`CONV_2D`), if the schema this crate was generated from
    /// knows it.
    pub fn name(self) -> Option<&'static str> {
        lookup(BUILTIN_OPERATORS, self.0)
    }
}

impl fmt::Display for BuiltinOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "builtin operator {}", self.0),
        }
    }
}

/// A tensor's element type (`TensorType` in schema.fbs), kept raw for the same reason as
/// [`BuiltinOp`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ElementType(pub i8);

impl ElementType {
    /// `FLOAT32`.
    pub const FLOAT32: ElementType = ElementType(0);
    /// `FLOAT16`.
    pub const FLOAT16: ElementType = ElementType(1);
    /// `INT32`.
    pub const INT32: ElementType = ElementType(2);
    /// `UINT8`.
    pub const UINT8: ElementType = ElementType(3);
    /// `INT64`.
    pub const INT64: ElementType = ElementType(4);
    /// `INT8`.
    pub const INT8: ElementType = ElementType(9);

    /// TFLite's name for the type (`FLOAT32`), if known.
    pub fn name(self) -> Option<&'static str> {
        lookup(TENSOR_TYPES, self.0)
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "tensor type {}", self.0),
        }
    }
}

fn lookup<T: Copy + Ord>(table: &[(T, &'static str)], key: T) -> Option<&'static str> {
    table
        .binary_search_by(|(code, _)| code.cmp(&key))
        .ok()
        .map(|i| table[i].1)
}

/// What an operator runs: a builtin code and, for `CUSTOM`, the custom operator's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpCode {
    /// The builtin code, resolved as TFLite does: the larger of `deprecated_builtin_code` (an
    /// `i8`, all that files before schema 3a have) and `builtin_code`.
    pub builtin: BuiltinOp,
    /// The custom operator's name when `builtin` is [`BuiltinOp::CUSTOM`].
    pub custom: Option<String>,
    /// The operator's version (kernels differ between versions).
    pub version: i32,
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.custom {
            Some(name) if self.builtin == BuiltinOp::CUSTOM => write!(f, "CUSTOM `{name}`"),
            _ => self.builtin.fmt(f),
        }
    }
}

/// Padding of a convolution or pooling window.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    /// TensorFlow `SAME`: output `ceil(in / stride)`, the odd zero at the bottom/right.
    Same,
    /// No padding: output `ceil((in - k + 1) / stride)`.
    Valid,
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Padding::Same => "SAME",
            Padding::Valid => "VALID",
        })
    }
}

/// The activation an operator applies to its output.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum FusedActivation {
    /// None.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `clamp(x, -1, 1)`.
    ReluN1To1,
    /// `clamp(x, 0, 6)`.
    Relu6,
    /// `tanh(x)`.
    Tanh,
    /// `x < 0 ? 1 : 0` style sign bit.
    SignBit,
}

impl fmt::Display for FusedActivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FusedActivation::None => "NONE",
            FusedActivation::Relu => "RELU",
            FusedActivation::ReluN1To1 => "RELU_N1_TO_1",
            FusedActivation::Relu6 => "RELU6",
            FusedActivation::Tanh => "TANH",
            FusedActivation::SignBit => "SIGN_BIT",
        })
    }
}

/// Options of a `CONV_2D`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Conv2DOptions {
    /// SAME or VALID.
    pub padding: Padding,
    /// Stride, `[height, width]`.
    pub stride: [i32; 2],
    /// Dilation factor, `[height, width]`.
    pub dilation: [i32; 2],
    /// Activation applied to the output.
    pub activation: FusedActivation,
}

/// Options of a `DEPTHWISE_CONV_2D`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DepthwiseConv2DOptions {
    /// SAME or VALID.
    pub padding: Padding,
    /// Stride, `[height, width]`.
    pub stride: [i32; 2],
    /// Dilation factor, `[height, width]`.
    pub dilation: [i32; 2],
    /// Output channels per input channel.
    pub depth_multiplier: i32,
    /// Activation applied to the output.
    pub activation: FusedActivation,
}

/// Options of `AVERAGE_POOL_2D` and the other 2-D pooling operators.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Pool2DOptions {
    /// SAME or VALID.
    pub padding: Padding,
    /// Stride, `[height, width]`.
    pub stride: [i32; 2],
    /// Window size, `[height, width]`.
    pub filter: [i32; 2],
    /// Activation applied to the output.
    pub activation: FusedActivation,
}

/// Options of a `FULLY_CONNECTED`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FullyConnectedOptions {
    /// Activation applied to the output.
    pub activation: FusedActivation,
    /// Whether the output keeps the input's leading dimensions.
    pub keep_num_dims: bool,
    /// Whether the weights use the `SHUFFLED4x16INT8` layout instead of plain `[out, in]`.
    pub shuffled_weights: bool,
}

/// An operator's builtin options, for the operator types MobileNet-V1 uses.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Options {
    /// The operator carries no builtin options.
    None,
    /// `Conv2DOptions`.
    Conv2D(Conv2DOptions),
    /// `DepthwiseConv2DOptions`.
    DepthwiseConv2D(DepthwiseConv2DOptions),
    /// `Pool2DOptions`.
    Pool2D(Pool2DOptions),
    /// `FullyConnectedOptions`.
    FullyConnected(FullyConnectedOptions),
    /// `ReshapeOptions`.
    Reshape {
        /// The requested shape (may be empty when given as a second input tensor instead).
        new_shape: Vec<i32>,
    },
    /// `SqueezeOptions`.
    Squeeze {
        /// Dimensions to drop (empty: every dimension of size 1).
        squeeze_dims: Vec<i32>,
    },
    /// `SoftmaxOptions`.
    Softmax {
        /// Multiplier of the logits.
        beta: f32,
    },
    /// Options of a type this crate does not decode.
    Other,
}

/// Parameters that map a tensor's stored integers to real values: `real = scale * (q - zero_point)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantization {
    /// One scale per tensor, or one per slice along `quantized_dimension`.
    pub scale: Vec<f32>,
    /// Zero points, as many as `scale`.
    pub zero_point: Vec<i64>,
    /// The dimension that per-channel parameters run along.
    pub quantized_dimension: i32,
}

/// One tensor of the subgraph: an activation, a weight or a bias.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<'a> {
    /// The tensor's name in the file (empty if it has none).
    pub name: String,
    /// Dimensions, outermost first (NHWC for activations, OHWI for convolution filters).
    pub shape: Vec<i32>,
    /// Element type.
    pub dtype: ElementType,
    /// Quantization parameters, when the file gives any scale or zero point.
    pub quantization: Option<Quantization>,
    /// Index of the tensor's buffer in the model (0: the empty buffer, no constant data).
    pub buffer: u32,
    /// The constant data, little endian, row-major; empty for activations.
    pub data: &'a [u8],
    /// Whether the data is stored sparse (then `data` is not a dense array).
    pub is_sparse: bool,
    /// Whether the data lives in an external file (`external_buffer` in the schema).
    pub is_external: bool,
}

impl Tensor<'_> {
    /// The shape as `usize`s, or `None` if a dimension is negative (unknown).
    pub fn dims(&self) -> Option<Vec<usize>> {
        self.shape.iter().map(|&d| usize::try_from(d).ok()).collect()
    }
}

/// One operator of the subgraph, in execution order.
#[derive(Clone, Debug, PartialEq)]
pub struct Operator {
    /// What the operator computes.
    pub opcode: OpCode,
    /// Input tensor indices; `None` for an omitted optional input (index -1 in the file).
    pub inputs: Vec<Option<usize>>,
    /// Output tensor indices.
    pub outputs: Vec<usize>,
    /// Builtin options.
    pub options: Options,
}

/// A parsed TFLite model: its first subgraph's tensors and operators, with every index and
/// buffer range checked.
#[derive(Clone, Debug, PartialEq)]
pub struct TfliteModel<'a> {
    version: u32,
    description: Option<String>,
    subgraph_count: usize,
    tensors: Vec<Tensor<'a>>,
    operators: Vec<Operator>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
}

impl<'a> TfliteModel<'a> {
    /// Parses `bytes` as a TFLite flatbuffer (identifier `TFL3`) and reads its first subgraph.
    ///
    /// Buffers stored outside the flatbuffer (`offset`/`size`, written by converters for
    /// models over 2 GB) are sliced from `bytes`, bounds-checked.
    ///
    /// # Errors
    /// [`TfliteError::NotTflite`] when the identifier is missing, [`TfliteError::Malformed`]
    /// naming the table and element for anything damaged. Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, TfliteError> {
        check_identifier(bytes)?;
        let model = fb::ModelRef::read_as_root(bytes).at("model root")?;
        let version = model.version().at("model")?;
        let description = model.description().at("model")?.map(str::to_owned);

        let codes = read_opcodes(&model)?;
        let subgraphs = model.subgraphs().at("model")?;
        let subgraph_count = subgraphs.map_or(0, |s| s.len());
        let subgraph = match subgraphs.map(|s| s.get(0)) {
            Some(Some(subgraph)) => subgraph.at("subgraph 0")?,
            _ => return Err(TfliteError::malformed("model", "it has no subgraph")),
        };

        let buffers = model.buffers().at("model")?;
        let mut tensors = Vec::new();
        for (i, tensor) in subgraph.tensors().at("subgraph 0")?.into_iter().flatten().enumerate() {
            let location = format!("tensor {i}");
            tensors.push(read_tensor(bytes, buffers, tensor.at(&location)?, &location)?);
        }

        let mut operators = Vec::new();
        for (i, op) in subgraph.operators().at("subgraph 0")?.into_iter().flatten().enumerate() {
            let location = format!("operator {i}");
            operators.push(read_operator(op.at(&location)?, &codes, tensors.len(), &location)?);
        }

        let inputs = tensor_list(subgraph.inputs().at("subgraph 0")?, tensors.len(), "subgraph 0 inputs")?;
        let outputs = tensor_list(
            subgraph.outputs().at("subgraph 0")?,
            tensors.len(),
            "subgraph 0 outputs",
        )?;
        Ok(TfliteModel {
            version,
            description,
            subgraph_count,
            tensors,
            operators,
            inputs,
            outputs,
        })
    }

    /// The schema version the file declares (3 for every current converter).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The converter's description string, e.g. `TOCO Converted.`.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// How many subgraphs the file has; only the first is read.
    pub fn subgraph_count(&self) -> usize {
        self.subgraph_count
    }

    /// The first subgraph's tensors; operators refer to them by index.
    pub fn tensors(&self) -> &[Tensor<'a>] {
        &self.tensors
    }

    /// The first subgraph's operators, in execution order.
    pub fn operators(&self) -> &[Operator] {
        &self.operators
    }

    /// Indices of the model's input tensors.
    pub fn inputs(&self) -> &[usize] {
        &self.inputs
    }

    /// Indices of the model's output tensors.
    pub fn outputs(&self) -> &[usize] {
        &self.outputs
    }
}

fn check_identifier(bytes: &[u8]) -> Result<(), TfliteError> {
    match bytes.get(4..8) {
        None => Err(TfliteError::NotTflite {
            reason: format!(
                "the file is {} bytes long, too short for the 8-byte flatbuffer header",
                bytes.len()
            ),
        }),
        Some(id) if id != FILE_IDENTIFIER => Err(TfliteError::NotTflite {
            reason: format!(
                "bytes 4..8 are {:?}, not the identifier \"TFL3\"",
                String::from_utf8_lossy(id)
            ),
        }),
        Some(_) => Ok(()),
    }
}

/// Attaches a location to planus' errors, which name the table and field but not which
/// element of a list they were reading.
trait At<T> {
    fn at(self, location: &str) -> Result<T, TfliteError>;
}

impl<T> At<T> for Result<T, planus::Error> {
    fn at(self, location: &str) -> Result<T, TfliteError> {
        self.map_err(|e| TfliteError::malformed(location, e.to_string()))
    }
}

fn read_opcodes(model: &fb::ModelRef<'_>) -> Result<Vec<OpCode>, TfliteError> {
    let mut codes = Vec::new();
    for (i, code) in model.operator_codes().at("model")?.into_iter().flatten().enumerate() {
        let location = format!("operator code {i}");
        let code = code.at(&location)?;
        let deprecated = i32::from(code.deprecated_builtin_code().at(&location)?);
        let builtin = code.builtin_code().at(&location)? as i32;
        // Files before schema 3a only set the i8 field; newer ones set both (the i8 one
        // capped at 127), so the larger value is the real code.
        let builtin = BuiltinOp(deprecated.max(builtin));
        let custom = code.custom_code().at(&location)?.map(str::to_owned);
        codes.push(OpCode {
            builtin,
            custom,
            version: code.version().at(&location)?,
        });
    }
    Ok(codes)
}

fn read_tensor<'a>(
    bytes: &'a [u8],
    buffers: Option<planus::Vector<'a, planus::Result<fb::BufferRef<'a>>>>,
    tensor: fb::TensorRef<'a>,
    location: &str,
) -> Result<Tensor<'a>, TfliteError> {
    let name = tensor.name().at(location)?.unwrap_or_default().to_owned();
    let shape = tensor
        .shape()
        .at(location)?
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let dtype = ElementType(tensor.type_().at(location)? as i8);
    let quantization = match tensor.quantization().at(location)? {
        None => None,
        Some(q) => {
            let scale: Vec<f32> = q.scale().at(location)?.map(|v| v.iter().collect()).unwrap_or_default();
            let zero_point: Vec<i64> = q
                .zero_point()
                .at(location)?
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            let quantized_dimension = q.quantized_dimension().at(location)?;
            (!scale.is_empty() || !zero_point.is_empty()).then_some(Quantization {
                scale,
                zero_point,
                quantized_dimension,
            })
        }
    };
    let buffer = tensor.buffer().at(location)?;
    let data = buffer_data(bytes, buffers, buffer, &format!("{location} (`{name}`)"))?;
    Ok(Tensor {
        name,
        shape,
        dtype,
        quantization,
        buffer,
        data,
        is_sparse: tensor.sparsity().at(location)?.is_some(),
        is_external: tensor.external_buffer().at(location)? != 0,
    })
}

/// The bytes of buffer `index`: its `data` vector, or the `offset`/`size` range of the file
/// that large models use instead.
fn buffer_data<'a>(
    bytes: &'a [u8],
    buffers: Option<planus::Vector<'a, planus::Result<fb::BufferRef<'a>>>>,
    index: u32,
    tensor: &str,
) -> Result<&'a [u8], TfliteError> {
    let count = buffers.map_or(0, |b| b.len());
    let buffer = usize::try_from(index)
        .ok()
        .and_then(|i| buffers?.get(i))
        .ok_or_else(|| {
            TfliteError::malformed(
                tensor,
                format!("it refers to buffer {index}, but the model has {count} buffers"),
            )
        })?;
    let location = format!("buffer {index}");
    let buffer = buffer.at(&location)?;
    if let Some(data) = buffer.data().at(&location)? {
        if !data.is_empty() {
            return Ok(data);
        }
    }
    // The schema: offset "is only valid if > 1" (0 and 1 mark an unset field).
    let offset = buffer.offset().at(&location)?;
    let size = buffer.size().at(&location)?;
    if offset <= 1 {
        return Ok(&[]);
    }
    usize::try_from(offset)
        .ok()
        .zip(usize::try_from(size).ok())
        .and_then(|(start, len)| bytes.get(start..start.checked_add(len)?))
        .ok_or_else(|| {
            TfliteError::malformed(
                location,
                format!(
                    "its data at offset {offset}, size {size} runs past the end of the file ({} bytes)",
                    bytes.len()
                ),
            )
        })
}

fn read_operator(
    op: fb::OperatorRef<'_>,
    codes: &[OpCode],
    tensor_count: usize,
    location: &str,
) -> Result<Operator, TfliteError> {
    let index = op.opcode_index().at(location)?;
    let opcode = usize::try_from(index)
        .ok()
        .and_then(|i| codes.get(i))
        .cloned()
        .ok_or_else(|| {
            TfliteError::malformed(
                location,
                format!(
                    "its opcode index is {index}, but the model has {} operator codes",
                    codes.len()
                ),
            )
        })?;
    let mut inputs = Vec::new();
    for (slot, &index) in op
        .inputs()
        .at(location)?
        .map(|v| v.iter().collect::<Vec<i32>>())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        inputs.push(match index {
            -1 => None,
            _ => Some(tensor_index(index, tensor_count, &format!("{location} input {slot}"))?),
        });
    }
    let outputs = tensor_list(op.outputs().at(location)?, tensor_count, &format!("{location} outputs"))?;
    let options = read_options(op.builtin_options().at(location)?, location)?;
    Ok(Operator {
        opcode,
        inputs,
        outputs,
        options,
    })
}

fn tensor_index(index: i32, tensor_count: usize, location: &str) -> Result<usize, TfliteError> {
    usize::try_from(index)
        .ok()
        .filter(|&i| i < tensor_count)
        .ok_or_else(|| {
            TfliteError::malformed(
                location,
                format!("tensor index {index} is outside the subgraph's {tensor_count} tensors"),
            )
        })
}

fn tensor_list(
    list: Option<planus::Vector<'_, i32>>,
    tensor_count: usize,
    location: &str,
) -> Result<Vec<usize>, TfliteError> {
    list.into_iter()
        .flatten()
        .map(|index| tensor_index(index, tensor_count, location))
        .collect()
}

fn read_options(options: Option<fb::BuiltinOptionsRef<'_>>, location: &str) -> Result<Options, TfliteError> {
    use fb::BuiltinOptionsRef as O;
    let Some(options) = options else {
        return Ok(Options::None);
    };
    Ok(match options {
        O::Conv2DOptions(o) => Options::Conv2D(Conv2DOptions {
            padding: padding(o.padding().at(location)?),
            stride: [o.stride_h().at(location)?, o.stride_w().at(location)?],
            dilation: [o.dilation_h_factor().at(location)?, o.dilation_w_factor().at(location)?],
            activation: activation(o.fused_activation_function().at(location)?),
        }),
        O::DepthwiseConv2DOptions(o) => Options::DepthwiseConv2D(DepthwiseConv2DOptions {
            padding: padding(o.padding().at(location)?),
            stride: [o.stride_h().at(location)?, o.stride_w().at(location)?],
            dilation: [o.dilation_h_factor().at(location)?, o.dilation_w_factor().at(location)?],
            depth_multiplier: o.depth_multiplier().at(location)?,
            activation: activation(o.fused_activation_function().at(location)?),
        }),
        O::Pool2DOptions(o) => Options::Pool2D(Pool2DOptions {
            padding: padding(o.padding().at(location)?),
            stride: [o.stride_h().at(location)?, o.stride_w().at(location)?],
            filter: [o.filter_height().at(location)?, o.filter_width().at(location)?],
            activation: activation(o.fused_activation_function().at(location)?),
        }),
        O::FullyConnectedOptions(o) => Options::FullyConnected(FullyConnectedOptions {
            activation: activation(o.fused_activation_function().at(location)?),
            keep_num_dims: o.keep_num_dims().at(location)?,
            shuffled_weights: o.weights_format().at(location)? != fb::FullyConnectedOptionsWeightsFormat::Default,
        }),
        O::ReshapeOptions(o) => Options::Reshape {
            new_shape: o
                .new_shape()
                .at(location)?
                .map(|v| v.iter().collect())
                .unwrap_or_default(),
        },
        O::SqueezeOptions(o) => Options::Squeeze {
            squeeze_dims: o
                .squeeze_dims()
                .at(location)?
                .map(|v| v.iter().collect())
                .unwrap_or_default(),
        },
        O::SoftmaxOptions(o) => Options::Softmax {
            beta: o.beta().at(location)?,
        },
        _ => Options::Other,
    })
}

fn padding(p: fb::Padding) -> Padding {
    match p {
        fb::Padding::Same => Padding::Same,
        fb::Padding::Valid => Padding::Valid,
    }
}

fn activation(a: fb::ActivationFunctionType) -> FusedActivation {
    match a {
        fb::ActivationFunctionType::None => FusedActivation::None,
        fb::ActivationFunctionType::Relu => FusedActivation::Relu,
        fb::ActivationFunctionType::ReluN1To1 => FusedActivation::ReluN1To1,
        fb::ActivationFunctionType::Relu6 => FusedActivation::Relu6,
        fb::ActivationFunctionType::Tanh => FusedActivation::Tanh,
        fb::ActivationFunctionType::SignBit => FusedActivation::SignBit,
    }
}

/// Serialises an owned model built from the [`generated`](crate::generated) types as a TFLite
/// file (identifier `TFL3`), the inverse of [`TfliteModel::parse`] for writing models.
pub fn to_bytes(model: &fb::Model) -> Vec<u8> {
    let mut builder = planus::Builder::new();
    let mut bytes = builder.finish(model, Some(*FILE_IDENTIFIER)).to_vec();
    // planus 1.3's `finish` puts the identifier at bytes 0..4 and the root offset, relative to
    // its own position 4, at 4..8: the flatbuffer layout wants them the other way round (and
    // planus' own reader, like TFLite, takes the root offset from byte 0). Known upstream, fix
    // pending in planus-org/planus#377. Swapping them and moving the offset's base to byte 0
    // gives the standard layout (checked with the official flatbuffers Python reader); the
    // check keeps a fixed planus from being swapped back.
    if let Some((head, _)) = bytes.split_first_chunk_mut::<8>() {
        if head[..4] == *FILE_IDENTIFIER {
            let root = u32::from_le_bytes([head[4], head[5], head[6], head[7]]).wrapping_add(4);
            head[..4].copy_from_slice(&root.to_le_bytes());
            head[4..].copy_from_slice(FILE_IDENTIFIER);
        }
    }
    bytes
}
