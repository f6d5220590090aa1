//! The f32 NHWC kernels, one directory or file per operator. Inside an operator, one file per
//! instruction set (`scalar.rs`, `avx2.rs`, `avx512.rs`) beside the driver that every
//! instruction set shares; `config` says which kernels each instruction set has.

pub(crate) mod config;
pub mod conv;
pub mod depthwise;
pub mod fc;
pub(crate) mod gemm;
pub mod pointwise;
pub mod pool;
pub mod softmax;
