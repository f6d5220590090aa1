//! `mobilenet-bench`: our compiled MobileNet forward pass side by side with ONNX Runtime,
//! LiteRT and tract, on the same network, weights and input, in one run; in float32 and int8.
//!
//! For each spec it
//! 1. exports the network with `tests/reference/make_golden.py --onnx` (seeded float16 weights,
//!    the input image and ONNX Runtime's output), a batch-8 copy of the graph
//!    (`bench/py/batch_graph.py`) and an int8 copy (`bench/py/quantize_graph.py`), into
//!    `bench/out/<spec>/`;
//! 2. writes the weights as a float TFLite model (the runtime's writer) and quantizes that to
//!    an int8 one, calibrated on the input by our own forward pass ([`int8`]);
//! 3. loads it every way: the weights into the model `mobilenet!` compiled into this binary, the
//!    graph into tract, the graphs into ONNX Runtime and the TFLite models into LiteRT in a
//!    Python worker (`bench/py/worker.py`); float32 at 1 thread batch 1, 2 threads batch 1,
//!    2 threads batch 8, int8 at 1 and 2 threads batch 1;
//! 4. checks that every float engine's output agrees with ONNX Runtime's reference, and every
//!    int8 one with LiteRT's reference kernels on the int8 model, and stops if not;
//! 5. times them interleaved (see [`measure`]), together with the extra participants of the
//!    rounds: a layer-by-layer profile of our forward pass (`forward_timed`), the sgemm
//!    yardstick (numpy's single-thread 2048^3) and the int8 yardsticks ([`yardstick`]), so that
//!    all of them see the same machine;
//! 6. prints a summary and writes `bench/results/<spec>.md`.
//!
//! `bench/run.sh` sets up the Python environment and runs this; see `--help`.

mod engines;
mod int8;
mod measure;
mod models;
mod report;
mod yardstick;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use engines::{
    Config, Engine, Kind, Label, Ours, OursInt8, Precision, Profiler, PySession, PyWorker, Tract, WorkerSession,
    WorkerSessions,
};
use int8::Range;
use measure::{CpuLoad, Entry, Stats};
use models::Spec;
use report::{Int8Agreement, Int8Checks, Int8Peak, Machine, Measured, Peak, Report};
use yardstick::{Int8Loop, Int8Yardstick};

/// Errors end the run with a message; there is nothing to recover.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The configurations every engine is measured in.
const CONFIGS: [Config; 3] = [
    Config { threads: 1, batch: 1 },
    Config { threads: 2, batch: 1 },
    Config {
        threads: 2,
        batch: BATCH,
    },
];

/// The configurations of the int8 rows: batch 1, where issue 22 sets its targets.
const INT8_CONFIGS: [Config; 2] = [Config { threads: 1, batch: 1 }, Config { threads: 2, batch: 1 }];

/// The batch size of the batched configuration.
const BATCH: usize = 8;

/// Largest output difference accepted from any float engine: absolute on probabilities,
/// relative to the largest logit on logits.
const TOLERANCE: f32 = 1e-4;

/// Largest difference, in output steps, accepted between an int8 engine's output and LiteRT's
/// reference kernels' on the same int8 model. Optimised int8 kernels may round differently
/// (LiteRT's XNNPACK path differs from its reference kernels by a few steps, see
/// tests/reference/README.md); a wrong kernel is off by far more.
const INT8_STEPS: f32 = 8.0;

/// Smallest correlation accepted between the int8 model's logits (reference kernels,
/// dequantized) and the float network's: below it the quantization is broken, not coarse.
const MIN_LOGIT_CORRELATION: f64 = 0.95;

/// Largest difference accepted between ONNX Runtime's int8 probabilities and the float
/// reference's. Its quantization is its own (calibrated by ONNX Runtime's tools), so this only
/// tells a working int8 graph from a broken one.
const ORT_INT8_TOLERANCE: f32 = 0.05;

const USAGE: &str = "\
Usage: mobilenet-bench [options]   (normally through bench/run.sh)

  --spec KEY        1.0-224 (default), 0.5-160, 0.25-128, or all
  --quick           0.5 s of calls per engine and configuration instead of 3 s
  --seconds S       time budget per engine and configuration
  --seed N          seed of the weights and the input (default 0)
  --python PATH     Python with tests/reference/requirements.txt installed
                    (default tests/reference/.venv/bin/python)
  --peak-gflops G   use G as the 1-core peak instead of timing numpy's sgemm in the rounds
  --no-write        print only; leave bench/results/ alone
