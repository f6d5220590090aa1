//! Tests of the whole weights flow on a small hand-written table, plus malformed-input cases.

use safetensors::tensor::TensorView;
use safetensors::Dtype;

use super::*;
use crate::layers::{LayerInfo, LayerKind};

const EPS: f32 = 1e-5;

fn row(name: &'static str, kind: LayerKind, kernel: [usize; 2], input: [usize; 3], output: [usize; 3]) -> LayerInfo {
    LayerInfo {
        name,
        kind,
        stride: 1,
        kernel,
        pad_top_left: [0, 0],
        input,
        output,
        params: 0,
        stored_params: 0,
        mult_adds: 0,
    }
}

/// One row of every kind; the fc row has a custom name to show prefixes come from `name`.
fn table() -> Vec<LayerInfo> {
    vec![
        row("layers.0", LayerKind::Conv, [3, 3], [8, 8, 3], [4, 4, 4]),
        row("layers.1", LayerKind::ConvDw, [3, 3], [4, 4, 4], [4, 4, 4]),
        row("layers.2", LayerKind::AvgPool, [4, 4], [4, 4, 4], [1, 1, 4]),
        row("classifier", LayerKind::Fc, [1, 1], [1, 1, 4], [1, 1, 5]),
        row("layers.4", LayerKind::Softmax, [1, 1], [1, 1, 5], [1, 1, 5]),
    ]
}

/// What the generated `Weights::from_tensors` does for [`table`].
fn load(set: &TensorSet, eps: f32) -> Result<Vec<Folded>, WeightsError> {
    let mut reader = TensorReader::new(set);
    let folded = vec![
        reader.conv_bn("layers.0", [4, 3, 3, 3], eps)?,
        reader.conv_bn("layers.1", [4, 1, 3, 3], eps)?,
        reader.fc("classifier", [5, 4])?,
    ];
    reader.finish()?;
    Ok(folded)
}

/// What the generated `Weights::to_tensors` does for [`table`].
fn save(folded: &[Folded], eps: f32) -> TensorSet {
    let mut set = TensorSet::new();
    insert_conv_bn(&mut set, "layers.0", [4, 3, 3, 3], &folded[0], eps);
    insert_conv_bn(&mut set, "layers.1", [4, 1, 3, 3], &folded[1], eps);
    insert_fc(&mut set, "classifier", [5, 4], &folded[2]);
    set
}

fn bits(set: &TensorSet) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    set.iter()
        .map(|(name, t)| {
            let data = t.data.iter().map(|v| v.to_bits()).collect();
            (name.to_owned(), t.shape.clone(), data)
        })
        .collect()
}

fn random_file() -> Vec<u8> {
    random_tensors(&table(), 42).to_safetensors().unwrap()
}

/// A safetensors file from raw header JSON and data, bypassing the crate's own checks.
fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn assert_close(a: &[f32], b: &[f32], rel: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let tolerance = rel * x.abs().max(y.abs());
        assert!((x - y).abs() <= tolerance, "index {i}: {x} vs {y}");
    }
}

// ---- random_tensors -------------------------------------------------------------------------

#[test]
fn random_tensors_have_the_spec_names_and_shapes() {
    let set = random_tensors(&table(), 0);
    let shapes: Vec<(String, Vec<usize>)> = set.iter().map(|(n, t)| (n.to_owned(), t.shape.clone())).collect();
    let mut expected = vec![
        ("classifier.bias".to_owned(), vec![5]),
        ("classifier.weight".to_owned(), vec![5, 4]),
        ("layers.0.weight".to_owned(), vec![4, 3, 3, 3]),
        ("layers.1.weight".to_owned(), vec![4, 1, 3, 3]),
    ];
    for prefix in ["layers.0", "layers.1"] {
        for suffix in ["weight", "bias", "running_mean", "running_var"] {
            expected.push((format!("{prefix}.bn.{suffix}"), vec![4]));
        }
    }
    expected.sort();
    assert_eq!(shapes, expected);
    assert!(set.iter().all(|(_, t)| t.data.len() == t.numel()));
}

