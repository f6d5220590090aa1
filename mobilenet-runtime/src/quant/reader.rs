//! How the generated `read` takes each layer's quantized parameters out of a loaded file.

use crate::kernels::i8::{ConvParams, DepthwiseParams, FcParams, PointwiseParams, PoolQuant, QuantConv, SoftmaxQuant};
use crate::{LayerInfo, WeightsError};

/// One layer of a quantized model as read from the file, before packing.
#[derive(Debug)]
pub enum QuantLayer {
    /// A `conv`, `conv_dw` or `fc` row: weights, biases and requantization.
    Conv(QuantConv),
    /// An `avg_pool` row.
    Pool(PoolQuant),
    /// A `softmax` row.
    Softmax(Box<SoftmaxQuant>),
}

/// A packed parameter type of the int8 kernels, built from a [`QuantConv`].
pub trait FromQuant: Sized {
    /// Packs `q` for the kernel.
    ///
    /// # Errors
    /// Lengths or values the kernel cannot take, described.
    fn from_quant(q: &QuantConv) -> Result<Self, String>;
}

impl<const KH: usize, const KW: usize, const CIN: usize, const COUT: usize> FromQuant
    for ConvParams<KH, KW, CIN, COUT>
{
    fn from_quant(q: &QuantConv) -> Result<Self, String> {
        ConvParams::from_quant(q)
    }
}

impl<const KH: usize, const KW: usize, const C: usize> FromQuant for DepthwiseParams<KH, KW, C> {
    fn from_quant(q: &QuantConv) -> Result<Self, String> {
        DepthwiseParams::from_quant(q)
    }
}

impl<const CIN: usize, const COUT: usize> FromQuant for PointwiseParams<CIN, COUT> {
    fn from_quant(q: &QuantConv) -> Result<Self, String> {
        PointwiseParams::from_quant(q)
    }
}

impl<const CIN: usize, const COUT: usize> FromQuant for FcParams<CIN, COUT> {
    fn from_quant(q: &QuantConv) -> Result<Self, String> {
        FcParams::from_quant(q)
    }
}

/// Hands the generated `read` each layer's parameters, by the layer's index in the table.
pub struct QuantReader<'a> {
    layers: Vec<Option<QuantLayer>>,
    table: &'a [LayerInfo],
}

impl<'a> QuantReader<'a> {
    /// A reader over `layers` (one per row of `table`, as [`super::tflite::quant_layers_from_tflite`]
    /// returns them).
    pub fn new(layers: Vec<QuantLayer>, table: &'a [LayerInfo]) -> Self {
        QuantReader {
            layers: layers.into_iter().map(Some).collect(),
            table,
        }
    }

    fn take(&mut self, index: usize, want: &str) -> Result<QuantLayer, WeightsError> {
        let name = self.table.get(index).map_or("?", |l| l.name);
        self.layers
            .get_mut(index)
            .and_then(Option::take)
            .ok_or_else(|| WeightsError::Tflite {
                reason: format!("layer {index} (`{name}`) has no {want} parameters (read twice, or the file's layers do not match the table)"),
            })
    }

    fn mismatch(&self, index: usize, want: &str, got: &QuantLayer) -> WeightsError {
        let name = self.table.get(index).map_or("?", |l| l.name);
        let got = match got {
            QuantLayer::Conv(_) => "convolution",
            QuantLayer::Pool(_) => "pooling",
            QuantLayer::Softmax(_) => "softmax",
        };
        WeightsError::Tflite {
            reason: format!("layer {index} (`{name}`) needs {want} parameters, but the file gave {got} parameters"),
        }
    }

    /// Layer `index`'s weights packed as `P`.
    ///
    /// # Errors
    /// If the layer is not a convolution or fc in the file, or the kernel refuses its values.
    pub fn conv<P: FromQuant>(&mut self, index: usize) -> Result<P, WeightsError> {
        match self.take(index, "convolution")? {
            QuantLayer::Conv(q) => P::from_quant(&q).map_err(|e| {
                let name = self.table.get(index).map_or("?", |l| l.name);
                WeightsError::Tflite {
                    reason: format!("layer {index} (`{name}`): {e}"),
                }
            }),
            other => Err(self.mismatch(index, "convolution", &other)),
        }
    }

    /// Layer `index`'s pooling quantization.
    ///
    /// # Errors
    /// If the layer is not a pool in the file.
    pub fn pool(&mut self, index: usize) -> Result<PoolQuant, WeightsError> {
        match self.take(index, "pooling")? {
            QuantLayer::Pool(p) => Ok(p),
            other => Err(self.mismatch(index, "pooling", &other)),
        }
    }

    /// Layer `index`'s softmax quantization.
    ///
    /// # Errors
    /// If the layer is not a softmax in the file.
    pub fn softmax(&mut self, index: usize) -> Result<SoftmaxQuant, WeightsError> {
        match self.take(index, "softmax")? {
            QuantLayer::Softmax(p) => Ok(*p),
            other => Err(self.mismatch(index, "softmax", &other)),
        }
    }
}
