#!/usr/bin/env python3
"""Converts MobileNet-V1 weights from Keras or timm into this project's safetensors layout.

    tools/.venv/bin/python tools/convert_weights.py keras --alpha 0.25 --resolution 128 --out k.safetensors
    tools/.venv/bin/python tools/convert_weights.py timm --out timm.safetensors

The output holds, for every row of the spec with parameters (`layers.{i}` unless the row is
named, `i` counting the expanded rows, pooling and softmax included):

    conv     {p}.weight [out, in, kh, kw] and {p}.bn.{weight,bias,running_mean,running_var} [out]
    conv_dw  {p}.weight [c, 1, kh, kw] and the same four batch-norm tensors [c]
    fc       {p}.weight [out, in] and {p}.bias [out]

Batch norm is stored unfolded; the Rust loader folds it with the spec's `bn_eps`, so the
converter refuses a model whose epsilon, padding or activation differ from the spec's: the
numbers would load and then compute something else.

Sources:
- keras: `keras.applications.MobileNet(alpha, input_shape=(r, r, 3), weights=...)`: `imagenet`
  (downloaded by Keras, needs internet), `random` (an untrained model, for tests) or a weights
  file Keras can load. Kernels are HWIO, depthwise kernels HW C 1, the classifier is the 1x1
  conv `conv_preds` with a bias; they are transposed to PyTorch order.
- timm: `timm.create_model("mobilenetv1_100", pretrained=...)`: `pretrained` (downloaded from
  the Hugging Face hub, needs internet), `random`, or a checkpoint (a state dict in a `.pth`,
  `.bin` or `.safetensors` file). timm's tensors are already PyTorch layout; only names change.

The module is importable: `keras_sources(model)`, `timm_sources(model)` and `convert(sources,
spec)` are what tools/check_conversion.py uses.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
ALPHAS = {"1": 1.0, "1.0": 1.0, "0.75": 0.75, "0.5": 0.5, "0.50": 0.5, "0.25": 0.25}
RESOLUTIONS = (128, 160, 192, 224)


class ConversionError(Exception):
    """The framework's model does not match the spec; the message says where."""


# ---------------------------------------------------------------------------------------------
# The spec side: which rows take parameters, and what shape
# ---------------------------------------------------------------------------------------------

def load_spec(path: Path, _seen: tuple[Path, ...] = ()) -> dict:
    """A spec with its `extends:` chain merged (the `paper` section is per file, so dropped)."""
    path = path.resolve()
    if path in _seen:
        raise ConversionError(f"{path}: `extends:` makes a cycle")
    own = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    parent = own.pop("extends", None)
    if parent is None:
        return own
    merged = load_spec(path.parent / parent, _seen + (path,))
    merged.pop("paper", None)
    merged.update(own)
    return merged


def expand(rows: list) -> list[dict]:
    """Flattens `repeat:` blocks (nested too) into the rows they stand for."""
    out: list[dict] = []
    for row in rows:
        if "repeat" in row:
            body = expand(row["layers"])
            for _ in range(row["repeat"]):
                out.extend(dict(r) for r in body)
        else:
            out.append(row)
    return out


@dataclass
class Target:
    """A spec row with parameters: its tensor prefix, kind and the weight shape it expects."""

    prefix: str
    kind: str                      # conv, conv_dw or fc
    shape: tuple[int, ...]         # PyTorch layout


@dataclass
class Spec:
    path: Path
    name: str
    padding: str
    activation: str
    bn_eps: float
    resolution: int
    alpha: float
    ends_in_softmax: bool
    targets: list[Target] = field(default_factory=list)


