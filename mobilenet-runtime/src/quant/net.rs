//! What `mobilenet!` implements for a quantized network.

use super::elem::QuantElem;
use super::reader::QuantReader;
use crate::{Activation, LayerInfo, Padding, Team, WeightsError};

/// One quantized network as `mobilenet!` compiled it. Implemented by generated code only.
pub trait QuantNet: Sized + 'static {
    /// Image shape, H x W x C.
    const INPUT_SHAPE: [usize; 3];
    /// Bytes of activations one forward pass uses (the two buffers of the arena).
    const ARENA_LEN: usize;
    /// The expanded table, one record per layer.
    const LAYERS: &'static [LayerInfo];
    /// Padding convention of every convolution.
    const PADDING: Padding;
    /// The activation TFLite fused into every convolution.
    const ACTIVATION: Activation;
    /// `Int8` or `Uint8`.
    const PRECISION: crate::Precision;
    /// The caller's element type: `u8` for `precision: uint8`, `i8` for `int8`.
    type Elem: QuantElem;
    /// Every layer's packed parameters and quantization.
    type Params: Send + Sync + 'static;

    /// Reads every layer's parameters, in order.
    ///
    /// # Errors
    /// As [`QuantReader::conv`].
    fn read(reader: &mut QuantReader<'_>) -> Result<Self::Params, WeightsError>;

    /// The forward pass in the int8 domain: each layer's kernel call between `hook`'s `before`
    /// and `after`, in `arena` (`ARENA_LEN` bytes), split over `team`.
    fn run<'a>(
        params: &Self::Params,
        arena: &'a mut [i8],
        team: &Team,
        input: &[i8],
        hook: &mut impl QuantHook,
    ) -> &'a [i8];
}

/// Called around every layer of a quantized forward pass (see [`crate::hooks::LayerHook`] for
/// the float one).
pub trait QuantHook {
    /// Before layer `layer` runs.
    #[inline(always)]
    fn before(&mut self, layer: usize) {
        let _ = layer;
    }
    /// After layer `layer` wrote `output` (int8 domain, NHWC).
    #[inline(always)]
    fn after(&mut self, layer: usize, output: &[i8]) {
        let _ = (layer, output);
    }
}

/// The hook that does nothing.
pub struct QuantNoHook;

impl QuantHook for QuantNoHook {}

/// Hands each layer's output to a closure.
pub struct QuantInspect<F: FnMut(usize, &[i8])>(pub F);

impl<F: FnMut(usize, &[i8])> QuantHook for QuantInspect<F> {
    fn after(&mut self, layer: usize, output: &[i8]) {
        (self.0)(layer, output);
    }
}
