//! Round trips through planus' builders, the opcode and name tables, and a seeded mutation
//! run that feeds damaged copies of a model to the parser.

use crate::generated::tflite as fb;
use crate::*;

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn tensor(name: &str, shape: &[i32], type_: fb::TensorType, buffer: u32) -> fb::Tensor {
    fb::Tensor {
        shape: Some(shape.to_vec()),
        type_,
        buffer,
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

fn buffer(data: Vec<u8>) -> fb::Buffer {
    fb::Buffer {
        data: Some(data),
        ..Default::default()
    }
}

/// A 1x1 convolution (2 -> 3 channels, ReLU6) followed by a softmax; the bias is quantized to
/// exercise the quantization fields, and the opcodes are written the two ways files do.
fn model() -> fb::Model {
    let filter: Vec<f32> = (0..6).map(|i| i as f32 * 0.25 - 0.5).collect();
    let mut bias = tensor("bias", &[3], fb::TensorType::Int32, 3);
    bias.quantization = Some(Box::new(fb::QuantizationParameters {
        scale: Some(vec![0.5, 0.25, 0.125]),
        zero_point: Some(vec![0, 0, 0]),
        quantized_dimension: 0,
        ..Default::default()
    }));
    let subgraph = fb::SubGraph {
        tensors: Some(vec![
            tensor("input", &[1, 4, 4, 2], fb::TensorType::Float32, 0),
            tensor("filter", &[3, 1, 1, 2], fb::TensorType::Float32, 2),
            bias,
            tensor("conv", &[1, 4, 4, 3], fb::TensorType::Float32, 0),
            tensor("probs", &[1, 4, 4, 3], fb::TensorType::Float32, 0),
        ]),
        inputs: Some(vec![0]),
        outputs: Some(vec![4]),
        operators: Some(vec![
            fb::Operator {
                opcode_index: 0,
                inputs: Some(vec![0, 1, 2]),
                outputs: Some(vec![3]),
                builtin_options: Some(fb::BuiltinOptions::Conv2DOptions(Box::new(fb::Conv2DOptions {
                    padding: fb::Padding::Valid,
                    stride_w: 1,
                    stride_h: 2,
                    fused_activation_function: fb::ActivationFunctionType::Relu6,
                    dilation_w_factor: 1,
                    dilation_h_factor: 1,
                    ..Default::default()
                }))),
                ..Default::default()
            },
            fb::Operator {
                opcode_index: 1,
                inputs: Some(vec![3, -1]),
                outputs: Some(vec![4]),
                builtin_options: Some(fb::BuiltinOptions::SoftmaxOptions(Box::new(fb::SoftmaxOptions {
                    beta: 1.0,
                }))),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    fb::Model {
        version: 3,
        operator_codes: Some(vec![
            // Before schema 3a only the i8 field existed.
            fb::OperatorCode {
                deprecated_builtin_code: 3,
                builtin_code: fb::BuiltinOperator::Add,
                version: 1,
                ..Default::default()
            },
            // Newer converters write both, the i8 one saturated for codes above 127.
            fb::OperatorCode {
                deprecated_builtin_code: 25,
                builtin_code: fb::BuiltinOperator::Softmax,
                version: 1,
                ..Default::default()
            },
        ]),
        subgraphs: Some(vec![subgraph]),
        description: Some("synthetic".to_owned()),
        buffers: Some(vec![
            buffer(Vec::new()),
            buffer(Vec::new()),
            buffer(f32_bytes(&filter)),
            buffer([1i32, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect()),
        ]),
        ..Default::default()
    }
}

#[test]
fn parses_what_the_builder_wrote() {
    let bytes = to_bytes(&model());
    assert!(is_tflite(&bytes));
    let m = TfliteModel::parse(&bytes).unwrap();
    assert_eq!(
        (m.version(), m.description(), m.subgraph_count()),
        (3, Some("synthetic"), 1)
    );
    assert_eq!((m.inputs(), m.outputs()), (&[0][..], &[4][..]));

    let filter = &m.tensors()[1];
    assert_eq!(
        (filter.name.as_str(), filter.shape.as_slice()),
        ("filter", &[3, 1, 1, 2][..])
    );
    assert_eq!(filter.dtype, ElementType::FLOAT32);
    assert_eq!(filter.data, f32_bytes(&[-0.5, -0.25, 0.0, 0.25, 0.5, 0.75]).as_slice());
    assert_eq!(filter.dims(), Some(vec![3, 1, 1, 2]));
    let bias = &m.tensors()[2];
    assert_eq!(bias.dtype.to_string(), "INT32");
    assert_eq!(bias.quantization.as_ref().unwrap().scale, [0.5, 0.25, 0.125]);
    assert!(m.tensors()[0].data.is_empty() && m.tensors()[0].quantization.is_none());

    let [conv, softmax] = m.operators() else {
        panic!("two operators")
    };
    assert_eq!(conv.opcode.builtin, BuiltinOp::CONV_2D);
    assert_eq!(conv.opcode.to_string(), "CONV_2D");
    assert_eq!(conv.inputs, [Some(0), Some(1), Some(2)]);
    assert_eq!(
        conv.options,
        Options::Conv2D(Conv2DOptions {
            padding: Padding::Valid,
            stride: [2, 1],
            dilation: [1, 1],
            activation: FusedActivation::Relu6,
        })
    );
    assert_eq!(softmax.opcode.builtin, BuiltinOp::SOFTMAX);
    assert_eq!(softmax.inputs, [Some(3), None]);
    assert_eq!(softmax.options, Options::Softmax { beta: 1.0 });
}

#[test]
fn buffers_outside_the_flatbuffer_are_read_and_bounds_checked() {
    let mut model = model();
    let filter = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    // The offset is only known after serialising; a fixed-width field keeps the size stable.
    let place = |model: &mut fb::Model, offset: u64, size: u64| {
        model.buffers.as_mut().unwrap()[2] = fb::Buffer {
            data: None,
            offset,
            size,
        };
    };
    place(&mut model, 1 << 40, filter.len() as u64);
    let len = to_bytes(&model).len();
    place(&mut model, len as u64, filter.len() as u64);
    let mut bytes = to_bytes(&model);
    assert_eq!(bytes.len(), len);
    bytes.extend_from_slice(&filter);
    let m = TfliteModel::parse(&bytes).unwrap();
    assert_eq!(m.tensors()[1].data, filter.as_slice());

    let e = TfliteModel::parse(&bytes[..bytes.len() - 1]).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "malformed TensorFlow Lite file: buffer 2: its data at offset {len}, size 24 runs past the end \
             of the file ({} bytes)",
            bytes.len() - 1
        )
    );
}

#[test]
fn new_opcodes_use_the_wider_field() {
    let mut model = model();
    model.operator_codes.as_mut().unwrap()[1] = fb::OperatorCode {
        deprecated_builtin_code: 127,
        builtin_code: fb::BuiltinOperator::Gelu,
        version: 1,
        ..Default::default()
    };
    let bytes = to_bytes(&model);
    let m = TfliteModel::parse(&bytes).unwrap();
    assert_eq!(m.operators()[1].opcode.to_string(), "GELU");
    assert_eq!(m.operators()[1].opcode.builtin, BuiltinOp(150));
}

#[test]
fn name_tables_agree_with_the_generated_enums() {
    for &(code, name) in crate::names::BUILTIN_OPERATORS {
        assert!(fb::BuiltinOperator::try_from(code).is_ok(), "{code} {name}");
        assert_eq!(BuiltinOp(code).name(), Some(name));
    }
    for &(code, name) in crate::names::TENSOR_TYPES {
        assert!(fb::TensorType::try_from(code).is_ok(), "{code} {name}");
    }
    for (op, name) in [
        (BuiltinOp::ADD, "ADD"),
        (BuiltinOp::AVERAGE_POOL_2D, "AVERAGE_POOL_2D"),
        (BuiltinOp::DEPTHWISE_CONV_2D, "DEPTHWISE_CONV_2D"),
        (BuiltinOp::DEQUANTIZE, "DEQUANTIZE"),
        (BuiltinOp::FULLY_CONNECTED, "FULLY_CONNECTED"),
        (BuiltinOp::RESHAPE, "RESHAPE"),
        (BuiltinOp::CUSTOM, "CUSTOM"),
        (BuiltinOp::SQUEEZE, "SQUEEZE"),
    ] {
        assert_eq!(op.to_string(), name);
    }
    assert_eq!(BuiltinOp(9999).to_string(), "builtin operator 9999");
    for (t, name) in [
        (ElementType::FLOAT16, "FLOAT16"),
        (ElementType::UINT8, "UINT8"),
        (ElementType::INT64, "INT64"),
        (ElementType::INT8, "INT8"),
    ] {
        assert_eq!(t.to_string(), name);
    }
}

#[test]
fn bad_headers_and_indices_say_what_and_where() {
    let e = TfliteModel::parse(b"\0\0\0").unwrap_err().to_string();
    assert_eq!(
        e,
        "not a TensorFlow Lite file: the file is 3 bytes long, too short for the 8-byte flatbuffer header"
    );
    let e = TfliteModel::parse(b"\x08\0\0\0ONNXmore").unwrap_err().to_string();
    assert_eq!(
        e,
        "not a TensorFlow Lite file: bytes 4..8 are \"ONNX\", not the identifier \"TFL3\""
    );
    assert!(!is_tflite(b"\x08\0\0\0ONNX"));

    let mut m = model();
    m.subgraphs.as_mut().unwrap()[0].operators.as_mut().unwrap()[1].inputs = Some(vec![7]);
    let e = TfliteModel::parse(&to_bytes(&m)).unwrap_err().to_string();
    assert_eq!(
        e,
        "malformed TensorFlow Lite file: operator 1 input 0: tensor index 7 is outside the subgraph's 5 tensors"
    );

    let mut m = model();
    m.subgraphs.as_mut().unwrap()[0].tensors.as_mut().unwrap()[1].buffer = 9;
    let e = TfliteModel::parse(&to_bytes(&m)).unwrap_err().to_string();
    assert_eq!(
        e,
        "malformed TensorFlow Lite file: tensor 1 (`filter`): it refers to buffer 9, but the model has 4 buffers"
    );

    let mut m = model();
    m.subgraphs = None;
    let e = TfliteModel::parse(&to_bytes(&m)).unwrap_err().to_string();
    assert_eq!(e, "malformed TensorFlow Lite file: model: it has no subgraph");

    let bytes = to_bytes(&model());
    let e = TfliteModel::parse(&bytes[..bytes.len() / 2]).unwrap_err().to_string();
    assert_eq!(
        e,
        "malformed TensorFlow Lite file: model: In <Model@c>::operator_codes(): Invalid offset"
    );
}

/// xorshift64*: the mutation run needs reproducible bytes, not good randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Reads everything a caller could read, so a lazily surfacing bug would show here too.
fn consume(bytes: &[u8]) {
    if let Ok(m) = TfliteModel::parse(bytes) {
        let mut sum = 0usize;
        for t in m.tensors() {
            sum = sum.wrapping_add(t.data.len() + t.name.len() + t.shape.len());
            let _ = (t.dims(), t.dtype.to_string());
        }
        for op in m.operators() {
            let _ = (op.opcode.to_string(), format!("{:?}", op.options));
            sum = sum.wrapping_add(
                op.inputs
                    .iter()
                    .flatten()
                    .map(|&i| m.tensors()[i].data.len())
                    .sum::<usize>(),
            );
        }
        std::hint::black_box(sum);
    }
    let _ = crate::associated_files(bytes);
}

#[test]
fn damaged_copies_never_panic() {
    let clean = to_bytes(&model());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for len in 0..clean.len() {
        consume(&clean[..len]);
    }
    for _ in 0..20_000 {
        let mut bytes = clean.clone();
        match rng.below(3) {
            // A few random bytes.
            0 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bytes.len());
                    bytes[i] = rng.next() as u8;
                }
            }
            // An aligned 32-bit word, where offsets and lengths live, set to an edge value.
            1 => {
                let i = rng.below(bytes.len() / 4) * 4;
                let edges = [0, 1, 4, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, rng.next() as u32];
                bytes[i..i + 4].copy_from_slice(&edges[rng.below(edges.len())].to_le_bytes());
            }
            // A flipped bit, then a truncation.
            _ => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
                bytes.truncate(rng.below(bytes.len() + 1));
            }
        }
        consume(&bytes);
    }
}
