//! The `Weights` and `Model` of every generated network, written once.
//!
//! `mobilenet!` emits a network's constants, a [`Net`] (its layer list, its parameter types and
//! the forward pass's kernel calls with literal shapes), and two type aliases:
//!
//! ```ignore
//! pub type Weights = mobilenet::runtime::model::Weights<__mobilenet::Net>;
//! pub type Model = mobilenet::runtime::model::Model<__mobilenet::Net, INPUT_LEN, NUM_CLASSES, LAYER_COUNT>;
//! ```
//!
//! Everything the two types do (loading and saving, the arena, threads, the batch and
//! ndarray entry points) is here, so a change to it is a change to this file, not to the
//! generator and every expansion; and a spec that fails to compile expands to the same
//! aliases over a stub [`Net`], so the items a user names exist either way.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ndarray::{Array1, Array2, ArrayView3, ArrayView4};

use crate::aligned::{AlignedBuf, AllocError};
use crate::hooks::{Inspect, LayerHook, LayerTimer, NoHook};
use crate::interop::{self, Arenas, InputError, Network};
use crate::weights::{self, LayerReader, LayerWriter, TensorSet, WeightsFormat};
use crate::{Activation, LayerInfo, Padding, Team, WeightsError};

/// One network as `mobilenet!` compiled it: what [`Weights`] and [`Model`] need to know of it.
/// Implemented by generated code only.
pub trait Net: Sized + 'static {
    /// Image shape, H x W x C.
    const INPUT_SHAPE: [usize; 3];
    /// f32 activations one forward pass uses (the two buffers of the arena).
    const ARENA_LEN: usize;
    /// The expanded table, one record per layer.
    const LAYERS: &'static [LayerInfo];
    /// Padding convention of every convolution.
    const PADDING: Padding;
    /// Activation after every batch-normalised convolution.
    const ACTIVATION: Activation;
    /// Batch-norm epsilon used when folding.
    const BN_EPS: f32;
    /// Every layer's packed parameters.
    type Params: Send + Sync + 'static;

    /// Reads every layer's parameters, in order, from `reader`.
    ///
    /// # Errors
    /// As [`LayerReader::read`].
    fn read(reader: &mut LayerReader<'_>) -> Result<Self::Params, WeightsError>;

    /// Writes every layer's parameters through `writer`.
    fn write(params: &Self::Params, writer: &mut LayerWriter<'_>);

    /// The forward pass: each layer's kernel call, between `hook`'s `before` and `after`, in
    /// `arena` (`ARENA_LEN` floats), split over `team`. Returns the last layer's output.
    fn run<'a>(
        params: &Self::Params,
        arena: &'a mut [f32],
        team: &Team,
        input: &[f32],
        hook: &mut impl LayerHook,
    ) -> &'a [f32];
}

/// The parameters of one network: batch norm folded into the convolutions, every layer packed
/// for its kernel when loaded. Share them between models with an `Arc`.
pub struct Weights<N: Net> {
    params: N::Params,
}

impl<N: Net> Weights<N> {
    /// Builds the weights from named tensors (PyTorch layouts; see the README for the names).
    ///
    /// # Errors
    /// A missing or unexpected tensor, a wrong shape, or a non-finite value, named.
    pub fn from_tensors(set: &TensorSet) -> Result<Self, WeightsError> {
        let mut reader = LayerReader::new(set, N::LAYERS, N::BN_EPS);
        let params = N::read(&mut reader)?;
        reader.finish()?;
        Ok(Weights { params })
    }

