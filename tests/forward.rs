//! The generated forward pass against a plain reference written here: direct loops, f64
//! accumulation, batch norm applied as its own step (not folded), reading the raw tensors that
//! `random_tensors` draws. Every spec in `specs/`, layer by layer and end to end.

use mobilenet::runtime::weights::{random_tensors, TensorSet};
use mobilenet::runtime::{Activation, LayerInfo, LayerKind};

mod a100_224 {
    mobilenet::mobilenet!("specs/v1_alpha1_224.yaml");
}
mod a075_224 {
    mobilenet::mobilenet!("specs/v1_alpha0.75_224.yaml");
}
mod a050_224 {
    mobilenet::mobilenet!("specs/v1_alpha0.5_224.yaml");
}
mod a025_224 {
    mobilenet::mobilenet!("specs/v1_alpha0.25_224.yaml");
}
mod a100_192 {
    mobilenet::mobilenet!("specs/v1_alpha1_192.yaml");
}
mod a100_160 {
    mobilenet::mobilenet!("specs/v1_alpha1_160.yaml");
}
mod a100_128 {
    mobilenet::mobilenet!("specs/v1_alpha1_128.yaml");
}
mod a050_160 {
    mobilenet::mobilenet!("specs/v1_alpha0.5_160.yaml");
}
mod conv_224 {
    mobilenet::mobilenet!("specs/v1_conv_224.yaml");
}
mod shallow_224 {
    mobilenet::mobilenet!("specs/v1_shallow_224.yaml");
}
mod tiny_logits {
    mobilenet::mobilenet!("tests/reference/specs/tiny_logits.yaml");
}
mod keras_a050_128 {
    mobilenet::mobilenet!("tests/reference/specs/keras_alpha0.5_128.yaml");
}

/// Deterministic image in [-1, 1].
fn image(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn tensor<'a>(set: &'a TensorSet, name: &str) -> &'a [f32] {
    &set.get(name).unwrap_or_else(|| panic!("no tensor {name}")).data
}

/// One layer computed the slow, obvious way.
fn reference_layer(l: &LayerInfo, x: &[f32], set: &TensorSet, eps: f64, act: Activation) -> Vec<f64> {
    let [h, w, cin] = l.input;
    let [oh, ow, cout] = l.output;
    let [kh, kw] = l.kernel;
    let [pt, pl] = l.pad_top_left;
    let s = l.stride;
    let at = |y: isize, xx: isize, c: usize| -> f64 {
        if y < 0 || xx < 0 || y >= h as isize || xx >= w as isize {
            0.0
        } else {
            x[(y as usize * w + xx as usize) * cin + c] as f64
        }
    };
    let mut out = vec![0.0f64; oh * ow * cout];
    match l.kind {
        LayerKind::Conv | LayerKind::ConvDw => {
            let p = l.name;
            let wt = tensor(set, &format!("{p}.weight"));
            let (g, b) = (
                tensor(set, &format!("{p}.bn.weight")),
                tensor(set, &format!("{p}.bn.bias")),
            );
            let (m, v) = (
                tensor(set, &format!("{p}.bn.running_mean")),
                tensor(set, &format!("{p}.bn.running_var")),
            );
            let dw = l.kind == LayerKind::ConvDw;
            for oy in 0..oh {
                for ox in 0..ow {
                    for co in 0..cout {
                        let mut acc = 0.0f64;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let y = (oy * s + ky) as isize - pt as isize;
                                let xx = (ox * s + kx) as isize - pl as isize;
                                if dw {
                                    acc += at(y, xx, co) * wt[(co * kh + ky) * kw + kx] as f64;
                                } else {
                                    for ci in 0..cin {
                                        acc += at(y, xx, ci) * wt[((co * cin + ci) * kh + ky) * kw + kx] as f64;
                                    }
                                }
                            }
                        }
                        let bn = (acc - m[co] as f64) / (v[co] as f64 + eps).sqrt() * g[co] as f64 + b[co] as f64;
                        out[(oy * ow + ox) * cout + co] = match act {
                            Activation::Relu => bn.max(0.0),
                            Activation::Relu6 => bn.clamp(0.0, 6.0),
                        };
                    }
                }
            }
        }
        LayerKind::AvgPool => {
            for oy in 0..oh {
                for ox in 0..ow {
                    for c in 0..cout {
                        let mut acc = 0.0;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                acc += at((oy * s + ky) as isize, (ox * s + kx) as isize, c);
                            }
                        }
                        out[(oy * ow + ox) * cout + c] = acc / (kh * kw) as f64;
                    }
                }
            }
        }
        LayerKind::Fc => {
            let (wt, b) = (
                tensor(set, &format!("{}.weight", l.name)),
                tensor(set, &format!("{}.bias", l.name)),
            );
            for o in 0..cout {
                out[o] = b[o] as f64 + (0..cin).map(|i| wt[o * cin + i] as f64 * x[i] as f64).sum::<f64>();
            }
        }
        LayerKind::Softmax => {
            let max = x.iter().fold(f64::MIN, |a, &v| a.max(v as f64));
            let sum: f64 = x.iter().map(|&v| (v as f64 - max).exp()).sum();
            for c in 0..cout {
                out[c] = (x[c] as f64 - max).exp() / sum;
            }
        }
    }
    out
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

macro_rules! check_model {
    ($test:ident, $m:ident, $seed:expr) => {
        #[test]
        fn $test() {
            use $m as m;
            let set = random_tensors(m::LAYERS, $seed);
            let weights = m::Weights::from_tensors(&set).expect("random tensors load");
            let mut model = m::Model::new(weights);
            let img = image(m::INPUT_LEN, $seed);
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
    };
}

check_model!(alpha1_224, a100_224, 1);
check_model!(alpha075_224, a075_224, 2);
check_model!(alpha05_224, a050_224, 3);
check_model!(alpha025_224, a025_224, 4);
check_model!(alpha1_192, a100_192, 5);
check_model!(alpha1_160, a100_160, 6);
check_model!(alpha1_128, a100_128, 7);
check_model!(alpha05_160, a050_160, 8);
check_model!(conv_mobilenet_224, conv_224, 9);
check_model!(shallow_224, shallow_224, 10);
check_model!(tiny_logits_odd_shapes, tiny_logits, 11);
check_model!(keras_tf_same_relu6, keras_a050_128, 12);
