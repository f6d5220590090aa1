#!/usr/bin/env bash
# Opt-in: every spec of specs/tflite/ (TF-slim's grid) written as a TFLite model of seeded
# random weights by our writer, then run by Google's LiteRT (reference kernels) against our
# forward pass. It shows that the TFLite reader and the kernels agree with LiteRT at every width
# and resolution, not only for the one trained model the tests hold. Needs python3.11 and the
# package registry once (tests/reference/requirements-litert.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=tests/reference/.venv-litert
if ! "$venv/bin/python" -c 'import ai_edge_litert, safetensors, numpy' 2>/dev/null; then
    "${PYTHON:-python3.11}" -m venv "$venv"
    "$venv/bin/pip" install --quiet -r tests/reference/requirements-litert.txt
fi
out="${1:-target/tflite-grid}"
MOBILENET_TFLITE_GRID="$out" cargo test --release --test tflite -- --ignored write_tflite_grid_for_litert
"$venv/bin/python" tests/reference/check_tflite_grid.py "$out"
