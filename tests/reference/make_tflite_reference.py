"""Expected outputs of real TFLite models, from Google's own interpreter (LiteRT).

For each model and image this writes what `tests/tflite.rs` compares against:
- `pixels` [N, H, W, 3] uint8: each image resized whole to the model's input size with PIL's
  bilinear filter (TFLite's classification examples resize the whole image, no crop). The Rust
  test feeds these same bytes to both sides, so the comparison tests the network, not the
  resizer;
- `probabilities` [N, classes] float32: LiteRT's output for `(pixels - 127.5) / 127.5`,
  computed in float32 as the Rust side does it.

The interpreter runs with `OpResolverType.BUILTIN_REF` (the reference kernels) by default, and
the script checks that XNNPACK's optimised kernels give the same probabilities within 1e-5, so
the committed figures do not depend on which of Google's kernels one trusts.

Usage (from the repository root; see tests/reference/README.md):
    python3.11 -m venv tests/reference/.venv-litert
    tests/reference/.venv-litert/bin/pip install -r tests/reference/requirements-litert.txt
    tests/reference/.venv-litert/bin/python tests/reference/make_tflite_reference.py \
        assets/tflite-support/mobilenet_v1_0.25_224_1_default_1.tflite \
        assets/tflite-support/burger.jpg assets/tflite-support/burger_crop.jpg \
        assets/tflite-support/multi_objects.jpg assets/coral/cat.bmp \
        --out tests/reference/tflite/mobilenet_v1_0.25_224.safetensors
"""

import argparse
import pathlib
import sys

import numpy as np
from ai_edge_litert import interpreter as litert
from PIL import Image
from safetensors.numpy import save_file

XNNPACK_AGREEMENT = 1e-5


def resize_whole(path, height, width):
    """The image as 8-bit RGB, resized to height x width with bilinear filtering, no crop."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        img = img.resize((width, height), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def run(model, inputs, resolver):
    kwargs = {"num_threads": 1}
    if resolver is not None:
        kwargs["experimental_op_resolver_type"] = resolver
    interp = litert.Interpreter(model_path=str(model), **kwargs)
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    (out,) = interp.get_output_details()
    if inp["dtype"] != np.float32:
        sys.exit(f"{model}: input is {inp['dtype']}, this script handles float32 models")
    results = []
    for x in inputs:
        interp.set_tensor(inp["index"], x[None, ...])
        interp.invoke()
        results.append(interp.get_tensor(out["index"])[0].copy())
    return np.stack(results)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=pathlib.Path)
    ap.add_argument("images", type=pathlib.Path, nargs="+")
    ap.add_argument("--out", type=pathlib.Path, required=True)
    args = ap.parse_args()

    probe = litert.Interpreter(model_path=str(args.model))
    _, height, width, channels = probe.get_input_details()[0]["shape"]
    if channels != 3:
        sys.exit(f"{args.model}: input has {channels} channels, expected RGB")

    pixels = np.stack([resize_whole(p, height, width) for p in args.images])
    # float32 throughout, the same two IEEE operations the Rust test performs.
    inputs = (pixels.astype(np.float32) - np.float32(127.5)) / np.float32(127.5)

    reference = run(args.model, inputs, litert.OpResolverType.BUILTIN_REF)
    optimised = run(args.model, inputs, None)
    gap = float(np.abs(reference - optimised).max())
    if gap > XNNPACK_AGREEMENT:
        sys.exit(f"reference and XNNPACK kernels differ by {gap:.3g} > {XNNPACK_AGREEMENT}")

    names = ",".join(p.name for p in args.images)
    top1 = [int(i) for i in reference.argmax(axis=1)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {"pixels": pixels, "probabilities": reference.astype(np.float32)},
        str(args.out),
        metadata={
            "model": args.model.name,
            "images": names,
            "generator": f"make_tflite_reference.py, ai-edge-litert {litert_version()}, BUILTIN_REF",
        },
    )
    for name, t, p in zip(names.split(","), top1, reference):
        print(f"{name}: top-1 {t} at {p[t]:.4f} (reference vs XNNPACK max gap {gap:.2g})")


def litert_version():
    from importlib.metadata import version

    return version("ai-edge-litert")


if __name__ == "__main__":
    main()
