#!/usr/bin/env python3
"""ONNX Runtime oracle for the MobileNet-V1 spec compiler.

Reads a layer-table spec (YAML), expands it, draws seeded float16 weights, builds the network as
an ONNX graph (NCHW) and runs it in ONNX Runtime. The results are the golden files the Rust test
suite compares its compiled forward pass against:

    {stem}.weights.safetensors  float16 weights under the project's tensor names
    {stem}.io.safetensors       float32 `input` [H, W, C], `logits` [classes], `output` [classes]
    {stem}.onnx                 the graph itself (only with --onnx; not committed)

The spec semantics are implemented here from the written rules, independently of the Rust
compiler, so that the two can disagree. `--check` adds a second, numpy-only forward pass (HWC,
direct convolution, batch norm unfolded, float64) that must agree with ONNX Runtime.

Importable: `build_model(spec_path, seed) -> (onnx.ModelProto, weights, input_hwc)`.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

# Opset 17 / IR 8: new enough for Softmax over one axis and Clip with tensor bounds, old enough
# for other runtimes a benchmark may load the exported .onnx into.
OPSET = 17
IR_VERSION = 8

# Tolerances of the self-check (numpy float64 vs ONNX Runtime float32).
CHECK_TOL = 1e-5

LAYER_TYPES = ("conv", "conv_dw", "avg_pool", "fc", "softmax")
PADDINGS = ("symmetric", "tf_same")
ACTIVATIONS = ("relu", "relu6")


class SpecError(ValueError):
    """A spec that breaks the format's rules."""


# ---------------------------------------------------------------------------------------------
# Stage 1: load a spec, resolving `extends:`
# ---------------------------------------------------------------------------------------------

def load_spec(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """Loads a spec file and merges it over the spec it `extends:` (recursively).

    Every top-level key not set in the file is inherited, except `paper`, which describes one
    table only. `extends` is a path relative to the folder of the file that names it.

    A file that sets `classes` without restating `layers` gives the classifier another width
    (as the compiler does): the inherited rows are checked against the class count they were
    written for, kept under the private key `_table_classes`, and the fc outputs `classes`.
    """
    path = Path(path).resolve()
    if path in _seen:
        raise SpecError(f"{path}: `extends:` cycle through {[str(p) for p in _seen]}")
    with open(path, encoding="utf-8") as f:
        own = yaml.safe_load(f) or {}
    if not isinstance(own, dict):
        raise SpecError(f"{path}: a spec is a mapping")
    parent_ref = own.pop("extends", None)
    if parent_ref is None:
        return own
    parent = load_spec(path.parent / parent_ref, _seen + (path,))
    parent.pop("paper", None)
    if "layers" in own:
        parent.pop("_table_classes", None)
    elif "classes" in own and "classes" in parent:
        parent.setdefault("_table_classes", parent["classes"])
    parent.update(own)
    return parent


# ---------------------------------------------------------------------------------------------
# Stage 2: expand the rows and infer every shape
# ---------------------------------------------------------------------------------------------

@dataclass
class Layer:
    """One expanded row, in actual units (after width and resolution multipliers)."""

    index: int                    # 0-based position among the expanded rows
    prefix: str                   # tensor-name prefix: `layers.{index}` or the row's `name`
    kind: str                     # one of LAYER_TYPES
    stride: int
    kernel: tuple[int, int]       # (kh, kw); (1, 1) for fc and softmax
    cin: int
    cout: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)   # top, left, bottom, right
    global_pool: bool = False


@dataclass
class Plan:
    """Everything the later stages need: the expanded network plus the global settings."""

    name: str
    image: tuple[int, int, int]   # H, W, C of the actual input image
    classes: int
    alpha: float
    padding: str
    activation: str
    bn_eps: float
    layers: list[Layer]

    @property
    def has_softmax(self) -> bool:
        return self.layers[-1].kind == "softmax"


def expand_rows(rows: list, where: str = "layers") -> list[dict]:
    """Flattens `repeat: N` blocks (nesting allowed) into a plain list of row mappings."""
    if not isinstance(rows, list):
        raise SpecError(f"{where}: expected a list of rows")
    out: list[dict] = []
    for i, row in enumerate(rows):
        here = f"{where}[{i}]"
        if not isinstance(row, dict):
            raise SpecError(f"{here}: a row is a mapping")
        if "repeat" in row:
            n = row["repeat"]
            if not isinstance(n, int) or isinstance(n, bool) or n < 1 or "layers" not in row:
                raise SpecError(f"{here}: `repeat:` needs a positive integer and `layers:`")
            body = expand_rows(row["layers"], f"{here}.layers")
            for _ in range(n):
                out.extend(dict(r) for r in body)
        else:
            out.append(row)
    return out


