#!/usr/bin/env bash
# Opt-in check of the int8 direct kernels' ARM DSP path (SMLAD, `kernels/i8/direct/dsp.rs`):
# the runtime's unit tests cross-compiled for 32-bit ARMv7 (which has the same DSP instructions
# as a Cortex-M4) and run under QEMU's user-mode emulation. CI checks the same path on whole
# networks in the Cortex-M firmware (tests/mcu.rs); this runs the kernels' randomized tests,
# every zero point and shift included. Needs a cross linker and QEMU from the system's packages.
#
#   tools/test_armv7.sh             # the runtime's unit tests
#   tools/test_armv7.sh direct      # extra arguments go to the test binary's filter
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add armv7-unknown-linux-gnueabihf
missing=()
command -v arm-linux-gnueabihf-gcc >/dev/null || missing+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
command -v qemu-arm >/dev/null || missing+=(qemu-user)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        apt-get install -y -q "${missing[@]}"
    else
        echo "test_armv7.sh needs a cross linker and QEMU; on Debian or Ubuntu:" >&2
        echo "    sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER="qemu-arm -L /usr/arm-linux-gnueabihf"
exec cargo test -p mobilenet-runtime --lib --release --target armv7-unknown-linux-gnueabihf -- "$@"