";

/// Command-line options.
struct Options {
    specs: Vec<&'static Spec>,
    seconds: f64,
    seed: u64,
    python: PathBuf,
    peak_gflops: Option<f64>,
    write: bool,
}

/// The repository root: this crate lives in its `bench/` folder.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

fn parse_args() -> Result<Options, Error> {
    let mut options = Options {
        specs: vec![&models::SPECS[0]],
        seconds: 3.0,
        seed: 0,
        python: repo().join("tests/reference/.venv/bin/python"),
        peak_gflops: None,
        write: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value\n\n{USAGE}"));
        match arg.as_str() {
            "--spec" => {
                let key = value()?;
                options.specs = match key.as_str() {
                    "all" => models::SPECS.iter().collect(),
                    k => vec![models::find(k).ok_or_else(|| format!("unknown spec {k:?}\n\n{USAGE}"))?],
                };
            }
            "--quick" => options.seconds = 0.5,
            "--seconds" => options.seconds = value()?.parse()?,
            "--seed" => options.seed = value()?.parse()?,
            "--python" => options.python = value()?.into(),
            "--peak-gflops" => options.peak_gflops = Some(value()?.parse()?),
            "--no-write" => options.write = false,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}").into()),
        }
    }
    if !options.seconds.is_finite() || options.seconds <= 0.0 {
        return Err("--seconds must be positive".into());
    }
    Ok(options)
}

/// Runs a command to completion, failing with its name if it fails.
fn run(command: &mut Command) -> Result<String, Error> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{command:?} failed:\n{}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The files the reference script exports for one spec, and those made from them.
struct Exported {
    weights: PathBuf,
    io: PathBuf,
    graph: PathBuf,
    graph_batch: PathBuf,
    /// The batch-1 graph quantized by ONNX Runtime's tools (QDQ).
    graph_int8: PathBuf,
    /// The weights as a float TFLite model.
    tflite: PathBuf,
    /// The int8 TFLite model.
    tflite_int8: PathBuf,
    /// Its input: the image, quantized (`input`, int8 [H, W, C]).
    io_int8: PathBuf,
}

/// Exports the graph, weights and input of `spec` into `bench/out/<key>/`.
fn export(spec: &Spec, options: &Options) -> Result<Exported, Error> {
    let dir = repo().join("bench/out").join(spec.key);
    let stem = spec.stem();
    eprintln!(
        "exporting {} (seed {}) to {}...",
        spec.file,
        options.seed,
        dir.display()
    );
    run(Command::new(&options.python)
        .current_dir(repo())
        .arg("tests/reference/make_golden.py")
        .arg(spec.file)
        .args(["--seed", &options.seed.to_string(), "--onnx", "--out"])
        .arg(&dir))?;
    let files = Exported {
        weights: dir.join(format!("{stem}.weights.safetensors")),
        io: dir.join(format!("{stem}.io.safetensors")),
        graph: dir.join(format!("{stem}.onnx")),
        graph_batch: dir.join(format!("{stem}.b{BATCH}.onnx")),
        graph_int8: dir.join(format!("{stem}.int8.onnx")),
        tflite: dir.join(format!("{stem}.tflite")),
        tflite_int8: dir.join(format!("{stem}.int8.tflite")),
        io_int8: dir.join(format!("{stem}.int8.io.safetensors")),
    };
    run(Command::new(&options.python)
        .arg(repo().join("bench/py/batch_graph.py"))
        .arg(&files.graph)
        .arg(&files.graph_batch)
        .args(["--batch", &BATCH.to_string()]))?;
    eprintln!("quantizing the graph for ONNX Runtime's int8 rows...");
    run(Command::new(&options.python)
        .arg(repo().join("bench/py/quantize_graph.py"))
        .arg(&files.graph)
        .arg(&files.io)
        .arg(&files.graph_int8))?;
    Ok(files)
}