def read_spec(path: Path) -> Spec:
    """Reads a spec and lists its parameter rows with their weight shapes.

    Channel counts follow the format's rule (`int(c * alpha)` for every conv's output, the
    image's channels unscaled, the fc's output is `classes`); spatial sizes do not matter here.
    """
    raw = load_spec(path)
    alpha = float(raw.get("width_multiplier", 1.0))
    rows = expand(raw["layers"])
    channels = raw["input"][2]
    targets = []
    for i, row in enumerate(rows):
        kind, prefix = row["type"], row.get("name", f"layers.{i}")
        f = row.get("filter")
        if kind == "conv":
            out = int(f[3] * alpha)
            targets.append(Target(prefix, kind, (out, channels, f[0], f[1])))
            channels = out
        elif kind == "conv_dw":
            targets.append(Target(prefix, kind, (channels, 1, f[0], f[1])))
        elif kind == "fc":
            targets.append(Target(prefix, kind, (raw["classes"], channels)))
    return Spec(path=path, name=raw.get("name", path.stem), padding=raw["padding"],
                activation=raw["activation"], bn_eps=float(raw["bn_eps"]),
                resolution=int(raw.get("resolution", raw["input"][0])), alpha=alpha,
                ends_in_softmax=rows[-1]["type"] == "softmax", targets=targets)


# ---------------------------------------------------------------------------------------------
# The framework side: the parameter layers in order, already in PyTorch layout
# ---------------------------------------------------------------------------------------------

@dataclass
class Source:
    """One parameter layer of the framework's model, in PyTorch layout."""

    name: str                      # the framework's name, for messages
    kind: str                      # conv, conv_dw or fc
    weight: np.ndarray
    bias: np.ndarray | None = None                 # fc bias (a conv's is folded into bn)
    bn: dict[str, np.ndarray] | None = None        # weight, bias, running_mean, running_var
    bn_eps: float | None = None


@dataclass
class Model:
    """What the converter reads from a framework model."""

    sources: list[Source]
    padding: str                   # symmetric or tf_same
    activation: str                # relu or relu6
    ends_in_softmax: bool
    resolution: int | None
    description: str


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def keras_sources(model) -> Model:
    """Walks a Keras MobileNet in layer order: each conv with the batch norm after it, then the
    classifier (the 1x1 conv `conv_preds`, or a Dense layer)."""
    import keras

    L = keras.layers
    sources: list[Source] = []
    activations: set[str] = set()
    paddings: set[str] = set()
    ends_in_softmax = False
    for layer in model.layers:
        w = [np.asarray(v) for v in layer.get_weights()]
        if isinstance(layer, L.DepthwiseConv2D):
            (kernel, *bias) = w                                  # [kh, kw, c, 1]
            if kernel.shape[3] != 1:
                raise ConversionError(f"{layer.name}: depth_multiplier {kernel.shape[3]}, Table 1 has 1")
            sources.append(Source(layer.name, "conv_dw", _f32(kernel.transpose(2, 3, 0, 1)),
                                  bias=_f32(bias[0]) if bias else None))
            paddings.add(_keras_padding(layer, model))
        elif isinstance(layer, L.Conv2D):
            (kernel, *bias) = w                                  # [kh, kw, in, out]
            sources.append(Source(layer.name, "conv", _f32(kernel.transpose(3, 2, 0, 1)),
                                  bias=_f32(bias[0]) if bias else None))
            paddings.add(_keras_padding(layer, model))
        elif isinstance(layer, L.Dense):
            kernel, bias = w                                     # [in, out]
            sources.append(Source(layer.name, "fc", _f32(kernel.T), bias=_f32(bias)))
        elif isinstance(layer, L.BatchNormalization):
            if not sources or sources[-1].bn is not None:
                raise ConversionError(f"{layer.name}: a batch norm that follows no convolution")
            gamma, beta, mean, var = _keras_bn(layer, w)
            sources[-1].bn = {"weight": gamma, "bias": beta, "running_mean": mean, "running_var": var}
            sources[-1].bn_eps = float(layer.epsilon)
        elif isinstance(layer, L.ReLU):
            activations.add("relu6" if layer.max_value is not None and float(layer.max_value) == 6.0
                            else "relu" if layer.max_value is None else f"relu{layer.max_value}")
        elif isinstance(layer, L.Activation) and layer.name == "predictions":
            ends_in_softmax = getattr(layer.activation, "__name__", "") == "softmax"
    # The last conv without a batch norm is the classifier: a 1x1 conv over the pooled features.
    last = sources[-1] if sources else None
    if last is not None and last.kind == "conv" and last.bn is None:
        if last.weight.shape[2:] != (1, 1) or last.bias is None:
            raise ConversionError(f"{last.name}: the classifier should be a 1x1 conv with a bias")
        last.kind, last.weight = "fc", _f32(last.weight[:, :, 0, 0])
    shape = model.input_shape
    return Model(sources, _one(paddings, "padding"), _one(activations, "activation"),
                 ends_in_softmax, shape[1] if shape[1] == shape[2] else None,
                 f"keras {keras.__version__} {model.name}")


