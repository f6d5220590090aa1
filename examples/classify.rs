//! Photo to label: classifies image files with a MobileNet compiled from a spec and prints the
//! five most likely ImageNet classes of each, with their probabilities and the time taken.
//!
//! ```sh
//! cargo run --release --example classify -- assets/tflite-support/burger.jpg
//! cargo run --release --example classify -- --weights mobilenet_v1_0.5_160.tflite cat.jpg
//! cargo run --release --example classify -- --spec specs/keras/v1_alpha0.25_128.yaml \
//!     --weights keras_0.25_128.safetensors photos/*.jpg
//! cargo run --release --example classify -- --list-specs
//! ```
//!
//! `mobilenet!` reads its spec at compile time, so this program compiles a fixed set of specs,
//! each in its own module, and `--spec` picks one of them at run time; for a `.tflite` file the
//! program finds the spec whose shapes fit. Without `--weights` it runs the trained TFLite
//! MobileNet-V1 0.25-224 compiled into it. Seeded random weights run only when asked for
//! (`--random-weights`), and the program then says loudly that its labels mean nothing.
//! `--help` lists every option.
//!
//! The image pipeline (decode, resize, centre crop, normalise) and the ranking live in
//! `classify/preprocess.rs`, the command line in `classify/cli.rs`; `tests/classify.rs` tests
//! both.

// Example crate roots look for modules beside themselves, so the folder is named explicitly.
#[path = "classify/cli.rs"]
mod cli;
#[path = "classify/preprocess.rs"]
mod preprocess;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use mobilenet::runtime::interop::Network;
use mobilenet::runtime::ndarray::ArrayView4;
use mobilenet::runtime::weights::{Tensor, TensorSet, WeightsFormat};
use mobilenet::runtime::{Activation, LayerInfo, Padding, Precision};
use rayon::prelude::*;

use cli::{Command, Options};
use preprocess::{ImageError, Label, Normalization, Preprocess};

/// Seed of the stand-in weights used when no `--weights` file is given.
const RANDOM_SEED: u64 = 0;

/// With more images than this, a progress bar shows on a terminal.
const PROGRESS_ABOVE: usize = 8;

/// The 1000 ImageNet classes in output order (see `assets/README.md` for where they come from).
const IMAGENET_CLASSES: &str = include_str!("../assets/imagenet_classes.tsv");

/// The trained model compiled into the program, run when no `--weights` is given: TF-slim's
/// MobileNet-V1 0.25-224 as TFLite, from tflite-support (Apache-2.0; see `assets/README.md`).
const BUNDLED_MODEL: &[u8] = include_bytes!("../assets/tflite-support/mobilenet_v1_0.25_224_1_metadata_1.tflite");

/// Where [`BUNDLED_MODEL`] came from, for the header.
const BUNDLED_MODEL_NAME: &str = "mobilenet_v1_0.25_224 (TFLite float32, compiled in; tflite-support, Apache-2.0)";

/// The spec [`BUNDLED_MODEL`] fits.
const BUNDLED_SPEC: &str = "specs/tflite/v1_alpha0.25_224.yaml";

/// One compiled-in spec: its constants, and the entry point that runs its model.
struct Spec {
    path: &'static str,
    name: &'static str,
    input_shape: [usize; 3],
    num_classes: usize,
    padding: Padding,
    activation: Activation,
    probabilities: bool,
    /// How the images its weights were trained on were scaled.
    preprocess: Normalization,
    layers: &'static [LayerInfo],
    bn_eps: f32,
    /// float32, or the quantized scheme the spec's `precision` names.
    precision: Precision,
    /// The class names, when the spec's classes are not ImageNet's.
    labels: Option<&'static [&'static str]>,
    run: fn(&Job<'_>) -> Result<Summary, String>,
}

/// Where the weights of a run come from.
#[derive(Clone, Debug, PartialEq)]
enum WeightsSource {
    /// A file the user named, in the format its content shows.
    File(PathBuf, WeightsFormat),
    /// [`BUNDLED_MODEL`].
    Bundled,
    /// Seeded random weights (`--random-weights`).
    Random,
}