/// Writes the weights as a float TFLite model and, quantized, as an int8 one calibrated on
/// `image` (ranges of every layer's output in our float forward pass), with the image
/// quantized for it. Returns the int8 model's parameters and its input.
fn write_tflite(spec: &Spec, files: &Exported, image: &[f32]) -> Result<(int8::Int8Model, Vec<i8>), Error> {
    let float = (spec.tflite)(&files.weights)?;
    std::fs::write(&files.tflite, &float)?;
    let mut model = (spec.load)(&files.weights, 1)?;
    let mut ranges = vec![Range { min: 0.0, max: 0.0 }; spec.layers.len()];
    model.forward_inspect(image, &mut |layer, output| ranges[layer] = Range::of(output));
    let quantized = int8::quantize(&float, Range::of(image), &ranges)?;
    std::fs::write(&files.tflite_int8, &quantized.bytes)?;
    let input: Vec<i8> = image.iter().map(|&x| quantized.input.quantize(x)).collect();
    let bytes: Vec<u8> = input.iter().map(|&v| v as u8).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::I8, spec.input_shape.to_vec(), &bytes)?;
    std::fs::write(&files.io_int8, safetensors::serialize([("input", view)], None)?)?;
    Ok((quantized, input))
}

/// A float32 tensor of a safetensors file.
fn read_f32(path: &Path, name: &str) -> Result<Vec<f32>, Error> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let tensors = safetensors::SafeTensors::deserialize(&bytes)?;
    let t = tensors.tensor(name)?;
    if t.dtype() != safetensors::Dtype::F32 {
        return Err(format!("{}: {name} is {:?}, expected F32", path.display(), t.dtype()).into());
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Largest difference of every image in `output` to `reference`: absolute for probabilities,
/// relative to the reference's largest magnitude for logits.
fn max_difference(output: &[f32], reference: &[f32], probabilities: bool) -> f32 {
    let scale = if probabilities {
        1.0
    } else {
        reference
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()))
            .max(f32::MIN_POSITIVE)
    };
    if output.is_empty() || !output.len().is_multiple_of(reference.len()) {
        return f32::INFINITY;
    }
    output
        .chunks(reference.len())
        .flat_map(|img| img.iter().zip(reference).map(|(a, b)| (a - b).abs() / scale))
        // Not `f32::max`, which skips NaN: a NaN output must fail the check.
        .fold(0.0, |worst, d| if d.is_nan() || d > worst { d } else { worst })
}

/// Steps in which `output` differs from `reference`: how many values differ, and by at most
/// how much.
fn step_difference(output: &[f32], reference: &[f32]) -> (usize, f32) {
    if output.len() != reference.len() {
        return (output.len().max(reference.len()), f32::INFINITY);
    }
    output.iter().zip(reference).fold((0, 0.0), |(n, worst), (a, b)| {
        let d = (a - b).abs();
        (
            n + usize::from(d != 0.0),
            if d.is_nan() || d > worst { d } else { worst },
        )
    })
}

/// Pearson correlation of two equally long vectors.
fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

/// Index of the largest value (the first, on ties).
fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) },
        )
        .0
}

/// Name of the sgemm yardstick among the worker's sessions.
const SGEMM: &str = "sgemm";

/// Name of the reference-kernel int8 LiteRT session (checks only, untimed).
const LITERT_INT8_REF: &str = "litert-int8-ref";

/// FLOPs of one sgemm call of the yardstick (2 x 2048^3).
const SGEMM_FLOPS: f64 = 2.0 * 2048.0 * 2048.0 * 2048.0;

/// The participants of the rounds that are not rows of the tables.
enum Extra {
    /// `forward_timed`: the per-layer profile.
    Profile,
    /// numpy's sgemm.
    Sgemm,
    /// An int8 yardstick loop.
    Int8(Int8Loop),
}