def _keras_bn(layer, w: list[np.ndarray]):
    """gamma, beta, mean, var of a Keras BatchNormalization, with its defaults filled in."""
    it = iter(w)
    c = w[-1].shape[0]
    gamma = next(it) if layer.scale else np.ones(c, np.float32)
    beta = next(it) if layer.center else np.zeros(c, np.float32)
    mean, var = next(it), next(it)
    return _f32(gamma), _f32(beta), _f32(mean), _f32(var)


def _keras_padding(layer, model) -> str:
    """`tf_same` for Keras' `same` convolutions and for the `valid` strided ones MobileNet puts
    after a ZeroPadding2D((0, 1), (0, 1)), which is what `same` does on the even sizes of every
    Keras resolution; anything else is not a padding the spec format knows."""
    if layer.padding == "same" or layer.kernel_size == (1, 1):
        return "tf_same"
    import keras

    try:
        # Keras 3's graph: the layer feeding this one (private API; checked by check_conversion.py).
        inbound = layer._inbound_nodes[0].parent_nodes[0].operation
    except (AttributeError, IndexError):
        inbound = None
    if isinstance(inbound, keras.layers.ZeroPadding2D) and tuple(map(tuple, inbound.padding)) == ((0, 1), (0, 1)):
        return "tf_same"
    raise ConversionError(f"{layer.name}: padding {layer.padding!r} is neither TF SAME nor symmetric")


