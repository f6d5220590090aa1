//! Sets the cfg `x86_simd` where the x86-64 SIMD kernels (AVX2, AVX-512) are compiled: on
//! x86-64, unless the build passes `--cfg mobilenet_portable_only`. That flag compiles the
//! runtime as on every other architecture (aarch64 included), with the portable code only, so
//! that an x86 machine can check that configuration (`tests/portable_build.rs`).
//!
//! Sets `arm_dsp` where ARM's DSP instructions are there for the int8 direct kernels.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(x86_simd)");
    println!("cargo::rustc-check-cfg=cfg(mobilenet_portable_only)");
    println!("cargo::rustc-check-cfg=cfg(arm_dsp)");
    println!("cargo::rerun-if-changed=build.rs");
    let x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "x86_64");
    let portable_only = std::env::var_os("CARGO_CFG_MOBILENET_PORTABLE_ONLY").is_some();
    if x86_64 && !portable_only {
        println!("cargo::rustc-cfg=x86_simd");
    }
    // ARM's DSP extension (SXTB16, SSUB16, SMLAD): every ARMv7E-M core (Cortex-M4, M7) and
    // every ARMv7-A one. Rust's cfg does not name it (`target_feature = "dsp"` is not set on
    // thumbv7em), so it is read off the target's name; Cortex-M0/M3 (thumbv6m, thumbv7m) and
    // ARMv8-M, where it is optional, keep the portable loop.
    let target = std::env::var("TARGET").unwrap_or_default();
    let dsp = ["thumbv7em", "armv7", "thumbv7neon"]
        .iter()
        .any(|p| target.starts_with(p));
    if dsp && !portable_only {
        println!("cargo::rustc-cfg=arm_dsp");
    }
}
