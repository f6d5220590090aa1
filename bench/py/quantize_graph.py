#!/usr/bin/env python3
"""An int8 copy of a batch-1 graph from tests/reference/make_golden.py, for ONNX Runtime's int8
rows: static quantization in QDQ format with ONNX Runtime's own tools.

1. `quant_pre_process` (ONNX Runtime's recommended first step): its graph optimisations fold
   each batch norm into the convolution before it, as the TFLite file has it (no symbolic
   shape inference: every shape is fixed already).
2. `quantize_static`, QDQ format, calibrated (MinMax) on the bench input, the same image the
   int8 TFLite model is calibrated on: int8 activations, int8 weights with one scale per
   output channel (ONNX Runtime's default S8S8, the same scheme as TFLite's int8 models).

The graph's inputs and outputs stay float: ONNX Runtime fuses the QuantizeLinear /
DequantizeLinear pairs into its int8 kernels when it loads the graph.

Usage: quantize_graph.py IN.onnx IO.safetensors OUT.onnx
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from safetensors.numpy import load_file


class OneImage(CalibrationDataReader):
    """The calibration set: the io file's `input` [H, W, C] as one NCHW batch."""

    def __init__(self, image_hwc: np.ndarray):
        self.feeds = [{"input": np.ascontiguousarray(image_hwc.transpose(2, 0, 1)[None], dtype=np.float32)}]

    def get_next(self):
        return self.feeds.pop() if self.feeds else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a batch-1 graph written by make_golden.py --onnx")
    parser.add_argument("io", type=Path, help="make_golden.py's io file (its `input` calibrates)")
    parser.add_argument("dest", type=Path, help="where to write the int8 (QDQ) graph")
    args = parser.parse_args()
    image = load_file(str(args.io))["input"]
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(args.source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(args.dest), OneImage(image),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    print(f"wrote {args.dest} (int8, QDQ)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
