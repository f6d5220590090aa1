#!/usr/bin/env python3
"""Opt-in end-to-end check of tools/convert_weights.py: framework model -> safetensors -> our
compiled model, on the same image, compared within 1e-4.

For each case it
1. builds the framework's model UNTRAINED (no hub access here) and makes its batch norms
   non-trivial: random gamma and beta, running statistics taken from a calibration batch and
   then perturbed, so that folding them is really exercised and activations stay O(1) through
   all 27 layers instead of decaying into the biases; the classifier's bias is randomised and
   its weights scaled up (HEAD_GAIN) so that the softmax is not flat;
2. converts it with convert_weights.convert() into a temporary safetensors file;
3. runs `cargo run --release --example classify -- --spec S --weights W --raw-output R IMAGE`,
   which decodes and preprocesses the image in Rust and records the model's input, logits and
   output;
4. runs the framework's model on exactly that input and compares:
   logits         max|ours - theirs| / max|theirs|  <= 1e-4  (relative to the largest logit)
   probabilities  max|ours - theirs|                <= 1e-4  (softmax of the logits for timm)
   and the same top-1 class.
   It also reports, for information only, how far our preprocessing is from a PIL
   reimplementation (resize bicubic, centre crop, same scaling): resampling code differs.

    tools/.venv/bin/python tools/check_conversion.py keras:1.0:224 keras:0.25:128 timm:mobilenetv1_100

Not run by CI: it needs tools/.venv (TensorFlow, Keras, PyTorch, timm: several GB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import convert_weights as cw  # noqa: E402

TOLERANCE = 1e-4
CALIBRATION_IMAGES = 4
# An untrained classifier gives logits below 1 and a softmax flat at 0.001, where any output
# passes an absolute 1e-4; scaled up, the top classes stand out and the comparison means something.
HEAD_GAIN = 8.0


def smooth_noise(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """n images [n, size, size, 3] in [-1, 1]: random coarse grids upsampled, so they have the
    spatial structure of pictures rather than per-pixel noise."""
    coarse = rng.uniform(-1, 1, (n, 8, 8, 3))
    idx = np.minimum(np.arange(size) * 8 // size, 7)
    img = coarse[:, idx][:, :, idx]
    return np.clip(img + rng.normal(0, 0.1, img.shape), -1, 1).astype(np.float32)


def test_image(path: Path, seed: int) -> None:
    """A 400x300 PNG with gradients, shapes and noise: enough texture to excite every channel."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:300, 0:400]
    base = np.stack([x / 400 * 255, y / 300 * 255, (np.sin(x / 17) * np.cos(y / 23) + 1) * 127], -1)
    img = Image.fromarray(np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.integers(0, 350), rng.integers(0, 250)
        draw.ellipse([x0, y0, x0 + rng.integers(10, 80), y0 + rng.integers(10, 80)],
                     fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    img.save(path)


# ---------------------------------------------------------------------------------------------
# Frameworks: build, randomise batch norm, run
# ---------------------------------------------------------------------------------------------

def keras_case(alpha: float, resolution: int, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    model = cw.build_keras(alpha, resolution, "random")
    rng = np.random.default_rng(seed)
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    for bn in bns:
        g, b, m, v = bn.get_weights()
        c = g.shape[0]
        bn.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.25, c), m, v])
        bn.momentum = 0.0   # moving = batch statistics after one training-mode call
    model(smooth_noise(rng, CALIBRATION_IMAGES, resolution), training=True)
    for bn in bns:
        g, b, m, v = bn.get_weights()
        c = g.shape[0]
        bn.set_weights([g, b, m + rng.normal(0, 0.1, c) * np.sqrt(v), v * rng.uniform(0.8, 1.25, c)])
    head = model.get_layer("conv_preds")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * HEAD_GAIN, rng.normal(0, 0.1, bias.shape)])
    logits_model = keras.Model(model.input, model.get_layer("predictions").input)

    def run(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(logits_model(inputs, training=False)),
                np.asarray(model(inputs, training=False)))

    return model, cw.keras_sources(model), run


def timm_case(name: str, seed: int):
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    model = cw.build_timm(name, "random")
    rng = np.random.default_rng(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            c = bn.num_features
            bn.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c)))
            bn.bias.copy_(torch.from_numpy(rng.normal(0, 0.25, c)))
            bn.momentum = 1.0   # running = batch statistics after one training-mode call
        model.train()
        calib = smooth_noise(rng, CALIBRATION_IMAGES, 224).transpose(0, 3, 1, 2)
        model(torch.from_numpy(np.ascontiguousarray(calib)))
        model.eval()
        for bn in bns:
            c = bn.num_features
            std = bn.running_var.sqrt().numpy()
            bn.running_mean.add_(torch.from_numpy((rng.normal(0, 0.1, c) * std).astype(np.float32)))
            bn.running_var.mul_(torch.from_numpy(rng.uniform(0.8, 1.25, c).astype(np.float32)))
        model.classifier.weight.mul_(HEAD_GAIN)
        model.classifier.bias.copy_(torch.from_numpy(rng.normal(0, 0.1, model.classifier.out_features)))

    def run(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(inputs.transpose(0, 3, 1, 2)))
            logits = model(x).numpy()
        return logits, logits   # timm returns logits; so does the timm spec

    return model, cw.timm_sources(model), run


