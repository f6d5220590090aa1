"""Runs every `.tflite` file of a folder in LiteRT (reference kernels) on the input beside it
and compares with our output there (`{name}.io.safetensors`: `input` [1, H, W, C], `output`
[1, classes]). `tools/check_tflite_grid.sh` writes the folder and runs this.

Passes when, for every model, the top-1 class is the same and no probability differs by more
than 1e-4; prints one line per model and exits 1 otherwise.
"""

import pathlib
import sys

import numpy as np
from ai_edge_litert import interpreter as litert
from safetensors.numpy import load_file

TOLERANCE = 1e-4


def main(folder):
    failed = 0
    models = sorted(pathlib.Path(folder).glob("*.tflite"))
    if not models:
        sys.exit(f"no .tflite files in {folder}")
    for model in models:
        io = load_file(str(model.parent / f"{model.stem}.io.safetensors"))
        interp = litert.Interpreter(
            model_path=str(model),
            num_threads=1,
            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
        )
        interp.allocate_tensors()
        (inp,) = interp.get_input_details()
        (out,) = interp.get_output_details()
        interp.set_tensor(inp["index"], io["input"])
        interp.invoke()
        theirs = interp.get_tensor(out["index"])[0]
        ours = io["output"][0]
        gap = float(np.abs(theirs - ours).max())
        same = int(theirs.argmax()) == int(ours.argmax())
        ok = same and gap <= TOLERANCE
        failed += not ok
        print(
            f"{model.stem:32} top-1 {int(theirs.argmax()):4} ({theirs.max():.3f}) vs {int(ours.argmax()):4}"
            f"  max |diff| {gap:.2e}  {'ok' if ok else 'FAIL'}"
        )
    print(f"{len(models) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1])
