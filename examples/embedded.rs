//! Weights compiled into the binary: no file to ship beside it, no path to get wrong.
//!
//! ```sh
//! cargo run --release --example embedded
//! ```
//!
//! `include_bytes!` puts a safetensors file into the executable and `Weights::from_static`
//! reads it once at start-up. A real MobileNet's weights are 2-17 MB, which is fine in a binary
//! but not in this repository, so the example embeds the smallest model the project has: the
//! `tiny_logits` test table (29x29 input, 10 classes, 13 KB of float16 weights) with the golden
//! weights ONNX Runtime was run on, and checks its prediction against ONNX Runtime's.
//! For a real model, swap in its spec and a file written by `tools/convert_weights.py`:
//!
//! ```ignore
//! mod net { mobilenet::mobilenet!("specs/keras/v1_alpha0.25_128.yaml"); }
//! static WEIGHTS: &[u8] = include_bytes!("../weights/keras_0.25_128.safetensors");
//! let model = net::Model::new(net::Weights::from_static(WEIGHTS)?);
//! ```

use std::process::ExitCode;

use mobilenet::runtime::weights::TensorSet;

mod tiny {
    mobilenet::mobilenet!("tests/reference/specs/tiny_logits.yaml");
}

/// The model's parameters, inside the executable.
static WEIGHTS: &[u8] = include_bytes!("../tests/reference/golden/tiny_logits.weights.safetensors");

/// An input image and ONNX Runtime's logits for it (`tests/reference/make_golden.py`).
static GOLDEN: &[u8] = include_bytes!("../tests/reference/golden/tiny_logits.io.safetensors");

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let weights = tiny::Weights::from_static(WEIGHTS).map_err(|e| format!("embedded weights: {e}"))?;
    let mut model = tiny::Model::new(weights);

    let golden = TensorSet::from_safetensors(GOLDEN).map_err(|e| format!("embedded golden file: {e}"))?;
    let tensor = |name: &str| {
        golden
            .get(name)
            .map(|t| t.data.clone())
            .ok_or(format!("golden file lacks `{name}`"))
    };
    let (input, expected) = (tensor("input")?, tensor("logits")?);
    let input: &[f32; tiny::INPUT_LEN] = input
        .as_slice()
        .try_into()
        .map_err(|_| format!("golden input has {} values, not {}", input.len(), tiny::INPUT_LEN))?;

    let logits = model.forward(input);
    let [h, w, c] = tiny::INPUT_SHAPE;
    println!(
        "{}: {h}x{w}x{c} image in, {} classes out, weights from the binary ({} bytes)",
        tiny::NAME,
        tiny::NUM_CLASSES,
        WEIGHTS.len()
    );
    // The table ends at the fc (logits), so softmax here for display.
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    let mut ranked: Vec<(usize, f32)> = exps.iter().map(|e| e / sum).enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (class, p) in ranked.iter().take(3) {
        println!("  class {class}: {:5.1}%", 100.0 * p);
    }
    let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let diff = logits
        .iter()
        .zip(&expected)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    println!(
        "largest difference from ONNX Runtime's logits: {diff:.1e} ({:.1e} of the largest logit)",
        diff / scale
    );
    if diff > 1e-4 * scale {
        return Err("the embedded model disagrees with ONNX Runtime".into());
    }
    Ok(())
}