def conv_geometry(size: int, k: int, s: int, padding: str) -> tuple[int, int, int]:
    """Output size and (before, after) zero padding of a convolution along one axis."""
    if padding == "symmetric":
        # PyTorch convention: (k-1)/2 zeros on each side, output floor((in + 2p - k)/s) + 1.
        p = (k - 1) // 2
        return (size + 2 * p - k) // s + 1, p, p
    # TensorFlow SAME: the output is ceil(in/s); any odd padding goes to the bottom/right.
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def _ints(value, n: int, what: str) -> list[int]:
    if (not isinstance(value, list) or len(value) != n
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise SpecError(f"{what}: expected a list of {n} positive integers, got {value!r}")
    return value


def plan_network(spec: dict) -> Plan:
    """Expands a merged spec and infers every layer's actual shape.

    Two shape passes run side by side: one in table units (alpha 1, the header's input size),
    used to check that channel counts chain and to decide which avg_pools are global, and one in
    actual units (alpha applied, `resolution` square input), which is what gets built.
    """
    for key in ("input", "classes", "padding", "activation", "bn_eps", "layers"):
        if key not in spec:
            raise SpecError(f"missing top-level key `{key}`")
    th, tw, image_c = _ints(spec["input"], 3, "input")
    classes = spec["classes"]
    # The class count the rows were written for (see load_spec); the fc is checked against it.
    table_classes = spec.get("_table_classes", classes)
    alpha = float(spec.get("width_multiplier", 1.0))
    padding, activation = spec["padding"], spec["activation"]
    bn_eps = float(spec["bn_eps"])
    if padding not in PADDINGS:
        raise SpecError(f"padding: expected one of {PADDINGS}, got {padding!r}")
    if activation not in ACTIVATIONS:
        raise SpecError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
    if not 0.0 < alpha <= 1.0:
        raise SpecError(f"width_multiplier: expected 0 < alpha <= 1, got {alpha}")
    # `resolution` is a square size; without it the header's H x W is used as is.
    if "resolution" in spec:
        res = spec["resolution"]
        _ints([res], 1, "resolution")
        ah, aw = res, res
    else:
        ah, aw = th, tw

    def scale(c: int) -> int:
        # Python int() truncation of the float product, as the format prescribes.
        scaled = int(c * alpha)
        if scaled < 1:
            raise SpecError(f"width_multiplier {alpha} turns {c} channels into {scaled}")
        return scaled

    rows = expand_rows(spec["layers"])
    t_hw, t_c = (th, tw), image_c          # table units
    a_hw, a_c = (ah, aw), image_c          # actual units; the image's channels never scale
    layers: list[Layer] = []
    seen_names: set[str] = set()
    seen_fc = False
    for i, row in enumerate(rows):
        kind = row.get("type")
        where = f"row {i} ({kind})"
        if kind not in LAYER_TYPES:
            raise SpecError(f"row {i}: type must be one of {LAYER_TYPES}, got {kind!r}")
        prefix = row.get("name", f"layers.{i}")
        if not isinstance(prefix, str) or not prefix:
            raise SpecError(f"{where}: `name:` must be a non-empty string")
        if prefix in seen_names:
            raise SpecError(f"{where}: tensor prefix `{prefix}` used twice")
        seen_names.add(prefix)
        stride = row.get("stride", 1)
        _ints([stride], 1, f"{where} stride")
        if seen_fc and kind != "softmax":
            raise SpecError(f"{where}: only a softmax may follow the fc")
        if kind == "softmax" and (not seen_fc or i != len(rows) - 1):
            raise SpecError(f"{where}: softmax must be the last row, right after the fc")

        if kind in ("conv", "conv_dw"):
            if kind == "conv":
                kh, kw, t_in, t_out = _ints(row.get("filter"), 4, f"{where} filter")
                a_out = scale(t_out)
            else:
                kh, kw, t_in = _ints(row.get("filter"), 3, f"{where} filter")
                t_out, a_out = t_in, a_c
            if t_in != t_c:
                raise SpecError(f"{where}: filter takes {t_in} channels, the input has {t_c}")
            (toh, _, _), (tow, _, _) = (conv_geometry(t_hw[0], kh, stride, padding),
                                        conv_geometry(t_hw[1], kw, stride, padding))
            (aoh, pt, pb), (aow, pl, pr) = (conv_geometry(a_hw[0], kh, stride, padding),
                                            conv_geometry(a_hw[1], kw, stride, padding))
            layer = Layer(i, prefix, kind, stride, (kh, kw), a_c, a_out, a_hw, (aoh, aow),
                          pads=(pt, pl, pb, pr))
            t_hw, t_c = (toh, tow), t_out
        elif kind == "avg_pool":
            kh, kw = _ints(row.get("filter"), 2, f"{where} filter")
            # A window that covers the whole input in table units is global at any resolution.
            is_global = (kh, kw) == t_hw
            if is_global:
                t_out_hw, a_out_hw, kernel = (1, 1), (1, 1), a_hw
            else:
                t_out_hw = ((t_hw[0] - kh) // stride + 1, (t_hw[1] - kw) // stride + 1)
                a_out_hw = ((a_hw[0] - kh) // stride + 1, (a_hw[1] - kw) // stride + 1)
                kernel = (kh, kw)
                if min(t_out_hw + a_out_hw) < 1:
                    raise SpecError(f"{where}: a {kh}x{kw} window does not fit the input")
            layer = Layer(i, prefix, kind, stride, kernel, a_c, a_c, a_hw, a_out_hw,
                          global_pool=is_global)
            t_hw = t_out_hw
        elif kind == "fc":
            t_in, t_out = _ints(row.get("filter"), 2, f"{where} filter")
            if t_hw != (1, 1) or a_hw != (1, 1):
                raise SpecError(f"{where}: the fc needs a 1x1 input, got {t_hw} (table), "
                                f"{a_hw} (actual)")
            if t_in != t_c:
                raise SpecError(f"{where}: fc takes {t_in} inputs, the input has {t_c}")
            if t_out != table_classes:
                raise SpecError(f"{where}: fc outputs {t_out}, but classes is {table_classes}")
            # The fc's output is `classes`, which the width multiplier leaves alone (and an
            # extending spec's `classes` replaces).
            layer = Layer(i, prefix, kind, stride, (1, 1), a_c, classes, a_hw, (1, 1))
            t_c = t_out
            seen_fc = True
        else:  # softmax
            layer = Layer(i, prefix, kind, stride, (1, 1), a_c, a_c, a_hw, a_hw)
        layers.append(layer)
        a_hw, a_c = layer.out_hw, layer.cout

    if not seen_fc:
        raise SpecError("the table has no fc row, so it has no `classes` output")
    return Plan(str(spec.get("name", "")), (ah, aw, image_c), classes, alpha, padding,
                activation, bn_eps, layers)


# ---------------------------------------------------------------------------------------------
# Stage 3: seeded weights (rounded to float16) and input image
# ---------------------------------------------------------------------------------------------

def weight_shape(layer: Layer) -> tuple[int, ...] | None:
    """Shape of `{prefix}.weight` in the project's convention, or None for weightless rows."""
    kh, kw = layer.kernel
    if layer.kind == "conv":
        return (layer.cout, layer.cin, kh, kw)
    if layer.kind == "conv_dw":
        return (layer.cout, 1, kh, kw)
    if layer.kind == "fc":
        return (layer.cout, layer.cin)
    return None


def draw_weights(plan: Plan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draws every parameter, row by row, and rounds it to float16.

    Draw order (so that the files are reproducible): for each conv / conv_dw row, its weight,
    then BN gamma, beta, mean, var; for the fc, its weight then its bias.
    """
    weights: dict[str, np.ndarray] = {}

    def uniform(lo: float, hi: float, n: int) -> np.ndarray:
        return rng.uniform(lo, hi, size=n)

    for layer in plan.layers:
        shape = weight_shape(layer)
        if shape is None:
            continue
        p = layer.prefix
        fan_in = int(np.prod(shape[1:]))           # in * kh * kw (1 * kh * kw for depthwise)
        weights[f"{p}.weight"] = rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
        if layer.kind == "fc":
            weights[f"{p}.bias"] = uniform(-0.1, 0.1, layer.cout)
        else:
            c = layer.cout
            weights[f"{p}.bn.weight"] = uniform(0.5, 1.5, c)
            weights[f"{p}.bn.bias"] = uniform(-0.1, 0.1, c)
            weights[f"{p}.bn.running_mean"] = uniform(-0.1, 0.1, c)
            weights[f"{p}.bn.running_var"] = uniform(0.5, 1.5, c)
    # Rounded once, here: the graph, the numpy check and the committed file all use these values.
    return {k: v.astype(np.float16) for k, v in weights.items()}


def draw_input(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """The input image, HWC, U(-1, 1) in float32 (drawn after all weights)."""
    return rng.uniform(-1.0, 1.0, size=plan.image).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Stage 4: the ONNX graph
# ---------------------------------------------------------------------------------------------

def build_graph(plan: Plan, weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Builds the NCHW ONNX graph: input `input` [1, C, H, W]; outputs `output` [1, classes]
    and, when the table ends in softmax, `logits` [1, classes] (the fc output)."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def init(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    if plan.activation == "relu6":
        clip_lo, clip_hi = init("relu6.min", np.array(0.0)), init("relu6.max", np.array(6.0))

    x = "input"
    for layer in plan.layers:
        p, last = layer.prefix, layer is plan.layers[-1]
        if layer.kind in ("conv", "conv_dw"):
            nodes.append(helper.make_node(
                "Conv", [x, init(f"{p}.weight", weights[f"{p}.weight"])], [f"{p}.conv"],
                name=f"{p}.conv", kernel_shape=list(layer.kernel),
                strides=[layer.stride, layer.stride],
                # ONNX pads are [top, left, bottom, right]; explicit, so tf_same's asymmetric
                # split is ours rather than the runtime's auto_pad reading.
                pads=list(layer.pads),
                group=layer.cin if layer.kind == "conv_dw" else 1))
            bn = [init(f"{p}.bn.{t}", weights[f"{p}.bn.{t}"])
                  for t in ("weight", "bias", "running_mean", "running_var")]
            nodes.append(helper.make_node("BatchNormalization", [f"{p}.conv", *bn], [f"{p}.bn"],
                                          name=f"{p}.bn", epsilon=plan.bn_eps))
            if plan.activation == "relu":
                nodes.append(helper.make_node("Relu", [f"{p}.bn"], [f"{p}.act"], name=f"{p}.act"))
            else:
                nodes.append(helper.make_node("Clip", [f"{p}.bn", clip_lo, clip_hi], [f"{p}.act"],
                                              name=f"{p}.act"))
            x = f"{p}.act"
        elif layer.kind == "avg_pool":
            if layer.global_pool:
                nodes.append(helper.make_node("GlobalAveragePool", [x], [f"{p}.pool"],
                                              name=f"{p}.pool"))
            else:
                nodes.append(helper.make_node(
                    "AveragePool", [x], [f"{p}.pool"], name=f"{p}.pool",
                    kernel_shape=list(layer.kernel), strides=[layer.stride, layer.stride],
                    pads=[0, 0, 0, 0]))
            x = f"{p}.pool"
        elif layer.kind == "fc":
            nodes.append(helper.make_node("Flatten", [x], [f"{p}.flat"], name=f"{p}.flat", axis=1))
            out = "output" if last else "logits"
            nodes.append(helper.make_node(
                "Gemm", [f"{p}.flat", init(f"{p}.weight", weights[f"{p}.weight"]),
                         init(f"{p}.bias", weights[f"{p}.bias"])],
                [out], name=f"{p}.fc", transB=1))
            x = out
        else:  # softmax
            nodes.append(helper.make_node("Softmax", [x], ["output"], name=f"{p}.softmax", axis=1))
            x = "output"

    h, w, c = plan.image
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, plan.classes])]
    if plan.has_softmax:
        outputs.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                                     [1, plan.classes]))
    graph = helper.make_graph(
        nodes, plan.name or "mobilenet_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, c, h, w])],
        outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tests/reference/make_golden.py")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def build_model(spec_path: str | Path, seed: int
                ) -> tuple[onnx.ModelProto, dict[str, np.ndarray], np.ndarray]:
    """Spec file + seed -> (checked ONNX model, float16 weights by tensor name, HWC input)."""
    plan = plan_network(load_spec(spec_path))
    rng = np.random.default_rng(seed)
    weights = draw_weights(plan, rng)
    input_hwc = draw_input(plan, rng)
    return build_graph(plan, weights), weights, input_hwc


# ---------------------------------------------------------------------------------------------
# Stage 5: run ONNX Runtime
# ---------------------------------------------------------------------------------------------

def run_onnxruntime(model: onnx.ModelProto, input_hwc: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Runs the graph on the CPU; returns (logits, output), each [classes] float32."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # One thread: reductions then sum in a fixed order, so reruns give identical files.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    nchw = np.ascontiguousarray(input_hwc.transpose(2, 0, 1)[None])
    names = [o.name for o in sess.get_outputs()]
    results = dict(zip(names, sess.run(names, {"input": nchw})))
    output = results["output"][0]
    logits = results.get("logits", results["output"])[0]
    return logits.astype(np.float32), output.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Stage 6: independent numpy forward (for --check)
# ---------------------------------------------------------------------------------------------

def numpy_forward(plan: Plan, weights: dict[str, np.ndarray], input_hwc: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The same network in float64 numpy, HWC layout, as a check on the ONNX graph.

    It shares only the expanded layer list with the graph builder; the padding is recomputed
    here from the rule text, convolutions are direct sums over kernel taps, batch norm is
    applied unfolded, and nothing goes through ONNX. Returns (logits, output) [classes].
    """
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    x = input_hwc.astype(np.float64)

    def pad_amounts(size: int, k: int, s: int) -> tuple[int, int, int]:
        if plan.padding == "symmetric":
            p = (k - 1) // 2
            return p, p, (size + 2 * p - k) // s + 1
        out = math.ceil(size / s)
        total = max((out - 1) * s + k - size, 0)
        return total // 2, total - total // 2, out

    def taps(xp: np.ndarray, kh: int, kw: int, s: int, oh: int, ow: int):
        # Yields (i, j, window) with window[y, x, c] = xp[y*s + i, x*s + j, c].
        for i in range(kh):
            for j in range(kw):
                yield i, j, xp[i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s, :]

    logits = None
    for layer in plan.layers:
        p = layer.prefix
        kh, kw = layer.kernel
        s = layer.stride
        if layer.kind in ("conv", "conv_dw"):
            h, w, _ = x.shape
            top, bottom, oh = pad_amounts(h, kh, s)
            left, right, ow = pad_amounts(w, kw, s)
            xp = np.pad(x, ((top, bottom), (left, right), (0, 0)))
            wt = w64[f"{p}.weight"]
            y = np.zeros((oh, ow, layer.cout))
            for i, j, win in taps(xp, kh, kw, s, oh, ow):
                if layer.kind == "conv":
                    y += win @ wt[:, :, i, j].T            # (oh, ow, cin) @ (cin, cout)
                else:
                    y += win * wt[:, 0, i, j]               # one filter per channel
            gamma, beta = w64[f"{p}.bn.weight"], w64[f"{p}.bn.bias"]
            mean, var = w64[f"{p}.bn.running_mean"], w64[f"{p}.bn.running_var"]
            y = (y - mean) / np.sqrt(var + plan.bn_eps) * gamma + beta
            x = np.maximum(y, 0.0) if plan.activation == "relu" else np.clip(y, 0.0, 6.0)
        elif layer.kind == "avg_pool":
            if layer.global_pool:
                x = x.mean(axis=(0, 1), keepdims=True)
            else:
                h, w, c = x.shape
                oh, ow = (h - kh) // s + 1, (w - kw) // s + 1
                x = sum(win for _, _, win in taps(x, kh, kw, s, oh, ow)) / (kh * kw)
        elif layer.kind == "fc":
            flat = x.reshape(-1)                             # 1x1xC -> C
            x = w64[f"{p}.weight"] @ flat + w64[f"{p}.bias"]
            logits = x
        else:  # softmax
            e = np.exp(x - x.max())
            x = e / e.sum()
    return logits, x


def check_against_numpy(plan: Plan, weights, input_hwc, logits, output) -> dict[str, float]:
    """Compares ORT's results with the numpy forward; returns the error figures."""
    ref_logits, ref_output = numpy_forward(plan, weights, input_hwc)
    logit_abs = float(np.max(np.abs(logits - ref_logits)))
    errors = {
        "logits_max_abs": logit_abs,
        # Relative to the largest logit, as in the Rust tolerance contract.
        "logits_max_rel": logit_abs / float(np.max(np.abs(ref_logits))),
        "logits_scale": float(np.max(np.abs(ref_logits))),
    }
    if plan.has_softmax:
        errors["probs_max_abs"] = float(np.max(np.abs(output - ref_output)))
        errors["probs_max"] = float(np.max(ref_output))
    return errors


# ---------------------------------------------------------------------------------------------
# Stage 7: files
# ---------------------------------------------------------------------------------------------

def write_golden(out_dir: Path, stem: str, seed: int, weights, input_hwc, logits, output,
                 model: onnx.ModelProto | None) -> list[Path]:
    """Writes the safetensors pair (and the .onnx when given); returns the paths written."""
    import onnxruntime as ort
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    # One metadata key only: safetensors writes the metadata map in hash order, so several keys
    # would make reruns differ byte for byte.
    meta = (f"tests/reference/make_golden.py spec={stem} seed={seed} "
            f"onnxruntime={ort.__version__} opset={OPSET}")
    paths = [out_dir / f"{stem}.weights.safetensors", out_dir / f"{stem}.io.safetensors"]
    save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, str(paths[0]),
              metadata={"generator": meta})
    save_file({"input": np.ascontiguousarray(input_hwc, dtype=np.float32),
               "logits": np.ascontiguousarray(logits, dtype=np.float32),
               "output": np.ascontiguousarray(output, dtype=np.float32)},
              str(paths[1]), metadata={"generator": meta})
    if model is not None:
        paths.append(out_dir / f"{stem}.onnx")
        onnx.save_model(model, str(paths[-1]))
    return paths


def describe(plan: Plan) -> str:
    """One line per expanded row: prefix, type, stride, kernel, input -> output (HWC)."""
    lines = []
    for l in plan.layers:
        lines.append(f"{l.index:3d} {l.prefix:<12} {l.kind:<8} s{l.stride} "
                     f"k{l.kernel[0]}x{l.kernel[1]} pads{l.pads} "
                     f"{l.in_hw[0]}x{l.in_hw[1]}x{l.cin} -> {l.out_hw[0]}x{l.out_hw[1]}x{l.cout}"
                     + (" (global)" if l.global_pool else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate golden files for one MobileNet-V1 spec: seeded float16 weights, "
                    "an input image, and ONNX Runtime's logits and output.",
        epilog="Example: make_golden.py specs/torch_alpha0.25_128.yaml --seed 0 --out golden")
    parser.add_argument("spec", type=Path, help="the spec YAML; its file stem names the outputs")
    parser.add_argument("--seed", type=int, required=True,
                        help="seed of numpy.random.default_rng for weights and input")
    parser.add_argument("--out", type=Path,
                        help="directory for {stem}.weights.safetensors and {stem}.io.safetensors "
                             "(required unless --check or --shapes)")
    parser.add_argument("--onnx", action="store_true", help="also write {stem}.onnx")
    parser.add_argument("--check", action="store_true",
                        help=f"compare ONNX Runtime with an independent numpy forward; exit 1 "
                             f"if logits (relative to the largest) or probabilities differ "
                             f"by more than {CHECK_TOL}")
    parser.add_argument("--shapes", action="store_true",
                        help="print the expanded layer list with actual shapes")
    args = parser.parse_args(argv)
    if args.out is None and not (args.check or args.shapes):
        parser.error("--out is required unless --check or --shapes is given")

    try:
        plan = plan_network(load_spec(args.spec))
    except SpecError as e:
        print(f"{args.spec}: {e}", file=sys.stderr)
        return 2
    if args.shapes:
        print(describe(plan))
    if args.out is None and not args.check:
        return 0

    model, weights, input_hwc = build_model(args.spec, args.seed)
    logits, output = run_onnxruntime(model, input_hwc)
    stem = args.spec.name.removesuffix(".yaml").removesuffix(".yml")

    status = 0
    if args.check:
        errors = check_against_numpy(plan, weights, input_hwc, logits, output)
        print(f"{stem}: " + ", ".join(f"{k}={v:.3g}" for k, v in errors.items()))
        worst = max(errors["logits_max_rel"], errors.get("probs_max_abs", 0.0))
        if worst > CHECK_TOL:
            print(f"{stem}: numpy and ONNX Runtime disagree beyond {CHECK_TOL}", file=sys.stderr)
            status = 1
    if args.out is not None:
        for path in write_golden(args.out, stem, args.seed, weights, input_hwc, logits, output,
                                 model if args.onnx else None):
            print(f"wrote {path} ({path.stat().st_size} bytes)")
    return status


if __name__ == "__main__":
    sys.exit(main())
