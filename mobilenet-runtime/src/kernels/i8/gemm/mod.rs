//! The int8 matrix product: one threaded driver (`driver.rs`) over packed `i16` weight panels
//! (`panels.rs`), calling the micro-kernel that each instruction set declares in its own file
//! (`scalar.rs`, and on x86-64 `avx2.rs`, `avx_vnni.rs` and `avx512_vnni.rs`) through the
//! contract of `ukernel.rs`.

#[cfg(x86_simd)]
pub(crate) mod avx2;
#[cfg(x86_simd)]
pub(crate) mod avx512_vnni;
#[cfg(x86_simd)]
pub(crate) mod avx_vnni;
mod driver;
mod panels;
pub(crate) mod scalar;
pub(crate) mod ukernel;

pub(crate) use driver::{gemm, gemm_team, gemm_widened};
pub(crate) use panels::Panels;
