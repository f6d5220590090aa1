#!/usr/bin/env python3
"""Rewrites a batch-1 graph from tests/reference/make_golden.py into a fixed batch of N.

make_golden.py builds every graph for one image: input [1, C, H, W], outputs [1, classes].
Nothing inside the graph depends on that 1 (Conv, BatchNormalization, pooling and Softmax are
per image, Flatten keeps axis 0, Gemm takes any number of rows), so setting the batch dimension
of the declared inputs and outputs is the whole change. The batch stays a fixed number rather
than a symbolic one so that ONNX Runtime and tract plan for concrete shapes, as they do at
batch 1. (The cleaner home for this is a `--batch` option of make_golden.py.)

Usage: batch_graph.py IN.onnx OUT.onnx --batch 8
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import onnx


def with_batch(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """A copy of `model` whose graph inputs and outputs have `batch` as their first dimension."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for value in [*out.graph.input, *out.graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        if dim.dim_value != 1:
            raise ValueError(f"{value.name}: expected a batch dimension of 1, found {dim}")
        dim.dim_value = batch
    # Full check: shape inference must agree with the new declared shapes.
    onnx.checker.check_model(out, full_check=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a batch-1 graph written by make_golden.py --onnx")
    parser.add_argument("dest", type=Path, help="where to write the batch-N graph")
    parser.add_argument("--batch", type=int, required=True, help="the batch size N (>= 1)")
    args = parser.parse_args()
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    model = with_batch(onnx.load(str(args.source)), args.batch)
    onnx.save_model(model, str(args.dest))
    print(f"wrote {args.dest} (batch {args.batch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
