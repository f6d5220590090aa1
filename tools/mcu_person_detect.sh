#!/usr/bin/env bash
# Person detection on a Cortex-M4F emulated by QEMU, with no heap and no std in 64 KB of RAM:
#   tools/mcu_person_detect.sh <96x96 picture>
#   tools/mcu_person_detect.sh --raw assets/tflite-micro/person.bmp
# prints `person: <score>  no person: <score>` (raw int8) and the firmware's flash and RAM
# (docs/mcu.md). Needs the thumbv7em-none-eabihf target and qemu-system-arm
# (tools/install_test_deps.sh installs them).
set -euo pipefail
# The image's path is the caller's, so the working directory stays theirs.
root="$(cd "$(dirname "$0")/.." && pwd)"
exec cargo run --manifest-path "$root/Cargo.toml" --release --quiet --example mcu_person_detect -- "$@"
