//! The f32 matrix product: one threaded driver (`driver.rs`) over packed weight panels
//! (`panels.rs`), calling the micro-kernels that each instruction set declares in its own
//! file (`scalar.rs`, and on x86-64 `avx2.rs`, `avx512.rs`) through the contract of
//! `ukernel.rs`.

#[cfg(x86_simd)]
pub(crate) mod avx2;
#[cfg(x86_simd)]
pub(crate) mod avx512;
mod driver;
mod panels;
pub(crate) mod scalar;
pub(crate) mod ukernel;

pub(crate) use driver::{gemm_raw, gemm_team, prefetch_ahead, stop_prefetch_ahead, MIN_SPLIT_MADDS};
pub(crate) use panels::Panels;
pub(crate) use ukernel::Seg;