impl WeightsSource {
    fn is_tflite(&self) -> bool {
        matches!(
            self,
            WeightsSource::Bundled | WeightsSource::File(_, WeightsFormat::Tflite)
        )
    }
}

/// Expands each spec in its own module, with a `run` that loads that model's weights and hands
/// the model to the generic [`classify`], and lists them all in `SPECS`.
macro_rules! specs {
    ($($module:ident => $path:literal $(, preprocess: $pre:ident)?;)*) => {
        $(mod $module {
            mobilenet::mobilenet!($path);

            /// Loads the weights (or makes random ones) and classifies the job's images.
            pub fn run(job: &crate::Job<'_>) -> Result<crate::Summary, String> {
                let start = ::std::time::Instant::now();
                let weights = match &job.source {
                    crate::WeightsSource::File(path, _) => {
                        let w = Weights::load(path).map_err(|e| crate::weights_error(path, &e))?;
                        crate::warn_if_converted_for_another_spec(path, job.spec);
                        w
                    }
                    crate::WeightsSource::Bundled => Weights::from_static(crate::BUNDLED_MODEL)
                        .map_err(|e| format!("the compiled-in model does not load, a bug: {e}"))?,
                    crate::WeightsSource::Random => Weights::random(crate::RANDOM_SEED),
                };
                // Batches are spread over every core; an unavailable thread is not fatal.
                let mut model = Model::new(weights);
                if let Err(e) = model.set_threads(rayon::current_num_threads()) {
                    eprintln!("warning: running on one thread: cannot start worker threads: {e}");
                }
                crate::classify(&model, job, start.elapsed(), logits)
            }

            /// The fc layer's output for one image, whatever follows it: what `--raw-output`
            /// records, so that a conversion check can compare logits, not saturated softmax.
            fn logits(model: &mut Model, input: &[f32]) -> Vec<f32> {
                let fc = LAYERS.iter().rposition(|l| l.kind == mobilenet::runtime::LayerKind::Fc);
                let mut out = Vec::new();
                if let Ok(input) = <&[f32; INPUT_LEN]>::try_from(input) {
                    model.forward_inspect(input, |i, values| if Some(i) == fc { out = values.to_vec() });
                }
                out
            }
        })*

        const SPECS: &[Spec] = &[$(Spec {
            path: $path,
            name: $module::NAME,
            input_shape: $module::INPUT_SHAPE,
            num_classes: $module::NUM_CLASSES,
            padding: $module::PADDING,
            activation: $module::ACTIVATION,
            probabilities: $module::OUTPUTS_PROBABILITIES,
            preprocess: specs!(@pre $module $($pre)?),
            layers: $module::LAYERS,
            bn_eps: $module::BN_EPS,
            precision: $module::PRECISION,
            labels: None,
            run: $module::run,
        }),*];
    };
    (@pre $module:ident $pre:ident) => { Normalization::$pre };
    (@pre $module:ident) => { Normalization::for_padding($module::PADDING) };
}

/// The quantized specs, as [`specs!`] does the float ones: each `run` loads the `.tflite`
/// file and classifies the images' pixels with [`classify_quantized`].
macro_rules! quant_specs {
    ($($module:ident => $path:literal $(, labels: $labels:expr)?;)*) => {
        $(mod $module {
            mobilenet::mobilenet!($path);

            /// Loads the quantized model and classifies the job's images.
            pub fn run(job: &crate::Job<'_>) -> Result<crate::Summary, String> {
                use mobilenet::runtime::quant::QuantElem;
                let start = ::std::time::Instant::now();
                let weights = match &job.source {
                    crate::WeightsSource::File(path, _) => Weights::load(path).map_err(|e| crate::weights_error(path, &e))?,
                    crate::WeightsSource::Bundled | crate::WeightsSource::Random => {
                        return Err(format!(
                            "{} is quantized: it runs a quantized .tflite file given with --weights (random or \
                             compiled-in weights are for float specs)",
                            $path
                        ))
                    }
                };
                let out = weights.output_quantization();
                let mut model = Model::new(weights);
                if let Err(e) = model.set_threads(rayon::current_num_threads()) {
                    eprintln!("warning: running on one thread: cannot start worker threads: {e}");
                }
                crate::classify_quantized(job, start.elapsed(), |pixels| {
                    let pixels: &[u8; INPUT_LEN] = pixels.try_into().ok()?;
                    Some(model.forward_pixels(pixels).iter().map(|&q| out.dequantize(q.to_i32())).collect())
                })
            }
        })*

        const QUANT_SPECS: &[Spec] = &[$(Spec {
            path: $path,
            name: $module::NAME,
            input_shape: $module::INPUT_SHAPE,
            num_classes: $module::NUM_CLASSES,
            padding: $module::PADDING,
            activation: $module::ACTIVATION,
            probabilities: $module::OUTPUTS_PROBABILITIES,
            preprocess: Normalization::Tflite,
            layers: $module::LAYERS,
            bn_eps: $module::BN_EPS,
            precision: $module::PRECISION,
            labels: quant_specs!(@labels $($labels)?),
            run: $module::run,
        }),*];
    };
    (@labels $labels:expr) => { Some($labels) };
    (@labels) => { None };
}

