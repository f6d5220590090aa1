//! The engines, each behind [`Runner`]: our compiled forward pass and tract run in this
//! process, ONNX Runtime and LiteRT in a Python worker (`bench/py/worker.py`) over a pipe. The
//! worker also serves the sgemm yardstick, so the peak is timed in the same rounds as the
//! engines.
//!
//! Every runner owns one configuration (threads x batch) and its input, prepared once, so a
//! timed run is the engine's own call and nothing else.

use std::cell::RefCell;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mobilenet::runtime::ndarray::{Array4, ArrayView4, Axis};
use tract_linalg::multithread::Executor;
use tract_onnx::prelude::*;

use crate::models::{Int8Network, Network, Spec};
use crate::Error;

/// The version of tract this binary links (pinned with `=` in bench/Cargo.toml).
pub const TRACT_VERSION: &str = "0.23.9";

/// Which engine a runner drives.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The forward pass `mobilenet!` generated.
    Ours,
    /// tract-onnx, loading the exported graph.
    Tract,
    /// ONNX Runtime (CPU execution provider), through the Python worker.
    Ort,
    /// LiteRT (`ai-edge-litert`, XNNPACK delegate), through the Python worker.
    Litert,
}

/// The data type a row computes in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Precision {
    /// float32 weights and activations.
    F32,
    /// int8 activations, per-channel int8 weights, int32 biases.
    Int8,
}

/// What one row of the results measures.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Which engine.
    pub engine: Engine,
    /// In which data type.
    pub precision: Precision,
    /// Threads and batch.
    pub config: Config,
}

/// Threads an engine may use and images per call.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Threads the engine is allowed (our model's team, tract executor, ORT intra-op threads).
    pub threads: usize,
    /// Images per call.
    pub batch: usize,
}

/// One timed slice: `n` back-to-back calls.
pub struct Slice {
    /// Wall time of each call.
    pub times: Vec<Duration>,
    /// Wall time of the whole slice.
    pub wall: Duration,
    /// CPU time the engine's process spent in the slice, all threads (None if unknown).
    pub cpu: Option<Duration>,
}

/// An engine in one configuration, ready to run on its fixed input.
pub trait Runner {
    /// Runs `n` calls back to back, timing each.
    fn run(&mut self, n: usize) -> Result<Slice, Error>;
    /// One untimed call; its output, `batch x classes` values, image after image.
    fn output(&mut self) -> Result<Vec<f32>, Error>;
}

/// Times `n` calls of `call` in this process.
pub fn time_calls(n: usize, mut call: impl FnMut() -> Result<(), Error>) -> Result<Slice, Error> {
    let cpu0 = process_cpu_time();
    let start = Instant::now();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        call()?;
        times.push(t0.elapsed());
    }
    let wall = start.elapsed();
    let cpu = cpu0.zip(process_cpu_time()).map(|(a, b)| b.saturating_sub(a));
    Ok(Slice { times, wall, cpu })
}

/// CPU time of this process so far: the sum over its live threads of the kernel's
/// nanosecond run-time counter (`/proc/self/task/*/schedstat`). Threads that have exited are
/// not counted; every pool here lives as long as the process.
pub fn process_cpu_time() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// The image of make_golden.py's io file, H x W x C, repeated `batch` times (NHWC).
pub fn batch_of(image: &[f32], shape: [usize; 3], batch: usize) -> Array4<f32> {
    let one = ArrayView4::from_shape((1, shape[0], shape[1], shape[2]), image).expect("image of INPUT_LEN values");
    let views = vec![one; batch];
    mobilenet::runtime::ndarray::concatenate(Axis(0), &views).expect("images of one shape")
}

/// Our generated model on `threads` threads (`Model::set_threads`): `forward` at batch 1,
/// `predict_batch` for larger batches.
pub struct Ours {
    model: Box<dyn Network>,
    images: Array4<f32>,
}

impl Ours {
    /// Loads the weights file into a fresh model for `config`.
    pub fn new(spec: &Spec, weights: &Path, image: &[f32], config: Config) -> Result<Self, Error> {
        Ok(Self {
            model: (spec.load)(weights, config.threads)?,
            images: batch_of(image, spec.input_shape, config.batch),
        })
    }