    /// Parses a safetensors file's bytes (f32, f16 or bf16 tensors).
    ///
    /// # Errors
    /// As [`Weights::from_tensors`], and for bytes that are not a safetensors file.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, WeightsError> {
        Self::from_tensors(&TensorSet::from_safetensors(bytes)?)
    }

    /// Reads a float32 TensorFlow Lite model (a `.tflite` file's bytes), checking every
    /// operator against this model's table: kernel, stride, padding, fused activation and
    /// tensor shapes. Batch norm is already folded into the file's biases.
    ///
    /// # Errors
    /// Bytes that are not TFLite, a quantized model, or an operator that does not fit the
    /// table: each names the operator, its type and tensor, and both sides.
    pub fn from_tflite(bytes: &[u8]) -> Result<Self, WeightsError> {
        let set = weights::tflite::tensors_from_tflite(bytes, N::LAYERS, N::PADDING, N::ACTIVATION, N::BN_EPS)?;
        Self::from_tensors(&set)
    }

    /// Reads either format, told apart by content: TFLite files carry the identifier `TFL3`,
    /// anything else is read as safetensors.
    ///
    /// # Errors
    /// As [`Weights::from_tflite`] or [`Weights::from_safetensors`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        Self::from_format(bytes, WeightsFormat::detect(bytes, None))
    }

    /// Loads weights compiled into the binary (`include_bytes!`), in either format.
    ///
    /// # Errors
    /// As [`Weights::from_bytes`].
    pub fn from_static(bytes: &'static [u8]) -> Result<Self, WeightsError> {
        Self::from_bytes(bytes)
    }

    /// Reads a weights file: TFLite when the content (or, failing that, a `.tflite` extension)
    /// says so, safetensors otherwise.
    ///
    /// # Errors
    /// An unreadable file (named), and as [`Weights::from_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, WeightsError> {
        let path = path.as_ref();
        let bytes = weights::read_file(path)?;
        Self::from_format(&bytes, WeightsFormat::detect(&bytes, Some(path)))
    }

    fn from_format(bytes: &[u8], format: WeightsFormat) -> Result<Self, WeightsError> {
        match format {
            WeightsFormat::Tflite => Self::from_tflite(bytes),
            WeightsFormat::Safetensors => Self::from_safetensors(bytes),
        }
    }

    /// Deterministic He-initialised weights (with non-trivial batch norm) for demos, tests and
    /// benchmarks: the same seed gives the same weights on every machine.
    pub fn random(seed: u64) -> Self {
        match Self::from_tensors(&weights::random_tensors(N::LAYERS, seed)) {
            Ok(w) => w,
            Err(e) => unreachable!("random weights were refused, a bug in mobilenet-runtime: {e}"),
        }
    }

    /// The weights as named tensors. Batch norm stays folded: each convolution's batch norm is
    /// written as the identity for `BN_EPS`, so loading the result gives this model back to f32
    /// rounding.
    pub fn to_tensors(&self) -> TensorSet {
        let mut set = TensorSet::new();
        N::write(&self.params, &mut LayerWriter::new(&mut set, N::LAYERS, N::BN_EPS));
        set
    }

    /// Writes [`Weights::to_tensors`] as a safetensors file.
    ///
    /// # Errors
    /// If the file cannot be written (named).
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<(), WeightsError> {
        weights::write_file(path.as_ref(), &self.to_tensors().to_safetensors()?)
    }
}

/// One network ready to run: shared [`Weights`], an activation arena allocated once, and the
/// threads it splits its layers over. `IN` and `OUT` are the image's and the output's lengths,
/// `L` the number of layers, so that `forward` takes and returns arrays of the right size.
pub struct Model<N: Net, const IN: usize, const OUT: usize, const L: usize> {
    weights: Arc<Weights<N>>,
    arena: AlignedBuf,
    team: Team,
    spare: Arenas,
}

impl<N: Net, const IN: usize, const OUT: usize, const L: usize> Clone for Model<N, IN, OUT, L> {
    /// Shares the weights, allocates a fresh activation arena and starts as many threads as
    /// this model runs on (one, if the system refuses to start them).
    fn clone(&self) -> Self {
        let mut m = Self::new(Arc::clone(&self.weights));
        if m.set_threads(self.threads()).is_err() {
            m.team = Team::single();
        }
        m
    }
}

impl<N: Net, const IN: usize, const OUT: usize, const L: usize> Model<N, IN, OUT, L> {
    /// A model over `weights` (an owned [`Weights`] or a shared `Arc<Weights>`), with its
    /// activation arena allocated once, here. It runs on the calling thread; see
    /// [`Model::set_threads`].
    ///
    /// # Panics
    /// If the system refuses the arena's memory; [`Model::try_new`] returns that as an error.
    pub fn new(weights: impl Into<Arc<Weights<N>>>) -> Self {
        match Self::try_new(weights) {
            Ok(m) => m,
            Err(e) => panic!("{e}; Model::try_new reports this as an error"),
        }
    }

    /// [`Model::new`], but a refused allocation of the arena is an error rather than a panic.
    ///
    /// # Errors
    /// If the system cannot give the arena's `ARENA_LEN` floats.
    pub fn try_new(weights: impl Into<Arc<Weights<N>>>) -> Result<Self, AllocError> {
        Ok(Model {
            weights: weights.into(),
            arena: AlignedBuf::try_zeroed(N::ARENA_LEN)?,
            team: Team::single(),
            spare: Arenas::default(),
        })
    }

