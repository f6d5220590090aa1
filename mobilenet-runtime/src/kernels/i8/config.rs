//! The int8 kernels of each instruction set, as data: one [`Kernels`] table per path and the
//! one place that maps an [`Isa`] to its table (the f32 layer's `f32/config.rs`, for int8).
//! Parameter packs look their table up once, when they are built (`from_quant_for`), and keep
//! what they need; a layer call never asks which path it is on.
//!
//! Paths: the portable kernels everywhere, AVX2 on x86-64, and on CPUs with VNNI a `vpdpbusd`
//! matrix product for the layers whose weights fit in bytes (the rest, and the depthwise
//! layers, on the AVX2 kernels): 512-bit on AVX-512 VNNI, 256-bit on AVX-VNNI. An AVX-512 CPU
//! without either runs the AVX2 table.

use super::depthwise::ukernel::Kernels3x3;
use super::gemm::ukernel::GemmConfig;
use crate::kernels::isa::Isa;

/// Every int8 operator's kernels on one instruction set.
pub(crate) struct Kernels {
    /// The matrix product's micro-kernel and panel layout (pointwise, fc, standard
    /// convolution).
    pub gemm: &'static GemmConfig,
    /// A faster matrix product for layers whose weights minus their zero point all fit in
    /// `i8`, if the path has one; the others take [`Kernels::gemm`].
    pub gemm_bytes: Option<&'static GemmConfig>,
    /// The depthwise 3x3 kernels, if the path has any; other layers run the portable one.
    pub depthwise_3x3: Option<&'static Kernels3x3>,
}

/// The portable kernels, which every architecture compiles.
static SCALAR: Kernels = Kernels {
    gemm: &super::gemm::scalar::CONFIG,
    gemm_bytes: None,
    depthwise_3x3: None,
};

/// AVX2: the 6 x 16 `vpmaddwd` product (which standard convolutions run on too), the
/// depthwise 3x3 kernel of two taps per `vpmaddwd`.
#[cfg(x86_simd)]
static AVX2: Kernels = Kernels {
    gemm: &super::gemm::avx2::CONFIG,
    gemm_bytes: None,
    depthwise_3x3: Some(&super::depthwise::avx2::KERNELS),
};

/// AVX-512 with VNNI: the 8 x 32 `vpdpbusd` product for byte weights, AVX2 for the rest.
#[cfg(x86_simd)]
static AVX512_VNNI: Kernels = Kernels {
    gemm: &super::gemm::avx2::CONFIG,
    gemm_bytes: Some(&super::gemm::avx512_vnni::CONFIG),
    depthwise_3x3: Some(&super::depthwise::avx2::KERNELS),
};

/// AVX2 with AVX-VNNI: the 6 x 16 `vpdpbusd` product for byte weights, AVX2 for the rest.
#[cfg(x86_simd)]
static AVX_VNNI: Kernels = Kernels {
    gemm: &super::gemm::avx2::CONFIG,
    gemm_bytes: Some(&super::gemm::avx_vnni::VEX),
    depthwise_3x3: Some(&super::depthwise::avx2::KERNELS),
};

/// Which `vpdpbusd` this CPU runs, `(AVX-512 VNNI, AVX-VNNI)`, asked once.
#[cfg(x86_simd)]
fn vnni() -> (bool, bool) {
    static VNNI: std::sync::OnceLock<(bool, bool)> = std::sync::OnceLock::new();
    *VNNI.get_or_init(|| {
        (
            std::arch::is_x86_feature_detected!("avx512vnni"),
            std::arch::is_x86_feature_detected!("avxvnni"),
        )
    })
}

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
        Isa::Avx512 if vnni().0 => &AVX512_VNNI,
        #[cfg(x86_simd)]
        Isa::Avx512 | Isa::Avx2 if vnni().1 => &AVX_VNNI,
        // Every AVX-512 CPU has AVX2; AVX-512F alone brings int8 nothing over it.
        #[cfg(x86_simd)]
        Isa::Avx512 | Isa::Avx2 => &AVX2,
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
        use crate::kernels::i8::gemm::ukernel::{Layout, Rows};
        let tables: &[(&str, &Kernels)] = &[
            ("scalar", &SCALAR),
            #[cfg(x86_simd)]
            ("avx2", &AVX2),
            #[cfg(x86_simd)]
            ("avx512-vnni", &AVX512_VNNI),
            #[cfg(x86_simd)]
            ("avx-vnni", &AVX_VNNI),
        ];
        for &(name, k) in tables {
            for g in [Some(k.gemm), k.gemm_bytes].into_iter().flatten() {
                assert!(
                    g.lanes >= 1 && g.nr.is_multiple_of(g.lanes),
                    "{name}: panels of whole vectors"
                );
                assert!(g.kr >= 1, "{name}: reduction padding");
                let quads = g.layout == Layout::Quads;
                assert_eq!(quads, g.rows == Rows::Flipped, "{name}: byte panels read flipped rows");
                assert!(
                    !quads || (g.kr % 4 == 0 && g.lanes % 16 == 0),
                    "{name}: whole quads and groups"
                );
            }
            assert!(
                k.gemm.layout != Layout::Quads,
                "{name}: the general product takes any weights"
            );
        }
        for isa in Isa::supported() {
            for_isa(isa);
        }
    }

    /// The byte product takes exactly the layers whose weights fit in bytes, and only on a
    /// CPU that runs it: so that the kernel tests, which run every supported path, run it
    /// wherever it can run.
    #[test]
    fn byte_weights_choose_the_byte_product() {
        use crate::kernels::i8::gemm::Panels;
        use crate::kernels::i8::requant::ChannelRequant;
        let (k, n) = (9, 5);
        let rq = ChannelRequant::new(&[1 << 30; 5], &[-3; 5], 0, (-128, 127), n);
        let kernel = |isa, weight_zero_point| {
            let p = Panels::new(
                isa,
                (k, n),
                &|co, ki| (co * 50 + ki) as i8,
                (weight_zero_point, 3),
                &[0; 5],
                &rq,
            );
            p.kernel()
        };
        for isa in Isa::supported() {
            let t = for_isa(isa);
            // Weights up to 209 as i8 (-47): minus -100, up to 147, past i8.
            assert_eq!(kernel(isa, -100), t.gemm.name, "{isa:?}");
            let fitting = t.gemm_bytes.unwrap_or(t.gemm).name;
            assert_eq!(kernel(isa, 0), fitting, "{isa:?}");
            #[cfg(x86_simd)]
            {
                let (wide, vex) = vnni();
                let want = match isa {
                    Isa::Avx512 if wide => "avx512-vnni",
                    Isa::Avx512 | Isa::Avx2 if vex => "avx-vnni",
                    Isa::Avx512 | Isa::Avx2 => "avx2",
                    Isa::Portable => "scalar",
                };
                assert_eq!(fitting, want, "{isa:?}");
            }
        }
    }
}
