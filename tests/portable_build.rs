//! The runtime as every architecture other than x86-64 compiles it: the portable kernels only,
//! with the x86 SIMD modules configured out (`--cfg mobilenet_portable_only`, see
//! `mobilenet-runtime/build.rs`). The x86 code is switched on and off item by item, so an
//! import or a call that only the x86 build provides breaks the aarch64 build while everything
//! here still passes; this test compiles that configuration on the machine at hand. Running the
//! tests in it on aarch64 itself is the opt-in `tools/test_aarch64.sh`.
//!
//! Also the runtime without `std`, for a Cortex-M (`thumbv7em-none-eabihf`, which
//! `tools/install_test_deps.sh` installs) and for this machine: no allocator, no std items.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A target directory of its own for `name`: with other flags, the main one's artefacts would
/// be rebuilt both ways, over and over.
fn target_dir(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join(name)
}

#[test]
fn runtime_builds_without_std_for_a_cortex_m_and_for_this_machine() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for target in [Some("thumbv7em-none-eabihf"), None] {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(root)
            .args([
                "build",
                "--quiet",
                "--package",
                "mobilenet-runtime",
                "--lib",
                "--no-default-features",
            ])
            .env("CARGO_ENCODED_RUSTFLAGS", "-Dwarnings")
            .env("CARGO_TARGET_DIR", target_dir("no-std"));
        if let Some(t) = target {
            cmd.args(["--target", t]);
        }
        let out = cmd.output().expect("cargo runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the runtime does not build without std for {}:\n{stderr}{}",
            target.unwrap_or("this machine"),
            if stderr.contains("may not be installed") {
                "\n(install the target: tools/install_test_deps.sh, or rustup target add thumbv7em-none-eabihf)"
            } else {
                ""
            }
        );
    }
}

#[test]
fn runtime_compiles_without_the_x86_kernels() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = target_dir("portable-only");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["check", "--quiet", "--package", "mobilenet-runtime", "--all-targets"])
        // The encoded form wins over RUSTFLAGS and any configured flags, so nothing else leaks
        // in; warnings count, as the aarch64 build would show them.
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            ["--cfg", "mobilenet_portable_only", "-D", "warnings"].join("\x1f"),
        )
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "the runtime does not compile without its x86 kernels, as on aarch64:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
