//! The f32 kernels of each instruction set, as data: one [`Kernels`] table per path, built
//! from what each kernel file declares, and the one place that maps an [`Isa`] to its table.
//! Parameter packs look their table up once, when they are built (`new_for`), and keep the
//! parts they need; a layer call reads them and never asks which path it is on.
//!
//! Adding an instruction set: give each operator a kernel file that declares its part
//! (`gemm/<isa>.rs` a `GemmConfig`, ...), add a table here, and one arm to [`for_isa`]. The
//! tests of every operator run every table this CPU supports against the references of
//! `kernels/testkit.rs`.

use super::conv::pairs::PairsKernel;
use super::depthwise::ukernel::Pick3x3;
use super::gemm::ukernel::GemmConfig;
use super::softmax::body::{self as softmax, SoftmaxFn};
use crate::kernels::isa::Isa;
use std::sync::OnceLock;

/// Every f32 operator's kernels on one instruction set.
pub(crate) struct Kernels {
    /// The matrix product's micro-kernels and panel layout (pointwise, standard convolution,
    /// fc).
    pub gemm: &'static GemmConfig,
    /// The paired-step kernel of narrow standard convolutions, if the path has one.
    pub conv_pairs: Option<&'static PairsKernel>,
    /// The choice of depthwise 3x3 kernel, if the path has any; others run the portable one.
    pub depthwise_3x3: Option<Pick3x3>,
    /// Softmax compiled for the path.
    pub softmax: SoftmaxFn,
}

/// The portable kernels, which every architecture compiles.
static SCALAR: Kernels = Kernels {
    gemm: &super::gemm::scalar::CONFIG,
    conv_pairs: None,
    depthwise_3x3: None,
    softmax: softmax::scalar,
};

/// AVX2 with FMA.
#[cfg(x86_simd)]
static AVX2: Kernels = Kernels {
    gemm: &super::gemm::avx2::CONFIG,
    conv_pairs: Some(&super::conv::pairs_avx2::KERNEL),
    depthwise_3x3: Some(super::depthwise::avx2::pick),
    softmax: softmax::avx2,
};

/// AVX-512F with FMA.
#[cfg(x86_simd)]
static AVX512: Kernels = Kernels {
    gemm: &super::gemm::avx512::CONFIG,
    conv_pairs: Some(&super::conv::pairs_avx512::KERNEL),
    depthwise_3x3: Some(super::depthwise::avx512::pick),
    softmax: softmax::avx512,
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
        #[cfg(x86_simd)]
        Isa::Avx512 => &AVX512,
        #[cfg(not(x86_simd))]
        _ => unreachable!("{isa:?} is supported only where x86_simd is set"),
    }
}

/// The kernels of the path [`Isa::detect`] chose, looked up once.
pub(crate) fn detected() -> &'static Kernels {
    static DETECTED: OnceLock<&'static Kernels> = OnceLock::new();
    DETECTED.get_or_init(|| for_isa(Isa::detect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table this build has, on any CPU: what the drivers and the packing assume of a
    /// config, so that a new instruction set's table is checked before any of its kernels run.
    #[test]
    fn every_table_is_consistent() {
        let tables: &[(&str, &Kernels)] = &[
            ("scalar", &SCALAR),
            #[cfg(x86_simd)]
            ("avx2", &AVX2),
            #[cfg(x86_simd)]
            ("avx512", &AVX512),
        ];
        for &(name, k) in tables {
            let g = k.gemm;
            assert!(
                g.lanes >= 1 && g.nr.is_multiple_of(g.lanes),
                "{name}: panels of whole vectors"
            );
            if let Some(wide) = &g.wide {
                assert!(wide.nr.is_multiple_of(g.nr) && wide.kc >= 1, "{name}: wide panels");
            }
            if let Some(gemv) = &g.gemv {
                let widths = [Some(g.nr), g.wide.as_ref().map(|w| w.nr)];
                assert!(widths.contains(&Some(gemv.width)), "{name}: one-row kernel never used");
                assert!(gemv.panels >= 1, "{name}: one-row kernel of no panels");
            }
            if let Some(pairs) = k.conv_pairs {
                let mut slots = pairs.slots;
                slots.sort_unstable();
                assert_eq!(slots, [0, 1, 2, 3, 4, 5, 6, 7], "{name}: slots not a permutation");
            }
        }
    }

    /// The table of every path this CPU runs is the one `for_isa` gives, and the detected
    /// path's is among them.
    #[test]
    fn supported_paths_have_tables() {
        let tables: Vec<*const Kernels> = Isa::supported()
            .into_iter()
            .map(|isa| for_isa(isa) as *const _)
            .collect();
        assert!(tables.contains(&(detected() as *const _)));
        assert!(tables.contains(&(&SCALAR as *const _)));
    }
}