quant_specs! {
    // TensorFlow's uint8 exports (per-tensor scales), as tflite-support and Coral test them.
    tflite_025_224_quant => "specs/tflite/quant/v1_alpha0.25_224_quant.yaml";
    tflite_025_128_quant => "specs/tflite/quant/v1_alpha0.25_128_quant.yaml";
    tflite_050_160_quant => "specs/tflite/quant/v1_alpha0.5_160_quant.yaml";
    // TFLite Micro's int8 person detector (96x96 grayscale, per-channel scales).
    person_detect => "specs/tflite/quant/person_detect.yaml", labels: &["no person", "person"];
}

/// Every compiled-in spec, float then quantized.
fn all_specs() -> impl Iterator<Item = &'static Spec> {
    SPECS.iter().chain(QUANT_SPECS)
}

specs! {
    // The paper's variants (symmetric padding, ReLU).
    paper_100_224 => "specs/v1_alpha1_224.yaml";
    paper_075_224 => "specs/v1_alpha0.75_224.yaml";
    paper_050_224 => "specs/v1_alpha0.5_224.yaml";
    paper_025_224 => "specs/v1_alpha0.25_224.yaml";
    paper_100_192 => "specs/v1_alpha1_192.yaml";
    paper_100_160 => "specs/v1_alpha1_160.yaml";
    paper_100_128 => "specs/v1_alpha1_128.yaml";
    paper_050_160 => "specs/v1_alpha0.5_160.yaml";
    paper_conv_224 => "specs/v1_conv_224.yaml";
    paper_shallow_224 => "specs/v1_shallow_224.yaml";
    // keras.applications.MobileNet, every alpha and resolution it has ImageNet weights for.
    keras_100_224 => "specs/keras/v1_alpha1_224.yaml";
    keras_100_192 => "specs/keras/v1_alpha1_192.yaml";
    keras_100_160 => "specs/keras/v1_alpha1_160.yaml";
    keras_100_128 => "specs/keras/v1_alpha1_128.yaml";
    keras_075_224 => "specs/keras/v1_alpha0.75_224.yaml";
    keras_075_192 => "specs/keras/v1_alpha0.75_192.yaml";
    keras_075_160 => "specs/keras/v1_alpha0.75_160.yaml";
    keras_075_128 => "specs/keras/v1_alpha0.75_128.yaml";
    keras_050_224 => "specs/keras/v1_alpha0.5_224.yaml";
    keras_050_192 => "specs/keras/v1_alpha0.5_192.yaml";
    keras_050_160 => "specs/keras/v1_alpha0.5_160.yaml";
    keras_050_128 => "specs/keras/v1_alpha0.5_128.yaml";
    keras_025_224 => "specs/keras/v1_alpha0.25_224.yaml";
    keras_025_192 => "specs/keras/v1_alpha0.25_192.yaml";
    keras_025_160 => "specs/keras/v1_alpha0.25_160.yaml";
    keras_025_128 => "specs/keras/v1_alpha0.25_128.yaml";
    // timm's mobilenetv1_100: symmetric padding, but its weights were trained on [-1, 1] inputs.
    timm_100_224 => "specs/timm/v1_100_224.yaml", preprocess: Keras;
    // TF-slim's exports as .tflite files, 1001 classes (0 is "background"): the grid Google
    // published, every width at every resolution.
    tflite_100_224 => "specs/tflite/v1_alpha1_224.yaml", preprocess: Tflite;
    tflite_100_192 => "specs/tflite/v1_alpha1_192.yaml", preprocess: Tflite;
    tflite_100_160 => "specs/tflite/v1_alpha1_160.yaml", preprocess: Tflite;
    tflite_100_128 => "specs/tflite/v1_alpha1_128.yaml", preprocess: Tflite;
    tflite_075_224 => "specs/tflite/v1_alpha0.75_224.yaml", preprocess: Tflite;
    tflite_075_192 => "specs/tflite/v1_alpha0.75_192.yaml", preprocess: Tflite;
    tflite_075_160 => "specs/tflite/v1_alpha0.75_160.yaml", preprocess: Tflite;
    tflite_075_128 => "specs/tflite/v1_alpha0.75_128.yaml", preprocess: Tflite;
    tflite_050_224 => "specs/tflite/v1_alpha0.5_224.yaml", preprocess: Tflite;
    tflite_050_192 => "specs/tflite/v1_alpha0.5_192.yaml", preprocess: Tflite;
    tflite_050_160 => "specs/tflite/v1_alpha0.5_160.yaml", preprocess: Tflite;
    tflite_050_128 => "specs/tflite/v1_alpha0.5_128.yaml", preprocess: Tflite;
    tflite_025_224 => "specs/tflite/v1_alpha0.25_224.yaml", preprocess: Tflite;
    tflite_025_192 => "specs/tflite/v1_alpha0.25_192.yaml", preprocess: Tflite;
    tflite_025_160 => "specs/tflite/v1_alpha0.25_160.yaml", preprocess: Tflite;
    tflite_025_128 => "specs/tflite/v1_alpha0.25_128.yaml", preprocess: Tflite;
}

