//! Sets the cfg `x86_simd` where the x86-64 SIMD kernels (AVX2, AVX-512) are compiled: on
//! x86-64, unless the build passes `--cfg mobilenet_portable_only`. That flag compiles the
//! runtime as on every other architecture (aarch64 included), with the portable code only, so
//! that an x86 machine can check that configuration (`tests/portable_build.rs`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(x86_simd)");
    println!("cargo::rustc-check-cfg=cfg(mobilenet_portable_only)");
    println!("cargo::rerun-if-changed=build.rs");
    let x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "x86_64");
    let portable_only = std::env::var_os("CARGO_CFG_MOBILENET_PORTABLE_ONLY").is_some();
    if x86_64 && !portable_only {
        println!("cargo::rustc-cfg=x86_simd");
    }
}
