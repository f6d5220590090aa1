//! `weights = "model.tflite"`: the quantized model read at compile time, checked against the
//! compiled table, with each layer's requantization prepared as TFLite prepares it.
//!
//! It calls the runtime's own loader (`quant_layers_from_tflite`), so a file is accepted, read
//! and refused at compile time exactly as `Weights::from_tflite` would at run time, with the
//! same messages (operator, tensor, row and both shapes).

use crate::compile::Compiled;
use crate::diagnostics::Diagnostic;
use crate::shapes::Layer;
use crate::spec::{Activation, Kind, Padding, Precision};
use mobilenet_runtime::quant::{quant_layers_from_tflite, QuantFile, QuantLayer};
use mobilenet_runtime::{LayerInfo, LayerKind};
use std::path::Path;

/// A model file read for a compiled table.
pub struct Baked {
    /// What the runtime's loader read: one layer per row, the input and output quantization.
    pub file: QuantFile,
    /// Bytes of static data the parameters take in the program.
    pub static_bytes: u64,
}

/// Reads `path` (shown as `display`) for `c`, compiled from `spec_display`.
///
/// # Errors
/// A message naming the file and what does not fit: unreadable, not a quantized TFLite
/// model of `c`'s precision, or a layer whose operator, shape or quantization disagrees.
pub fn bake(c: &Compiled, spec_display: &str, path: &Path, display: &str) -> Result<Baked, Diagnostic> {
    read(c, spec_display, path, display).map_err(|message| at_row(c, message))
}

/// `message` at the spec line of the row it names, if it names one. The runtime's loader
/// names a row as "layer {index} (`{name}`, {kind})" (`weights::tflite::Row`); the name makes
/// the match unique.
fn at_row(c: &Compiled, message: String) -> Diagnostic {
    let row = c
        .plan
        .layers
        .iter()
        .enumerate()
        .find(|(i, l)| message.contains(&format!("layer {i} (`{}`", l.name)));
    match row {
        Some((_, l)) => Diagnostic::at(&l.row.loc, message),
        None => Diagnostic::global(message),
    }
}

fn read(c: &Compiled, spec_display: &str, path: &Path, display: &str) -> Result<Baked, String> {
    let spec = &c.spec;
    let precision = match spec.precision {
        Precision::Int8 => mobilenet_runtime::Precision::Int8,
        Precision::Uint8 => mobilenet_runtime::Precision::Uint8,
        Precision::Float32 => {
            return Err(format!(
                "weights = \"{display}\": compile-time weights are for quantized tables; {} is float32 \
                 (set `precision: int8` or `uint8` to match a quantized model, or load float weights at run \
                 time with Weights::load)",
                spec.name
            ))
        }
    };
    let bytes =
        std::fs::read(path).map_err(|e| format!("weights = \"{display}\": cannot read {}: {e}", path.display()))?;
    let table: Vec<LayerInfo> = c
        .plan
        .layers
        .iter()
        .zip(&c.totals.layers)
        .map(|(l, cost)| info(l, cost))
        .collect();
    let padding = match spec.padding {
        Padding::Symmetric => mobilenet_runtime::Padding::Symmetric,
        Padding::TfSame => mobilenet_runtime::Padding::TfSame,
    };
    let activation = match spec.activation {
        Activation::Relu => mobilenet_runtime::Activation::Relu,
        Activation::Relu6 => mobilenet_runtime::Activation::Relu6,
    };
    let file = quant_layers_from_tflite(&bytes, &table, padding, activation, precision).map_err(|e| {
        format!(
            "weights = \"{display}\" does not fit {spec_display} ({}): {e}",
            spec.name
        )
    })?;
    for (l, q) in c.plan.layers.iter().zip(&file.layers) {
        if let QuantLayer::Conv(q) = q {
            let [kh, kw] = l.kernel;
            let (cin, cout) = (l.input[2], l.output[2]);
            let weights = match l.row.kind {
                Kind::ConvDw => kh * kw * cout,
                _ => cout * kh * kw * cin,
            };
            q.validate(&l.row.label(), weights, cout).map_err(|e| {
                format!(
                    "weights = \"{display}\" does not fit {spec_display} ({}): {e}",
                    spec.name
                )
            })?;
        }
    }
    let static_bytes = file
        .layers
        .iter()
        .map(|l| match l {
            // Weights one byte each; bias and multiplier four bytes, shift one, per channel.
            QuantLayer::Conv(q) => (q.weights.len() + 9 * q.bias.len()) as u64,
            QuantLayer::Pool(_) => 0,
            QuantLayer::Softmax(_) => 4 * 256,
        })
        .sum();
    Ok(Baked { file, static_bytes })
}