    /// One call, returning nothing: what is timed.
    fn call(model: &mut dyn Network, images: &Array4<f32>) {
        if images.len_of(Axis(0)) == 1 {
            let image = images.as_slice().expect("a standard-layout array");
            black_box(model.forward(image));
        } else {
            black_box(model.predict_batch(images.view()));
        }
    }
}

impl Runner for Ours {
    fn run(&mut self, n: usize) -> Result<Slice, Error> {
        let (model, images) = (&mut self.model, &self.images);
        time_calls(n, || {
            Self::call(model.as_mut(), images);
            Ok(())
        })
    }

    fn output(&mut self) -> Result<Vec<f32>, Error> {
        let (model, images) = (&mut self.model, &self.images);
        Ok(if images.len_of(Axis(0)) == 1 {
            model
                .forward(images.as_slice().expect("a standard-layout array"))
                .to_vec()
        } else {
            model.predict_batch(images.view()).iter().copied().collect()
        })
    }
}

/// Our generated int8 model (`precision: int8`) on `threads` threads: `forward` at batch 1.
pub struct OursInt8 {
    model: Box<dyn Int8Network>,
    input: Vec<i8>,
}

impl OursInt8 {
    /// Loads the int8 TFLite file's bytes into a fresh int8 model for `config` (batch 1).
    pub fn new(spec: &Spec, tflite: &[u8], input: &[i8], config: Config) -> Result<Self, Error> {
        if config.batch != 1 {
            return Err("the int8 rows are at batch 1".into());
        }
        Ok(Self {
            model: (spec.load_int8)(tflite, config.threads)?,
            input: input.to_vec(),
        })
    }
}

impl Runner for OursInt8 {
    fn run(&mut self, n: usize) -> Result<Slice, Error> {
        let (model, input) = (&mut self.model, &self.input);
        time_calls(n, || {
            black_box(model.forward(input));
            Ok(())
        })
    }

    fn output(&mut self) -> Result<Vec<f32>, Error> {
        Ok(self.model.forward(&self.input).iter().map(|&v| f32::from(v)).collect())
    }
}

/// Per-layer times of every profiled pass: `samples[layer][pass]`.
pub type LayerSamples = Rc<RefCell<Vec<Vec<Duration>>>>;

/// Our model under `forward_timed` at one thread: the per-layer profile. It takes part in the
/// interleaved rounds like an engine, so its layer times see the same machine as the table's
/// rows; each call's times go to `layers[layer]`, shared with whoever reads them afterwards.
pub struct Profiler {
    model: Box<dyn Network>,
    image: Vec<f32>,
    layers: LayerSamples,
}

impl Profiler {
    /// A fresh one-thread model for `spec`; returns it and its per-layer samples.
    pub fn new(spec: &Spec, weights: &Path, image: &[f32]) -> Result<(Self, LayerSamples), Error> {
        let layers = Rc::new(RefCell::new(vec![Vec::new(); spec.layers.len()]));
        let profiler = Self {
            model: (spec.load)(weights, 1)?,
            image: image.to_vec(),
            layers: Rc::clone(&layers),
        };
        Ok((profiler, layers))
    }
}

impl Runner for Profiler {
    fn run(&mut self, n: usize) -> Result<Slice, Error> {
        let (model, image) = (&mut self.model, &self.image);
        let mut layers = self.layers.borrow_mut();
        let layers = &mut *layers;
        let mut times = vec![Duration::ZERO; layers.len()];
        time_calls(n, || {
            times.fill(Duration::ZERO);
            black_box(model.forward_timed(image, &mut times));
            for (samples, t) in layers.iter_mut().zip(&times) {
                samples.push(*t);
            }
            Ok(())
        })
    }

    fn output(&mut self) -> Result<Vec<f32>, Error> {
        let mut times = vec![Duration::ZERO; self.layers.borrow().len()];
        let (model, image) = (&mut self.model, &self.image);
        Ok(model.forward_timed(image, &mut times).to_vec())
    }
}