#[test]
fn random_tensors_are_deterministic_per_seed() {
    let layers = table();
    assert_eq!(bits(&random_tensors(&layers, 7)), bits(&random_tensors(&layers, 7)));
    let (a, b) = (random_tensors(&layers, 7), random_tensors(&layers, 8));
    for name in a.names() {
        assert_ne!(a.get(name), b.get(name), "{name} did not change with the seed");
    }
}

/// Pins the stream so a dependency upgrade or a platform difference that changes the bits is
/// caught here rather than as a mysterious reference mismatch elsewhere.
#[test]
fn random_tensors_bits_are_pinned() {
    let set = random_tensors(&table(), 0);
    let first = |name: &str| -> Vec<u32> { set.get(name).unwrap().data[..3].iter().map(|v| v.to_bits()).collect() };
    assert_eq!(first("layers.0.weight"), GOLDEN_CONV_WEIGHT);
    assert_eq!(first("layers.1.bn.running_var"), GOLDEN_DW_VAR);
    assert_eq!(first("classifier.bias"), GOLDEN_FC_BIAS);
}

/// 0.49787015, 0.04199186, 0.27958366
const GOLDEN_CONV_WEIGHT: [u32; 3] = [1056893142, 1026293672, 1049568663];
/// 0.51002002, 0.51247454, 1.4476949
const GOLDEN_DW_VAR: [u32; 3] = [1057132716, 1057173896, 1069108753];
/// 0.0088997316, -0.09546796, -0.023430742
const GOLDEN_FC_BIAS: [u32; 3] = [1007800366, 3183707317, 3166695892];

#[test]
#[cfg_attr(
    miri,
    ignore = "statistics over 147,456 samples of safe code: too slow under Miri to be worth it"
)]
fn random_tensors_follow_the_documented_distributions() {
    let layers = [row("big", LayerKind::Conv, [3, 3], [8, 8, 64], [8, 8, 256])];
    let set = random_tensors(&layers, 1);
    let w = &set.get("big.weight").unwrap().data;
    let n = w.len() as f64;
    let mean = w.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let std = (w.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n).sqrt();
    let he = (2.0f64 / (64.0 * 9.0)).sqrt();
    assert!(mean.abs() < 0.01 * he * 10.0, "mean {mean}");
    assert!((std / he - 1.0).abs() < 0.02, "std {std} vs {he}");

    let in_range = |name: &str, low: f32, high: f32| {
        let t = set.get(name).unwrap();
        assert!(t.data.iter().all(|v| (low..high).contains(v)), "{name}");
    };
    in_range("big.bn.weight", 0.5, 1.5);
    in_range("big.bn.bias", -0.1, 0.1);
    in_range("big.bn.running_mean", -0.1, 0.1);
    in_range("big.bn.running_var", 0.5, 1.5);
}

#[test]
fn random_tensors_load_cleanly() {
    let folded = load(&random_tensors(&table(), 3), EPS).unwrap();
    assert_eq!(folded[0].weight.len(), 4 * 3 * 9);
    assert_eq!(folded[1].weight.len(), 4 * 9);
    assert_eq!(folded[2].bias.len(), 5);
}

// ---- folding ----------------------------------------------------------------------------------

fn small_conv() -> TensorSet {
    let mut set = TensorSet::new();
    set.insert("c.weight", Tensor::new(vec![2, 1, 1, 2], vec![1.0, 2.0, 3.0, 4.0]));
    set.insert("c.bn.weight", Tensor::new(vec![2], vec![4.0, 0.5]));
    set.insert("c.bn.bias", Tensor::new(vec![2], vec![0.1, -0.2]));
    set.insert("c.bn.running_mean", Tensor::new(vec![2], vec![1.0, -1.0]));
    set.insert("c.bn.running_var", Tensor::new(vec![2], vec![3.0, 0.0]));
    set
}

