#!/usr/bin/env bash
# The runtime's tests under Miri, which checks every `unsafe` block as it runs (out-of-bounds
# or misaligned access, use after free, aliasing, data races between the thread team's
# threads): the portable kernels, the weight readers, the arena and buffer code and the
# thread team. Opt-in, not in CI: the whole run took 15 minutes on two cores (docs/testing.md).
#
# The x86 SIMD kernels are configured out (`--cfg mobilenet_portable_only`): Miri runs few
# SIMD intrinsics. Under `cfg(miri)` the tests run smaller shapes and fewer rounds, and the
# team-split thresholds are lower so that those shapes still split (`MIN_SPLIT_MADDS` in
# mobilenet-runtime/src/kernels/f32/gemm/driver.rs). The few tests left out under Miri say
# why in their `#[cfg_attr(miri, ignore = "...")]`.
#
# Usage: tools/miri.sh [extra `cargo miri test` arguments, e.g. a test name filter]
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component add miri rust-src --toolchain nightly >/dev/null
cargo +nightly miri setup >/dev/null
# RUSTFLAGS reach the build script, which then leaves the `x86_simd` cfg unset.
export RUSTFLAGS="${RUSTFLAGS:-} --cfg mobilenet_portable_only"
# Many seeds of the scheduler would find more interleavings; one keeps the run short. The
# weight readers' tests write and read temporary files, hence no isolation.
export MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-strict-provenance -Zmiri-disable-isolation"
exec cargo +nightly miri test -p mobilenet-runtime --lib "$@"
