#!/usr/bin/env python3
"""The Python side of mobilenet-bench: ONNX Runtime and LiteRT sessions and the sgemm
yardstick, driven over a pipe.

The Rust benchmark binary starts this script once per spec and interleaves it with the
in-process engines (ours and tract): it asks for a few timed runs of one session, runs the
other engines, then comes back. Timing happens here, around the call only, so the pipe and
Python never count.

Sessions (`--session NAME:KIND:THREADS:BATCH:PATH`), each with its input set once, at start:

- `ort`: ONNX Runtime on a graph from make_golden.py (float, or its int8 QDQ copy), configured
  as the comparison needs: `intra_op_num_threads` THREADS, `inter_op_num_threads` 1,
  sequential execution, every graph optimisation. Input: the `input` image [H, W, C] of the io
  file, transposed to NCHW and repeated to the graph's batch, which must be BATCH. A call is
  `session.run` of `output`.
- `litert`: ai-edge-litert's `Interpreter(model_path, num_threads=THREADS)` with its default
  op resolver (XNNPACK delegate first, builtin kernels for what it does not take). Input: the
  float image for a float model, the `input` of the int8 io file (`--io-int8`) for an int8
  one, repeated to BATCH (the input is resized when BATCH differs from the file's). A call is
  `invoke()`; the input stays set and the output is read only for `output`.
- `litert-ref`: the same with TFLite's reference kernels (`OpResolverType.BUILTIN_REF`) and
  every intermediate tensor kept, for checks: the output other engines' int8 results are
  compared with, and `logits`.

The matrix-multiply peak (`--sgemm`): numpy's float32 product of two 2048 x 2048 matrices
(OpenBLAS sgemm), 2 * 2048^3 FLOPs per call, large enough for OpenBLAS's steady-state speed.
Start the worker with OPENBLAS_NUM_THREADS=1 and without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
(the driver does) so it is one core's peak with the kernel OpenBLAS picks for this CPU. Timed
in the same rounds as the engines, it sees the same machine they do.

Protocol, one line each way, ASCII, space-separated:

    start: worker.py [--io IO.safetensors] [--io-int8 IO8.safetensors]
                     [--session NAME:KIND:THREADS:BATCH:PATH ...] [--sgemm NAME]
    ->     ready <onnxruntime version> <numpy version> <ai-edge-litert version>
    <-     run NAME N          N timed calls
    ->     ok WALL_NS CPU_NS T1 ... TN
                               WALL_NS and CPU_NS span the whole loop (CPU time of this
                               process, all threads); Ti are the calls, in nanoseconds
    <-     output NAME         one untimed call
    ->     ok V1 ... VK        its result, flattened (batch x classes; int8 outputs as integers)
    <-     logits NAME         one untimed call; the classifier's output before softmax, real
                               valued (ort: the graph's `logits`; litert-ref: the tensor named
                               `logits`, dequantized)
    ->     ok V1 ... VK
    <-     quit                (or end of input)
    Any failure answers `err <message>` and the worker carries on.
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib.metadata import version
from typing import Callable

import numpy as np
import onnxruntime as ort
from ai_edge_litert import interpreter as litert
from safetensors.numpy import load_file

SGEMM_SIZE = 2048


class Session:
    """One configuration of one engine: `call` is what is timed."""

    def __init__(self, call: Callable[[], object], output: Callable[[], np.ndarray],
                 logits: Callable[[], np.ndarray] | None = None):
        self.call, self.output, self.logits = call, output, logits


def ort_session(threads: int, batch: int, path: str, image_hwc: np.ndarray) -> Session:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: warnings would interleave with the driver's output
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    graph_batch = session.get_inputs()[0].shape[0]  # [N, C, H, W], fixed by the graph
    if graph_batch != batch:
        raise ValueError(f"{path}: the graph's batch is {graph_batch!r}, expected {batch}")
    nchw = image_hwc.transpose(2, 0, 1)[None]
    feed = {"input": np.ascontiguousarray(np.repeat(nchw, batch, axis=0), dtype=np.float32)}
    names = {o.name for o in session.get_outputs()}

    def logits() -> np.ndarray:
        return session.run(["logits" if "logits" in names else "output"], feed)[0]

    return Session(lambda: session.run(["output"], feed), lambda: session.run(["output"], feed)[0],
                   logits)


def litert_session(threads: int, batch: int, path: str, images: dict[str, np.ndarray],
                   reference: bool) -> Session:
    resolver = litert.OpResolverType.BUILTIN_REF if reference else litert.OpResolverType.AUTO
    interp = litert.Interpreter(model_path=path, num_threads=threads,
                                experimental_op_resolver_type=resolver,
                                experimental_preserve_all_tensors=reference)
    (inp,) = interp.get_input_details()
    (out,) = interp.get_output_details()
    dtype = np.dtype(inp["dtype"])
    if dtype.name not in images:
        raise ValueError(f"{path}: no {dtype.name} input image was given")
    image = images[dtype.name]
    if int(inp["shape"][0]) != batch:
        interp.resize_tensor_input(inp["index"], [batch, *image.shape])
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], np.ascontiguousarray(np.repeat(image[None], batch, axis=0)))

    def output() -> np.ndarray:
        interp.invoke()
        return interp.get_tensor(out["index"])

    def logits() -> np.ndarray:
        interp.invoke()
        (t,) = [t for t in interp.get_tensor_details() if t["name"] == "logits"]
        values = interp.get_tensor(t["index"]).astype(np.float64)
        scale, zero_point = t["quantization"]
        return ((values - zero_point) * scale if scale else values).astype(np.float32)

    return Session(interp.invoke, output, logits if reference else None)


def sgemm_session() -> Session:
    """The sgemm yardstick: one 2048^3 float32 product into a reused buffer."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((SGEMM_SIZE, SGEMM_SIZE), dtype=np.float32)
    b = rng.standard_normal((SGEMM_SIZE, SGEMM_SIZE), dtype=np.float32)
    out = np.empty((SGEMM_SIZE, SGEMM_SIZE), dtype=np.float32)
    call = lambda: np.matmul(a, b, out=out)  # noqa: E731
    return Session(call, call)