/// tract: the exported graph, optimised for its fixed input shape, run through one reused
/// `SimpleState` (as tract's own benchmarks do) so a call allocates no plan.
pub struct Tract {
    state: TypedSimpleState,
    input: TValue,
}

impl Tract {
    /// Loads and optimises `graph` (batch fixed in the file) for `config.threads` threads.
    ///
    /// tract's thread knob is its matrix-multiply executor: with more than one thread, the
    /// products (1x1 and im2col convolutions, the fc) are split over a rayon pool of that size.
    pub fn new(graph: &Path, image: &[f32], shape: [usize; 3], config: Config) -> Result<Self, Error> {
        let model = tract_onnx::onnx().model_for_path(graph)?.into_optimized()?;
        let executor = if config.threads > 1 {
            Executor::multithread(config.threads)
        } else {
            Executor::SingleThread
        };
        let options = RunOptions {
            executor: Some(executor),
            ..RunOptions::default()
        };
        let plan = model.into_runnable_with_options(&options)?;
        let state = plan.spawn()?;
        // The graph is NCHW: the HWC image, transposed, repeated to the batch.
        let nchw = batch_of(image, shape, config.batch).permuted_axes([0, 3, 1, 2]);
        let nchw: Vec<f32> = nchw.iter().copied().collect();
        let [h, w, c] = shape;
        let input = Tensor::from_shape(&[config.batch, c, h, w], &nchw)?.into_tvalue();
        Ok(Self { state, input })
    }
}

impl Runner for Tract {
    fn run(&mut self, n: usize) -> Result<Slice, Error> {
        let (state, input) = (&mut self.state, &self.input);
        time_calls(n, || {
            black_box(state.run(tvec![input.clone()])?);
            Ok(())
        })
    }

    fn output(&mut self) -> Result<Vec<f32>, Error> {
        let outputs = self.state.run(tvec![self.input.clone()])?;
        // make_golden.py declares `output` first (then `logits`, when the model ends in softmax).
        let output = outputs.first().ok_or("tract returned no outputs")?;
        Ok(output.to_plain_array_view::<f32>()?.iter().copied().collect())
    }
}

/// The Python worker process (`bench/py/worker.py`), shared by the runners of its sessions.
pub struct PyWorker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The onnxruntime version the worker reported.
    pub ort_version: String,
    /// The ai-edge-litert version the worker reported.
    pub litert_version: String,
}

/// How the worker runs a session.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ONNX Runtime on an ONNX graph.
    Ort,
    /// LiteRT with its default kernels (XNNPACK first) on a `.tflite` file.
    Litert,
    /// LiteRT with TFLite's reference kernels, every tensor kept: the int8 reference, untimed.
    LitertRef,
}

/// One session of the worker.
pub struct WorkerSession<'a> {
    /// The name runners ask for.
    pub name: String,
    /// Engine and kernels.
    pub kind: Kind,
    /// Threads the engine may use.
    pub threads: usize,
    /// Images per call.
    pub batch: usize,
    /// The graph or model file.
    pub path: &'a Path,
}

/// What the worker should serve.
pub struct WorkerSessions<'a> {
    /// make_golden.py's io file: the float image the sessions run on.
    pub io: &'a Path,
    /// A file whose `input` is the int8 image, for int8 LiteRT models.
    pub io_int8: Option<&'a Path>,
    /// The sessions.
    pub sessions: Vec<WorkerSession<'a>>,
    /// The name of the sgemm yardstick, if wanted.
    pub sgemm: Option<&'a str>,
}

