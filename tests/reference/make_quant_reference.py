"""Byte-exact expected outputs of the quantized TFLite models, from Google's interpreters.

Opt-in, not run by CI (see tests/reference/README.md). For every model of `JOBS` below this writes
`tests/reference/quant/{model}.safetensors` with, for each test image,
- `{image}.input`: the exact input tensor fed to the interpreter (uint8 or int8, the model's
  input shape, batch 1 included);
- `{image}.output`: the model's output tensor (uint8 or int8, [1, classes]),
and `tests/reference/quant/{model}.params.txt`: every operator in order with the quantization
parameters (scale, zero point, quantized_dimension) of each of its tensors, read from the file.

Interpreters and kernels
------------------------
- The three uint8 ImageNet models run in `ai-edge-litert` 2.3.0 with
  `experimental_op_resolver_type=OpResolverType.BUILTIN_REF` (TFLite's reference kernels),
  one thread. The same images are also run with LiteRT's default kernels (`AUTO`: the optimised
  builtins plus the default XNNPACK delegate) and with `BUILTIN_WITHOUT_DEFAULT_DELEGATES` (the
  optimised builtins alone); how many of the output bytes differ from the reference kernels is
  written to the metadata (`differs_auto`, `differs_builtin`). The committed outputs are the
  reference kernels'.
- `person_detect.tflite` runs in the `tflite-micro` PyPI package's interpreter (TFLM's own
  reference kernels; LiteRT 2.3 refuses the file because its bias tensors say
  quantized_dimension 3 on a 1-D tensor).

Preprocessing (what the Rust side must reproduce to build the same `.input`)
--------------------------------------------------------------------------
RGB photos for the uint8 models (`burger.jpg`, `burger_crop.jpg`, `multi_objects.jpg`, `cat.bmp`):
1. Decode to 8-bit RGB with Pillow (`Image.open(p).convert("RGB")`). The BMP decodes exactly;
   JPEG decoders may differ by a few levels, so `decoded_sha256` in the metadata holds the SHA-256
   of the decoded H x W x 3 bytes (row-major, RGB) for a decoder to check itself against.
2. Resize the whole image (no crop, aspect ratio not kept) to the model's input size with TFLite's
   RESIZE_BILINEAR, default options (`align_corners=false, half_pixel_centers=false`), exactly as
   its reference kernel `reference_ops::ResizeBilinear<uint8_t>`
   (tensorflow/lite/kernels/internal/reference/resize_bilinear.h) computes it, all in IEEE
   float32, evaluated left to right as written:
       scale_y = float(in_h) / float(out_h)            (scale_x likewise with widths)
       sy = float(y) * scale_y                         (sx likewise, for each output x)
       y0 = max(floor(sy), 0);  y1 = min(ceil(sy), in_h - 1)   (x0, x1 likewise)
       dy = sy - float(y0);     dx = sx - float(x0)
       v = p[y0,x0] * (1 - dy) * (1 - dx) + p[y1,x0] * dy * (1 - dx)
         + p[y0,x1] * (1 - dy) * dx       + p[y1,x1] * dy * dx   + 0.5
       out = uint8(trunc(v))
   i.e. each output pixel samples the input at (y * in_h / out_h, x * in_w / out_w), the top-left
   corners aligned, no half-pixel offset, no area averaging when shrinking. `--check-resize`
   verifies this numpy resize byte for byte against LiteRT's own RESIZE_BILINEAR reference
   kernel (a one-operator model built here) on every image.
3. Feed the resized uint8 pixels as is: input scale 1/128, zero point 128, so the quantized value
   is the pixel (real value (p - 128) / 128).

`cat_coral` is cat.bmp prepared the way Coral's test harness does it (google-coral/edgetpu,
src/cpp/test_utils.cc, ResizeImage): the same resize on float32 pixels, which has no + 0.5, then
a C cast to uint8: the formula above without its `+ 0.5` (`--check-resize`
checks it against LiteRT's float32 RESIZE_BILINEAR followed by that cast). Coral's thresholds
were set on inputs made this way; see `expectations()`.

`person.bmp`, `no_person.bmp` (TFLM's test inputs) are not pictures but the int8 input tensor:
a 96 x 96, 8 bits per pixel, uncompressed BMP (14-byte file header, 40-byte BITMAPINFOHEADER,
a 256-entry palette that is the identity grey ramp (i, i, i, 0), pixel data at offset 1078, rows
of 96 bytes with no padding, stored bottom-up since the height is positive). TFLM's
generate_cc_arrays.py takes Pillow's `Image.open(p).tobytes()` (palette indices, rows top to
bottom) as a byte array, and person_detection_test.cc memcpy's it into the int8 input. So: flip
the rows to top-down and reinterpret each byte as a two's-complement int8 (0x8d -> -115). This
script parses the BMP itself and checks the result against Pillow's `tobytes()`.

`burger_gray` (an ordinary picture for person_detect): burger.jpg decoded as in step 1, resized
to 96 x 96 as in step 2, turned into grey with Pillow's integer luma
`g = (19595 R + 38470 G + 7471 B + 32768) >> 16` (checked against `Image.convert("L")`),
then `int8 = g - 128`.

Usage (from the repository root):
    python3.11 -m venv tests/reference/.venv-quant
    tests/reference/.venv-quant/bin/pip install -r tests/reference/requirements-quant.txt
    tests/reference/.venv-quant/bin/python tests/reference/make_quant_reference.py --check-resize
It prints each output's top-1 and checks what the models' own projects assert (`expectations()`),
exiting 1 if one fails. Running it again writes identical files (the safetensors header's keys
are sorted, see `save_deterministic`).

Options: `--intermediates DIR` also dumps every activation tensor of every run (reference kernels)
as DIR/{model}/{image}/{tensor index:03}_{tensor name}.npy (not committed); `--only NAME` runs
the models whose file name contains NAME.
"""