def values(array: np.ndarray) -> str:
    """The flattened values, exactly: integers as integers, floats by repr (a float32 widened
    to float64 round-trips)."""
    flat = array.ravel()
    if np.issubdtype(flat.dtype, np.integer):
        return " ".join(str(int(v)) for v in flat)
    return " ".join(repr(float(v)) for v in flat.astype(np.float32))


def serve(sessions: dict[str, Session]) -> None:
    """Answers the driver's commands until `quit` or end of input."""
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "quit":
                return
            if words[0] == "run" and len(words) == 3:
                call, n = sessions[words[1]].call, int(words[2])
                times = []
                cpu0, wall0 = time.process_time_ns(), time.perf_counter_ns()
                for _ in range(n):
                    t0 = time.perf_counter_ns()
                    call()
                    times.append(time.perf_counter_ns() - t0)
                wall, cpu = time.perf_counter_ns() - wall0, time.process_time_ns() - cpu0
                reply = f"ok {wall} {cpu} " + " ".join(map(str, times))
            elif words[0] == "output" and len(words) == 2:
                reply = "ok " + values(sessions[words[1]].output())
            elif words[0] == "logits" and len(words) == 2:
                logits = sessions[words[1]].logits
                if logits is None:
                    raise ValueError(f"session {words[1]} has no logits")
                reply = "ok " + values(logits())
            else:
                reply = f"err unknown command {line.strip()!r}"
        except Exception as e:  # noqa: BLE001 - any failure goes back to the driver, named
            reply = f"err {type(e).__name__}: {e}".replace("\n", " ")
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--io", help="make_golden.py's {stem}.io.safetensors: the float `input`")
    parser.add_argument("--io-int8", help="a safetensors file whose `input` is the int8 image")
    parser.add_argument("--session", action="append", default=[],
                        help="NAME:KIND:THREADS:BATCH:PATH, KIND ort, litert or litert-ref; "
                             "repeatable")
    parser.add_argument("--sgemm", metavar="NAME", help="also serve the sgemm yardstick as NAME")
    args = parser.parse_args()
    images: dict[str, np.ndarray] = {}
    if args.io:
        images["float32"] = load_file(args.io)["input"].astype(np.float32)
    if args.io_int8:
        images["int8"] = load_file(args.io_int8)["input"].astype(np.int8)
    sessions: dict[str, Session] = {}
    for spec in args.session:
        name, kind, threads, batch, path = spec.split(":", 4)
        if kind == "ort":
            if "float32" not in images:
                parser.error("an ort session needs --io")
            sessions[name] = ort_session(int(threads), int(batch), path, images["float32"])
        elif kind in ("litert", "litert-ref"):
            sessions[name] = litert_session(int(threads), int(batch), path, images,
                                            reference=kind == "litert-ref")
        else:
            parser.error(f"unknown session kind {kind!r}")
    if args.sgemm:
        sessions[args.sgemm] = sgemm_session()
    sys.stdout.write(f"ready {ort.__version__} {np.__version__} {version('ai-edge-litert')}\n")
    sys.stdout.flush()
    serve(sessions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
