//! x86-64 vector helpers that every kernel of one instruction set shares (activation in
//! registers, lane masks), whatever its data type or operator. Compiled only under the cfg
//! `x86_simd` (see `build.rs`).

#![cfg(x86_simd)]

pub(crate) mod avx2;
pub(crate) mod avx512;