def pil_preprocess(path: Path, resolution: int, keras_scaling: bool) -> np.ndarray:
    """timm/torchvision-style evaluation preprocessing with PIL, for the information line."""
    from PIL import Image

    img = Image.open(path).convert("RGB")
    short = int(resolution / 0.875)
    w, h = img.size
    size = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
    img = img.resize(size, Image.BICUBIC)
    left, top = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    a = np.asarray(img.crop((left, top, left + resolution, top + resolution)), dtype=np.float32)
    if keras_scaling:
        return a / 127.5 - 1
    return (a / 255 - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)


# ---------------------------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------------------------

def run_classify(spec: Path, weights: Path, raw: Path, image: Path) -> None:
    cmd = ["cargo", "run", "--quiet", "--release", "--example", "classify", "--",
           "--spec", str(spec.relative_to(cw.REPO)), "--weights", str(weights),
           "--raw-output", str(raw), "--top", "3", str(image)]
    done = subprocess.run(cmd, cwd=cw.REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def check(case: str, image: Path, work: Path, seed: int) -> dict:
    from safetensors.numpy import load_file

    kind, *rest = case.split(":")
    if kind == "keras":
        alpha, resolution = cw.ALPHAS[rest[0]], int(rest[1])
        spec = cw.read_spec(cw.keras_spec_path(alpha, resolution))
        _, model, run = keras_case(alpha, resolution, seed)
    elif kind == "timm":
        spec = cw.read_spec(cw.REPO / "specs" / "timm" / "v1_100_224.yaml")
        _, model, run = timm_case(rest[0] if rest else "mobilenetv1_100", seed)
    else:
        raise SystemExit(f"unknown case {case!r}: keras:ALPHA:RESOLUTION or timm[:MODEL]")
    weights = work / f"{case.replace(':', '_')}.safetensors"
    cw.save(cw.convert(model, spec), weights, f"{model.description} (randomised for the check)", spec)
    raw_path = work / f"{case.replace(':', '_')}.raw.safetensors"
    start = time.perf_counter()
    run_classify(spec.path, weights, raw_path, image)
    rust_seconds = time.perf_counter() - start
    raw = load_file(str(raw_path))
    theirs_logits, theirs_out = run(raw["inputs"])
    ours_logits, ours_out = raw["logits"], raw["outputs"]
    scale = float(np.max(np.abs(theirs_logits)))
    result = {
        "case": case,
        "spec": str(spec.path.relative_to(cw.REPO)),
        "logits_max_abs": float(np.max(np.abs(ours_logits - theirs_logits))),
        "logits_scale": scale,
        # Probabilities whichever way the spec ends: compared absolutely, as the golden tests do.
        "probs_max_abs": float(np.max(np.abs(probabilities(ours_out, spec) - probabilities(theirs_out, spec)))),
        "top1_ours": int(np.argmax(ours_out)),
        "top1_theirs": int(np.argmax(theirs_out)),
        "max_probability": float(np.max(softmax(theirs_logits))),
        "cargo_run_seconds": round(rust_seconds, 1),
    }
    result["logits_max_rel"] = result["logits_max_abs"] / scale
    ours_in = raw["inputs"][0]
    pil = pil_preprocess(image, spec.resolution, keras_scaling=True)
    result["preprocess_vs_pil_max_abs"] = float(np.max(np.abs(ours_in - pil)))
    result["preprocess_vs_pil_mean_abs"] = float(np.mean(np.abs(ours_in - pil)))
    result["pass"] = bool(result["logits_max_rel"] <= TOLERANCE and result["probs_max_abs"] <= TOLERANCE
                          and result["top1_ours"] == result["top1_theirs"])
    return result


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def probabilities(output: np.ndarray, spec: cw.Spec) -> np.ndarray:
    return output if spec.ends_in_softmax else softmax(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", help="keras:ALPHA:RESOLUTION (e.g. keras:0.25:128) or timm[:MODEL]")
    parser.add_argument("--image", type=Path, help="the image (default: a generated 400x300 PNG)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the weights and raw outputs in this folder")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)   # internal: one case, result to file
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.one:
        result = check(args.cases[0], args.image, args.keep, args.seed)
        args.one.write_text(json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = (args.keep or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        image = (args.image or work / "check.png").resolve()
        if args.image is None:
            test_image(image, args.seed)
        results = []
        for case in args.cases:
            # One process per case: TensorFlow and PyTorch each bring an LLVM, and loading both
            # into one process aborts ("Option ... registered more than once").
            out = work / f"{case.replace(':', '_')}.result.json"
            cmd = [sys.executable, __file__, case, "--image", str(image), "--keep", str(work),
                   "--seed", str(args.seed), "--one", str(out)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"FAIL {case}: the check itself failed:\n{done.stderr[-3000:]}", flush=True)
                results.append({"case": case, "pass": False, "error": done.stderr[-3000:]})
                continue
            r = json.loads(out.read_text())
            results.append(r)
            print(f"{'PASS' if r['pass'] else 'FAIL'} {case:<16} logits max|diff| {r['logits_max_abs']:.2e} "
                  f"(relative {r['logits_max_rel']:.2e} of {r['logits_scale']:.2f}), probabilities max|diff| "
                  f"{r['probs_max_abs']:.2e}, top-1 {r['top1_ours']} vs {r['top1_theirs']} "
                  f"(p={r['max_probability']:.3f}); preprocessing vs PIL max {r['preprocess_vs_pil_max_abs']:.3f} "
                  f"mean {r['preprocess_vs_pil_mean_abs']:.4f} (info)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    failed = [r["case"] for r in results if not r["pass"]]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
