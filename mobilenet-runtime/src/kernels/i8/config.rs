//! The int8 kernels of each instruction set, as data: one [`Kernels`] table per path and the
//! one place that maps an [`Isa`] to its table (the f32 layer's `f32/config.rs`, for int8).
//! Parameter packs look their table up once, when they are built (`from_quant_for`), and keep
//! what they need; a layer call never asks which path it is on.
//!
//! Paths: the portable kernels everywhere, AVX2 on x86-64; AVX-512 has no int8 kernels of its
//! own yet and runs the AVX2 table (its slot is the `Isa::Avx512` arm of [`for_isa`]: an
//! `AVX512` table of `gemm/avx512.rs`, ... goes there, VNNI's `vpdpwssd` included).

use super::depthwise::ukernel::Kernels3x3;
use super::gemm::ukernel::GemmConfig;
use crate::kernels::isa::Isa;

/// Every int8 operator's kernels on one instruction set.
pub(crate) struct Kernels {
    /// The matrix product's micro-kernel and panel layout (pointwise, fc).
    pub gemm: &'static GemmConfig,
    /// The depthwise 3x3 kernels, if the path has any; other layers run the portable one.
    pub depthwise_3x3: Option<&'static Kernels3x3>,
}

/// The portable kernels, which every architecture compiles.
static SCALAR: Kernels = Kernels {
    gemm: &super::gemm::scalar::CONFIG,
    depthwise_3x3: None,
};

/// AVX2: the 6 x 16 `vpmaddwd` product (which standard convolutions run on too), the
/// depthwise 3x3 kernel of two taps per `vpmaddwd`.
#[cfg(x86_simd)]
static AVX2: Kernels = Kernels {
    gemm: &super::gemm::avx2::CONFIG,
    depthwise_3x3: Some(&super::depthwise::avx2::KERNELS),
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
        #[cfg(x86_simd)]
        Isa::Avx2 => &AVX2,
        // The slot of AVX-512 (and VNNI) int8 kernels: until they exist, AVX-512 CPUs (which
        // all have AVX2) run the AVX2 table.
        #[cfg(x86_simd)]
        Isa::Avx512 => &AVX2,
        #[cfg(not(x86_simd))]
        _ => unreachable!("{isa:?} is supported only where x86_simd is set"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table this build has: what the drivers and the packing assume of a config.
    #[test]
    fn every_table_is_consistent() {
        let tables: &[(&str, &Kernels)] = &[
            ("scalar", &SCALAR),
            #[cfg(x86_simd)]
            ("avx2", &AVX2),
        ];
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