#[test]
fn conv_bn_folds_a_hand_computed_example() {
    let set = small_conv();
    let mut reader = TensorReader::new(&set);
    // eps = 1: scale = [4 / sqrt(3 + 1), 0.5 / sqrt(0 + 1)] = [2, 0.5].
    let folded = reader.conv_bn("c", [2, 1, 1, 2], 1.0).unwrap();
    reader.finish().unwrap();
    assert_eq!(folded.weight, vec![2.0, 4.0, 1.5, 2.0]);
    // b' = beta - mean * scale = [0.1 - 2, -0.2 + 0.5].
    assert_close(&folded.bias, &[-1.9, 0.3], 1e-6);
}

#[test]
fn depthwise_fold_scales_each_channel() {
    let mut set = TensorSet::new();
    set.insert("d.weight", Tensor::new(vec![2, 1, 2, 1], vec![1.0, -1.0, 2.0, 0.5]));
    set.insert("d.bn.weight", Tensor::new(vec![2], vec![1.0, 3.0]));
    set.insert("d.bn.bias", Tensor::full(vec![2], 0.0));
    set.insert("d.bn.running_mean", Tensor::full(vec![2], 0.0));
    set.insert("d.bn.running_var", Tensor::new(vec![2], vec![0.25, 8.25]));
    // eps = 0.75: scale = [1 / 1, 3 / 3].
    let folded = TensorReader::new(&set).conv_bn("d", [2, 1, 2, 1], 0.75).unwrap();
    assert_eq!(folded.weight, vec![1.0, -1.0, 2.0, 0.5]);
    assert_eq!(folded.bias, vec![0.0, 0.0]);
}

#[test]
fn fc_is_read_unchanged() {
    let set = random_tensors(&table(), 5);
    let folded = TensorReader::new(&set).fc("classifier", [5, 4]).unwrap();
    assert_eq!(folded.weight, set.get("classifier.weight").unwrap().data);
    assert_eq!(folded.bias, set.get("classifier.bias").unwrap().data);
}

#[test]
fn saving_folded_weights_loads_back_the_same_fold() {
    let set = random_tensors(&table(), 11);
    for eps in [1e-5, 1e-3, 0.0] {
        let folded = load(&set, eps).unwrap();
        let bytes = save(&folded, eps).to_safetensors().unwrap();
        let reloaded = load(&TensorSet::from_safetensors(&bytes).unwrap(), eps).unwrap();
        // The identity batch norm folds back to the same bits (save::identity_bn).
        assert_eq!(folded, reloaded, "eps {eps}");
    }
}

#[test]
fn saved_batch_norm_is_the_identity() {
    let folded = load(&random_tensors(&table(), 2), 1e-3).unwrap();
    let set = save(&folded, 1e-3);
    let data = |n: &str| set.get(n).unwrap().data.clone();
    assert_eq!(data("layers.0.bn.running_mean"), vec![0.0; 4]);
    assert_eq!(data("layers.0.bn.running_var"), vec![(1.0 - 1e-3f64) as f32; 4]);
    assert_eq!(data("layers.0.bn.weight"), vec![1.0; 4]);
    assert_eq!(data("layers.0.bn.bias"), folded[0].bias);
    assert_eq!(set.len(), 12);
}

// ---- safetensors I/O --------------------------------------------------------------------------

#[test]
fn safetensors_round_trip_is_bit_exact() {
    let mut set = random_tensors(&table(), 9);
    // Values a text or f16 path would mangle.
    set.insert(
        "odd",
        Tensor::new(vec![4], vec![-0.0, f32::MIN_POSITIVE / 2.0, f32::MAX, 1e-38]),
    );
    let back = TensorSet::from_safetensors(&set.to_safetensors().unwrap()).unwrap();
    assert_eq!(bits(&back), bits(&set));

    let empty = TensorSet::new();
    let back = TensorSet::from_safetensors(&empty.to_safetensors().unwrap()).unwrap();
    assert!(back.is_empty());
}