impl PyWorker {
    /// Starts `script` with `python`, serving `sessions`.
    pub fn start(python: &Path, script: &Path, sessions: &WorkerSessions) -> Result<Self, Error> {
        let mut command = Command::new(python);
        command.arg(script).arg("--io").arg(sessions.io);
        if let Some(io) = sessions.io_int8 {
            command.arg("--io-int8").arg(io);
        }
        for s in &sessions.sessions {
            let kind = match s.kind {
                Kind::Ort => "ort",
                Kind::Litert => "litert",
                Kind::LitertRef => "litert-ref",
            };
            command.arg("--session").arg(format!(
                "{}:{kind}:{}:{}:{}",
                s.name,
                s.threads,
                s.batch,
                s.path.display()
            ));
        }
        if let Some(name) = sessions.sgemm {
            command.args(["--sgemm", name]);
        }
        // One BLAS thread: the sgemm yardstick is one core's, and the ORT sessions need none.
        // OpenBLAS's own choice of kernel for this CPU: the environment may pin a core type or
        // cache size for other programs' sake, which would understate the peak.
        command
            .env("OPENBLAS_NUM_THREADS", "1")
            .env_remove("OPENBLAS_CORETYPE")
            .env_remove("OPENBLAS_L2_SIZE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", python.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut worker = Self {
            child,
            stdin,
            stdout,
            ort_version: String::new(),
            litert_version: String::new(),
        };
        let ready = worker.read_line()?;
        let words: Vec<&str> = ready
            .strip_prefix("ready ")
            .ok_or_else(|| format!("worker.py did not start: {ready:?}"))?
            .split(' ')
            .collect();
        worker.ort_version = words.first().copied().unwrap_or_default().to_string();
        worker.litert_version = words.get(2).copied().unwrap_or_default().to_string();
        Ok(worker)
    }

    /// The values of `command` (`output NAME` or `logits NAME`).
    fn values(&mut self, command: &str) -> Result<Vec<f32>, Error> {
        let words = self.request(command)?;
        Ok(words.iter().map(|w| w.parse::<f32>()).collect::<Result<_, _>>()?)
    }

    fn read_line(&mut self) -> Result<String, Error> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err("worker.py exited (its error is above)".into());
        }
        Ok(line.trim_end().to_string())
    }

    /// Sends one command; returns the words after `ok`.
    fn request(&mut self, command: &str) -> Result<Vec<String>, Error> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        let reply = self.read_line()?;
        match reply.strip_prefix("ok") {
            Some(rest) => Ok(rest.split_whitespace().map(str::to_string).collect()),
            None => Err(format!("worker.py, `{command}`: {reply}").into()),
        }
    }
}

impl Drop for PyWorker {
    fn drop(&mut self) {
        // Ask politely; the worker also exits at end of input when stdin closes.
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

/// One session of the worker: an ONNX Runtime or LiteRT configuration, or the sgemm yardstick.
pub struct PySession {
    worker: Rc<RefCell<PyWorker>>,
    session: String,
}

impl PySession {
    /// The runner of session `session` (as named when the worker was started).
    pub fn new(worker: Rc<RefCell<PyWorker>>, session: &str) -> Self {
        Self {
            worker,
            session: session.to_string(),
        }
    }
}

fn parse_ns(word: &str) -> Result<Duration, Error> {
    Ok(Duration::from_nanos(word.parse()?))
}

impl Runner for PySession {
    fn run(&mut self, n: usize) -> Result<Slice, Error> {
        let words = self.worker.borrow_mut().request(&format!("run {} {n}", self.session))?;
        let [wall, cpu, times @ ..] = words.as_slice() else {
            return Err("short reply to `run`".into());
        };
        let times = times.iter().map(|w| parse_ns(w)).collect::<Result<Vec<_>, _>>()?;
        if times.len() != n {
            return Err(format!("asked for {n} runs, got {}", times.len()).into());
        }
        Ok(Slice {
            times,
            wall: parse_ns(wall)?,
            cpu: Some(parse_ns(cpu)?),
        })
    }

    fn output(&mut self) -> Result<Vec<f32>, Error> {
        self.worker.borrow_mut().values(&format!("output {}", self.session))
    }
}

impl PySession {
    /// The classifier's real-valued output before softmax, from one untimed call (an ONNX
    /// Runtime session's `logits`, or a reference LiteRT session's dequantized `logits`).
    pub fn logits(&mut self) -> Result<Vec<f32>, Error> {
        self.worker.borrow_mut().values(&format!("logits {}", self.session))
    }
}
