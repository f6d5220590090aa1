//! The int8 kernels of each instruction set, as data: one [`Kernels`] table per path and the
//! one place that maps an [`Isa`] to its table (the f32 layer's `f32/config.rs`, for int8).
//! Parameter packs look their table up once, when they are built (`from_quant_for`), and keep
//! what they need; a layer call never asks which path it is on.
//!
//! Paths: the portable kernels everywhere; AVX-512 has no int8 kernels of its own yet and
//! runs the best table below it (its slot is the `Isa::Avx512` arm of [`for_isa`]: an
//! `AVX512` table of `gemm/avx512.rs`, ... goes there, VNNI's `vpdpwssd` included).

use super::depthwise::ukernel::Pick3x3;
use super::gemm::ukernel::GemmConfig;
use crate::kernels::isa::Isa;

/// Every int8 operator's kernels on one instruction set.
pub(crate) struct Kernels {
    /// The matrix product's micro-kernel and panel layout (pointwise, fc).
    pub gemm: &'static GemmConfig,
    /// The choice of depthwise 3x3 kernel, if the path has any; other layers run the portable
    /// one.
    pub depthwise_3x3: Option<Pick3x3>,
}

/// The portable kernels, which every architecture compiles.
static SCALAR: Kernels = Kernels {
    gemm: &super::gemm::scalar::CONFIG,
    depthwise_3x3: None,
};

/// The kernels of `isa`.
///
/// # Panics
/// If this CPU cannot run `isa` ([`Isa::is_supported`]): every table this returns holds only
/// kernels the CPU runs, which is what makes calling them sound.
pub(crate) fn for_isa(isa: Isa) -> &'static Kernels {
    assert!(isa.is_supported(), "{isa:?} kernels on a CPU without them");
    match isa {
        Isa::Portable => &SCALAR,
        // No int8 kernels of their own yet: the portable ones.
        Isa::Avx2 | Isa::Avx512 => &SCALAR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table this build has: what the drivers and the packing assume of a config.
    #[test]
    fn every_table_is_consistent() {
        let tables: &[(&str, &Kernels)] = &[("scalar", &SCALAR)];
        for &(name, k) in tables {
            let g = k.gemm;
            assert!(
                g.lanes >= 1 && g.nr.is_multiple_of(g.lanes),
                "{name}: panels of whole vectors"
            );
            assert!(g.kr >= 1, "{name}: reduction padding");
        }
        for isa in Isa::supported() {
            for_isa(isa);
        }
    }
}