#[test]
fn f16_and_bf16_tensors_are_converted() {
    let values = [1.5f32, -2.0, 0.25, 3.0];
    let f16: Vec<u8> = values
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let bf16: Vec<u8> = values
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    let views = [
        ("a", TensorView::new(Dtype::F16, vec![2, 2], &f16).unwrap()),
        ("b", TensorView::new(Dtype::BF16, vec![4], &bf16).unwrap()),
    ];
    let bytes = safetensors::serialize(views, None).unwrap();
    let set = TensorSet::from_safetensors(&bytes).unwrap();
    assert_eq!(set.get("a"), Some(&Tensor::new(vec![2, 2], values.to_vec())));
    assert_eq!(set.get("b"), Some(&Tensor::new(vec![4], values.to_vec())));
}

#[test]
fn files_round_trip_through_disk() {
    let path = std::env::temp_dir().join(format!("weights-test-{}.safetensors", std::process::id()));
    let bytes = random_file();
    write_file(&path, &bytes).unwrap();
    let read = read_file(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(read.unwrap(), bytes);
}

// ---- malformed input: every case an error of the right kind, never a panic --------------------

fn format_reason(result: Result<TensorSet, WeightsError>) -> String {
    match result {
        Err(err @ WeightsError::Format { .. }) => err.to_string(),
        other => panic!("expected a Format error, got {other:?}"),
    }
}

#[test]
fn empty_and_short_files_are_format_errors() {
    let msg = format_reason(TensorSet::from_safetensors(&[]));
    assert!(msg.contains("0 bytes"), "{msg}");
    let msg = format_reason(TensorSet::from_safetensors(&[1, 2, 3]));
    assert!(msg.contains("3 bytes"), "{msg}");
}

#[test]
fn every_truncation_is_a_format_error() {
    let bytes = random_file();
    // Under Miri every 61st length (all the short ones): the lengths cost alike.
    let step = if cfg!(miri) { 61 } else { 1 };
    for len in (0..bytes.len()).filter(|&l| l < 64 || l % step == 0) {
        format_reason(TensorSet::from_safetensors(&bytes[..len]));
    }
    // And one byte too many.
    let mut padded = bytes.clone();
    padded.push(0);
    format_reason(TensorSet::from_safetensors(&padded));
}

#[test]
fn garbage_is_a_format_error() {
    use rand_chacha::rand_core::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    for len in [0, 1, 7, 8, 9, 16, 100, 1000, 4096] {
        for _ in 0..if cfg!(miri) { 2 } else { 20 } {
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            if len >= 8 {
                // Also try plausible header lengths so the JSON parser sees the garbage.
                let header = (rng.next_u64() % (len as u64 - 7)).to_le_bytes();
                let mut plausible = bytes.clone();
                plausible[..8].copy_from_slice(&header);
                format_reason(TensorSet::from_safetensors(&plausible));
            }
            format_reason(TensorSet::from_safetensors(&bytes));
        }
    }
}

#[test]
fn header_claiming_missing_data_is_a_format_error() {
    let header = r#"{"layers.0.weight":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}}"#;
    let msg = format_reason(TensorSet::from_safetensors(&raw_file(header, &[0; 16])));
    assert!(msg.contains("truncated"), "{msg}");

    let bytes = raw_file(header, &[]);
    let mut lying = bytes.clone();
    lying[..8].copy_from_slice(&10_000u64.to_le_bytes());
    let msg = format_reason(TensorSet::from_safetensors(&lying));
    assert!(msg.contains("10000") && msg.contains("truncated"), "{msg}");

    let mut huge = bytes;
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    format_reason(TensorSet::from_safetensors(&huge));
}

/// safetensors 0.8 adds the declared offsets to the header length unchecked; offsets summing
/// to near `usize::MAX` must be refused before it gets to see them.
#[test]
fn offsets_that_overflow_are_a_format_error() {
    let size: u64 = (1 << 61) - 1;
    let entries: Vec<String> = (0..8u64)
        .map(|i| {
            format!(
                r#""t{i}":{{"dtype":"U8","shape":[{size}],"data_offsets":[{},{}]}}"#,
                i * size,
                (i + 1) * size
            )
        })
        .collect();
    let header = format!("{{{}}}", entries.join(","));
    let msg = format_reason(TensorSet::from_safetensors(&raw_file(&header, &[])));
    assert!(msg.contains("far larger"), "{msg}");
}

#[test]
fn numbers_inside_names_are_not_mistaken_for_sizes() {
    let mut set = TensorSet::new();
    set.insert("layers.99999999999999999999999.\"q\\\"", Tensor::full(vec![1], 1.0));
    let back = TensorSet::from_safetensors(&set.to_safetensors().unwrap()).unwrap();
    assert_eq!(back, set);
}

#[test]
fn non_json_header_is_a_format_error() {
    let msg = format_reason(TensorSet::from_safetensors(&raw_file("this is not json", &[])));
    assert!(msg.contains("JSON"), "{msg}");
    let msg = format_reason(TensorSet::from_safetensors(&raw_file("\u{0}\u{ff}", &[])));
    assert!(msg.contains("JSON") || msg.contains("UTF-8"), "{msg}");
    let mut invalid_utf8 = raw_file("{}", &[]);
    invalid_utf8[8] = 0xff;
    let msg = format_reason(TensorSet::from_safetensors(&invalid_utf8));
    assert!(msg.contains("UTF-8"), "{msg}");
}

#[test]
fn other_dtypes_are_refused_by_name() {
    let counter = 3i64.to_le_bytes();
    let weight = 1.0f32.to_le_bytes();
    let views = [
        ("layers.0.steps", TensorView::new(Dtype::I64, vec![], &counter).unwrap()),
        (
            "layers.0.weight",
            TensorView::new(Dtype::F32, vec![1], &weight).unwrap(),
        ),
    ];
    let bytes = safetensors::serialize(views, None).unwrap();
    match TensorSet::from_safetensors(&bytes) {
        Err(err @ WeightsError::Dtype { .. }) => {
            let msg = err.to_string();
            assert!(msg.contains("layers.0.steps"), "{msg}");
            assert!(msg.contains("I64"), "{msg}");
        }
        other => panic!("expected a Dtype error, got {other:?}"),
    }
}

#[test]
fn pytorch_batch_norm_step_counters_are_skipped() {
    let counter = 3i64.to_le_bytes();
    let weight = 1.0f32.to_le_bytes();
    let views = [
        (
            "layers.0.bn.num_batches_tracked",
            TensorView::new(Dtype::I64, vec![], &counter).unwrap(),
        ),
        (
            "layers.0.weight",
            TensorView::new(Dtype::F32, vec![1], &weight).unwrap(),
        ),
    ];
    let set = TensorSet::from_safetensors(&safetensors::serialize(views, None).unwrap()).unwrap();
    assert_eq!(set.names().collect::<Vec<_>>(), ["layers.0.weight"]);
}

fn load_error(set: &TensorSet) -> WeightsError {
    load(set, EPS).expect_err("loading should fail")
}

#[test]
fn non_finite_values_are_refused_by_name() {
    for (name, index, value) in [
        ("layers.1.bn.running_mean", 2, f32::NAN),
        ("layers.0.weight", 17, f32::INFINITY),
        ("classifier.bias", 4, f32::NEG_INFINITY),
    ] {
        let mut set = random_tensors(&table(), 1);
        let mut tensor = set.get(name).unwrap().clone();
        tensor.data[index] = value;
        set.insert(name, tensor);
        let err = load_error(&set);
        let msg = err.to_string();
        match err {
            WeightsError::NonFinite { tensor, index: i, .. } => assert_eq!((tensor.as_str(), i), (name, index)),
            other => panic!("expected NonFinite, got {other:?}"),
        }
        assert!(msg.contains(name) && msg.contains(&index.to_string()), "{msg}");
    }
}

#[test]
fn extra_tensor_is_refused_by_name() {
    let mut set = random_tensors(&table(), 1);
    set.insert("layers.2.weight", Tensor::full(vec![1], 0.0));
    set.insert("zz.extra", Tensor::full(vec![1], 0.0));
    let err = load_error(&set);
    assert!(err.to_string().contains("layers.2.weight"), "{err}");
    assert!(matches!(err, WeightsError::Unexpected { tensor } if tensor == "layers.2.weight"));
}

#[test]
fn missing_tensor_is_refused_by_name() {
    for name in ["layers.1.bn.running_var", "layers.0.weight", "classifier.bias"] {
        let mut set = random_tensors(&table(), 1);
        set.remove(name).unwrap();
        let err = load_error(&set);
        assert!(err.to_string().contains(name), "{err}");
        assert!(matches!(err, WeightsError::Missing { tensor } if tensor == name));
    }
}

#[test]
fn wrong_shape_is_refused_by_name() {
    let mut set = random_tensors(&table(), 1);
    // Transposed fc weight: same element count, wrong layout.
    set.insert("classifier.weight", Tensor::full(vec![4, 5], 0.1));
    let err = load_error(&set);
    let msg = err.to_string();
    assert!(msg.contains("classifier.weight") && msg.contains("[4, 5]") && msg.contains("[5, 4]"));
    assert!(matches!(
        err,
        WeightsError::Shape { tensor, expected, found }
            if tensor == "classifier.weight" && expected == [5, 4] && found == [4, 5]
    ));

    let mut set = random_tensors(&table(), 1);
    set.insert("layers.1.bn.bias", Tensor::full(vec![1, 4], 0.1));
    assert!(matches!(
        load_error(&set),
        WeightsError::Shape { tensor, .. } if tensor == "layers.1.bn.bias"
    ));
}

#[test]
fn tensor_whose_fields_disagree_is_an_error_not_a_panic() {
    let mut set = random_tensors(&table(), 1);
    set.insert(
        "layers.0.bn.bias",
        Tensor {
            shape: vec![4],
            data: vec![0.0; 3],
        },
    );
    assert!(matches!(
        load_error(&set),
        WeightsError::Shape { tensor, found, .. } if tensor == "layers.0.bn.bias" && found == [3]
    ));
    let err = set.to_safetensors().unwrap_err();
    assert!(err.to_string().contains("layers.0.bn.bias"), "{err}");
}

#[test]
fn non_positive_variance_is_refused_by_name() {
    let mut set = random_tensors(&table(), 1);
    set.insert(
        "layers.1.bn.running_var",
        Tensor::new(vec![4], vec![1.0, 1.0, -1.0, 1.0]),
    );
    let err = load_error(&set);
    assert!(err.to_string().contains("layers.1.bn.running_var"), "{err}");
    assert!(matches!(
        err,
        WeightsError::BadVariance { tensor, index: 2 } if tensor == "layers.1.bn.running_var"
    ));

    // Zero variance is fine with eps > 0 but not with eps = 0, and a NaN eps is never fine.
    let set = small_conv();
    assert!(TensorReader::new(&set).conv_bn("c", [2, 1, 1, 2], 1e-5).is_ok());
    for (eps, bad_channel) in [(0.0, 1), (f32::NAN, 0)] {
        let err = TensorReader::new(&set).conv_bn("c", [2, 1, 1, 2], eps).unwrap_err();
        assert!(
            matches!(err, WeightsError::BadVariance { index, .. } if index == bad_channel),
            "{err:?}"
        );
    }
}

#[test]
fn fold_overflow_is_refused_by_name() {
    let mut set = small_conv();
    set.insert("c.bn.weight", Tensor::new(vec![2], vec![1.0, 3e38]));
    let err = TensorReader::new(&set).conv_bn("c", [2, 1, 1, 2], 1e-5).unwrap_err();
    assert!(err.to_string().contains("c.weight"), "{err}");
    assert!(matches!(err, WeightsError::FoldOverflow { tensor, index: 2 } if tensor == "c.weight"));
}

#[test]
fn unreadable_file_names_the_path() {
    let path = std::path::Path::new("/nonexistent/dir/mobilenet.safetensors");
    let err = read_file(path).unwrap_err();
    assert!(matches!(err, WeightsError::Io { .. }));
    assert!(
        err.to_string().contains("/nonexistent/dir/mobilenet.safetensors"),
        "{err}"
    );
}

#[test]
fn pack_error_names_the_tensor() {
    let err = WeightsError::Pack {
        tensor: "layers.7".into(),
    };
    assert!(err.to_string().contains("layers.7"));
}
