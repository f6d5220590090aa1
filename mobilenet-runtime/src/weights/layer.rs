//! [`LayerReader`] and [`LayerWriter`]: one layer's tensors, named and shaped by its
//! [`LayerInfo`] record, to and from the packed parameters its kernel takes.

use super::{insert_conv_bn, insert_fc, Folded, TensorReader, TensorSet, WeightsError};
use crate::kernels::Params;
use crate::{LayerInfo, LayerKind};

/// PyTorch shape of a layer's weight tensor: `[out, in, kh, kw]` for a convolution,
/// `[c, 1, kh, kw]` depthwise, `[out, in]` for fc; `None` for a layer without parameters.
pub fn torch_shape(layer: &LayerInfo) -> Option<Vec<usize>> {
    let [kh, kw] = layer.kernel;
    let (cin, cout) = (layer.input[2], layer.output[2]);
    match layer.kind {
        LayerKind::Conv => Some(vec![cout, cin, kh, kw]),
        LayerKind::ConvDw => Some(vec![cin, 1, kh, kw]),
        LayerKind::Fc => Some(vec![cout, cin]),
        LayerKind::AvgPool | LayerKind::Softmax => None,
    }
}

/// Reads a model's layers from named tensors, each by its [`LayerInfo`]: the tensor names come
/// from the layer's name, the shapes from its shapes, and batch norm is folded with the
/// model's epsilon.
#[derive(Debug)]
pub struct LayerReader<'a> {
    tensors: TensorReader<'a>,
    layers: &'a [LayerInfo],
    eps: f32,
}

impl<'a> LayerReader<'a> {
    /// A reader of `layers` from `set`, folding batch norm with `eps`.
    pub fn new(set: &'a TensorSet, layers: &'a [LayerInfo], eps: f32) -> Self {
        LayerReader {
            tensors: TensorReader::new(set),
            layers,
            eps,
        }
    }

    /// The packed parameters of layer `index`: its tensors read, checked and folded, then
    /// packed by `P`.
    ///
    /// # Errors
    /// A missing tensor, a wrong shape, a non-finite value or a fold that overflows, named; a
    /// layer without parameters, or one `P` does not fit, as [`WeightsError::Pack`].
    pub fn read<P: Params>(&mut self, index: usize) -> Result<P, WeightsError> {
        let layer = self.layers.get(index).ok_or_else(|| WeightsError::Pack {
            tensor: format!("layer {index} (the model has {})", self.layers.len()),
        })?;
        let prefix = layer.name;
        let shape = torch_shape(layer).unwrap_or_default();
        let folded = match (layer.kind, shape.as_slice()) {
            (LayerKind::Fc, &[out, cin]) => self.tensors.fc(prefix, [out, cin])?,
            (LayerKind::Conv | LayerKind::ConvDw, &[a, b, c, d]) => {
                self.tensors.conv_bn(prefix, [a, b, c, d], self.eps)?
            }
            _ => {
                return Err(WeightsError::Pack {
                    tensor: format!("{prefix} ({} has no parameters)", layer.kind.as_str()),
                })
            }
        };
        P::new(&folded.weight, &folded.bias).ok_or_else(|| WeightsError::Pack {
            tensor: format!("{prefix}.weight"),
        })
    }

    /// Checks that every tensor of the set was read by some layer.
    ///
    /// # Errors
    /// [`WeightsError::Unexpected`] naming the first unused tensor in sorted order.
    pub fn finish(self) -> Result<(), WeightsError> {
        self.tensors.finish()
    }
}

/// Writes a model's layers as named tensors, each by its [`LayerInfo`]: the inverse of
/// [`LayerReader`], a convolution's batch norm written as the identity for the model's epsilon
/// (see [`insert_conv_bn`]).
#[derive(Debug)]
pub struct LayerWriter<'a> {
    set: &'a mut TensorSet,
    layers: &'a [LayerInfo],
    eps: f32,
}

impl<'a> LayerWriter<'a> {
    /// A writer of `layers` into `set`, with batch norm as the identity for `eps`.
    pub fn new(set: &'a mut TensorSet, layers: &'a [LayerInfo], eps: f32) -> Self {
        LayerWriter { set, layers, eps }
    }

    /// Writes `params` as layer `index`'s tensors. A layer without parameters, or an index
    /// past the table, writes nothing.
    pub fn write<P: Params>(&mut self, index: usize, params: &P) {
        let Some(layer) = self.layers.get(index) else { return };
        let (weight, bias) = params.unpack();
        let folded = Folded { weight, bias };
        match torch_shape(layer).as_deref() {
            Some(&[out, cin]) => insert_fc(self.set, layer.name, [out, cin], &folded),
            Some(&[a, b, c, d]) => insert_conv_bn(self.set, layer.name, [a, b, c, d], &folded, self.eps),
            _ => {}
        }
    }
}
