//! The command line of `classify`: parsing the arguments and finding the spec they name.
//!
//! Kept apart from `main` so that `tests/classify.rs` can include it with `#[path]` and check
//! both without running a model.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::preprocess::Normalization;

/// The usage text `--help` prints and usage errors point to.
pub const USAGE: &str = "\
Classify photos with a MobileNet compiled from a spec.

usage: cargo run --release --example classify -- [OPTIONS] IMAGE...

With no options it runs the trained MobileNet-V1 0.25-224 compiled into the program (TFLite,
from tflite-support; 1001 classes).

options:
  --weights FILE         a .tflite model (float32 MobileNet-V1, e.g. mobilenet_v1_0.5_160.tflite)
                         or a safetensors file (tools/convert_weights.py writes them). For a
                         .tflite file the spec whose shapes match is found by itself
  --spec PATH            the model's spec; --list-specs shows the compiled-in choices. A spec's
                         name (e.g. keras_mobilenet_0.25_128) works too. Default: the one that
                         fits a .tflite file, specs/v1_alpha1_224.yaml for safetensors
  --random-weights       run the spec on seeded RANDOM weights (benchmarks, demos of shapes);
                         its labels mean nothing
  --preprocess MODE      keras: pixels to [-1, 1]; torch: ImageNet mean/std on [0, 1], both after
                         a resize and centre crop; tflite: the whole image resized bilinearly to
                         the input, (x - 127.5) / 127.5. Default: tflite for .tflite weights,
                         else what the spec's weights were trained with (keras for tf_same specs
                         and timm, torch for the other symmetric ones)
  --top K                how many classes to print per image (default 5)
  --raw-output FILE      also write the preprocessed inputs [N, H, W, 3], the logits and the
                         outputs [N, classes] of the images that loaded, as safetensors
  --list-specs           list the compiled-in specs and exit
  -h, --help             this text

Images are JPEG, PNG, WebP or BMP files (recognised by content). They run as one batch across the
cores; one that cannot be read is reported and the others still run (the exit code is then 1).";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print [`USAGE`].
    Help,
    /// Print the compiled-in specs.
    ListSpecs,
    /// Classify images.
    Classify(Options),
}

/// The options of a classification run.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The `--spec` argument as given, if any.
    pub spec: Option<String>,
    /// The weights file, if any.
    pub weights: Option<PathBuf>,
    /// Whether `--random-weights` asked for seeded random weights.
    pub random_weights: bool,
    /// The `--preprocess` override, if any.
    pub preprocess: Option<Normalization>,
    /// Classes printed per image.
    pub top: usize,
    /// Where to write inputs and outputs, if anywhere.
    pub raw_output: Option<PathBuf>,
    /// The image files, in the order given.
    pub images: Vec<PathBuf>,
}

/// The spec used for a safetensors file or random weights when `--spec` is not given.
pub const DEFAULT_SPEC: &str = "specs/v1_alpha1_224.yaml";

/// Parses the arguments after the program name.
///
/// # Errors
/// An unknown option, a missing or malformed value, or no image: a message for the user.
pub fn parse_args(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Command, String> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut opts = Options {
        spec: None,
        weights: None,
        random_weights: false,
        preprocess: None,
        top: 5,
        raw_output: None,
        images: Vec::new(),
    };
    let text = |v: OsString, what: &str| v.into_string().map_err(|v| format!("{what} {v:?} is not valid UTF-8"));
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Long("list-specs") => return Ok(Command::ListSpecs),
            Long("spec") => opts.spec = Some(text(parser.value().map_err(|e| e.to_string())?, "--spec")?),
            Long("random-weights") => opts.random_weights = true,
            Long("weights") => opts.weights = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("raw-output") => opts.raw_output = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("preprocess") => {
                let v = text(parser.value().map_err(|e| e.to_string())?, "--preprocess")?;
                opts.preprocess = Some(
                    Normalization::parse(&v)
                        .ok_or_else(|| format!("--preprocess takes `keras`, `torch` or `tflite`, not `{v}`"))?,
                );
            }
            Long("top") => {
                let v = text(parser.value().map_err(|e| e.to_string())?, "--top")?;
                opts.top = v
                    .parse()
                    .ok()
                    .filter(|&k| k > 0)
                    .ok_or_else(|| format!("--top takes a positive whole number, not `{v}`"))?;
            }
            Value(v) => opts.images.push(v.into()),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    if opts.images.is_empty() {
        return Err("no image given: name one or more JPEG, PNG, WebP or BMP files".to_owned());
    }
    if opts.random_weights && opts.weights.is_some() {
        return Err("--random-weights and --weights exclude each other: pick one".to_owned());
    }
    Ok(Command::Classify(opts))
}

/// Finds the spec `arg` names among `paths` (relative to `root`, the crate folder) and `names`
/// (the specs' model names, same order): by the path as written (with or without `./`), by
/// the same file reached another way (absolute, from another folder), or by the model name.
pub fn find_spec(arg: &str, paths: &[&str], names: &[&str], root: &Path) -> Option<usize> {
    let plain = arg.trim_start_matches("./");
    if let Some(i) = paths.iter().position(|p| *p == plain) {
        return Some(i);
    }
    if let Ok(want) = std::fs::canonicalize(arg) {
        let found = paths
            .iter()
            .position(|p| std::fs::canonicalize(root.join(p)).is_ok_and(|have| have == want));
        if found.is_some() {
            return found;
        }
    }
    names.iter().position(|n| *n == arg)
}