/// Measures one spec and writes its report.
fn bench_spec(spec: &Spec, options: &Options, machine: &Machine) -> Result<(), Error> {
    let files = export(spec, options)?;
    let image = read_f32(&files.io, "input")?;
    let reference = read_f32(&files.io, "output")?;
    let reference_logits = read_f32(&files.io, "logits").unwrap_or_else(|_| reference.clone());
    if image.len() != spec.input_len() || reference.len() != spec.num_classes {
        let io = files.io.display();
        return Err(format!("{io}: input or output size differs from what {} compiled", spec.file).into());
    }
    let graph = |c: &Config| {
        if c.batch == 1 {
            files.graph.as_path()
        } else {
            files.graph_batch.as_path()
        }
    };

    eprintln!("writing the TFLite models (float, and int8 calibrated on the input)...");
    let (quantized, input_int8) = write_tflite(spec, &files, &image)?;

    eprintln!("loading ours, tract (optimising the graph), ONNX Runtime and LiteRT...");
    // Our threads are all started before tract first runs: a thread starts with a copy of its
    // parent's vector registers, and tract leaves the upper halves of the main thread's
    // registers dirty (no `vzeroupper`). On a thread started afterwards, every switch between
    // SSE code (our portable kernels) and AVX code (libm's `expf`) stalls: measured, our
    // portable-path softmax took 185 µs instead of 4, and the 1x1 convolutions 40% longer.
    let (profiler, layer_samples) = Profiler::new(spec, &files.weights, &image)?;
    let ours = CONFIGS
        .iter()
        .map(|c| Ours::new(spec, &files.weights, &image, *c))
        .collect::<Result<Vec<_>, _>>()?;
    let ours_int8 = INT8_CONFIGS
        .iter()
        .map(|c| OursInt8::new(spec, &quantized.bytes, &input_int8, *c))
        .collect::<Result<Vec<_>, _>>()?;
    let session_name = |engine: &str, c: &Config| format!("{engine}-t{}b{}", c.threads, c.batch);
    let mut sessions = Vec::new();
    for c in &CONFIGS {
        for (engine, kind, path) in [("ort", Kind::Ort, graph(c)), ("litert", Kind::Litert, &files.tflite)] {
            sessions.push(WorkerSession {
                name: session_name(engine, c),
                kind,
                threads: c.threads,
                batch: c.batch,
                path,
            });
        }
    }
    for c in &INT8_CONFIGS {
        for (engine, kind, path) in [
            ("litert-int8", Kind::Litert, &files.tflite_int8),
            ("ort-int8", Kind::Ort, &files.graph_int8),
        ] {
            sessions.push(WorkerSession {
                name: session_name(engine, c),
                kind,
                threads: c.threads,
                batch: c.batch,
                path,
            });
        }
    }
    sessions.push(WorkerSession {
        name: LITERT_INT8_REF.into(),
        kind: Kind::LitertRef,
        threads: 1,
        batch: 1,
        path: &files.tflite_int8,
    });
    let worker = PyWorker::start(
        &options.python,
        &repo().join("bench/py/worker.py"),
        &WorkerSessions {
            io: &files.io,
            io_int8: Some(&files.io_int8),
            sessions,
            sgemm: options.peak_gflops.is_none().then_some(SGEMM),
        },
    )?;
    let (ort_version, litert_version) = (worker.ort_version.clone(), worker.litert_version.clone());
    let worker = Rc::new(RefCell::new(worker));
    let py = |name: String| Box::new(PySession::new(Rc::clone(&worker), &name));

    // The rows of the tables, configuration by configuration, then the extra participants of
    // the rounds: the per-layer profile, the sgemm yardstick (unless given) and the int8 ones.
    let mut entries = Vec::new();
    let mut labels = Vec::new();
    let f32_label = |engine, config| Label {
        engine,
        precision: Precision::F32,
        config,
    };
    for (config, ours) in CONFIGS.iter().zip(ours) {
        entries.push(Entry::new(Box::new(ours)));
        entries.push(Entry::new(Box::new(Tract::new(
            graph(config),
            &image,
            spec.input_shape,
            *config,
        )?)));
        entries.push(Entry::new(py(session_name("ort", config))));
        entries.push(Entry::new(py(session_name("litert", config))));
        labels.extend([Engine::Ours, Engine::Tract, Engine::Ort, Engine::Litert].map(|e| f32_label(e, *config)));
    }
    for (config, ours) in INT8_CONFIGS.iter().zip(ours_int8) {
        entries.push(Entry::new(Box::new(ours)));
        labels.push(Label {
            engine: Engine::Ours,
            precision: Precision::Int8,
            config: *config,
        });
        for (engine, name) in [(Engine::Litert, "litert-int8"), (Engine::Ort, "ort-int8")] {
            entries.push(Entry::new(py(session_name(name, config))));
            labels.push(Label {
                engine,
                precision: Precision::Int8,
                config: *config,
            });
        }
    }
    let mut extras = vec![Extra::Profile];
    entries.push(Entry::new(Box::new(profiler)));
    if options.peak_gflops.is_none() {
        extras.push(Extra::Sgemm);
        entries.push(Entry::yardstick(py(SGEMM.into())));
    }
    for kind in [Int8Loop::Madd16, Int8Loop::Madd8] {
        if let Some(y) = Int8Yardstick::new(kind) {
            extras.push(Extra::Int8(kind));
            entries.push(Entry::yardstick(Box::new(y)));
        }
    }

    // Same answer first: a fast wrong engine is no result.
    let mut reference_int8 = PySession::new(Rc::clone(&worker), LITERT_INT8_REF);
    let reference_int8_output = engines::Runner::output(&mut reference_int8)?;
    let checks_model = model_checks(
        &reference_int8_output,
        &reference_int8.logits()?,
        &reference,
        &reference_logits,
        quantized.output,
    );
    if checks_model.logit_correlation.is_nan() || checks_model.logit_correlation < MIN_LOGIT_CORRELATION {
        return Err(format!(
            "the int8 model's logits (LiteRT reference kernels) correlate with the float ones by only {:.3} (at least {MIN_LOGIT_CORRELATION} expected)",
            checks_model.logit_correlation
        )
        .into());
    }
    let mut agreement = Vec::new();
    let mut int8_agreement = Vec::new();
    for (entry, label) in entries.iter_mut().zip(&labels) {
        let output = entry.runner.output()?;
        let what = format!(
            "{:?} {:?} at {} thread(s), batch {}",
            label.engine, label.precision, label.config.threads, label.config.batch
        );
        match (label.precision, label.engine) {
            (Precision::F32, engine) => {
                let diff = max_difference(&output, &reference, spec.outputs_probabilities);
                agreement.push((engine, label.config, f64::from(diff)));
                if diff.is_nan() || diff > TOLERANCE {
                    return Err(format!(
                        "{what} disagrees with ONNX Runtime's reference by {diff:e} (over {TOLERANCE:e})"
                    )
                    .into());
                }
            }
            (Precision::Int8, Engine::Ort) => {
                // Float probabilities of ONNX Runtime's own int8 graph: against the float reference.
                let diff = max_difference(&output, &reference, spec.outputs_probabilities);
                let top1_same = argmax(&output) == argmax(&reference);
                int8_agreement.push((
                    *label,
                    Int8Agreement::Float {
                        max: f64::from(diff),
                        top1_same,
                    },
                ));
                if diff.is_nan() || diff > ORT_INT8_TOLERANCE {
                    return Err(format!(
                        "{what} differs from the float reference by {diff:e} (over {ORT_INT8_TOLERANCE:e})"
                    )
                    .into());
                }
            }
            (Precision::Int8, _) => {
                let (differing, max) = step_difference(&output, &reference_int8_output);
                int8_agreement.push((*label, Int8Agreement::Steps { differing, max }));
                if max.is_nan() || max > INT8_STEPS {
                    return Err(format!(
                        "{what} differs from LiteRT's reference kernels by {max} steps (over {INT8_STEPS})"
                    )
                    .into());
                }
            }
        }
    }

    let budget = Duration::from_secs_f64(options.seconds);
    eprintln!(
        "warming up {} participants (engine configurations, profile, yardsticks)...",
        entries.len()
    );
    measure::warm_up(&mut entries, (budget / 6).max(Duration::from_millis(100)))?;
    layer_samples.borrow_mut().iter_mut().for_each(Vec::clear);
    eprint!("timing, interleaved, {:.1} s each: round", options.seconds);
    let before = CpuLoad::now();
    measure::interleaved(&mut entries, budget, |round, rounds| eprint!(" {round}/{rounds}"))?;
    let load = CpuLoad::now().and_then(|after| {
        let ours = entries.iter().filter_map(|e| e.cpu).sum::<Duration>();
        before.map(|b| b.share_since(after, ours))
    });
    eprintln!();

    let stats_of = |entry: &Entry| Stats::of(&entry.times).ok_or("a configuration recorded no calls");
    let mut rows = Vec::new();
    for (entry, label) in entries.iter().zip(&labels) {
        rows.push(Measured {
            engine: label.engine,
            precision: label.precision,
            config: label.config,
            stats: stats_of(entry)?,
            cores_busy: entry.cores_busy(),
        });
    }
    let mut peak = options.peak_gflops.map(|p| Peak { gflops: p, calls: None });
    let mut int8_peak = Int8Peak::default();
    for (extra, entry) in extras.iter().zip(&entries[labels.len()..]) {
        match extra {
            Extra::Profile => {}
            Extra::Sgemm => {
                let sgemm = stats_of(entry)?;
                peak = Some(Peak {
                    gflops: SGEMM_FLOPS / (sgemm.median * 1e-3) / 1e9,
                    calls: Some(sgemm.n),
                });
            }
            Extra::Int8(kind) => {
                let s = stats_of(entry)?;
                let gops = Int8Yardstick::ops_per_call(*kind) / (s.median * 1e-3) / 1e9;
                int8_peak.loops.push((*kind, gops, s.n));
            }
        }
    }
    let peak = peak.ok_or("no sgemm peak")?;
    let layers: Vec<_> = spec
        .layers
        .iter()
        .copied()
        .zip(layer_samples.borrow().iter())
        .map(|(info, samples)| Stats::of(samples).map(|s| (info, s)))
        .collect::<Option<_>>()
        .ok_or("the profile recorded no passes")?;

    let int8_checks = Int8Checks {
        input: quantized.input,
        output: quantized.output,
        rows: int8_agreement,
        ..checks_model
    };
    let report = Report {
        key: spec.key,
        file: spec.file,
        int8_file: spec.int8_file,
        name: spec.name,
        mult_adds: spec.mult_adds,
        flops: spec.flops,
        rows: &rows,
        peak,
        int8_peak,
        ort_version: &ort_version,
        litert_version: &litert_version,
        seconds: options.seconds,
        load,
        agreement: &agreement,
        int8: &int8_checks,
        probabilities: spec.outputs_probabilities,
        layers: &layers,
    };
    print!("{}", report.text(machine));
    if options.write {
        let path = repo().join("bench/results").join(format!("{}.md", spec.key));
        std::fs::create_dir_all(path.parent().expect("a folder"))?;
        std::fs::write(&path, report.markdown(machine))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// How the int8 model (reference kernels) compares with the float network: its dequantized
/// logits and probabilities against the float reference's.
fn model_checks(
    output: &[f32],
    logits: &[f32],
    reference: &[f32],
    reference_logits: &[f32],
    output_affine: int8::Affine,
) -> Int8Checks {
    let largest = reference_logits
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let logit_max = logits
        .iter()
        .zip(reference_logits)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    let probabilities: Vec<f32> = output.iter().map(|&q| output_affine.dequantize(q as i8)).collect();
    let probability_max = probabilities
        .iter()
        .zip(reference)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    let mut levels: Vec<i32> = output.iter().map(|&q| q as i32).collect();
    levels.sort_unstable();
    levels.dedup();
    Int8Checks {
        logit_correlation: correlation(logits, reference_logits),
        logit_max_rel: f64::from(logit_max / largest),
        top1_same: argmax(logits) == argmax(reference_logits),
        probability_max: f64::from(probability_max),
        output_levels: levels.len(),
        top_output: output.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as i32,
        input: output_affine,
        output: output_affine,
        rows: Vec::new(),
    }
}

fn main() {
    let result = parse_args().and_then(|options| {
        let machine = Machine::probe(&repo());
        for spec in &options.specs {
            bench_spec(spec, &options, &machine)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("mobilenet-bench: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_cover_every_image() {
        let reference = [0.25, 0.75];
        assert_eq!(max_difference(&[0.25, 0.75, 0.5, 0.5], &reference, true), 0.25);
        // Logits: relative to the largest reference magnitude.
        assert_eq!(max_difference(&[1.0, -4.0], &[1.0, -2.0], false), 1.0);
        // A batch that does not divide into images is never a match.
        assert_eq!(max_difference(&[0.25, 0.75, 0.5], &reference, true), f32::INFINITY);
        assert!(max_difference(&[0.25, f32::NAN], &reference, true).is_nan());
    }
}