def timm_sources(model) -> Model:
    """Walks timm's `mobilenetv1_*` (an EfficientNet built from depthwise-separable blocks):
    conv_stem + bn1, then conv_dw + bn1 and conv_pw + bn2 of each block, then the classifier.
    Refuses what Table 1 has no row for: skips, squeeze-excite, a conv_head, dilation."""
    import timm
    import torch.nn as nn
    from timm.models._efficientnet_blocks import DepthwiseSeparableConv

    def conv(name: str, c: nn.Conv2d, kind: str) -> Source:
        if type(c) is not nn.Conv2d:
            # timm's Conv2dSame and friends pad like TensorFlow at run time.
            raise ConversionError(f"{name}: {type(c).__name__} is not a plain nn.Conv2d")
        k = c.kernel_size
        if c.padding != ((k[0] - 1) // 2, (k[1] - 1) // 2) or c.dilation != (1, 1):
            raise ConversionError(f"{name}: padding {c.padding} / dilation {c.dilation} is not symmetric")
        return Source(name, kind, _f32(c.weight.detach().cpu().numpy()),
                      bias=None if c.bias is None else _f32(c.bias.detach().cpu().numpy()))

    def bn(src: Source, b, name: str) -> str:
        src.bn = {k: _f32(getattr(b, k).detach().cpu().numpy())
                  for k in ("weight", "bias", "running_mean", "running_var")}
        src.bn_eps = float(b.eps)
        act = getattr(b, "act", None)
        kind = type(act).__name__ if act is not None else "Identity"
        return {"ReLU6": "relu6", "ReLU": "relu"}.get(kind, f"{kind} ({name})")

    acts: set[str] = set()
    stem = conv("conv_stem", model.conv_stem, "conv")
    acts.add(bn(stem, model.bn1, "bn1"))
    sources = [stem]
    for s, stage in enumerate(model.blocks):
        for j, block in enumerate(stage):
            where = f"blocks.{s}.{j}"
            if not isinstance(block, DepthwiseSeparableConv):
                raise ConversionError(f"{where}: {type(block).__name__}, Table 1 has only depthwise-separable blocks")
            if block.has_skip or not isinstance(block.se, nn.Identity) or block.conv_s2d is not None \
                    or not isinstance(block.aa, nn.Identity) or not block.has_pw_act:
                raise ConversionError(f"{where}: has a skip, squeeze-excite, space-to-depth, anti-aliasing "
                                      f"or no activation after the pointwise conv: not a Table 1 block")
            if block.conv_dw.groups != block.conv_dw.in_channels:
                raise ConversionError(f"{where}.conv_dw: grouped, not depthwise")
            dw = conv(f"{where}.conv_dw", block.conv_dw, "conv_dw")
            acts.add(bn(dw, block.bn1, f"{where}.bn1"))
            pw = conv(f"{where}.conv_pw", block.conv_pw, "conv")
            acts.add(bn(pw, block.bn2, f"{where}.bn2"))
            sources += [dw, pw]
    if not isinstance(getattr(model, "conv_head", nn.Identity()), nn.Identity):
        raise ConversionError("conv_head: this timm model has a 1x1 conv before the classifier "
                              "(e.g. mobilenetv1_100h); Table 1 has none")
    pool = getattr(model.global_pool, "pool_type", "avg")
    if pool != "avg":
        raise ConversionError(f"global_pool: {pool!r}, Table 1 averages")
    fc = model.classifier
    if not isinstance(fc, nn.Linear):
        raise ConversionError(f"classifier: {type(fc).__name__}, expected nn.Linear")
    sources.append(Source("classifier", "fc", _f32(fc.weight.detach().cpu().numpy()),
                          bias=_f32(fc.bias.detach().cpu().numpy())))
    return Model(sources, "symmetric", _one(acts, "activation"), False, None,
                 f"timm {timm.__version__} {model.default_cfg.get('architecture', type(model).__name__)}")


def _one(values: set[str], what: str) -> str:
    if len(values) != 1:
        raise ConversionError(f"the model mixes {what}s: {sorted(values)}; a spec has one")
    return next(iter(values))


# ---------------------------------------------------------------------------------------------
# Matching the two and writing the file
# ---------------------------------------------------------------------------------------------

def convert(model: Model, spec: Spec) -> dict[str, np.ndarray]:
    """Pairs the model's parameter layers with the spec's rows, in order, and names the tensors.

    Raises ConversionError for any difference that would make the Rust model compute something
    other than the framework's: layer count, kind or shape, padding, activation, epsilon.
    """
    problems = []
    if model.padding != spec.padding:
        problems.append(f"padding: the model pads {model.padding}, the spec says {spec.padding}")
    if model.activation != spec.activation:
        problems.append(f"activation: the model uses {model.activation}, the spec says {spec.activation}")
    if model.resolution is not None and model.resolution != spec.resolution:
        problems.append(f"resolution: the model takes {model.resolution}, the spec {spec.resolution}")
    if len(model.sources) != len(spec.targets):
        problems.append(f"{len(model.sources)} parameter layers in the model, {len(spec.targets)} in the spec")
    tensors: dict[str, np.ndarray] = {}
    for src, dst in zip(model.sources, spec.targets):
        where = f"{src.name} -> {dst.prefix}"
        if src.kind != dst.kind:
            problems.append(f"{where}: a {src.kind} in the model, a {dst.kind} in the spec")
            continue
        if tuple(src.weight.shape) != dst.shape:
            problems.append(f"{where}: weight {tuple(src.weight.shape)}, the spec expects {dst.shape}")
            continue
        tensors[f"{dst.prefix}.weight"] = src.weight
        if dst.kind == "fc":
            tensors[f"{dst.prefix}.bias"] = src.bias
            continue
        if src.bn is None:
            problems.append(f"{where}: no batch norm after this convolution")
            continue
        if abs(src.bn_eps - spec.bn_eps) > 1e-6 * spec.bn_eps:
            problems.append(f"{where}: batch-norm epsilon {src.bn_eps:g}, the spec says {spec.bn_eps:g}")
        bn = dict(src.bn)
        if src.bias is not None:
            # conv + bias then BN equals conv then BN with the mean moved by the bias.
            bn["running_mean"] = _f32(bn["running_mean"] - src.bias)
        for k, v in bn.items():
            tensors[f"{dst.prefix}.bn.{k}"] = v
    if problems:
        shown = problems[:8] + ([f"... and {len(problems) - 8} more"] if len(problems) > 8 else [])
        raise ConversionError(f"the model does not match {_rel(spec.path)}:\n  " + "\n  ".join(shown))
    for name, t in tensors.items():
        if not np.all(np.isfinite(t)):
            raise ConversionError(f"{name}: holds NaN or infinity")
    return tensors


def save(tensors: dict[str, np.ndarray], path: Path, source: str, spec: Spec) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"converted_from": source, "spec": str(_rel(spec.path)), "tool": "tools/convert_weights.py"}
    save_file({k: _f32(v) for k, v in sorted(tensors.items())}, str(path), metadata=meta)