    /// Splits every large layer of [`Model::forward`] over `threads` threads: the calling
    /// thread and `threads - 1` workers that this model starts now and owns (they spin briefly
    /// after each layer, then sleep). [`Model::predict_batch`] runs its images on the same
    /// threads, each taking the next image not yet taken and, when none is left, helping the
    /// others finish theirs. `1` (the default) runs everything on the caller.
    ///
    /// # Errors
    /// If the system refuses to start a thread, or `threads` is over
    /// [`crate::parallel::MAX_THREADS`]; the model then keeps its old threads.
    pub fn set_threads(&mut self, threads: usize) -> std::io::Result<()> {
        self.team = Team::new(threads)?;
        Ok(())
    }

    /// [`Model::set_threads`], by value.
    ///
    /// # Errors
    /// As [`Model::set_threads`].
    pub fn with_threads(mut self, threads: usize) -> std::io::Result<Self> {
        self.set_threads(threads)?;
        Ok(self)
    }

    /// The number of threads this model splits its work over (the caller included).
    pub fn threads(&self) -> usize {
        self.team.threads()
    }

    /// The weights this model runs.
    pub fn weights(&self) -> &Arc<Weights<N>> {
        &self.weights
    }

    /// Runs the network on one H x W x C image (row-major HWC, `INPUT_SHAPE`) and returns the
    /// last layer's output: class probabilities when the table ends with softmax
    /// (`OUTPUTS_PROBABILITIES`), logits otherwise. Allocates nothing.
    pub fn forward(&mut self, input: &[f32; IN]) -> &[f32; OUT] {
        self.forward_with(input, &mut NoHook)
    }

    /// [`Model::forward`], adding each layer's wall time to `times[layer]` (for profiling).
    pub fn forward_timed(&mut self, input: &[f32; IN], times: &mut [Duration; L]) -> &[f32; OUT] {
        self.forward_with(input, &mut LayerTimer::new(times))
    }

    /// [`Model::forward`], handing each layer's output (H x W x C, NHWC) to `each` as it is
    /// computed: for checking a layer against a reference, or looking inside the network.
    pub fn forward_inspect(&mut self, input: &[f32; IN], each: impl FnMut(usize, &[f32])) -> &[f32; OUT] {
        self.forward_with(input, &mut Inspect(each))
    }

    #[inline(always)]
    fn forward_with(&mut self, input: &[f32; IN], hook: &mut impl LayerHook) -> &[f32; OUT] {
        let out = N::run(&self.weights.params, &mut self.arena, &self.team, input, hook);
        interop::array_ref::<OUT>(out)
    }

    /// Classifies one image given as an H x W x C ndarray view (any strides).
    ///
    /// # Errors
    /// If the view's shape is not `INPUT_SHAPE`.
    pub fn predict(&mut self, image: ArrayView3<'_, f32>) -> Result<Array1<f32>, InputError> {
        interop::predict(self, image)
    }

    /// Classifies a batch of N x H x W x C images, spreading them over the model's threads
    /// ([`Model::set_threads`]): each thread runs the next image not yet taken, and helps with
    /// the others' layers once none is left. The threads' activation arenas are kept for the
    /// next call.
    ///
    /// # Errors
    /// If the images' shape is not N x `INPUT_SHAPE`, N is 0, or the threads' arenas cannot be
    /// allocated.
    pub fn predict_batch(&self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>, InputError> {
        interop::predict_batch(self, images)
    }
}

impl<N: Net, const IN: usize, const OUT: usize, const L: usize> Network for Model<N, IN, OUT, L> {
    const INPUT_SHAPE: [usize; 3] = N::INPUT_SHAPE;
    const NUM_CLASSES: usize = OUT;
    const ARENA_LEN: usize = N::ARENA_LEN;

    fn run(&mut self, input: &[f32], output: &mut [f32]) {
        let input = interop::array_ref::<IN>(input);
        output[..OUT].copy_from_slice(self.forward(input));
    }

    fn run_in(&self, arena: &mut [f32], team: &Team, input: &[f32], output: &mut [f32]) {
        let input = interop::array_ref::<IN>(input);
        let out = N::run(&self.weights.params, arena, team, input, &mut NoHook);
        output[..OUT].copy_from_slice(&out[..OUT]);
    }

    fn team(&self) -> &Team {
        &self.team
    }

    fn spare_arenas(&self) -> &Arenas {
        &self.spare
    }
}
