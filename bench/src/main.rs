//! `mobilenet-bench`: our compiled MobileNet forward pass side by side with ONNX Runtime and
//! tract, on the same network, weights and input, in one run.
//!
//! For each spec it
//! 1. exports the network with `tests/reference/make_golden.py --onnx` (seeded float16 weights,
//!    the input image and ONNX Runtime's output) and a batch-8 copy of the graph
//!    (`bench/py/batch_graph.py`), into `bench/out/<spec>/`;
//! 2. loads it three ways: the weights into the model `mobilenet!` compiled into this binary,
//!    the graph into tract, and the graph into ONNX Runtime in a Python worker
//!    (`bench/py/worker.py`), each at 1 thread batch 1, 2 threads batch 1, 2 threads batch 8;
//! 3. checks that every engine's output agrees with ONNX Runtime's reference, and stops if not;
//! 4. times them interleaved (see [`measure`]), together with two more participants in the
//!    rounds: a layer-by-layer profile of our forward pass (`forward_timed`) and the yardstick,
//!    numpy's single-thread sgemm (2048^3), so that all of them see the same machine;
//! 5. prints a summary and writes `bench/results/<spec>.md`.
//!
//! `bench/run.sh` sets up the Python environment and runs this; see `--help`.

mod engines;
mod measure;
mod models;
mod report;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use engines::{Config, Engine, Ours, Profiler, PySession, PyWorker, Tract, WorkerSessions};
use measure::{CpuLoad, Entry, Stats};
use models::Spec;
use report::{Machine, Measured, Peak, Report};

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

/// The batch size of the batched configuration.
const BATCH: usize = 8;

/// Largest output difference accepted from any engine: absolute on probabilities, relative to
/// the largest logit on logits.
const TOLERANCE: f32 = 1e-4;

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

/// The files the reference script exports for one spec.
struct Exported {
    weights: PathBuf,
    io: PathBuf,
    graph: PathBuf,
    graph_batch: PathBuf,
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
    };
    run(Command::new(&options.python)
        .arg(repo().join("bench/py/batch_graph.py"))
        .arg(&files.graph)
        .arg(&files.graph_batch)
        .args(["--batch", &BATCH.to_string()]))?;
    Ok(files)
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

/// Name of the sgemm yardstick among the worker's sessions.
const SGEMM: &str = "sgemm";

/// FLOPs of one sgemm call of the yardstick (2 x 2048^3).
const SGEMM_FLOPS: f64 = 2.0 * 2048.0 * 2048.0 * 2048.0;

/// Measures one spec and writes its report.
fn bench_spec(spec: &Spec, options: &Options, machine: &Machine) -> Result<(), Error> {
    let files = export(spec, options)?;
    let image = read_f32(&files.io, "input")?;
    let reference = read_f32(&files.io, "output")?;
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

    eprintln!("loading ours, tract (optimising the graph) and ONNX Runtime...");
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
    let session_name = |c: &Config| format!("t{}b{}", c.threads, c.batch);
    let worker = PyWorker::start(
        &options.python,
        &repo().join("bench/py/worker.py"),
        &WorkerSessions {
            io: &files.io,
            ort: CONFIGS.iter().map(|c| (session_name(c), c.threads, graph(c))).collect(),
            sgemm: options.peak_gflops.is_none().then_some(SGEMM),
        },
    )?;
    let ort_version = worker.ort_version.clone();
    let worker = Rc::new(RefCell::new(worker));

    // The rows of the table, configuration by configuration, then the two extra participants
    // of the rounds: the per-layer profile and (unless given) the sgemm yardstick.
    let mut entries = Vec::new();
    let mut labels = Vec::new();
    for (config, ours) in CONFIGS.iter().zip(ours) {
        entries.push(Entry::new(Box::new(ours)));
        entries.push(Entry::new(Box::new(Tract::new(
            graph(config),
            &image,
            spec.input_shape,
            *config,
        )?)));
        entries.push(Entry::new(Box::new(PySession::new(
            Rc::clone(&worker),
            &session_name(config),
        ))));
        labels.extend([Engine::Ours, Engine::Tract, Engine::Ort].map(|e| (e, *config)));
    }
    entries.push(Entry::new(Box::new(profiler)));
    if options.peak_gflops.is_none() {
        entries.push(Entry::yardstick(Box::new(PySession::new(Rc::clone(&worker), SGEMM))));
    }

    // Same answer first: a fast wrong engine is no result.
    let mut agreement = Vec::new();
    for (entry, &(engine, config)) in entries.iter_mut().zip(&labels) {
        let diff = max_difference(&entry.runner.output()?, &reference, spec.outputs_probabilities);
        agreement.push((engine, config, f64::from(diff)));
        if diff.is_nan() || diff > TOLERANCE {
            let what = format!("{engine:?} at {} thread(s), batch {}", config.threads, config.batch);
            return Err(
                format!("{what} disagrees with ONNX Runtime's reference by {diff:e} (over {TOLERANCE:e})").into(),
            );
        }
    }

    let budget = Duration::from_secs_f64(options.seconds);
    eprintln!(
        "warming up {} participants (engine configurations, profile, sgemm)...",
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
    for (entry, &(engine, config)) in entries.iter().zip(&labels) {
        rows.push(Measured {
            engine,
            config,
            stats: stats_of(entry)?,
            cores_busy: entry.cores_busy(),
        });
    }
    let peak = match options.peak_gflops {
        Some(p) => Peak { gflops: p, calls: None },
        None => {
            let sgemm = stats_of(entries.last().expect("the sgemm entry"))?;
            Peak {
                gflops: SGEMM_FLOPS / (sgemm.median * 1e-3) / 1e9,
                calls: Some(sgemm.n),
            }
        }
    };
    let layers: Vec<_> = spec
        .layers
        .iter()
        .copied()
        .zip(layer_samples.borrow().iter())
        .map(|(info, samples)| Stats::of(samples).map(|s| (info, s)))
        .collect::<Option<_>>()
        .ok_or("the profile recorded no passes")?;

    let report = Report {
        key: spec.key,
        name: spec.name,
        mult_adds: spec.mult_adds,
        flops: spec.flops,
        rows: &rows,
        peak,
        ort_version: &ort_version,
        seconds: options.seconds,
        load,
        agreement: &agreement,
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
