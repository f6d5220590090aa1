//! Tests of [`super::tflite`] on synthetic TFLite models built with planus' owned types: the
//! `small` spec's network (8x8x3, conv s2 3x3 -> 8, two dw/pw pairs, 4x4 pool, fc 8 -> 10,
//! softmax) from random weights, read back bit for bit, then one mutation per check.

use mobilenet_tflite::generated::tflite as fb;

use super::tflite::{model_from_tensors, tensors_from_tflite, tflite_from_tensors, tflite_summary};
use super::*;
use crate::layers::{Activation, LayerInfo, LayerKind, Padding};
use std::sync::Mutex;

const EPS: f32 = 1e-3;
const NAMES: [&str; 8] = [
    "layers.0",
    "layers.1",
    "layers.2",
    "layers.3",
    "layers.4",
    "layers.5",
    "classifier",
    "layers.7",
];

/// Output size and zeros above/left of one dimension, as the compiler computes them.
fn extent(input: usize, k: usize, stride: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Symmetric => {
            let pad = (k - 1) / 2;
            ((input + 2 * pad - k) / stride + 1, pad)
        }
        Padding::TfSame => {
            let out = input.div_ceil(stride);
            (out, ((out - 1) * stride + k).saturating_sub(input) / 2)
        }
    }
}

/// The `small` table at `res`x`res`x`cin`, `width` channels and `classes` classes.
#[derive(Clone, Copy, PartialEq)]
struct Table {
    padding: Padding,
    res: usize,
    cin: usize,
    width: usize,
    classes: usize,
    softmax: bool,
}

const SMALL: Table = Table {
    padding: Padding::TfSame,
    res: 8,
    cin: 3,
    width: 8,
    classes: 10,
    softmax: true,
};

impl Table {
    fn layers(&self) -> Vec<LayerInfo> {
        let mut layers = Vec::new();
        let mut hwc = [self.res, self.res, self.cin];
        let mut push = |kind: LayerKind, stride: usize, k: usize, out_c: usize, padding: Padding| {
            let (out, pad) = match kind {
                LayerKind::AvgPool => ((hwc[0] - k) / stride + 1, 0),
                LayerKind::Fc | LayerKind::Softmax => (1, 0),
                _ => extent(hwc[0], k, stride, padding),
            };
            let output = [out, out, out_c];
            layers.push(LayerInfo {
                name: NAMES[layers.len()],
                kind,
                stride,
                kernel: [k, k],
                pad_top_left: [pad, pad],
                input: hwc,
                output,
                params: 0,
                stored_params: 0,
                mult_adds: 0,
            });
            hwc = output;
        };
        let (p, w) = (self.padding, self.width);
        push(LayerKind::Conv, 2, 3, w, p);
        for _ in 0..2 {
            push(LayerKind::ConvDw, 1, 3, w, p);
            push(LayerKind::Conv, 1, 1, w, p);
        }
        push(LayerKind::AvgPool, 1, extent(self.res, 3, 2, p).0, w, p);
        push(LayerKind::Fc, 1, 1, self.classes, p);
        if self.softmax {
            push(LayerKind::Softmax, 1, 1, self.classes, p);
        }
        layers
    }
}

/// What the generated `Weights::from_tensors` does: fold every layer, refuse leftovers.
fn fold(set: &TensorSet, layers: &[LayerInfo]) -> Result<Vec<Folded>, WeightsError> {
    let mut reader = TensorReader::new(set);
    let mut folded = Vec::new();
    for l in layers {
        let [kh, kw] = l.kernel;
        let (cin, cout) = (l.input[2], l.output[2]);
        match l.kind {
            LayerKind::Conv => folded.push(reader.conv_bn(l.name, [cout, cin, kh, kw], EPS)?),
            LayerKind::ConvDw => folded.push(reader.conv_bn(l.name, [cout, 1, kh, kw], EPS)?),
            LayerKind::Fc => folded.push(reader.fc(l.name, [cout, cin])?),
            LayerKind::AvgPool | LayerKind::Softmax => {}
        }
    }
    reader.finish()?;
    Ok(folded)
}

fn bits(folded: &[Folded]) -> Vec<(Vec<u32>, Vec<u32>)> {
    let b = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    folded.iter().map(|f| (b(&f.weight), b(&f.bias))).collect()
}

