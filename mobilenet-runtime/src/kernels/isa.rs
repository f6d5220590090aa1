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
        *BEST.get_or_init(|| Isa::choose(std::env::var("MOBILENET_ISA").ok().as_deref(), &Isa::supported()))
    }

    /// The widest of `supported` (best first) allowed by the cap `wanted` (the value of
    /// `MOBILENET_ISA`; anything unknown caps nothing), or [`Isa::Portable`].
    fn choose(wanted: Option<&str>, supported: &[Isa]) -> Isa {
        let cap = match wanted {
            Some("portable") => Isa::Portable,
            Some("avx2") => Isa::Avx2,
            _ => Isa::Avx512,
        };
        supported
            .iter()
            .copied()
            .find(|isa| isa.rank() <= cap.rank())
            .unwrap_or(Isa::Portable)
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

    /// The cap of `MOBILENET_ISA` against fixed CPUs, so that a wrong choice fails whatever
    /// this machine has.
    #[test]
    fn choice_follows_the_cap_and_the_cpu() {
        use Isa::*;
        let all = [Avx512, Avx2, Portable];
        assert_eq!(Isa::choose(None, &all), Avx512);
        assert_eq!(Isa::choose(Some("avx512"), &all), Avx512);
        assert_eq!(Isa::choose(Some("avx2"), &all), Avx2);
        assert_eq!(Isa::choose(Some("portable"), &all), Portable);
        assert_eq!(Isa::choose(Some("neon"), &all), Avx512);
        // A cap above what the CPU has gives the best it has; never a path it lacks.
        assert_eq!(Isa::choose(None, &[Avx2, Portable]), Avx2);
        assert_eq!(Isa::choose(Some("avx512"), &[Avx2, Portable]), Avx2);
        assert_eq!(Isa::choose(Some("avx2"), &[Portable]), Portable);
        assert_eq!(Isa::choose(None, &[Portable]), Portable);
    }

    /// What this CPU reports, checked against the feature flags the standard library reads
    /// (on other architectures only the portable path exists).
    #[test]
    fn supported_paths_match_the_cpu() {
        let supported = Isa::supported();
        assert_eq!(supported.last(), Some(&Isa::Portable));
        assert!(supported.contains(&Isa::detect()));
        #[cfg(x86_simd)]
        {
            let has = |f: bool| f && std::arch::is_x86_feature_detected!("fma");
            assert_eq!(
                supported.contains(&Isa::Avx512),
                has(std::arch::is_x86_feature_detected!("avx512f"))
            );
            assert_eq!(
                supported.contains(&Isa::Avx2),
                has(std::arch::is_x86_feature_detected!("avx2"))
            );
        }
        #[cfg(not(x86_simd))]
        assert_eq!(supported, [Isa::Portable]);
    }
}
