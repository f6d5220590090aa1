//! The int8 NHWC kernels, for TFLite's quantized MobileNets (uint8 per-tensor and int8
//! per-channel), bit-exact with TFLite's reference kernels. Laid out as the f32 layer is: one
//! directory or file per operator, inside it one file per instruction set beside the driver
//! they share, and `config.rs` saying which kernels each instruction set has.
//!
//! # Interface (what a loader and generated code rely on)
//! - Activations are NHWC `i8` with batch 1 in the *int8 domain*: a uint8 model's values and
//!   zero points are shifted by -128 at load, which changes no arithmetic but the average
//!   pool's rounding ([`PoolQuant::domain_offset`]) and the softmax output's offset.
//! - Every conv-like layer (conv2d, depthwise, pointwise, fc) computes, per output pixel and
//!   channel `o`, exactly as TFLite's `ConvPerChannel` / `DepthwiseConvPerChannel` / uint8
//!   `Conv`: `acc = bias[o] + sum (x - input_zp) * (w - weight_zp)` over the taps inside the
//!   input (padded taps contribute nothing), then
//!   `clamp(multiply_by_quantized_multiplier(acc, multiplier[o], shift[o]) + output_zp,
//!   act_min, act_max)`. Sums wrap in `i32` (TFLite's `int32_t` would overflow only on
//!   absurd models); the result is the same bits on every path.
//! - Parameters come as a [`QuantConv`] in TFLite's layouts; each parameter type packs it
//!   once (`from_quant`, checked, with an error naming what is wrong) and gives it back
//!   (`to_quant`).
//! - Padding, `PT`/`PL`, `S` mean what they mean for the f32 kernels.

//!
//! Without the `std` feature, what is left is [`direct`] (plain loops over parameters borrowed
//! in TFLite's own layout), [`avg_pool`], [`softmax()`] and the arithmetic they share.

#[cfg(feature = "std")]
pub(crate) mod config;
#[cfg(feature = "std")]
pub mod conv;
#[cfg(feature = "std")]
pub mod depthwise;
pub mod direct;
#[cfg(feature = "std")]
pub mod fc;
pub(crate) mod fixedpoint;
#[cfg(feature = "std")]
pub(crate) mod gemm;
#[cfg(feature = "std")]
pub mod pointwise;
pub mod pool;
#[cfg(feature = "std")]
mod quant;
pub mod requant;
pub mod softmax;

#[cfg(feature = "std")]
pub use conv::{conv2d, ConvParams};
#[cfg(feature = "std")]
pub use depthwise::{depthwise, DepthwiseParams};
pub use direct::DirectConv;
#[cfg(feature = "std")]
pub use fc::{fc, FcParams};
#[cfg(feature = "std")]
pub use pointwise::{pointwise, PointwiseParams};
pub use pool::{avg_pool, PoolQuant};
#[cfg(feature = "std")]
pub use quant::QuantConv;
pub use requant::multiply_by_quantized_multiplier;
#[cfg(feature = "std")]
pub use requant::quantize_multiplier;
pub use softmax::{softmax, SoftmaxQuant};

/// The int8 matrix products (pointwise, standard convolution, fc) that `isa` runs, for reports:
/// `"avx2"`, or with a VNNI product `"avx512-vnni for byte weights, avx2 otherwise"`.
///
/// # Panics
/// If this CPU cannot run `isa`.
#[cfg(feature = "std")]
pub fn product_kernels(isa: crate::kernels::Isa) -> String {
    let k = config::for_isa(isa);
    match k.gemm_bytes {
        Some(bytes) => format!("{} for byte weights, {} otherwise", bytes.name, k.gemm.name),
        None => k.gemm.name.to_string(),
    }
}