import argparse
import hashlib
import json
import math
import pathlib
import re
import struct
import sys
from importlib.metadata import version

import flatbuffers
import numpy as np
from ai_edge_litert import interpreter as litert
from PIL import Image
from safetensors.numpy import load, save
from tflite_micro.python.tflite_micro import runtime as tflm
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "reference" / "quant"

PHOTOS = [
    "assets/tflite-support/burger.jpg",
    "assets/tflite-support/burger_crop.jpg",
    "assets/tflite-support/multi_objects.jpg",
    "assets/coral/cat.bmp",
    # cat.bmp as Coral's own test harness prepares it (float resize, truncated): see the docstring.
    ("cat_coral", "assets/coral/cat.bmp", "rgb_truncated"),
]
# (model, interpreter, images); an image is a path, or ("name", path, kind).
JOBS = [
    ("assets/tflite-support/mobilenet_v1_0.25_224_quant.tflite", "litert", PHOTOS),
    ("assets/coral/mobilenet_v1_0.25_128_quant.tflite", "litert", PHOTOS),
    ("assets/coral/mobilenet_v1_0.5_160_quant.tflite", "litert", PHOTOS),
    (
        "assets/tflite-micro/person_detect.tflite",
        "tflm",
        [
            ("person", "assets/tflite-micro/person.bmp", "raw_int8_bmp"),
            ("no_person", "assets/tflite-micro/no_person.bmp", "raw_int8_bmp"),
            ("burger_gray", "assets/tflite-support/burger.jpg", "gray_minus_128"),
        ],
    ),
]

OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
PADDING = {v: k for k, v in vars(schema.Padding).items() if not k.startswith("_")}
ACTIVATION = {
    v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")
}


# ---------------------------------------------------------------------------------------------
# Preprocessing


