#!/usr/bin/env bash
# Opt-in check of the portable path on another architecture: the whole test suite, cross-compiled
# for aarch64 (64-bit ARM) and run under QEMU's user-mode emulation. Not part of CI: it needs a
# cross linker and QEMU from the system's packages, and the emulated tests take about 15 minutes.
#
#   tools/test_aarch64.sh                 # every test
#   tools/test_aarch64.sh --test forward  # extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add aarch64-unknown-linux-gnu
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        apt-get install -y -q "${missing[@]}"
    else
        echo "test_aarch64.sh needs a cross linker and QEMU; on Debian or Ubuntu:" >&2
        echo "    sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
# Release: the emulated debug build of the forward-pass tests would take hours.
exec cargo test --workspace --release --target aarch64-unknown-linux-gnu "$@"