/// Everything a spec's `run` needs besides its own model.
struct Job<'a> {
    opts: &'a Options,
    spec: &'a Spec,
    source: WeightsSource,
    preprocess: Preprocess,
    labels: Option<Vec<Label>>,
}

/// What a run did, for the closing lines.
struct Summary {
    loaded: Duration,
    preprocessing: Duration,
    inference: Duration,
    classified: usize,
    failed: usize,
}

fn main() -> ExitCode {
    let opts = match cli::parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::ListSpecs) => {
            list_specs(&mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Classify(opts)) => opts,
        Err(e) => {
            eprintln!("error: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let (spec, source) = match choose_model(&opts) {
        Ok(chosen) => chosen,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let normalization = opts.preprocess.unwrap_or(if source.is_tflite() {
        Normalization::Tflite
    } else {
        spec.preprocess
    });
    let [h, w, _] = spec.input_shape;
    let resolution = u32::try_from(h).unwrap_or(u32::MAX);
    if h != w {
        eprintln!(
            "error: {} takes {h}x{w} images; this program only crops squares",
            spec.path
        );
        return ExitCode::from(2);
    }
    let own = spec.labels.map(|names| {
        names
            .iter()
            .map(|&name| preprocess::Label {
                synset: String::new(),
                name: name.to_owned(),
            })
            .collect()
    });
    let labels = own.or_else(|| model_labels(&source, spec.num_classes)).or_else(|| {
        preprocess::parse_labels(IMAGENET_CLASSES, 1000)
            .ok()
            .and_then(|l| preprocess::labels_for(l, spec.num_classes))
    });
    let job = Job {
        opts: &opts,
        spec,
        source,
        preprocess: Preprocess {
            resolution,
            normalization,
        },
        labels,
    };

    let random = job.source == WeightsSource::Random;
    if random {
        eprintln!("{}", random_banner());
    }
    print_header(&job);
    match (spec.run)(&job) {
        Ok(s) => {
            print_summary(&s, random);
            if s.failed > 0 {
                eprintln!(
                    "error: {} of {} images could not be read (see above)",
                    s.failed,
                    s.failed + s.classified
                );
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The spec and weights the options ask for: `--spec` as given, or the spec a `.tflite` file
/// fits, or the compiled-in model when neither `--weights` nor `--random-weights` is given.
fn choose_model(opts: &Options) -> Result<(&'static Spec, WeightsSource), String> {
    let named = match opts.spec.as_deref() {
        Some(arg) => Some(find_spec(arg)?),
        None => None,
    };
    match (&opts.weights, opts.random_weights) {
        (Some(path), _) => {
            let bytes = mobilenet::runtime::weights::read_file(path).map_err(|e| weights_error(path, &e))?;
            let format = WeightsFormat::detect(&bytes, Some(path));
            let source = WeightsSource::File(path.clone(), format);
            match (named, format) {
                (Some(spec), _) => Ok((spec, source)),
                (None, WeightsFormat::Tflite) => Ok((spec_for_tflite(path, &bytes)?, source)),
                (None, WeightsFormat::Safetensors) => Ok((find_spec(cli::DEFAULT_SPEC)?, source)),
            }
        }
        (None, true) => Ok((
            named.map_or_else(|| find_spec(cli::DEFAULT_SPEC), Ok)?,
            WeightsSource::Random,
        )),
        (None, false) => {
            let bundled = find_spec(BUNDLED_SPEC)?;
            match named {
                Some(spec) if !std::ptr::eq(spec, bundled) => Err(format!(
                    "no weights for {}: the compiled-in model fits {BUNDLED_SPEC} only. Give --weights FILE \
                     (a .tflite or safetensors file for that spec), or --random-weights to run it on \
                     meaningless seeded weights",
                    spec.path
                )),
                _ => Ok((bundled, WeightsSource::Bundled)),
            }
        }
    }
}

/// The labels a TFLite model's metadata carries, when there are as many as the model has
/// classes (the model's own list is the authority on its class order).
fn model_labels(source: &WeightsSource, classes: usize) -> Option<Vec<preprocess::Label>> {
    let bytes = match source {
        WeightsSource::Bundled => std::borrow::Cow::Borrowed(BUNDLED_MODEL),
        WeightsSource::File(path, WeightsFormat::Tflite) => std::borrow::Cow::Owned(std::fs::read(path).ok()?),
        _ => return None,
    };
    let names = mobilenet::runtime::weights::tflite::labels(&bytes).ok()??;
    (names.len() == classes).then(|| {
        names
            .into_iter()
            .map(|name| preprocess::Label {
                synset: String::new(),
                name,
            })
            .collect()
    })
}

/// The compiled-in spec `arg` names (a path or a model name).
fn find_spec(arg: &str) -> Result<&'static Spec, String> {
    let specs: Vec<&'static Spec> = all_specs().collect();
    let paths: Vec<&str> = specs.iter().map(|s| s.path).collect();
    let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
    match cli::find_spec(arg, &paths, &names, Path::new(env!("CARGO_MANIFEST_DIR"))) {
        Some(i) => Ok(specs[i]),
        None => {
            let mut list = Vec::new();
            list_specs(&mut list);
            Err(format!(
                "`{arg}` is not one of the specs this program was compiled with. mobilenet! reads its spec at \
                 compile time, so a new spec needs a line in the specs! list of examples/classify.rs. Available:\n{}",
                String::from_utf8_lossy(&list)
            ))
        }
    }
}

/// The first compiled-in spec whose every layer the TFLite model at `path` fits, or an error
/// that says what the file holds.
fn spec_for_tflite(path: &Path, bytes: &[u8]) -> Result<&'static Spec, String> {
    use mobilenet::runtime::weights::tflite;
    let mut quantized = None;
    for spec in all_specs() {
        let fits = match spec.precision {
            Precision::Float32 => {
                tflite::tensors_from_tflite(bytes, spec.layers, spec.padding, spec.activation, spec.bn_eps).map(|_| ())
            }
            p => mobilenet::runtime::quant::quant_layers_from_tflite(
                bytes,
                spec.layers,
                spec.padding,
                spec.activation,
                p,
            )
            .map(|_| ()),
        };
        match fits {
            Ok(()) => return Ok(spec),
            // Every spec refuses such a file at its first operator, whatever the shapes.
            Err(e @ mobilenet::runtime::WeightsError::TfliteQuantized { .. }) => quantized = Some(e),
            Err(_) => {}
        }
    }
    if let Some(e) = quantized {
        return Err(weights_error(path, &e));
    }
    let summary = tflite::tflite_summary(bytes).map_err(|e| weights_error(path, &e))?;
    Err(format!(
        "`{}` holds {summary}\nNo compiled-in spec has these shapes (see --list-specs). Name one with --spec \
         to see which operator disagrees with it.",
        path.display()
    ))
}

fn list_specs(out: &mut dyn std::io::Write) {
    for s in all_specs() {
        let [h, w, c] = s.input_shape;
        let _ = writeln!(
            out,
            "  {:<44} {:<32} {h}x{w}x{c}  {:<9} {:<5} {}",
            s.path,
            s.name,
            padding_str(s.padding),
            activation_str(s.activation),
            match s.precision {
                Precision::Float32 => format!("default --preprocess {}", s.preprocess.as_str()),
                p => format!("{p:?} (pixels, TFLite's bilinear resize)").to_lowercase(),
            }
        );
    }
}

/// The spec file's spelling of a padding convention.
fn padding_str(p: Padding) -> &'static str {
    match p {
        Padding::Symmetric => "symmetric",
        Padding::TfSame => "tf_same",
    }
}

/// The spec file's spelling of an activation.
fn activation_str(a: Activation) -> &'static str {
    match a {
        Activation::Relu => "relu",
        Activation::Relu6 => "relu6",
    }
}

fn random_banner() -> String {
    let rule = "!".repeat(80);
    format!(
        "{rule}\n\
         !!  --random-weights: RANDOM WEIGHTS (seed {RANDOM_SEED}). THE LABELS BELOW MEAN NOTHING.\n\
         !!  Real weights: a .tflite file, or tools/convert_weights.py (Keras or timm).\n\
         {rule}"
    )
}

fn print_header(job: &Job<'_>) {
    let s = job.spec;
    let [h, w, c] = s.input_shape;
    println!(
        "model:      {} ({}), {h}x{w}x{c} input, {} padding, {}",
        s.name,
        s.path,
        padding_str(s.padding),
        activation_str(s.activation)
    );
    match &job.source {
        WeightsSource::File(p, _) => println!("weights:    {}", p.display()),
        WeightsSource::Bundled => println!("weights:    {BUNDLED_MODEL_NAME}"),
        WeightsSource::Random => {
            println!("weights:    RANDOM (seed {RANDOM_SEED}) -- not a trained model, the labels mean nothing")
        }
    }
    let res = job.preprocess.resolution;
    if s.precision != Precision::Float32 {
        println!(
            "preprocess: whole image resized to {h}x{w} (TFLite's bilinear), {} pixels fed as the model's {:?} \
             input",
            if c == 1 { "grayscale" } else { "RGB" },
            s.precision
        );
    } else if job.preprocess.normalization.resizes_whole() {
        println!(
            "preprocess: whole image resized to {res}x{res} (bilinear), {}",
            job.preprocess.normalization.describe()
        );
    } else {
        println!(
            "preprocess: shorter side to {}, centre crop {res}x{res}, {}",
            preprocess::resized_dims(res, res, res).0,
            job.preprocess.normalization.describe()
        );
    }
    if !s.probabilities {
        println!("output:     logits (the spec ends at the fc); softmax applied for display");
    }
}

/// Runs `model` on every image of `job`, a chunk at a time: each chunk is decoded in parallel,
/// then classified as one batch across the cores, then printed, so results appear as they come
/// and memory stays bounded however many files are given.
fn classify<N: Network + Clone>(
    model: &N,
    job: &Job<'_>,
    loaded: Duration,
    logits: fn(&mut N, &[f32]) -> Vec<f32>,
) -> Result<Summary, String> {
    let images = &job.opts.images;
    let [h, w, c] = job.spec.input_shape;
    let chunk_len = (rayon::current_num_threads() * 4).max(16);
    let bar = progress_bar(images.len());
    let mut summary = Summary {
        loaded,
        preprocessing: Duration::ZERO,
        inference: Duration::ZERO,
        classified: 0,
        failed: 0,
    };
    let mut raw = job.opts.raw_output.as_ref().map(|_| RawOutput::default());

    for chunk in images.chunks(chunk_len) {
        let start = Instant::now();
        let inputs: Vec<Result<Vec<f32>, ImageError>> = chunk
            .par_iter()
            .map(|path| preprocess::preprocess(path, &job.preprocess))
            .collect();
        summary.preprocessing += start.elapsed();

        let ok: Vec<&[f32]> = inputs.iter().filter_map(|r| r.as_deref().ok()).collect();
        let batch: Vec<f32> = ok.concat();
        let view = ArrayView4::from_shape((ok.len(), h, w, c), &batch).map_err(|e| e.to_string())?;
        let start = Instant::now();
        // A chunk whose every image failed has nothing to run (and an empty batch is an error).
        let outputs = if ok.is_empty() {
            mobilenet::runtime::ndarray::Array2::zeros((0, 0))
        } else {
            mobilenet::runtime::interop::predict_batch(model, view).map_err(|e| e.to_string())?
        };
        summary.inference += start.elapsed();

        let mut rows = outputs.outer_iter();
        bar.suspend(|| {
            for (path, input) in chunk.iter().zip(&inputs) {
                match input {
                    Ok(_) => {
                        let row = rows.next().map(|r| r.to_vec()).unwrap_or_default();
                        print_prediction(path, &row, job);
                        summary.classified += 1;
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        summary.failed += 1;
                    }
                }
            }
        });
        if let Some(raw) = raw.as_mut() {
            let mut local = model.clone();
            for input in &ok {
                raw.inputs.extend_from_slice(input);
                raw.logits.extend(logits(&mut local, input));
            }
            raw.outputs.extend(outputs.iter());
            raw.count += ok.len();
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if let (Some(raw), Some(path)) = (raw, job.opts.raw_output.as_deref()) {
        let count = raw.count;
        raw.write(path, job.spec)
            .map_err(|e| format!("cannot write --raw-output `{}`: {e}", path.display()))?;
        println!("raw output: {count} images written to {}", path.display());
    }
    Ok(summary)
}

/// Runs a quantized model on every image of `job`, one after the other (the model splits its
/// layers over the cores): decode, TFLite's bilinear resize to the input, then `run` on the
/// pixels, which returns the real-valued scores (`None` if the pixels are not one image).
fn classify_quantized(
    job: &Job<'_>,
    loaded: Duration,
    mut run: impl FnMut(&[u8]) -> Option<Vec<f32>>,
) -> Result<Summary, String> {
    let [h, w, c] = job.spec.input_shape;
    let (height, width) = (
        u32::try_from(h).unwrap_or(u32::MAX),
        u32::try_from(w).unwrap_or(u32::MAX),
    );
    let mut summary = Summary {
        loaded,
        preprocessing: Duration::ZERO,
        inference: Duration::ZERO,
        classified: 0,
        failed: 0,
    };
    if job.opts.raw_output.is_some() {
        return Err("--raw-output records f32 models' logits; it is not available for quantized specs".to_owned());
    }
    let bar = progress_bar(job.opts.images.len());
    for path in &job.opts.images {
        let start = Instant::now();
        let pixels = preprocess::load_rgb(path).map(|img| preprocess::quantized_pixels(&img, height, width, c));
        summary.preprocessing += start.elapsed();
        match pixels {
            Ok(pixels) => {
                let start = Instant::now();
                let scores =
                    run(&pixels).ok_or_else(|| format!("{}: preprocessing gave the wrong size", path.display()))?;
                summary.inference += start.elapsed();
                bar.suspend(|| print_prediction(path, &scores, job));
                summary.classified += 1;
            }
            Err(e) => {
                bar.suspend(|| eprintln!("error: {e}"));
                summary.failed += 1;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(summary)
}

fn progress_bar(len: usize) -> ProgressBar {
    if len <= PROGRESS_ABOVE {
        return ProgressBar::hidden();
    }
    // indicatif draws on stderr and hides itself when that is not a terminal.
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} images, {per_sec}, eta {eta}") {
        bar.set_style(style);
    }
    bar
}

fn print_prediction(path: &Path, output: &[f32], job: &Job<'_>) {
    let probs = if job.spec.probabilities {
        output.to_vec()
    } else {
        preprocess::softmax(output)
    };
    println!("\n{}", path.display());
    for (rank, (class, p)) in preprocess::top_k(&probs, job.opts.top).into_iter().enumerate() {
        let label = match job.labels.as_ref().and_then(|l| l.get(class)) {
            Some(l) if l.synset.is_empty() => l.name.clone(),
            Some(l) => format!("{}  ({})", l.name, l.synset),
            None => format!("class {class}"),
        };
        println!("  {:>2}. {:>6.2}%  {label}", rank + 1, 100.0 * p);
    }
}

fn print_summary(s: &Summary, random: bool) {
    let n = s.classified;
    let per_image = if n > 0 { s.inference / n as u32 } else { Duration::ZERO };
    println!(
        "\n{n} image{} in {:.0?}: weights {:.0?}, decoding and preprocessing {:.0?}, inference {:.0?} \
         ({:.1?} per image on {} threads)",
        if n == 1 { "" } else { "s" },
        s.loaded + s.preprocessing + s.inference,
        s.loaded,
        s.preprocessing,
        s.inference,
        per_image,
        rayon::current_num_threads(),
    );
    if random {
        println!("REMINDER: these predictions come from RANDOM weights (--random-weights); they mean nothing.");
    }
}

/// Names the file in a weights error (the runtime's own message names the tensor at fault).
fn weights_error(path: &Path, e: &mobilenet::runtime::WeightsError) -> String {
    format!("cannot load weights `{}`: {e}", path.display())
}

/// Warns when `path` was written by tools/convert_weights.py for another spec. The tensors of,
/// say, timm's model fit the Keras spec of the same width exactly, so loading succeeds, but
/// batch-norm epsilon, padding and activation differ and the predictions are quietly wrong.
///
/// Called only after the file loaded: the runtime has then checked the header that
/// `read_metadata` would otherwise trust.
fn warn_if_converted_for_another_spec(path: &Path, spec: &Spec) {
    let Ok(bytes) = std::fs::read(path) else { return };
    let Ok((_, meta)) = safetensors::SafeTensors::read_metadata(&bytes) else {
        return;
    };
    let Some(made_for) = meta.metadata().as_ref().and_then(|m| m.get("spec")) else {
        return;
    };
    let same = made_for == spec.path
        || std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join(made_for)).ok()
            == std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join(spec.path)).ok();
    if !same {
        eprintln!(
            "warning: `{}` was converted for {made_for}, not {}: the tensors fit, but padding, activation or \
             batch-norm epsilon may differ, and with them the predictions",
            path.display(),
            spec.path
        );
    }
}

/// What `--raw-output` collects: HWC inputs, logits and model outputs of the images that loaded.
#[derive(Default)]
struct RawOutput {
    count: usize,
    inputs: Vec<f32>,
    logits: Vec<f32>,
    outputs: Vec<f32>,
}

impl RawOutput {
    fn write(self, path: &Path, spec: &Spec) -> Result<(), mobilenet::runtime::WeightsError> {
        let [h, w, c] = spec.input_shape;
        let (n, k) = (self.count, spec.num_classes);
        let mut set = TensorSet::new();
        set.insert(
            "inputs",
            Tensor {
                shape: vec![n, h, w, c],
                data: self.inputs,
            },
        );
        set.insert(
            "logits",
            Tensor {
                shape: vec![n, k],
                data: self.logits,
            },
        );
        set.insert(
            "outputs",
            Tensor {
                shape: vec![n, k],
                data: self.outputs,
            },
        );
        let bytes = set.to_safetensors()?;
        mobilenet::runtime::weights::write_file(&PathBuf::from(path), &bytes)
    }
}
