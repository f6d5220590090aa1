#!/usr/bin/env bash
# Side-by-side benchmark: our compiled MobileNet against LiteRT, ONNX Runtime and tract, same
# network, weights and input, in one run; float32 and int8.
#
#   bench/run.sh [--spec 1.0-224|0.5-160|0.25-128|all] [--quick] [other mobilenet-bench options]
#
# Makes sure the Python environment exists (tests/reference/.venv, with the pinned
# bench/py/requirements.txt: the reference tests' pins plus ai-edge-litert; created with
# python3.11 or $PYTHON), then builds and runs the benchmark binary, which exports each spec's
# graph through tests/reference/make_golden.py, writes its TFLite models, measures the engines
# and writes bench/results/<spec>.md. `--help` lists the options.
#
# Honours CARGO_TARGET_DIR and RUSTFLAGS (e.g. RUSTFLAGS="-C target-cpu=native" to measure our
# kernels built for this CPU; the results header records the target features).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
reference="$here/../tests/reference"
venv="$reference/.venv"

# The venv is the one the reference tests document, with LiteRT added (bench/py/requirements.txt
# is tests/reference/requirements.txt plus ai-edge-litert); reuse it, and install the pins only
# when something is missing, so a normal run never touches the network.
if ! "$venv/bin/python" -c 'import numpy, onnx, onnxruntime, yaml, safetensors, ai_edge_litert' 2>/dev/null; then
    echo "setting up $venv from bench/py/requirements.txt..." >&2
    [ -x "$venv/bin/python" ] || "${PYTHON:-python3.11}" -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$here/py/requirements.txt"
fi

# Not --quiet: the first build compiles tract for several minutes, and should say so.
exec cargo run --release --manifest-path "$here/Cargo.toml" -- --python "$venv/bin/python" "$@"
