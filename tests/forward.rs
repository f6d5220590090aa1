//! The generated forward pass against a plain reference: the kernels' test kit
//! (`mobilenet_runtime::kernels::testkit`, one reference per operator: direct loops, f64
//! accumulation), with batch norm applied as its own step (not folded), reading the raw
//! tensors that `random_tensors` draws. Every spec the paper reports (`specs/*.yaml`) and two
//! test specs, layer by layer and end to end.

use mobilenet::runtime::weights::{random_tensors, TensorSet};
use mobilenet::runtime::{Activation, LayerInfo, LayerKind, ACT_NONE};
use mobilenet_runtime::kernels::testkit::{self, Rng};

#[macro_use]
#[path = "../specs/list.rs"]
mod spec_list;

fn tensor<'a>(set: &'a TensorSet, name: &str) -> &'a [f32] {
    &set.get(name).unwrap_or_else(|| panic!("no tensor {name}")).data
}

/// One layer computed the slow, obvious way: the test kit's reference for its operator, and
/// for a convolution its batch norm and activation applied after it, each as its own step.
fn reference_layer(l: &LayerInfo, x: &[f32], set: &TensorSet, eps: f64, act: Activation) -> Vec<f64> {
    let [h, w, cin] = l.input;
    let [oh, ow, cout] = l.output;
    let [kh, kw] = l.kernel;
    let [pt, pl] = l.pad_top_left;
    let (s, p) = (l.stride, l.name);
    let values = |sums: Vec<testkit::Sum>| sums.iter().map(|s| s.value).collect::<Vec<f64>>();
    match l.kind {
        LayerKind::Conv | LayerKind::ConvDw => {
            let wt = tensor(set, &format!("{p}.weight"));
            let no_bias = vec![0.0; cout];
            let window = (kh, kw, s, pt, pl);
            let conv = if l.kind == LayerKind::Conv {
                values(testkit::conv(
                    (h, w, cin),
                    (oh, ow, cout),
                    window,
                    ACT_NONE,
                    x,
                    wt,
                    &no_bias,
                ))
            } else {
                testkit::depthwise((h, w, cin), (oh, ow), window, ACT_NONE, x, wt, &no_bias)
            };
            let bn = |name: &str| tensor(set, &format!("{p}.bn.{name}"));
            let (g, b, m, v) = (bn("weight"), bn("bias"), bn("running_mean"), bn("running_var"));
            conv.iter()
                .enumerate()
                .map(|(i, &acc)| {
                    let co = i % cout;
                    let y = (acc - m[co] as f64) / (v[co] as f64 + eps).sqrt() * g[co] as f64 + b[co] as f64;
                    match act {
                        Activation::Relu => y.max(0.0),
                        Activation::Relu6 => y.clamp(0.0, 6.0),
                    }
                })
                .collect()
        }
        LayerKind::AvgPool => testkit::avg_pool((h, w, cin), (oh, ow), (kh, kw, s), x),
        LayerKind::Fc => {
            let (wt, b) = (tensor(set, &format!("{p}.weight")), tensor(set, &format!("{p}.bias")));
            values(testkit::matmul(1, cin, cout, cin, ACT_NONE, x, wt, b))
        }
        LayerKind::Softmax => testkit::softmax(x),
    }
}

/// max |got - want| / max(max |want|, 1e-3): error relative to the layer's scale.
fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1e-3f64, |a, v| a.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(g, w)| (*g as f64 - w).abs())
        .fold(0.0, f64::max)
        / scale
}

/// A seed per spec file (FNV-1a of its path), so that each model draws its own weights and image.
fn seed(path: &str) -> u64 {
    path.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Expands each spec in a module of its own, with a test that runs its model against
/// [`reference_layer`] on random weights and a random image.
macro_rules! models {
    ($($group:ident $module:ident => $path:literal;)*) => {
        $(mod $module {
            mobilenet::mobilenet!($path);

            #[test]
            fn matches_the_reference() {
                use crate::$module as m;
                use crate::{reference_layer, rel_err};
                let seed = crate::seed($path);
                let set = crate::random_tensors(m::LAYERS, seed);
                let weights = m::Weights::from_tensors(&set).expect("random tensors load");
                let mut model = m::Model::new(weights);
                let img = crate::Rng::new(seed).vec(m::INPUT_LEN);
                let input: &[f32; m::INPUT_LEN] = img.as_slice().try_into().unwrap();
                let eps = m::BN_EPS as f64;
                // Layer by layer: each layer from the generated model's own previous output.
                let mut prev: Vec<f32> = img.clone();
                let mut outputs = Vec::new();
                model.forward_inspect(input, |i, out| {
                    let want = reference_layer(&m::LAYERS[i], &prev, &set, eps, m::ACTIVATION);
                    let err = rel_err(out, &want);
                    assert!(
                        err < 1e-5,
                        "{}: layer {i} ({:?}) relative error {err:e}",
                        m::NAME,
                        m::LAYERS[i].kind
                    );
                    prev = out.to_vec();
                    outputs.push(err);
                });
                assert_eq!(outputs.len(), m::LAYERS.len());
                // End to end: the reference runs on its own outputs all the way.
                let mut x: Vec<f32> = img.clone();
                let mut last = Vec::new();
                for l in m::LAYERS {
                    last = reference_layer(l, &x, &set, eps, m::ACTIVATION);
                    x = last.iter().map(|&v| v as f32).collect();
                }
                let got = *model.forward(input);
                let err = rel_err(&got, &last);
                assert!(err < 1e-4, "{}: end-to-end relative error {err:e}", m::NAME);
                // Same input, same answer: the arena carries nothing from one call to the next.
                assert_eq!(got, *model.forward(input));
            }
        })*
    };
}

with_specs!(paper => models! {
    test tiny_logits_odd_shapes => "tests/reference/specs/tiny_logits.yaml";
    test keras_tf_same_relu6 => "tests/reference/specs/keras_alpha0.5_128.yaml";
});