def _rel(p: Path) -> Path:
    try:
        return p.resolve().relative_to(REPO)
    except ValueError:
        return p


# ---------------------------------------------------------------------------------------------
# Building the framework models
# ---------------------------------------------------------------------------------------------

def keras_spec_path(alpha: float, resolution: int) -> Path:
    a = {1.0: "1", 0.75: "0.75", 0.5: "0.5", 0.25: "0.25"}[alpha]
    return REPO / "specs" / "keras" / f"v1_alpha{a}_{resolution}.yaml"


def build_keras(alpha: float, resolution: int, weights: str):
    """keras.applications.MobileNet at (alpha, resolution) with `weights`: imagenet, random or
    a file. Always with its softmax top, as published."""
    import keras

    w = None if weights == "random" else weights
    return keras.applications.MobileNet(alpha=alpha, input_shape=(resolution, resolution, 3),
                                        weights=w, include_top=True, classes=1000,
                                        classifier_activation="softmax")


def build_timm(name: str, weights: str):
    """timm.create_model(name) with `weights`: pretrained, random or a checkpoint file."""
    import timm
    import torch

    model = timm.create_model(name, pretrained=weights == "pretrained")
    if weights not in ("pretrained", "random"):
        path = Path(weights)
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
            state = state.get("state_dict", state) if isinstance(state, dict) else state
        model.load_state_dict(state)
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write this project's safetensors weights from a Keras or timm MobileNet-V1.",
        epilog="Pretrained weights are downloaded by Keras / timm themselves and need internet.")
    sub = parser.add_subparsers(dest="framework", required=True)
    k = sub.add_parser("keras", help="keras.applications.MobileNet")
    k.add_argument("--alpha", choices=sorted(set(ALPHAS)), default="1.0", help="width multiplier")
    k.add_argument("--resolution", type=int, choices=RESOLUTIONS, default=224)
    k.add_argument("--weights", default="imagenet",
                   help="imagenet (download), random (untrained, for tests) or a Keras weights file")
    t = sub.add_parser("timm", help="timm's mobilenetv1_100")
    t.add_argument("--model", default="mobilenetv1_100", help="timm model name")
    t.add_argument("--weights", default="pretrained",
                   help="pretrained (download), random (untrained, for tests) or a checkpoint file")
    for p in (k, t):
        p.add_argument("--spec", type=Path, help="the spec to match (default: the one in specs/keras or "
                                                  "specs/timm for this model)")
        p.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    args = parser.parse_args(argv)

    try:
        if args.framework == "keras":
            alpha = ALPHAS[args.alpha]
            spec = read_spec(args.spec or keras_spec_path(alpha, args.resolution))
            model = keras_sources(build_keras(alpha, args.resolution, args.weights))
        else:
            spec = read_spec(args.spec or REPO / "specs" / "timm" / "v1_100_224.yaml")
            model = timm_sources(build_timm(args.model, args.weights))
        tensors = convert(model, spec)
    except ConversionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    source = f"{model.description} weights={args.weights}"
    save(tensors, args.out, source, spec)
    n = sum(v.size for v in tensors.values())
    print(f"wrote {args.out}: {len(tensors)} tensors, {n:,} numbers, for {_rel(spec.path)} ({source})")
    if model.ends_in_softmax != spec.ends_in_softmax:
        print(f"note: the model ends in {'softmax' if model.ends_in_softmax else 'logits'}, the spec in "
              f"{'softmax' if spec.ends_in_softmax else 'logits'}; the top classes are the same", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
