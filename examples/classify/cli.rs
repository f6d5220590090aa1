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

options:
  --spec PATH            the model's spec (default specs/v1_alpha1_224.yaml); --list-specs shows
                         the compiled-in choices. A spec's name (e.g. keras_mobilenet_0.25_128)
                         works too
  --weights FILE         a safetensors weights file for that spec (tools/convert_weights.py
                         writes them); without it the model runs on seeded RANDOM weights
  --preprocess MODE      keras: pixels to [-1, 1]; torch: ImageNet mean/std on [0, 1]. Default:
                         what the spec's weights were trained with (keras for tf_same specs and
                         timm, torch for the other symmetric ones)
  --top K                how many classes to print per image (default 5)
  --raw-output FILE      also write the preprocessed inputs [N, H, W, 3], the logits and the
                         outputs [N, classes] of the images that loaded, as safetensors
  --list-specs           list the compiled-in specs and exit
  -h, --help             this text

Images are JPEG, PNG or WebP files (recognised by content). They run as one batch across the
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
    /// The `--spec` argument as given.
    pub spec: String,
    /// The weights file, if any.
    pub weights: Option<PathBuf>,
    /// The `--preprocess` override, if any.
    pub preprocess: Option<Normalization>,
    /// Classes printed per image.
    pub top: usize,
    /// Where to write inputs and outputs, if anywhere.
    pub raw_output: Option<PathBuf>,
    /// The image files, in the order given.
    pub images: Vec<PathBuf>,
}

/// The spec used when `--spec` is not given.
pub const DEFAULT_SPEC: &str = "specs/v1_alpha1_224.yaml";

/// Parses the arguments after the program name.
///
/// # Errors
/// An unknown option, a missing or malformed value, or no image: a message for the user.
pub fn parse_args(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Command, String> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut opts = Options {
        spec: DEFAULT_SPEC.to_owned(),
        weights: None,
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
            Long("spec") => opts.spec = text(parser.value().map_err(|e| e.to_string())?, "--spec")?,
            Long("weights") => opts.weights = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("raw-output") => opts.raw_output = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("preprocess") => {
                let v = text(parser.value().map_err(|e| e.to_string())?, "--preprocess")?;
                opts.preprocess = Some(
                    Normalization::parse(&v)
                        .ok_or_else(|| format!("--preprocess takes `keras` or `torch`, not `{v}`"))?,
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
        return Err("no image given: name one or more JPEG, PNG or WebP files".to_owned());
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
