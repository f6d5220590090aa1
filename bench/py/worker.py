#!/usr/bin/env python3
"""The Python side of mobilenet-bench: ONNX Runtime sessions and the sgemm yardstick, driven
over a pipe.

The Rust benchmark binary starts this script once per spec and interleaves it with the
in-process engines (ours and tract): it asks for a few timed runs of one session, runs the
other engines, then comes back. Timing happens here, around the call only, so the pipe and
Python never count.

Two kinds of session:

- ONNX Runtime (`--session`), configured as the comparison needs: `intra_op_num_threads` 1 or
  2, `inter_op_num_threads` 1, sequential execution, every graph optimisation. Its input is set
  once, at start: the `input` image [H, W, C] of make_golden.py's io file, transposed to NCHW
  and repeated to the graph's batch size.
- The matrix-multiply peak (`--sgemm`): numpy's float32 product of two 2048 x 2048 matrices
  (OpenBLAS sgemm), 2 * 2048^3 FLOPs per call, large enough for OpenBLAS's steady-state speed.
  Start the worker with OPENBLAS_NUM_THREADS=1 and without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
  (the driver does) so it is one core's peak with the kernel OpenBLAS picks for this CPU. Timed
  in the same rounds as the engines, it sees the same machine they do.

Protocol, one line each way, ASCII, space-separated:

    start: worker.py [--io IO.safetensors --session NAME:THREADS:GRAPH.onnx ...] [--sgemm NAME]
    ->     ready <onnxruntime version> <numpy version>
    <-     run NAME N          N timed calls
    ->     ok WALL_NS CPU_NS T1 ... TN
                               WALL_NS and CPU_NS span the whole loop (CPU time of this
                               process, all threads); Ti are the calls, in nanoseconds
    <-     output NAME         one untimed call
    ->     ok V1 ... VK        its result, flattened (an ORT session's `output`: batch x classes)
    <-     quit                (or end of input)
    Any failure answers `err <message>` and the worker carries on.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

import numpy as np
import onnxruntime as ort
from safetensors.numpy import load_file

SGEMM_SIZE = 2048


def ort_session(spec: str, image_hwc: np.ndarray) -> tuple[str, Callable[[], np.ndarray]]:
    """The call of the ONNX Runtime session described by `NAME:THREADS:PATH`."""
    name, threads, path = spec.split(":", 2)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: warnings would interleave with the driver's output
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    batch = session.get_inputs()[0].shape[0]  # [N, C, H, W], fixed by the graph
    if not isinstance(batch, int):
        raise ValueError(f"{path}: the batch dimension must be fixed, found {batch!r}")
    nchw = image_hwc.transpose(2, 0, 1)[None]
    feed = {"input": np.ascontiguousarray(np.repeat(nchw, batch, axis=0), dtype=np.float32)}
    return name, lambda: session.run(["output"], feed)[0]


def sgemm_session() -> Callable[[], np.ndarray]:
    """The call of the sgemm yardstick: one 2048^3 float32 product into a reused buffer."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((SGEMM_SIZE, SGEMM_SIZE), dtype=np.float32)
    b = rng.standard_normal((SGEMM_SIZE, SGEMM_SIZE), dtype=np.float32)
    out = np.empty((SGEMM_SIZE, SGEMM_SIZE), dtype=np.float32)
    return lambda: np.matmul(a, b, out=out)


def serve(sessions: dict[str, Callable[[], np.ndarray]]) -> None:
    """Answers the driver's commands until `quit` or end of input."""
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "quit":
                return
            if words[0] == "run" and len(words) == 3:
                call, n = sessions[words[1]], int(words[2])
                times = []
                cpu0, wall0 = time.process_time_ns(), time.perf_counter_ns()
                for _ in range(n):
                    t0 = time.perf_counter_ns()
                    call()
                    times.append(time.perf_counter_ns() - t0)
                wall, cpu = time.perf_counter_ns() - wall0, time.process_time_ns() - cpu0
                reply = f"ok {wall} {cpu} " + " ".join(map(str, times))
            elif words[0] == "output" and len(words) == 2:
                out = sessions[words[1]]().astype(np.float32).ravel()
                # repr of a float32 widened to float64 round-trips exactly.
                reply = "ok " + " ".join(repr(float(v)) for v in out)
            else:
                reply = f"err unknown command {line.strip()!r}"
        except Exception as e:  # noqa: BLE001 - any failure goes back to the driver, named
            reply = f"err {type(e).__name__}: {e}".replace("\n", " ")
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--io", help="make_golden.py's {stem}.io.safetensors (for --session)")
    parser.add_argument("--session", action="append", default=[],
                        help="NAME:THREADS:GRAPH.onnx, an ONNX Runtime session; repeatable")
    parser.add_argument("--sgemm", metavar="NAME", help="also serve the sgemm yardstick as NAME")
    args = parser.parse_args()
    if args.session and not args.io:
        parser.error("--session needs --io")
    sessions: dict[str, Callable[[], np.ndarray]] = {}
    if args.session:
        image = load_file(args.io)["input"]
        sessions.update(ort_session(s, image) for s in args.session)
    if args.sgemm:
        sessions[args.sgemm] = sgemm_session()
    sys.stdout.write(f"ready {ort.__version__} {np.__version__}\n")
    sys.stdout.flush()
    serve(sessions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