def decode_rgb(path):
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def resize_bilinear_tflite(img, out_h, out_w, rounding=True):
    """TFLite's reference RESIZE_BILINEAR for uint8, align_corners=false, half_pixel_centers=false.

    float32 throughout, with the C++ kernel's evaluation order (see the module docstring).
    `rounding=False` drops the + 0.5: TFLite's float32 RESIZE_BILINEAR on the pixels, then a C
    cast to uint8, which is what Coral's test harness does (the `cat_coral` inputs).
    """
    in_h, in_w, _ = img.shape
    f32 = np.float32

    def axis(out_n, in_n):
        scale = f32(in_n) / f32(out_n)
        s = np.arange(out_n).astype(f32) * scale
        lo = np.maximum(np.floor(s).astype(np.int32), 0)
        hi = np.minimum(np.ceil(s).astype(np.int32), in_n - 1)
        return s, lo, hi, s - lo.astype(f32)

    _, y0, y1, dy = axis(out_h, in_h)
    _, x0, x1, dx = axis(out_w, in_w)
    p = img.astype(f32)
    dy = dy[:, None, None]
    dx = dx[None, :, None]
    one = f32(1)
    v00 = p[y0][:, x0]
    v10 = p[y1][:, x0]
    v01 = p[y0][:, x1]
    v11 = p[y1][:, x1]
    v = (
        v00 * (one - dy) * (one - dx)
        + v10 * dy * (one - dx)
        + v01 * (one - dy) * dx
        + v11 * dy * dx
    )
    if rounding:
        v = v + f32(0.5)
    assert v.dtype == np.float32
    return np.trunc(v).astype(np.uint8)


def gray_luma(rgb):
    """Pillow's convert("L"): ITU-R 601-2 luma in 16-bit fixed point, rounded."""
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((19595 * r + 38470 * g + 7471 * b + 32768) >> 16).astype(np.uint8)


def read_raw_int8_bmp(path):
    """A TFLM test BMP as the int8 tensor it holds (see the module docstring), [H, W]."""
    data = pathlib.Path(path).read_bytes()
    if data[:2] != b"BM":
        sys.exit(f"{path}: not a BMP")
    (offset,) = struct.unpack_from("<I", data, 10)
    hdr, width, height, planes, bpp, compression = struct.unpack_from("<IiiHHI", data, 14)
    (colours,) = struct.unpack_from("<I", data, 46)
    if (hdr, planes, bpp, compression) != (40, 1, 8, 0):
        sys.exit(f"{path}: expected an uncompressed 8-bit BMP with a BITMAPINFOHEADER")
    colours = colours or 256
    palette = np.frombuffer(data, np.uint8, colours * 4, 14 + hdr).reshape(colours, 4)
    ramp = np.arange(colours, dtype=np.uint8)
    if not (palette[:, :3] == ramp[:, None]).all():
        sys.exit(f"{path}: palette is not the identity grey ramp")
    stride = (width + 3) // 4 * 4
    rows = np.frombuffer(data, np.uint8, stride * abs(height), offset).reshape(abs(height), stride)
    rows = rows[:, :width]
    if height > 0:  # bottom-up
        rows = rows[::-1]
    with Image.open(path) as img:  # what TFLM's generate_cc_arrays.py embeds
        if img.tobytes() != rows.tobytes():
            sys.exit(f"{path}: differs from Pillow's tobytes()")
    return rows.view(np.int8)


def make_input(image, shape, dtype):
    """(name, input tensor, decoded-image sha256 or None) for one image entry of JOBS."""
    _, h, w, c = shape
    if isinstance(image, str):
        name, path, kind = pathlib.Path(image).stem, image, "rgb"
    else:
        name, path, kind = image
    path = ROOT / path
    if kind in ("rgb", "rgb_truncated"):
        assert c == 3 and dtype == np.uint8
        rgb = decode_rgb(path)
        x = resize_bilinear_tflite(rgb, h, w, rounding=kind == "rgb")
        return name, x[None], hashlib.sha256(rgb.tobytes()).hexdigest()
    if kind == "raw_int8_bmp":
        assert c == 1 and dtype == np.int8
        x = read_raw_int8_bmp(path)
        assert x.shape == (h, w)
        return name, x.reshape(1, h, w, 1), None
    if kind == "gray_minus_128":
        assert c == 1 and dtype == np.int8
        rgb = decode_rgb(path)
        small = resize_bilinear_tflite(rgb, h, w)
        g = gray_luma(small)
        with Image.fromarray(small) as im:
            if not np.array_equal(np.asarray(im.convert("L")), g):
                sys.exit("gray_luma differs from Pillow's convert('L')")
        x = (g.astype(np.int16) - 128).astype(np.int8)
        return name, x.reshape(1, h, w, 1), hashlib.sha256(rgb.tobytes()).hexdigest()
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------
# Interpreters


