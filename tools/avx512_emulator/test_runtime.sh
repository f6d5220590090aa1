#!/usr/bin/env bash
# Builds the runtime's unit tests as one static (musl) binary and runs them with run.sh on an
# emulated CPU with AVX-512 + AVX512_VNNI + AVX-VNNI, one test at a time.
#
#   tools/avx512_emulator/test_runtime.sh                    # the int8 kernel tests (kernels::i8)
#   tools/avx512_emulator/test_runtime.sh kernels::i8::gemm  # a narrower filter
#   tools/avx512_emulator/test_runtime.sh kernels::i8 --nocapture
#
# Everything after the filter goes to the test binary; run.sh options can be given in
# AVX512_EMU_ARGS (e.g. AVX512_EMU_ARGS="--timeout 7200 --cpu tigerlake"). The build uses
# cargo's usual target directory (CARGO_TARGET_DIR is honoured).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

filter=${1:-kernels::i8}
(($#)) && shift

target=x86_64-unknown-linux-musl
rustup target list --installed 2>/dev/null | grep -qx $target || rustup target add $target

# --release: the emulator runs roughly 30-60 million instructions per second.
exe=$(cargo test -p mobilenet-runtime --release --lib --no-run --target $target \
        --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
if [[ -z $exe ]]; then
    # Show the build errors.
    cargo test -p mobilenet-runtime --release --lib --no-run --target $target
    exit 1
fi

# shellcheck disable=SC2086
exec "$here/run.sh" ${AVX512_EMU_ARGS:-} "$exe" "$filter" --test-threads=1 "$@"
