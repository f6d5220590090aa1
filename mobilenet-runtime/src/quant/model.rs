//! The `Weights` and `Model` of every quantized network, written once (see
//! [`crate::model`] for the float ones).

use std::path::Path;
use std::sync::Arc;

use super::elem::{QuantElem, Quantization};
use super::net::{QuantHook, QuantInspect, QuantNet, QuantNoHook};
use super::reader::QuantReader;
use crate::interop::InputError;
use crate::{weights, Team, WeightsError};

/// The parameters of one quantized network, packed for the int8 kernels when loaded, with the
/// quantization of its input and output. Share them between models with an `Arc`.
pub struct QuantWeights<N: QuantNet> {
    params: N::Params,
    input: Quantization,
    output: Quantization,
}

impl<N: QuantNet> QuantWeights<N> {
    /// Reads a quantized TensorFlow Lite model (a `.tflite` file's bytes), checking every
    /// operator against this model's table (kernel, stride, padding, fused activation, tensor
    /// shapes and types) and every quantization parameter, and computing each layer's
    /// requantization as TFLite does.
    ///
    /// # Errors
    /// Bytes that are not TFLite, a model of another precision (float, or uint8 for an int8
    /// table and the reverse), or an operator or quantization that does not fit: each names the
    /// operator, its tensor and what is wrong.
    pub fn from_tflite(bytes: &[u8]) -> Result<Self, WeightsError> {
        let file = super::quant_layers_from_tflite(bytes, N::LAYERS, N::PADDING, N::ACTIVATION, N::PRECISION)?;
        let params = N::read(&mut QuantReader::new(file.layers, N::LAYERS))?;
        Ok(QuantWeights {
            params,
            input: file.input,
            output: file.output,
        })
    }

    /// The same as [`QuantWeights::from_tflite`]: a quantized model has one file format.
    ///
    /// # Errors
    /// As [`QuantWeights::from_tflite`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        Self::from_tflite(bytes)
    }

    /// Loads a model compiled into the binary (`include_bytes!`).
    ///
    /// # Errors
    /// As [`QuantWeights::from_tflite`].
    pub fn from_static(bytes: &'static [u8]) -> Result<Self, WeightsError> {
        Self::from_tflite(bytes)
    }

    /// Reads a `.tflite` file.
    ///
    /// # Errors
    /// An unreadable file (named), and as [`QuantWeights::from_tflite`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, WeightsError> {
        Self::from_tflite(&weights::read_file(path.as_ref())?)
    }

    /// How the model's input bytes stand for real numbers (a uint8 ImageNet MobileNet: scale
    /// 1/128, zero point 128, so the byte is the pixel).
    pub fn input_quantization(&self) -> Quantization {
        self.input
    }

    /// How the model's output bytes stand for real numbers (after a softmax: scale 1/256).
    pub fn output_quantization(&self) -> Quantization {
        self.output
    }
}

/// One quantized network ready to run: shared [`QuantWeights`], an arena of `ARENA_LEN` bytes
/// allocated once, and the threads it splits its layers over. `IN` and `OUT` are the image's
/// and the output's lengths.
pub struct QuantModel<N: QuantNet, const IN: usize, const OUT: usize> {
    weights: Arc<QuantWeights<N>>,
    arena: Vec<i8>,
    input: Vec<i8>,
    output: [N::Elem; OUT],
    team: Team,
}

impl<N: QuantNet, const IN: usize, const OUT: usize> Clone for QuantModel<N, IN, OUT> {
    /// Shares the weights, allocates a fresh arena and starts as many threads (one, if the
    /// system refuses to start them).
    fn clone(&self) -> Self {
        let mut m = Self::new(Arc::clone(&self.weights));
        if m.set_threads(self.threads()).is_err() {
            m.team = Team::single();
        }
        m
    }
}

impl<N: QuantNet, const IN: usize, const OUT: usize> QuantModel<N, IN, OUT> {
    /// A model over `weights`, with its arena allocated once, here; it runs on the calling
    /// thread (see [`QuantModel::set_threads`]).
    ///
    /// # Panics
    /// If the system refuses the arena's memory; [`QuantModel::try_new`] returns that as an
    /// error.
    pub fn new(weights: impl Into<Arc<QuantWeights<N>>>) -> Self {
        match Self::try_new(weights) {
            Ok(m) => m,
            Err(e) => panic!("{e}; QuantModel::try_new reports this as an error"),
        }
    }

    /// [`QuantModel::new`], but a refused allocation is an error rather than a panic.
    ///
    /// # Errors
    /// If the system cannot give the arena's `ARENA_LEN` bytes.
    pub fn try_new(weights: impl Into<Arc<QuantWeights<N>>>) -> Result<Self, std::collections::TryReserveError> {
        let mut arena = Vec::new();
        arena.try_reserve_exact(N::ARENA_LEN)?;
        arena.resize(N::ARENA_LEN, 0);
        let mut input = Vec::new();
        input.try_reserve_exact(IN)?;
        input.resize(IN, 0);
        Ok(QuantModel {
            weights: weights.into(),
            arena,
            input,
            output: [N::Elem::default(); OUT],
            team: Team::single(),
        })
    }

