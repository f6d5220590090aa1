#!/usr/bin/env bash
# What `cargo test --workspace` needs beyond a Rust toolchain: the Cortex-M target and QEMU, for
# tests/mcu.rs, which builds the person-detection firmware (examples/mcu) and runs it under
# QEMU. Installs only what is missing; the README's test command and .ci/run both run this first.
set -euo pipefail

target=thumbv7em-none-eabihf
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$target" ]; then
    rustup target add "$target"
fi

if ! command -v qemu-system-arm >/dev/null 2>&1; then
    apt() {
        if [ "$(id -u)" -eq 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get "$@"
        else
            sudo DEBIAN_FRONTEND=noninteractive apt-get "$@"
        fi
    }
    # A fresh machine's package lists may be missing or stale: update them only if the
    # install fails without.
    if ! apt install -y qemu-system-arm; then
        apt update
        apt install -y qemu-system-arm
    fi
fi