/// `random_tensors` for `table`'s layers, drawn once per table and seed and then shared by
/// the tests: under Miri the ChaCha stream behind them costs about 10 ms a draw, and drawing
/// the small model's weights again in every test took most of its time.
fn random(table: &Table, seed: u64) -> TensorSet {
    static DRAWN: Mutex<Vec<((Table, u64), TensorSet)>> = Mutex::new(Vec::new());
    // A softmax row has no tensors: with or without it, the same draws.
    let key = (
        Table {
            softmax: true,
            ..*table
        },
        seed,
    );
    if let Some((_, set)) = DRAWN.lock().unwrap().iter().find(|(k, _)| *k == key) {
        return set.clone();
    }
    let set = random_tensors(&table.layers(), seed);
    DRAWN.lock().unwrap().push((key, set.clone()));
    set
}

/// `table`'s model from `random(table, seed)`, built once per table and seed (see [`random`]).
fn model(table: &Table, seed: u64) -> fb::Model {
    static BUILT: Mutex<Vec<((Table, u64), fb::Model)>> = Mutex::new(Vec::new());
    let key = (*table, seed);
    if let Some((_, m)) = BUILT.lock().unwrap().iter().find(|(k, _)| *k == key) {
        return m.clone();
    }
    let m = model_from_tensors(
        &random(table, seed),
        &table.layers(),
        table.padding,
        Activation::Relu6,
        EPS,
    )
    .unwrap();
    BUILT.lock().unwrap().push((key, m.clone()));
    m
}

fn load(table: &Table, bytes: &[u8]) -> Result<TensorSet, WeightsError> {
    tensors_from_tflite(bytes, &table.layers(), table.padding, Activation::Relu6, EPS)
}

/// The error from loading the small model after `edit`.
fn refused(edit: impl FnOnce(&mut fb::Model)) -> String {
    let mut m = model(&SMALL, 1);
    edit(&mut m);
    load(&SMALL, &mobilenet_tflite::to_bytes(&m)).unwrap_err().to_string()
}

fn ops(m: &mut fb::Model) -> &mut Vec<fb::Operator> {
    m.subgraphs.as_mut().unwrap()[0].operators.as_mut().unwrap()
}

fn tensors(m: &mut fb::Model) -> &mut Vec<fb::Tensor> {
    m.subgraphs.as_mut().unwrap()[0].tensors.as_mut().unwrap()
}

fn conv_options(m: &mut fb::Model, op: usize) -> &mut fb::Conv2DOptions {
    match ops(m)[op].builtin_options.as_mut() {
        Some(fb::BuiltinOptions::Conv2DOptions(o)) => o,
        other => panic!("operator {op} has {other:?}"),
    }
}

fn dw_options(m: &mut fb::Model, op: usize) -> &mut fb::DepthwiseConv2DOptions {
    match ops(m)[op].builtin_options.as_mut() {
        Some(fb::BuiltinOptions::DepthwiseConv2DOptions(o)) => o,
        other => panic!("operator {op} has {other:?}"),
    }
}

/// Index of a tensor by name.
fn tensor_named(m: &mut fb::Model, name: &str) -> usize {
    tensors(m).iter().position(|t| t.name.as_deref() == Some(name)).unwrap()
}

fn buffer_of<'m>(m: &'m mut fb::Model, tensor: &str) -> &'m mut Vec<u8> {
    let i = tensor_named(m, tensor);
    let b = tensors(m)[i].buffer as usize;
    m.buffers.as_mut().unwrap()[b].data.as_mut().unwrap()
}

#[test]
fn weights_come_back_bit_for_bit() {
    for padding in [Padding::TfSame, Padding::Symmetric] {
        // Symmetric padding with stride 2 on 8x8 is not TF SAME; stride-1 rows are.
        let table = Table {
            padding,
            res: if padding == Padding::TfSame { 8 } else { 7 },
            ..SMALL
        };
        let layers = table.layers();
        let original = fold(&random(&table, 7), &layers).unwrap();
        let bytes = tflite_from_tensors(&random(&table, 7), &layers, padding, Activation::Relu6, EPS).unwrap();
        let set = load(&table, &bytes).unwrap();
        assert_eq!(bits(&fold(&set, &layers).unwrap()), bits(&original), "{padding:?}");
    }
}