    /// Splits every large layer over `threads` threads (the caller and `threads - 1` workers
    /// this model owns), as the float model's `set_threads` does.
    ///
    /// # Errors
    /// If the system refuses to start a thread, or `threads` is over
    /// [`crate::parallel::MAX_THREADS`]; the model then keeps its old threads.
    pub fn set_threads(&mut self, threads: usize) -> std::io::Result<()> {
        self.team = Team::new(threads)?;
        Ok(())
    }

    /// [`QuantModel::set_threads`], by value.
    ///
    /// # Errors
    /// As [`QuantModel::set_threads`].
    pub fn with_threads(mut self, threads: usize) -> std::io::Result<Self> {
        self.set_threads(threads)?;
        Ok(self)
    }

    /// The number of threads this model splits its work over (the caller included).
    pub fn threads(&self) -> usize {
        self.team.threads()
    }

    /// The weights this model runs.
    pub fn weights(&self) -> &Arc<QuantWeights<N>> {
        &self.weights
    }

    /// Runs the network on one quantized H x W x C image (row-major HWC, `INPUT_SHAPE`, in the
    /// model's input quantization) and returns the last layer's output bytes, in the model's
    /// output quantization. Allocates nothing.
    pub fn forward(&mut self, input: &[N::Elem; IN]) -> &[N::Elem; OUT] {
        self.forward_with(input, &mut QuantNoHook)
    }

    /// Runs the network on an image's pixels (HWC bytes, 0 to 255), the way TFLite's quantized
    /// image models take them: a uint8 model's input is the pixel itself (scale 1/128, zero
    /// point 128 in TensorFlow's exports), an int8 model's the pixel minus 128. Returns the
    /// output bytes as [`QuantModel::forward`] does.
    pub fn forward_pixels(&mut self, pixels: &[u8; IN]) -> &[N::Elem; OUT] {
        for (d, &p) in self.input.iter_mut().zip(pixels) {
            *d = (p ^ 0x80) as i8;
        }
        self.run_staged(&mut QuantNoHook)
    }

    /// [`QuantModel::forward`] on a slice, which must hold exactly `IN` values.
    ///
    /// # Errors
    /// If `input` is not `IN` long.
    pub fn try_forward(&mut self, input: &[N::Elem]) -> Result<&[N::Elem; OUT], InputError> {
        let input: &[N::Elem; IN] = input.try_into().map_err(|_| InputError::Length {
            expected: IN,
            found: input.len(),
        })?;
        Ok(self.forward(input))
    }

    /// [`QuantModel::forward`], handing each layer's output (NHWC, in the model's element
    /// type and the layer's own quantization) to `each` as it is computed.
    pub fn forward_inspect(
        &mut self,
        input: &[N::Elem; IN],
        mut each: impl FnMut(usize, &[N::Elem]),
    ) -> &[N::Elem; OUT] {
        let mut buf = Vec::new();
        let mut hook = QuantInspect(|layer: usize, out: &[i8]| {
            buf.clear();
            buf.extend(out.iter().map(|&v| N::Elem::from_domain(v)));
            each(layer, &buf);
        });
        self.forward_with(input, &mut hook)
    }

    /// [`QuantModel::forward`] with the outputs as real numbers (`scale * (q - zero_point)`):
    /// class probabilities when the table ends with softmax.
    pub fn scores(&mut self, input: &[N::Elem; IN]) -> [f32; OUT] {
        let q = self.weights.output;
        let out = *self.forward(input);
        out.map(|v| q.dequantize(v.to_i32()))
    }

    /// Quantizes a real-valued image (the values the float model would take) into the
    /// model's input bytes: `round(x / scale) + zero_point`, saturated.
    pub fn quantize_input(&self, image: &[f32; IN]) -> Box<[N::Elem; IN]> {
        let q = self.weights.input;
        let v: Vec<N::Elem> = image
            .iter()
            .map(|&x| N::Elem::saturate(q.quantize_unclamped(x)))
            .collect();
        match v.into_boxed_slice().try_into() {
            Ok(b) => b,
            Err(_) => unreachable!("IN values collected from an array of IN"),
        }
    }

    #[inline(always)]
    fn forward_with(&mut self, input: &[N::Elem; IN], hook: &mut impl QuantHook) -> &[N::Elem; OUT] {
        for (d, &s) in self.input.iter_mut().zip(input) {
            *d = s.to_domain();
        }
        self.run_staged(hook)
    }

    /// Runs the network on the staged input (already in the int8 domain).
    #[inline(always)]
    fn run_staged(&mut self, hook: &mut impl QuantHook) -> &[N::Elem; OUT] {
        let out = N::run(&self.weights.params, &mut self.arena, &self.team, &self.input, hook);
        for (d, &s) in self.output.iter_mut().zip(out) {
            *d = N::Elem::from_domain(s);
        }
        &self.output
    }
}
