//! A safe, panic-free reader for TensorFlow Lite (`.tflite`) models.
//!
//! The flatbuffer readers in [`generated`] come from TFLite's published `schema.fbs` through
//! planus (see `schema/generate.sh`). planus checks every offset when a field is read and
//! returns a `Result`, so no `unsafe` and no separate verifier pass are needed for untrusted
//! files; the `flatbuffers` crate's readers are `unsafe` to call without its verifier.
//!
//! On top of them, [`TfliteModel::parse`] reads the first subgraph into plain Rust values:
//! tensors (name, shape, type, quantization, constant bytes) and operators in execution order
//! (operator code, tensor indices, typed options for the operators MobileNet-V1 uses).
//! [`associated_files`] and [`labels`] read the files that models with metadata append as a
//! ZIP archive (e.g. the class names).
//!
//! Every failure is a [`TfliteError`] saying what is wrong and where; no input panics.

#![warn(missing_docs)]

mod archive;
mod error;
mod model;
mod names;

/// The flatbuffer types planus generated from `schema/schema.fbs`: `*Ref` readers and owned
/// types with builders, for files this crate's [`TfliteModel`] does not cover or for writing
/// models. Tables the crate does not read are generated without fields (see
/// `schema/generate.sh`); their union tags are kept.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
#[rustfmt::skip]
pub mod generated;

pub use archive::{associated_files, labels};
pub use error::TfliteError;
pub use model::{
    is_tflite, to_bytes, BuiltinOp, Conv2DOptions, DepthwiseConv2DOptions, ElementType, FullyConnectedOptions,
    FusedActivation, OpCode, Operator, Options, Padding, Pool2DOptions, Quantization, Tensor, TfliteModel,
    FILE_IDENTIFIER,
};

#[cfg(test)]
mod tests;