/// The cost report's section on the compiled-in model: its file, the static data and the
/// quantization of its input and output.
pub fn report(b: &Baked, display: &str) -> String {
    let q = |q: &mobilenet_runtime::quant::Quantization| format!("scale {}, zero point {}", q.scale, q.zero_point);
    format!(
        "\n## Compile-time weights\n\n\
         - File: `{display}`, read and checked when the program was compiled\n\
         - Static data: {} bytes (int8 weights; per output channel an int32 bias, an int32 multiplier and an \
         int8 shift; the softmax's table of 256 int32)\n\
         - Input: {}; output: {}\n",
        crate::numbers::group_digits(b.static_bytes as i64),
        q(&b.file.input),
        q(&b.file.output)
    )
}

/// The runtime's record of a row, as the generated `LAYERS` holds it.
fn info(l: &Layer, c: &crate::cost::Cost) -> LayerInfo {
    LayerInfo {
        // The macro runs once per expansion; the table lives as long as it.
        name: Box::leak(l.name.clone().into_boxed_str()),
        kind: match l.row.kind {
            Kind::Conv => LayerKind::Conv,
            Kind::ConvDw => LayerKind::ConvDw,
            Kind::AvgPool => LayerKind::AvgPool,
            Kind::Fc => LayerKind::Fc,
            Kind::Softmax => LayerKind::Softmax,
        },
        stride: l.row.stride,
        kernel: l.kernel,
        pad_top_left: l.pad_top_left,
        input: l.input,
        output: l.output,
        params: c.params,
        stored_params: c.stored,
        mult_adds: c.mult_adds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::ArenaLayout;
    use std::path::PathBuf;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn compiled(spec: &str) -> Compiled {
        crate::compile::compile_for(&root().join(spec), spec, &crate::spec::Disk, ArenaLayout::Baked).unwrap()
    }

    #[test]
    fn person_detect_bakes_every_layer() {
        let c = compiled("specs/tflite/quant/person_detect.yaml");
        let b = bake(
            &c,
            "spec.yaml",
            &root().join("assets/tflite-micro/person_detect.tflite"),
            "person_detect.tflite",
        )
        .unwrap();
        assert_eq!(b.file.layers.len(), c.plan.layers.len());
        // Every weight once, as int8, and nine bytes per channel.
        let channels: u64 = c.totals.total.biases;
        assert_eq!(b.static_bytes, c.totals.total.params + 9 * channels + 1024);
    }

    #[test]
    fn a_model_of_another_table_is_refused_at_the_row() {
        let c = compiled("specs/tflite/quant/v1_alpha0.25_128_quant.yaml");
        let file = root().join("assets/coral/mobilenet_v1_0.5_160_quant.tflite");
        let e = bake(&c, "spec.yaml", &file, "m.tflite").err().unwrap();
        assert!(
            e.message.starts_with("weights = \"m.tflite\" does not fit spec.yaml"),
            "{e}"
        );
        assert!(
            e.message.contains("[1, 160, 160, 3]") && e.message.contains("[1, 128, 128, 3]"),
            "{e}"
        );
        assert_eq!(
            e.loc.as_ref().map(|l| l.pos.line),
            Some(c.plan.layers[0].row.loc.pos.line),
            "{e}"
        );
        // A file of the other precision concerns no row.
        let person = root().join("assets/tflite-micro/person_detect.tflite");
        let e = bake(&c, "spec.yaml", &person, "p.tflite").err().unwrap();
        assert!(e.message.contains("set `precision: int8`"), "{e}");
    }

    #[test]
    fn a_float_table_or_a_missing_file_is_refused() {
        let c = compiled("specs/tflite/v1_alpha0.25_128.yaml");
        let e = bake(
            &c,
            "spec.yaml",
            &root().join("assets/tflite-micro/person_detect.tflite"),
            "p.tflite",
        )
        .err()
        .unwrap();
        assert!(
            e.message.contains("compile-time weights are for quantized tables"),
            "{e}"
        );
        let c = compiled("specs/tflite/quant/person_detect.yaml");
        let e = bake(&c, "spec.yaml", &root().join("no/such.tflite"), "no/such.tflite")
            .err()
            .unwrap();
        assert!(
            e.message.starts_with("weights = \"no/such.tflite\": cannot read"),
            "{e}"
        );
    }
}