#[test]
fn padding_tflite_cannot_express_is_an_error_when_writing() {
    let table = Table {
        padding: Padding::Symmetric,
        ..SMALL
    };
    let layers = table.layers();
    let e = tflite_from_tensors(&random(&table, 1), &layers, table.padding, Activation::Relu6, EPS)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "TensorFlow Lite file does not fit this model: layer 0 (`layers.0`, conv) pads 1x1 above/left with \
         stride 2 and outputs 4x4, which neither TFLite SAME nor VALID padding reproduces"
    );
}

#[test]
fn identity_batch_norm_is_exact_for_every_eps() {
    let layers = SMALL.layers();
    let folded = fold(&random(&SMALL, 3), &layers).unwrap();
    for eps in [1e-3, 1e-5, 0.1, 0.999, 1.0, 3.0] {
        let mut set = TensorSet::new();
        let w = Tensor::new(vec![8, 3, 3, 3], folded[0].weight.clone());
        super::tflite::insert_identity_bn(&mut set, "layers.0", w, folded[0].bias.clone(), eps);
        let again = TensorReader::new(&set).conv_bn("layers.0", [8, 3, 3, 3], eps).unwrap();
        if eps < 1.0 {
            assert_eq!(bits(&[again]), bits(&folded[..1]), "eps {eps}");
        } else {
            // The fallback identity is exact to an ulp.
            for (a, b) in again.weight.iter().zip(&folded[0].weight) {
                assert!((a - b).abs() <= b.abs() * 2.0 * f32::EPSILON, "eps {eps}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn the_returned_set_is_exactly_what_from_tensors_reads() {
    let set = load(&SMALL, &mobilenet_tflite::to_bytes(&model(&SMALL, 2))).unwrap();
    let names: Vec<&str> = set.names().collect();
    assert_eq!(names.len(), 5 * 5 + 2);
    assert!(names.contains(&"classifier.bias") && names.contains(&"layers.4.bn.running_var"));
    assert_eq!(set.get("layers.0.weight").unwrap().shape, [8, 3, 3, 3]);
    assert_eq!(set.get("layers.1.weight").unwrap().shape, [8, 1, 3, 3]);
    assert_eq!(set.get("classifier.weight").unwrap().shape, [10, 8]);
}

#[test]
fn float16_weights_behind_dequantize_load_exactly() {
    let mut m = model(&SMALL, 4);
    let expected = load(&SMALL, &mobilenet_tflite::to_bytes(&m)).unwrap();
    // Store layer 1's filter as FLOAT16 (values chosen exactly representable) behind a DEQUANTIZE.
    let filter = tensor_named(&mut m, "layers.1/depthwise_weights");
    let data: Vec<f32> = (0..72).map(|i| (i as f32 - 36.0) / 64.0).collect();
    *buffer_of(&mut m, "layers.1/depthwise_weights") = data
        .iter()
        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
        .collect();
    tensors(&mut m)[filter].type_ = fb::TensorType::Float16;
    let mut dequantized = tensors(&mut m)[filter].clone();
    dequantized.type_ = fb::TensorType::Float32;
    dequantized.buffer = 0;
    dequantized.name = Some("dequantized".to_owned());
    tensors(&mut m).push(dequantized);
    let new = tensors(&mut m).len() as i32 - 1;
    ops(&mut m)[1].inputs.as_mut().unwrap()[1] = new;
    m.operator_codes.as_mut().unwrap().push(fb::OperatorCode {
        deprecated_builtin_code: 6,
        builtin_code: fb::BuiltinOperator::Dequantize,
        version: 1,
        ..Default::default()
    });
    let code = m.operator_codes.as_ref().unwrap().len() as u32 - 1;
    ops(&mut m).insert(
        0,
        fb::Operator {
            opcode_index: code,
            inputs: Some(vec![filter as i32]),
            outputs: Some(vec![new]),
            ..Default::default()
        },
    );
    let set = load(&SMALL, &mobilenet_tflite::to_bytes(&m)).unwrap();
    let w = &set.get("layers.1.weight").unwrap().data;
    // [1, 3, 3, 8] -> [8, 1, 3, 3]
    assert_eq!(w[9 + 4], data[4 * 8 + 1]);
    assert_eq!(set.get("layers.2.weight"), expected.get("layers.2.weight"));
}

#[test]
fn a_depthwise_first_layer_on_one_channel_is_a_convolution() {
    // person_detect's first layer: DEPTHWISE_CONV_2D with multiplier 8 on a grey image.
    let table = Table { cin: 1, ..SMALL };
    let mut m = model(&table, 5);
    let expected = load(&table, &mobilenet_tflite::to_bytes(&m)).unwrap();
    let filter = tensor_named(&mut m, "layers.0/weights");
    // [8, 3, 3, 1] -> [1, 3, 3, 8]
    let old: Vec<f32> = buffer_of(&mut m, "layers.0/weights")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let mut new = vec![0.0; old.len()];
    for o in 0..8 {
        for tap in 0..9 {
            new[tap * 8 + o] = old[o * 9 + tap];
        }
    }
    *buffer_of(&mut m, "layers.0/weights") = new.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensors(&mut m)[filter].shape = Some(vec![1, 3, 3, 8]);
    let conv = conv_options(&mut m, 0).clone();
    ops(&mut m)[0].builtin_options = Some(fb::BuiltinOptions::DepthwiseConv2DOptions(Box::new(
        fb::DepthwiseConv2DOptions {
            padding: conv.padding,
            stride_w: 2,
            stride_h: 2,
            depth_multiplier: 8,
            fused_activation_function: conv.fused_activation_function,
            dilation_w_factor: 1,
            dilation_h_factor: 1,
        },
    )));
    ops(&mut m)[0].opcode_index = ops(&mut m)[1].opcode_index;
    let bytes = mobilenet_tflite::to_bytes(&m);
    assert_eq!(load(&table, &bytes).unwrap(), expected);

    dw_options(&mut m, 0).depth_multiplier = 4;
    let e = load(&table, &mobilenet_tflite::to_bytes(&m)).unwrap_err().to_string();
    assert_eq!(
        e,
        "TFLite operator 0 (DEPTHWISE_CONV_2D): depth multiplier is 4, but layer 0 (`layers.0`, conv) needs 8"
    );
}

#[test]
fn wrong_stride() {
    let e = refused(|m| dw_options(m, 3).stride_h = 2);
    assert_eq!(
        e,
        "TFLite operator 3 (DEPTHWISE_CONV_2D): stride is 2x1, but layer 3 (`layers.3`, conv_dw) has stride 1"
    );
}

#[test]
fn wrong_padding() {
    let e = refused(|m| dw_options(m, 1).padding = fb::Padding::Valid);
    assert_eq!(
        e,
        "TFLite operator 1 (DEPTHWISE_CONV_2D): padding is VALID, which gives 2x2 outputs with 0x0 zeros \
         above/left, but layer 1 (`layers.1`, conv_dw) (table padding tf_same) outputs 4x4 with 1x1 zeros above/left"
    );
    // A symmetric table reads stride-2 SAME as a different computation (pads 1 above, TF pads 0).
    let table = Table {
        padding: Padding::Symmetric,
        ..SMALL
    };
    let e = load(&table, &mobilenet_tflite::to_bytes(&model(&SMALL, 1)))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "TFLite operator 0 (CONV_2D): padding is SAME, which gives 4x4 outputs with 0x0 zeros above/left, \
         but layer 0 (`layers.0`, conv) (table padding symmetric) outputs 4x4 with 1x1 zeros above/left"
    );
    let e = refused(|m| match ops(m)[5].builtin_options.as_mut() {
        Some(fb::BuiltinOptions::Pool2DOptions(o)) => o.padding = fb::Padding::Same,
        _ => unreachable!(),
    });
    assert!(e.starts_with("TFLite operator 5 (AVERAGE_POOL_2D): padding is SAME, which gives 4x4 outputs with 3x3 padding zeros (pooling must pad nothing)"), "{e}");
}

#[test]
fn wrong_activation() {
    let e = refused(|m| conv_options(m, 2).fused_activation_function = fb::ActivationFunctionType::Relu);
    assert_eq!(
        e,
        "TFLite operator 2 (CONV_2D): fused activation is RELU, but layer 2 (`layers.2`, conv) applies RELU6 \
         (the table's activation is Relu6)"
    );
    let e = refused(|m| match ops(m)[6].builtin_options.as_mut() {
        Some(fb::BuiltinOptions::FullyConnectedOptions(o)) => {
            o.fused_activation_function = fb::ActivationFunctionType::Relu
        }
        _ => unreachable!(),
    });
    assert_eq!(
        e,
        "TFLite operator 6 (FULLY_CONNECTED): fused activation is RELU, but layer 6 (`classifier`, fc) is linear (NONE)"
    );
}

#[test]
fn wrong_kernel() {
    let e = refused(|m| {
        let i = tensor_named(m, "layers.1/depthwise_weights");
        tensors(m)[i].shape = Some(vec![1, 5, 5, 8]);
    });
    assert_eq!(
        e,
        "TFLite operator 1 (DEPTHWISE_CONV_2D), tensor `layers.1/depthwise_weights`: the filter has shape \
         [1, 5, 5, 8], but layer 1 (`layers.1`, conv_dw) needs [1, 3, 3, 8] (kernel 5x5 in the file)"
    );
}

#[test]
fn missing_and_extra_operators() {
    let e = refused(|m| {
        ops(m).pop();
    });
    assert_eq!(
        e,
        "TensorFlow Lite file does not fit this model: the file ends after 7 operators, but layer 7 \
         (`layers.7`, softmax) still needs SOFTMAX"
    );
    let e = refused(|m| {
        let last = ops(m).last().unwrap().clone();
        ops(m).push(last);
    });
    assert_eq!(
        e,
        "TFLite operator 8 (SOFTMAX): the table's 8 layers are all matched, but the file has this and 0 more \
         operators after them"
    );
    // A middle operator gone: the chain breaks at the next one.
    let e = refused(|m| {
        ops(m).remove(2);
    });
    assert!(
        e.starts_with("TFLite operator 2 (DEPTHWISE_CONV_2D), tensor `layers.2/output`: it reads this tensor"),
        "{e}"
    );
}

#[test]
fn unsupported_operator() {
    let e = refused(|m| {
        m.operator_codes.as_mut().unwrap().push(fb::OperatorCode {
            builtin_code: fb::BuiltinOperator::Add,
            version: 1,
            ..Default::default()
        });
        ops(m)[1].opcode_index = m.operator_codes.as_ref().unwrap().len() as u32 - 1;
    });
    assert_eq!(
        e,
        "TFLite operator 1 (ADD): layer 1 (`layers.1`, conv_dw) needs DEPTHWISE_CONV_2D, but the file has ADD here"
    );
}

fn quantize(m: &mut fb::Model, tensor: &str, type_: fb::TensorType) {
    let i = tensor_named(m, tensor);
    let t = &mut tensors(m)[i];
    t.type_ = type_;
    t.quantization = Some(Box::new(fb::QuantizationParameters {
        scale: Some(vec![0.02]),
        zero_point: Some(vec![128]),
        ..Default::default()
    }));
}

#[test]
fn quantized_tensors_are_refused_by_name() {
    let e = refused(|m| quantize(m, "layers.0/weights", fb::TensorType::Uint8));
    assert_eq!(
        e,
        "TFLite operator 0 (CONV_2D), tensor `layers.0/weights`: it is UINT8 (scale 0.02, zero point 128), a \
         quantized model, but this table computes in float32; compile a table with `precision: uint8` or \
         `precision: int8` for it (see specs/tflite/quant/), or use the float model"
    );
    let e = refused(|m| quantize(m, "input", fb::TensorType::Int8));
    assert!(
        e.starts_with(
            "TFLite operator 0 (CONV_2D), tensor `input`: it is INT8 (scale 0.02, zero point 128), a quantized"
        ),
        "{e}"
    );
    let e = refused(|m| {
        let i = tensor_named(m, "layers.2/bias");
        tensors(m)[i].type_ = fb::TensorType::Int64;
    });
    assert_eq!(
        e,
        "TFLite operator 2 (CONV_2D), tensor `layers.2/bias`: the bias is INT64; weights must be FLOAT32 (or FLOAT16)"
    );
}

#[test]
fn broken_files() {
    let bytes = mobilenet_tflite::to_bytes(&model(&SMALL, 1));
    let e = load(&SMALL, &bytes[..bytes.len() / 3]).unwrap_err().to_string();
    assert!(e.starts_with("malformed TensorFlow Lite file: "), "{e}");
    let safetensors = random(&SMALL, 1).to_safetensors().unwrap();
    let e = load(&SMALL, &safetensors).unwrap_err().to_string();
    assert!(e.starts_with("not a TensorFlow Lite file: bytes 4..8 are"), "{e}");

    let e = refused(|m| {
        let sub = m.subgraphs.as_ref().unwrap()[0].clone();
        m.subgraphs.as_mut().unwrap().push(sub);
    });
    assert_eq!(
        e,
        "TensorFlow Lite file does not fit this model: the model has 2 subgraphs; a MobileNet is one \
         (control flow or several signatures are not supported)"
    );
    let e = refused(|m| {
        let b = buffer_of(m, "classifier/weights");
        b[5 * 4..6 * 4].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    assert_eq!(
        e,
        "TFLite operator 6 (FULLY_CONNECTED), tensor `classifier/weights`: the filter holds NaN at flat index 5; \
         weights must be finite"
    );
    let e = refused(|m| {
        buffer_of(m, "layers.2/weights").truncate(8);
    });
    assert!(
        e.contains("tensor `layers.2/weights`: the filter holds 8 bytes, not the 64 values"),
        "{e}"
    );
}

#[test]
fn the_model_input_and_output_must_be_the_chain_ends() {
    let e = refused(|m| m.subgraphs.as_mut().unwrap()[0].inputs = Some(vec![3]));
    assert_eq!(
        e,
        "TFLite operator 0 (CONV_2D), tensor `input`: it reads this tensor, but layer 0 (`layers.0`, conv) reads \
         the model's input `layers.0/output` (the model is not one chain of layers)"
    );
    let e = refused(|m| m.subgraphs.as_mut().unwrap()[0].outputs = Some(vec![19]));
    assert_eq!(
        e,
        "TensorFlow Lite file does not fit this model: the model's outputs are [`classifier/output`], but the \
         last layer writes `layers.7/output`"
    );
}

#[test]
fn a_different_table_is_named() {
    let bytes = mobilenet_tflite::to_bytes(&model(&SMALL, 1));
    let with = |t: Table| {
        tensors_from_tflite(&bytes, &t.layers(), t.padding, Activation::Relu6, EPS)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        with(Table { classes: 12, ..SMALL }),
        "TFLite operator 6 (FULLY_CONNECTED), tensor `classifier/weights`: the filter has shape [10, 8], but \
         layer 6 (`classifier`, fc) needs [12, 8]"
    );
    assert_eq!(
        with(Table { width: 16, ..SMALL }),
        "TFLite operator 0 (CONV_2D), tensor `layers.0/weights`: the filter has shape [8, 3, 3, 3], but layer 0 \
         (`layers.0`, conv) needs [16, 3, 3, 3] (different channel count: another width multiplier or class count?)"
    );
    assert_eq!(
        with(Table { res: 16, ..SMALL }),
        "TFLite operator 0 (CONV_2D), tensor `input`: the input has shape [1, 8, 8, 3], but layer 0 (`layers.0`, \
         conv) needs [1, 16, 16, 3] (different spatial size: another input resolution?)"
    );
    assert_eq!(
        with(Table {
            softmax: false,
            ..SMALL
        }),
        "TFLite operator 7 (SOFTMAX): the file applies a softmax, but the table ends without one (it returns \
         logits); use a table with a softmax row or a file without SOFTMAX"
    );
    let logits = mobilenet_tflite::to_bytes(&model(
        &Table {
            softmax: false,
            ..SMALL
        },
        1,
    ));
    assert_eq!(
        load(&SMALL, &logits).unwrap_err().to_string(),
        "TensorFlow Lite file does not fit this model: the file ends after 7 operators, but layer 7 (`layers.7`, \
         softmax) still needs SOFTMAX"
    );
}

#[test]
fn a_classifier_as_conv_with_reshape_is_accepted() {
    // TF-slim's export: 1x1 CONV_2D to [1, 1, 1, classes], then RESHAPE to [1, classes].
    let mut m = model(&SMALL, 6);
    let expected = load(&SMALL, &mobilenet_tflite::to_bytes(&m)).unwrap();
    let w = tensor_named(&mut m, "classifier/weights");
    tensors(&mut m)[w].shape = Some(vec![10, 1, 1, 8]);
    let out = tensor_named(&mut m, "classifier/output");
    tensors(&mut m)[out].shape = Some(vec![1, 1, 1, 10]);
    let conv_code = ops(&mut m)[0].opcode_index;
    let options = ops(&mut m)[0].builtin_options.clone().unwrap();
    ops(&mut m)[6].opcode_index = conv_code;
    ops(&mut m)[6].builtin_options = Some(options);
    conv_options(&mut m, 6).fused_activation_function = fb::ActivationFunctionType::None;
    let mut reshaped = tensors(&mut m)[out].clone();
    reshaped.shape = Some(vec![1, 10]);
    reshaped.name = Some("reshaped".to_owned());
    tensors(&mut m).push(reshaped);
    let r = tensors(&mut m).len() as i32 - 1;
    ops(&mut m)[7].inputs = Some(vec![r]);
    m.operator_codes.as_mut().unwrap().push(fb::OperatorCode {
        deprecated_builtin_code: 22,
        builtin_code: fb::BuiltinOperator::Reshape,
        version: 1,
        ..Default::default()
    });
    let code = m.operator_codes.as_ref().unwrap().len() as u32 - 1;
    ops(&mut m).insert(
        7,
        fb::Operator {
            opcode_index: code,
            inputs: Some(vec![out as i32]),
            outputs: Some(vec![r]),
            ..Default::default()
        },
    );
    assert_eq!(load(&SMALL, &mobilenet_tflite::to_bytes(&m)).unwrap(), expected);
}

#[test]
fn summary_describes_the_file() {
    let s = tflite_summary(&mobilenet_tflite::to_bytes(&model(&SMALL, 1))).unwrap();
    assert_eq!(
        s.to_string(),
        "input 8x8x3 FLOAT32, 10 classes, FLOAT32 weights, first convolution 8 channels (width 0.25 of \
         MobileNet-V1's 32), 8 operators"
    );
    assert_eq!(s.operators[0], ("CONV_2D".to_owned(), vec![1, 4, 4, 8]));
    assert_eq!(s.operators[7], ("SOFTMAX".to_owned(), vec![1, 10]));
}

#[test]
fn damaged_files_are_errors_never_panics() {
    let clean = mobilenet_tflite::to_bytes(&model(&SMALL, 8));
    let layers = SMALL.layers();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut refused = 0;
    // Under Miri a sample of the rounds: it checks the memory safety of each, not their number.
    let rounds = if cfg!(miri) { 12 } else { 3000 };
    for round in 0..rounds {
        let mut bytes = clean.clone();
        for _ in 0..1 + round % 3 {
            let i = next() as usize % bytes.len();
            bytes[i] = next() as u8;
        }
        if round % 5 == 0 {
            bytes.truncate(next() as usize % bytes.len());
        }
        refused += usize::from(tensors_from_tflite(&bytes, &layers, Padding::TfSame, Activation::Relu6, EPS).is_err());
        let _ = tflite_summary(&bytes);
    }
    // Most damage is caught; flips inside weight values are not damage the format can see.
    assert!(refused > rounds / 3, "{refused} of {rounds}");
}

/// Opt-in: the real models in `/work/shared/models` (not in the repository, so not in CI).
/// `cargo test -p mobilenet-runtime --lib -- --ignored shared_models`
#[test]
#[ignore = "reads /work/shared/models, outside the repository"]
fn shared_models() {
    let dir = std::path::Path::new("/work/shared/models");
    let float = std::fs::read(dir.join("tflite-support/mobilenet_v1_0.25_224_1_default_1.tflite")).unwrap();
    println!("{}", tflite_summary(&float).unwrap());
    let layers = mobilenet_025_224();
    let set = tensors_from_tflite(&float, &layers, Padding::TfSame, Activation::Relu6, EPS).unwrap();
    let folded = fold(&set, &layers).unwrap();
    // Bit for bit: written back out, every filter and bias has the file's bytes.
    let again = tflite_from_tensors(&set, &layers, Padding::TfSame, Activation::Relu6, EPS).unwrap();
    let constants = |bytes: &[u8]| -> Vec<u8> {
        let model = mobilenet_tflite::TfliteModel::parse(bytes).unwrap();
        let weighted = [
            mobilenet_tflite::BuiltinOp::CONV_2D,
            mobilenet_tflite::BuiltinOp::DEPTHWISE_CONV_2D,
            mobilenet_tflite::BuiltinOp::FULLY_CONNECTED,
        ];
        let ops = model
            .operators()
            .iter()
            .filter(|op| weighted.contains(&op.opcode.builtin));
        ops.flat_map(|op| {
            op.inputs[1..]
                .iter()
                .flat_map(|&i| model.tensors()[i.unwrap()].data.to_vec())
        })
        .collect()
    };
    assert_eq!(constants(&again), constants(&float));
    assert_eq!(folded.len(), 28);
    println!(
        "float model: {} tensors, every operator mapped, weights bit for bit",
        set.len()
    );

    let with_labels = std::fs::read(dir.join("tflite-support/mobilenet_v1_0.25_224_1_metadata_1.tflite")).unwrap();
    assert_eq!(
        tensors_from_tflite(&with_labels, &layers, Padding::TfSame, Activation::Relu6, EPS).unwrap(),
        set
    );
    let labels = super::tflite::labels(&with_labels).unwrap().unwrap();
    assert_eq!(
        (labels.len(), labels[0].as_str(), labels[934].as_str()),
        (1001, "background", "cheeseburger")
    );

    for quant in [
        "tflite-support/mobilenet_v1_0.25_224_quant.tflite",
        "coral/mobilenet_v1_0.25_128_quant.tflite",
        "tflite-micro/person_detect.tflite",
    ] {
        let bytes = std::fs::read(dir.join(quant)).unwrap();
        println!("{quant}: {}", tflite_summary(&bytes).unwrap());
        let e = tensors_from_tflite(&bytes, &layers, Padding::TfSame, Activation::Relu6, EPS).unwrap_err();
        println!("  {e}");
        assert!(
            matches!(
                e,
                WeightsError::TfliteQuantized { .. } | WeightsError::TfliteOperator { .. }
            ),
            "{e}"
        );
    }
    let quant = std::fs::read(dir.join("tflite-support/mobilenet_v1_0.25_224_quant.tflite")).unwrap();
    let e = tensors_from_tflite(&quant, &layers, Padding::TfSame, Activation::Relu6, EPS).unwrap_err();
    assert!(matches!(e, WeightsError::TfliteQuantized { index: 0, .. }), "{e}");
}

/// MobileNet-V1 0.25 at 224 with 1001 classes, TF SAME, as `mobilenet!` expands it.
fn mobilenet_025_224() -> Vec<LayerInfo> {
    const NAMES: [&str; 31] = [
        "layers.0",
        "layers.1",
        "layers.2",
        "layers.3",
        "layers.4",
        "layers.5",
        "layers.6",
        "layers.7",
        "layers.8",
        "layers.9",
        "layers.10",
        "layers.11",
        "layers.12",
        "layers.13",
        "layers.14",
        "layers.15",
        "layers.16",
        "layers.17",
        "layers.18",
        "layers.19",
        "layers.20",
        "layers.21",
        "layers.22",
        "layers.23",
        "layers.24",
        "layers.25",
        "layers.26",
        "layers.27",
        "layers.28",
        "layers.29",
        "layers.30",
    ];
    let mut layers = Vec::new();
    let mut hwc = [224, 224, 3];
    let mut push = |kind: LayerKind, stride: usize, k: usize, out_c: usize| {
        let (out, pad) = match kind {
            LayerKind::AvgPool => ((hwc[0] - k) / stride + 1, 0),
            LayerKind::Fc | LayerKind::Softmax => (1, 0),
            _ => extent(hwc[0], k, stride, Padding::TfSame),
        };
        let output = [out, out, out_c];
        layers.push(LayerInfo {
            name: NAMES[layers.len()],
            kind,
            stride,
            kernel: [k, k],
            pad_top_left: [pad, pad],
            input: hwc,
            output,
            params: 0,
            stored_params: 0,
            mult_adds: 0,
        });
        hwc = output;
    };
    push(LayerKind::Conv, 2, 3, 8);
    let mut channels = 8;
    for (stride, out) in [
        (1, 16),
        (2, 32),
        (1, 32),
        (2, 64),
        (1, 64),
        (2, 128),
        (1, 128),
        (1, 128),
        (1, 128),
        (1, 128),
        (1, 128),
        (2, 256),
        (1, 256),
    ] {
        push(LayerKind::ConvDw, stride, 3, channels);
        push(LayerKind::Conv, 1, 1, out);
        channels = out;
    }
    push(LayerKind::AvgPool, 1, 7, 256);
    push(LayerKind::Fc, 1, 1, 1001);
    push(LayerKind::Softmax, 1, 1, 1001);
    layers
}