def litert_run(model, inputs, resolver, dump=None, tensors=None):
    interp = litert.Interpreter(
        model_path=str(model),
        num_threads=1,
        experimental_op_resolver_type=resolver,
        experimental_preserve_all_tensors=dump is not None,
    )
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    (out,) = interp.get_output_details()
    results = []
    for name, x in inputs:
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        results.append(interp.get_tensor(out["index"]).copy())
        if dump is not None:
            d = dump / name
            d.mkdir(parents=True, exist_ok=True)
            (d / "tensors.txt").unlink(missing_ok=True)
            for index, t in enumerate(tensors):
                if not t["constant"]:
                    save_npy(d, index, t["name"], interp.get_tensor(index))
    return results


def tflm_run(model, inputs, dump=None, tensors=None):
    config = tflm.InterpreterConfig.kPreserveAllTensors if dump is not None else (
        tflm.InterpreterConfig.kAllocationRecording
    )
    interp = tflm.Interpreter.from_file(str(model), intrepreter_config=config)
    results = []
    for name, x in inputs:
        interp.set_input(x, 0)
        interp.invoke()
        results.append(np.array(interp.get_output(0)).copy())
        if dump is not None:
            d = dump / name
            d.mkdir(parents=True, exist_ok=True)
            (d / "tensors.txt").unlink(missing_ok=True)
            for index, t in enumerate(tensors):
                if t["constant"]:
                    continue
                save_npy(d, index, t["name"], np.array(interp.GetTensor(index, 0)["tensor_data"]))
    return results


