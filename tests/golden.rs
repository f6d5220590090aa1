//! The generated forward pass against ONNX Runtime: `tests/reference/make_golden.py` built the
//! same network as an ONNX graph (NCHW, batch norm as separate nodes), ran it, and saved the
//! weights in our tensor names with the input, the logits and the output (see
//! `tests/reference/README.md` to make them again).
//!
//! Contract: logits within 1e-4 of the largest logit (relative), probabilities within 1e-5
//! absolute.

use mobilenet::runtime::weights::TensorSet;
use mobilenet::runtime::LayerKind;
use std::path::Path;

mod torch_a025_128 {
    mobilenet::mobilenet!("tests/reference/specs/torch_alpha0.25_128.yaml");
}
mod torch_a050_160 {
    mobilenet::mobilenet!("tests/reference/specs/torch_alpha0.5_160.yaml");
}
mod keras_a025_160 {
    mobilenet::mobilenet!("tests/reference/specs/keras_alpha0.25_160.yaml");
}
mod keras_a050_128 {
    mobilenet::mobilenet!("tests/reference/specs/keras_alpha0.5_128.yaml");
}
mod tiny_logits {
    mobilenet::mobilenet!("tests/reference/specs/tiny_logits.yaml");
}

fn golden(stem: &str) -> (Vec<u8>, TensorSet) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/golden");
    let weights = std::fs::read(dir.join(format!("{stem}.weights.safetensors"))).unwrap();
    let io = std::fs::read(dir.join(format!("{stem}.io.safetensors"))).unwrap();
    (weights, TensorSet::from_safetensors(&io).unwrap())
}

/// max |got - want| / max |want|.
fn rel_err(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0, f32::max) / scale
}

macro_rules! golden_test {
    ($test:ident, $m:ident, $stem:literal) => {
        #[test]
        fn $test() {
            use $m as m;
            let (weights, io) = golden($stem);
            let mut model = m::Model::new(m::Weights::from_safetensors(&weights).expect("golden weights load"));
            let input = &io.get("input").unwrap().data;
            let input: &[f32; m::INPUT_LEN] = input
                .as_slice()
                .try_into()
                .expect("golden input has the spec's size");
            let fc = m::LAYERS.iter().position(|l| l.kind == LayerKind::Fc).unwrap();
            let mut logits = Vec::new();
            let out = *model.forward_inspect(input, |i, y| {
                if i == fc {
                    logits = y.to_vec();
                }
            });
            let want_logits = &io.get("logits").unwrap().data;
            let err = rel_err(&logits, want_logits);
            assert!(err < 1e-4, "{}: logits relative error {err:e}", $stem);
            let want = &io.get("output").unwrap().data;
            if m::OUTPUTS_PROBABILITIES {
                let abs = out
                    .iter()
                    .zip(want)
                    .map(|(g, w)| (g - w).abs())
                    .fold(0.0, f32::max);
                assert!(abs < 1e-5, "{}: probabilities absolute error {abs:e}", $stem);
                assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            } else {
                let err = rel_err(&out, want);
                assert!(err < 1e-4, "{}: output relative error {err:e}", $stem);
            }
        }
    };
}

golden_test!(torch_symmetric_relu_alpha025_128, torch_a025_128, "torch_alpha0.25_128");
golden_test!(torch_symmetric_relu_alpha05_160, torch_a050_160, "torch_alpha0.5_160");
golden_test!(keras_tf_same_relu6_alpha025_160, keras_a025_160, "keras_alpha0.25_160");
golden_test!(keras_tf_same_relu6_alpha05_128, keras_a050_128, "keras_alpha0.5_128");
golden_test!(tiny_logits_named_rows_non_global_pool, tiny_logits, "tiny_logits");
