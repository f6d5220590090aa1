//! Quantized networks: TensorFlow Lite's uint8 and int8 MobileNets run with TFLite's own
//! integer arithmetic.
//!
//! A spec with `precision: uint8` or `precision: int8` makes `mobilenet!` emit a [`QuantNet`]
//! and the aliases `Weights = QuantWeights<Net>` and `Model = QuantModel<Net, IN, OUT>`. The
//! layer list, the shapes and the two-buffer arena are the float network's; the activations
//! are bytes and the kernels are [`crate::kernels::i8`]'s.
//!
//! Inside, every network computes in the int8 domain: a uint8 model's values and zero points
//! are shifted by -128 when loaded (an exact change of representation), so one set of kernels
//! serves both schemes. Its input and output are converted at the model's edges.

//!
//! Without the `std` feature only the element types ([`QuantElem`], [`Quantization`]) are
//! here; a compile-time-weights expansion (`crate::baked`) needs nothing else.

mod elem;
#[cfg(feature = "std")]
mod model;
#[cfg(feature = "std")]
mod net;
#[cfg(feature = "std")]
mod reader;
#[cfg(feature = "std")]
mod tflite;

pub use elem::{QuantElem, Quantization};
#[cfg(feature = "std")]
pub use model::{QuantModel, QuantWeights};
#[cfg(feature = "std")]
pub use net::{QuantHook, QuantInspect, QuantNet, QuantNoHook};
#[cfg(feature = "std")]
pub use reader::{FromQuant, QuantLayer, QuantReader};
#[cfg(feature = "std")]
pub use tflite::{quant_layers_from_tflite, QuantFile};