def save_npy(folder, index, name, value):
    """DIR/.../{index:03}_{name}.npy, the name cut at its first ';' (TFLite joins fused names
    with ';') and to 80 characters; tensors.txt beside it lists the full names."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.split(";")[0])[:80]
    np.save(folder / f"{index:03d}_{safe}.npy", value)
    with open(folder / "tensors.txt", "a") as f:
        f.write(f"{index:03d}_{safe}.npy\t{list(value.shape)}\t{value.dtype}\t{name}\n")


def save_deterministic(tensors, path, metadata):
    """safetensors' save, with the JSON header's keys sorted.

    The library writes `__metadata__` from a hash map, so with several keys their order (and
    the file's bytes) changes from run to run. Sorting them keeps the header the same length,
    so the data offsets stay valid; the result still loads with safetensors.
    """
    raw = save(tensors, metadata=metadata)
    (n,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) > n:
        sys.exit("sorted safetensors header is longer than the original")
    out = raw[:8] + text + b" " * (n - len(text)) + raw[8 + n :]
    check = load(out)
    assert all(np.array_equal(check[k], v) for k, v in tensors.items())
    path.write_bytes(out)


# ---------------------------------------------------------------------------------------------
# The model file itself: quantization parameters per operator


def read_model(path):
    buf = pathlib.Path(path).read_bytes()
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))


def tensor_table(model):
    sub = model.subgraphs[0]
    table = []
    for t in sub.tensors:
        q = t.quantization
        buf = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
        table.append(
            {
                "name": t.name.decode() if isinstance(t.name, bytes) else str(t.name),
                "type": TYPE_NAMES[t.type],
                "shape": [int(s) for s in t.shape],
                "scales": None if q is None or q.scale is None else np.asarray(q.scale, np.float32),
                "zero_points": None if q is None or q.zeroPoint is None else np.asarray(q.zeroPoint),
                "qdim": 0 if q is None else int(q.quantizedDimension),
                "constant": buf is not None and buf.data is not None and len(buf.data) > 0,
            }
        )
    return table


def fmt_f32(x):
    """The shortest decimal that reads back as the same float32."""
    return np.format_float_positional(np.float32(x), unique=True, trim="-")


def describe_tensor(role, index, t):
    head = f"    {role:7} #{index:<3} {t['type']:6} {str(t['shape']):18} {t['name']}"
    s, z = t["scales"], t["zero_points"]
    if s is None or len(s) == 0:
        return head + "\n      (not quantized)"
    if len(s) == 1:
        return head + f"\n      scale {fmt_f32(s[0])}  zero_point {int(z[0])}  quantized_dimension {t['qdim']}"
    odd = ""
    if t["qdim"] >= len(t["shape"]):
        odd = (f" (sic: the tensor has {len(t['shape'])} dimension(s); the scales run along its"
               " only axis. LiteRT 2.3 refuses the file for this; TFLM ignores it)")
    zs = (
        f"all {int(z[0])}" if (z == z[0]).all() else " ".join(str(int(v)) for v in z)
    )
    return (
        head
        + f"\n      per channel: {len(s)} scales on quantized_dimension {t['qdim']}{odd}; zero_points {zs}"
        + "\n      scales " + " ".join(fmt_f32(v) for v in s)
    )


def describe_options(op):
    o = op.builtinOptions
    if o is None:
        return ""
    parts = []
    for key in ("strideH", "strideW", "filterHeight", "filterWidth", "depthMultiplier",
                "dilationHFactor", "dilationWFactor", "padding", "fusedActivationFunction",
                "beta", "squeezeDims", "newShape"):
        if hasattr(o, key):
            v = getattr(o, key)
            if key == "padding":
                v = PADDING[v]
            elif key == "fusedActivationFunction":
                v = ACTIVATION[v]
            elif isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, float):
                v = fmt_f32(v)
            parts.append(f"{key}={v}")
    return " " + " ".join(parts)


def quantize_multiplier(m):
    """TFLite's QuantizeMultiplier (quantization_util.cc): m = q * 2^(shift - 31), q in
    [2^30, 2^31), via frexp and TfLiteRound (half away from zero)."""
    if m == 0:
        return 0, 0
    frac, shift = math.frexp(m)
    q = int(math.floor(frac * (1 << 31) + 0.5))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q, shift


def activation_range(fused, out):
    """CalculateActivationRangeQuantized (kernel_util.cc): zp + round(f / scale) in float32."""
    lo, hi = (0, 255) if out["type"] == "UINT8" else (-128, 127)
    scale, zp = np.float32(out["scales"][0]), int(out["zero_points"][0])

    def q(f):
        v = np.float32(f) / scale
        return zp + int(np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)))

    if fused in ("RELU", "RELU6"):
        lo = max(lo, q(0.0))
    if fused == "RELU6":
        hi = min(hi, q(6.0))
    return lo, hi


def describe_requantization(op, table):
    """The multiplier(s) and clamp TFLite derives for a CONV_2D or DEPTHWISE_CONV_2D."""
    tin, tw, tout = table[op.inputs[0]], table[op.inputs[1]], table[op.outputs[0]]
    s_in, s_out = np.float32(tin["scales"][0]), np.float32(tout["scales"][0])
    lo, hi = activation_range(ACTIVATION[op.builtinOptions.fusedActivationFunction], tout)
    clamp = f"      derived: output clamp [{lo}, {hi}]"
    if len(tw["scales"]) == 1:
        # uint8, per tensor: GetQuantizedConvolutionMultipler multiplies the two float scales
        # in float32, then divides in double.
        m = float(np.float32(s_in * np.float32(tw["scales"][0]))) / float(s_out)
        q, shift = quantize_multiplier(m)
        return (clamp + f"; multiplier double(float(s_in * s_filter)) / s_out = {m!r}"
                f" = {q} * 2^({shift} - 31)")
    # per channel: PopulateConvolutionQuantizationParams, all in double.
    pairs = []
    for sf in tw["scales"]:
        q, shift = quantize_multiplier(float(s_in) * float(np.float32(sf)) / float(s_out))
        pairs.append(f"{q}:{shift}")
    return (clamp + "; per-channel multipliers double(s_in) * double(s_filter[c]) / s_out as"
            " q:shift (= q * 2^(shift - 31))\n      multipliers " + " ".join(pairs))


def write_params(model_path, out_path):
    model = read_model(model_path)
    table = tensor_table(model)
    sub = model.subgraphs[0]
    lines = [
        f"# {pathlib.Path(model_path).name}: quantization parameters of every tensor, operator by",
        "# operator in execution order, read from the flatbuffer (scales are the file's float32",
        "# values, printed as the shortest decimal that reads back as the same float32).",
        "# Written by tests/reference/make_quant_reference.py. Lines marked 'derived' are computed",
        "# from the file the way LiteRT / TFLM prepare these operators (see the script).",
        f"model inputs {[int(i) for i in sub.inputs]}  outputs {[int(i) for i in sub.outputs]}",
        describe_tensor("input", sub.inputs[0], table[sub.inputs[0]]),
        "",
    ]
    for i, op in enumerate(sub.operators):
        code = model.operatorCodes[op.opcodeIndex]
        opcode = max(code.builtinCode, code.deprecatedBuiltinCode)
        lines.append(f"op {i:2} {OP_NAMES[opcode]}{describe_options(op)}")
        roles = (["input", "filter", "bias"] if len(op.inputs) == 3 else ["input"] * len(op.inputs))
        for role, ti in zip(roles, op.inputs):
            if ti < 0:
                continue
            if OP_NAMES[opcode] == "RESHAPE" and role == "input" and ti != op.inputs[0]:
                role = "shape"
            text = describe_tensor(role, ti, table[ti])
            if role == "bias" and len(table[ti]["scales"]) > 1:
                # Per-channel bias scales are s_in * s_filter[c]; say so instead of listing them.
                s_in = np.float32(table[op.inputs[0]]["scales"][0])
                product = (s_in * table[op.inputs[1]]["scales"].astype(np.float32)).astype(np.float32)
                rel = np.abs(table[ti]["scales"] / product - 1).max()
                head, rest = text.split("\n      scales ")
                how = "exactly" if rel == 0 else f"within {rel:.1e} relative"
                text = head + f"\n      scales = float32(s_in * s_filter[c]) {how}, every c"
            lines.append(text)
        for ti in op.outputs:
            lines.append(describe_tensor("output", ti, table[ti]))
        if OP_NAMES[opcode] in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            lines.append(describe_requantization(op, table))
        lines.append("")
    out_path.write_text("\n".join(lines))
    return table


# ---------------------------------------------------------------------------------------------
# --check-resize: the numpy resize against LiteRT's own RESIZE_BILINEAR reference kernel


def resize_model(in_h, in_w, out_h, out_w, type_):
    """A one-operator RESIZE_BILINEAR model (default options) on `type_`, as flatbuffer bytes."""
    m = schema.ModelT()
    m.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.RESIZE_BILINEAR
    code.deprecatedBuiltinCode = schema.BuiltinOperator.RESIZE_BILINEAR
    code.version = 1
    m.operatorCodes = [code]
    size = schema.BufferT()
    size.data = np.array([out_h, out_w], np.int32).view(np.uint8)
    m.buffers = [schema.BufferT(), schema.BufferT(), size, schema.BufferT()]

    def tensor(name, shape, type_, buffer):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, shape, type_, buffer
        return t

    sub = schema.SubGraphT()
    sub.tensors = [
        tensor("in", [1, in_h, in_w, 3], type_, 1),
        tensor("size", [2], schema.TensorType.INT32, 2),
        tensor("out", [1, out_h, out_w, 3], type_, 3),
    ]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType = schema.BuiltinOptions.ResizeBilinearOptions
    op.builtinOptions = schema.ResizeBilinearOptionsT()  # align_corners, half_pixel_centers false
    sub.inputs, sub.outputs, sub.operators = [0], [2], [op]
    m.subgraphs = [sub]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def check_resize(rgb, out_h, out_w, ours, rounding):
    """How many bytes of `ours` differ from LiteRT's reference RESIZE_BILINEAR: on uint8 when
    `rounding`, else on float32 pixels followed by a truncating cast (Coral's harness)."""
    type_ = schema.TensorType.UINT8 if rounding else schema.TensorType.FLOAT32
    interp = litert.Interpreter(
        model_content=resize_model(rgb.shape[0], rgb.shape[1], out_h, out_w, type_),
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
    )
    interp.allocate_tensors()
    x = rgb[None] if rounding else rgb[None].astype(np.float32)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    theirs = interp.get_tensor(interp.get_output_details()[0]["index"])[0]
    if not rounding:
        theirs = theirs.astype(np.uint8)  # C's float -> uint8 conversion truncates
    return int((theirs != ours).sum())


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--intermediates", type=pathlib.Path, metavar="DIR")
    ap.add_argument("--only", metavar="NAME", help="only the models whose file name contains NAME")
    ap.add_argument("--check-resize", action="store_true",
                    help="compare the numpy resize with LiteRT's RESIZE_BILINEAR reference kernel")
    ap.add_argument("--out", type=pathlib.Path, default=OUT)
    args = ap.parse_args()

    versions = {"ai-edge-litert": version("ai-edge-litert"), "tflite-micro": version("tflite-micro")}
    failures = []
    args.out.mkdir(parents=True, exist_ok=True)
    for model_rel, engine, images in JOBS:
        model = ROOT / model_rel
        if args.only and args.only not in model.name:
            continue
        stem = model.stem
        table = write_params(model, args.out / f"{stem}.params.txt")
        sub = read_model(model).subgraphs[0]
        shape = table[sub.inputs[0]]["shape"]
        dtype = np.uint8 if table[sub.inputs[0]]["type"] == "UINT8" else np.int8
        made = [make_input(im, shape, dtype) for im in images]
        inputs = [(name, x) for name, x, _ in made]
        dump = None if args.intermediates is None else args.intermediates / stem

        meta = {
            "model": model.name,
            "images": ",".join(
                f"{name}={im if isinstance(im, str) else im[1]}" for (name, _, _), im in zip(made, images)
            ),
            "generator": "tests/reference/make_quant_reference.py",
        }
        stats = {}
        if engine == "litert":
            ref = litert_run(model, inputs, litert.OpResolverType.BUILTIN_REF, dump, table)
            others = {
                "auto": litert_run(model, inputs, litert.OpResolverType.AUTO),
                "builtin": litert_run(
                    model, inputs, litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                ),
            }
            for key, outs in others.items():
                for (name, _), o, r in zip(inputs, outs, ref):
                    gap = np.abs(o.astype(int) - r.astype(int))
                    stats[key, name] = (int((gap != 0).sum()), int(gap.max()))
                meta[f"differs_{key}"] = ",".join(
                    f"{name}:{stats[key, name][0]} (max {stats[key, name][1]})" for name, _ in inputs
                )
            meta["differs_note"] = (
                "per image, how many of the output bytes OpResolverType.AUTO (the optimised "
                "builtins with the default XNNPACK delegate) and BUILTIN_WITHOUT_DEFAULT_DELEGATES "
                "(the optimised builtins alone) give differently from BUILTIN_REF, and the largest "
                "difference, in output steps of 1/256"
            )
            meta["interpreter"] = f"ai-edge-litert {versions['ai-edge-litert']}"
            meta["kernels"] = "OpResolverType.BUILTIN_REF (TFLite reference kernels), num_threads=1"
            meta["preprocess"] = (
                "Pillow RGB decode; whole image resized as TFLite's reference RESIZE_BILINEAR on "
                "uint8 (align_corners=false, half_pixel_centers=false, float32, + 0.5 then "
                "truncate); cat_coral: the same without the + 0.5 (Coral's harness); uint8 "
                "pixels fed as is"
            )
            auto = others["auto"]
        else:
            ref = tflm_run(model, inputs, dump, table)
            auto = None
            meta["interpreter"] = (
                f"tflite-micro {versions['tflite-micro']} (PyPI), Python runtime.Interpreter"
            )
            meta["kernels"] = "TFLM reference kernels (the package's built-in op resolver)"
            meta["preprocess"] = (
                "person, no_person: BMP pixel bytes, rows top-down, reinterpreted as int8; "
                "burger_gray: Pillow RGB decode, TFLite reference RESIZE_BILINEAR to 96x96, "
                "Pillow luma (19595R+38470G+7471B+32768)>>16, minus 128"
            )
        for name, _, sha in made:
            if sha is not None:
                meta[f"decoded_sha256.{name}"] = sha

        tensors = {}
        for (name, x), y in zip(inputs, ref):
            assert x.dtype == dtype and list(x.shape) == shape
            tensors[f"{name}.input"] = np.ascontiguousarray(x)
            tensors[f"{name}.output"] = np.ascontiguousarray(y)
        save_deterministic(tensors, args.out / f"{stem}.safetensors", meta)

        print(f"{model.name} ({meta['interpreter']}, {meta['kernels']})")
        for (name, _), y in zip(inputs, ref):
            out = y.reshape(-1).astype(int)
            if engine == "litert":
                top = int(out.argmax())
                (na, ma), (nb, mb) = stats["auto", name], stats["builtin", name]
                print(f"  {name:14} top-1 {top} byte {out[top]} score {out[top] / 256:.4f}; "
                      f"AUTO differs in {na} bytes (max {ma}), BUILTIN in {nb} (max {mb})")
            else:
                print(f"  {name:14} output {out.tolist()} (no person, person)")
        if args.check_resize:
            for im, (name, x, _) in zip(images, made):
                kind = "rgb" if isinstance(im, str) else im[2]
                if kind in ("rgb", "rgb_truncated", "gray_minus_128"):
                    path = im if isinstance(im, str) else im[1]
                    rgb = decode_rgb(ROOT / path)
                    rounding = kind != "rgb_truncated"
                    ours = resize_bilinear_tflite(rgb, shape[1], shape[2], rounding)
                    bad = check_resize(rgb, shape[1], shape[2], ours, rounding)
                    print(f"  resize check {name}: {bad} bytes differ from LiteRT's RESIZE_BILINEAR")
                    if bad:
                        failures.append(f"{stem}/{name}: resize differs in {bad} bytes")
        failures += expectations(stem, inputs, ref, auto)

    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("all expectations hold")


def expectations(stem, inputs, outputs, auto):
    """The expectations the models' own projects assert (see tests/reference/README.md).

    Returns the failures. Coral's `mobilenet_v1_0.25_128_quant` threshold is known not to hold
    with the reference kernels (its 0.36 was set with optimised kernels), so that one line is
    checked for the label only and the score is printed beside Coral's figure.
    """
    got = {name: y.reshape(-1).astype(int) for (name, _), y in zip(inputs, outputs)}
    fast = {name: y.reshape(-1).astype(int) for (name, _), y in zip(inputs, auto or [])}
    bad = []

    def top1(name, cls, lo, hi=1.0, label_only=False):
        out = got[name]
        t, score = int(out.argmax()), out.max() / 256
        ties = [int(i) for i in np.flatnonzero(out == out.max())]
        in_range = lo <= score <= hi
        ok = t == cls and (in_range or label_only)
        note = f" (tie between {ties}, argmax takes the first)" if len(ties) > 1 else ""
        if name in fast:
            f = fast[name]
            note += f"; AUTO kernels: {int(f.argmax())} at {f.max() / 256:.4f}"
        verdict = "ok" if ok and in_range else ("ok for the label, score below" if ok else "FAIL")
        print(f"  check {stem} {name}: top-1 {t} at {score:.4f}, want {cls} in [{lo}, {hi}]: "
              f"{verdict}{note}")
        if not ok:
            bad.append(f"{stem}/{name}: top-1 {t} at {score:.4f}, want {cls} in [{lo}, {hi}]")

    if stem == "mobilenet_v1_0.25_224_quant":
        top1("burger", 934, 0.95, 0.97)
    elif stem == "mobilenet_v1_0.25_128_quant":
        # With this script's rounding resize, 282 (tabby) and 283 (tiger cat) tie: informational.
        out = got["cat"]
        print(f"  note {stem} cat: 282 at {out[282] / 256:.4f}, 283 at {out[283] / 256:.4f} "
              f"(Coral's 283 >= 0.36 is checked on cat_coral, its own preprocessing)")
        top1("cat_coral", 283, 0.36, label_only=True)
    elif stem == "mobilenet_v1_0.5_160_quant":
        top1("cat", 286, 0.68)
        top1("cat_coral", 286, 0.68)
    elif stem == "person_detect":
        p, n = got["person"], got["no_person"]
        for name, v, want, ok in (
            ("person", p, [-113, 113], p[1] > p[0]),
            ("no_person", n, [57, -57], n[0] > n[1]),
        ):
            exact = v.tolist() == want
            print(f"  check person_detect {name}: {v.tolist()} (TFLM's test: {want}, "
                  f"{'same' if exact else 'DIFFERENT'}), right class wins: {'ok' if ok else 'FAIL'}")
            if not (ok and exact):
                bad.append(f"person_detect/{name}: {v.tolist()}, want {want}")
    return bad


if __name__ == "__main__":
    main()
