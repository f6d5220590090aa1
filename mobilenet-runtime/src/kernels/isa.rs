//! Runtime choice of instruction set: one binary runs the AVX-512 kernels where the CPU has
//! AVX-512F, the AVX2+FMA kernels where it has those, and the portable code everywhere else
//! (aarch64 included), without `-C target-cpu=native`.
//!
//! The CPU is asked once, the first time a kernel or a parameter pack needs to know, and the
//! answer is cached in a [`OnceLock`]: detection costs a `cpuid` and an environment lookup,
//! far too much to repeat per call.

use std::sync::OnceLock;

/// An instruction-set path of the kernels.
///
/// Parameter packs (`PointwiseParams`, `DepthwiseParams`, ...) are laid out for one path when
/// they are built, so the path is chosen at load time and every call just follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// AVX-512F (with FMA): 16-lane `zmm` kernels.
    Avx512,
    /// AVX2 with FMA: 8-lane `ymm` kernels.
    Avx2,
    /// Plain Rust that the compiler vectorises for the baseline target (SSE2 on x86-64).
    Portable,
}

impl Isa {
    /// The best path this CPU supports, detected once.
    ///
    /// Setting the environment variable `MOBILENET_ISA` to `avx512`, `avx2` or `portable`
    /// before the first kernel runs caps the choice (for comparing paths end to end); a path
    /// the CPU lacks is never chosen.
    pub fn detect() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            let wanted = std::env::var("MOBILENET_ISA").ok();
            let cap = match wanted.as_deref() {
                Some("portable") => Isa::Portable,
                Some("avx2") => Isa::Avx2,
                _ => Isa::Avx512,
            };
            Isa::supported()
                .into_iter()
                .find(|isa| isa.rank() <= cap.rank())
                .unwrap_or(Isa::Portable)
        })
    }

    /// Every path this CPU can run, best first (always ends with [`Isa::Portable`]); tests run
    /// each of them against the reference.
    pub fn supported() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2, Isa::Portable]
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(x86_simd)]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma"),
            #[cfg(x86_simd)]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            #[cfg(not(x86_simd))]
            _ => false,
        }
    }

    /// Higher is wider.
    fn rank(self) -> u8 {
        match self {
            Isa::Portable => 0,
            Isa::Avx2 => 1,
            Isa::Avx512 => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_is_stable_and_supported() {
        let isa = Isa::detect();
        assert_eq!(isa, Isa::detect());
        assert!(isa.is_supported());
        assert_eq!(Isa::supported().last(), Some(&Isa::Portable));
        assert!(Isa::supported().contains(&isa));
    }
}
