"""SavedModel and TFLite export, each checked against the Keras model it came from.

    >>> report = export_saved_model(model, "out/saved_model")
    >>> print(export_tflite(model, "out/model.tflite", quantize="float16"))
    tflite float16 out/model.tflite: 44.6 kB, max abs error 1.1e-03, PSNR 73.4 dB vs Keras

What an export writes:
- SavedModel: a `serving_default` signature taking one float32 [None, None, None, C] tensor per
  entry of `model.serving_inputs` (named after it; batch, height and width dynamic) and
  returning `model.serving_outputs(...)`. Only the variables the signature reads are saved
  (not the discriminator or the perceptual network), and loading needs TensorFlow only, not
  tfrestore.
- TFLite: converted from such a SavedModel with TFLITE_BUILTINS only (no Flex/select TF ops;
  an op without a builtin fails the export instead of failing on the phone) and verified to
  contain no custom op. Height and width stay dynamic (shape signature -1): resize the inputs
  at run time (`tfrestore.inference` does); or, with `input_size=(H, W)`, every shape is
  static ([1, H, W, C]), as GPU and NPU delegates want. The report counts the operators that
  LiteRT's CPU delegate (XNNPACK) leaves to its reference kernels (`Delegation`): the layers
  are written so that a model runs as a few large delegate partitions.
- Each `.tflite` file also describes itself for app developers in the metadata entry
  `tfrestore_model` (JSON: method, signature, input and output names, shapes, value ranges,
  channels, mask convention, fixed size; `model_description`), which `integration_snippet`
  prints as a few lines; `tfrestore export` prints them after the report.
- Models with instance norm (DeblurGAN, MEDFE) get two more signatures in both forms, for tiled
  inference with image-wide statistics (`tfrestore.inference.statistics_functions`):
  `serving_statistics` (the serving inputs in, {"statistics": [B, K]} out) and
  `serving_with_statistics` (the serving inputs and `statistics` in, the serving outputs out).
  They share the weights; int8 and fixed-size TFLite files leave them out (calibration
  would have to cover them; a fixed size has static shapes only), so their tiles normalize with
  their own statistics.
- Int8 (`quantize="int8"`) is selective: the layers that int8 cannot represent well stay
  float32 between int8 ones (by default the instance norms, `default_float_layers`; any
  others with `float_layers`), via the converter's own quantizer denylist (what
  `tf.lite.experimental.QuantizationDebugger` uses); `ExportReport.float_layers` lists them.

Both record the model's input limits (`tfrestore.models.limits`, e.g. MEDFE's minimum size
or the Context Encoder's largest hole) as JSON, because the exported graphs cannot check them
(TFLite has no Assert op); `tfrestore.inference` reads the record and refuses what the Keras
model refuses, before running:
- SavedModel: the asset `assets/tfrestore_input_limits.json`, also reachable with plain
  TensorFlow as `tf.saved_model.load(path).tfrestore_input_limits.asset_path`.
- TFLite: the flatbuffer's metadata entry `tfrestore_input_limits` (the standard place for
  extra data: LiteRT ignores entries it does not know), so the file stays self-contained.

Exports compute in float32 whatever the dtype policy the model was built and trained under
(`tfrestore.models.precision`): a mixed-precision model is exported from a float32 copy.

Every export is run on a deterministic probe (a smooth random 1x45x38 image: non-square and
not a multiple of 4, so in-graph padding is exercised; masks get a centered square hole) and
compared with the Keras model: the report gives the max abs error and the PSNR between the
two. Quantized exports (dynamic, int8) are judged on real photos instead (`photo_inputs`: two
sample photos, 128x128 center crops by default) and refused below 35 dB PSNR. An export that
fails its check raises `ExportError` and writes nothing: the artefact is built under a
temporary sibling name and only renamed to `path` once it passed, so an existing file or
folder at `path` is kept intact.
"""

import contextlib
import dataclasses
import json
import math
import os
import re
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfrestore import litert, metrics
from tfrestore.atomic import atomic_output
from tfrestore.inference import (
    LIMITS_FILE,
    LIMITS_NAME,
    SIGNATURE_KEY,
    STATISTICS_KEY,
    WITH_STATISTICS_KEY,
    KerasRestorer,
    Restorer,
    load_restorer,
    model_serving_outputs,
    tflite_metadata,
)
from tfrestore.layers.lowering import has_xnnpack_forms, xnnpack_forms
from tfrestore.models import limits as input_limits
from tfrestore.models.precision import float32_copy
from tfrestore.quiet import native_stderr_captured

QUANTIZATIONS = (None, "float16", "dynamic", "int8")

# Default parity thresholds per precision, against the float32 Keras model. float32 must match
# to rounding (measured 1e-6 to 3e-5). float16 weights keep ~3 significant digits (measured
# 1e-3 tiny, 2e-3 paper width at 45x38, 4.5e-3 at 256x256), so 1e-2. Int8 errors scale with
# each tensor's range and single pixels can be off by 0.1-0.4, so a max-error bound would be
# arbitrary: quantized modes get a PSNR floor instead, on real photos (`QUALITY_PHOTOS`), not
# on the noise probe, whose activation ranges are not those the model will see. 35 dB is where
# the difference from float32 stops being visible on photos.
DEFAULT_ATOL = {None: 1e-4, "float16": 1e-2, "dynamic": None, "int8": None}
DEFAULT_MIN_PSNR = {None: None, "float16": None, "dynamic": 35.0, "int8": 35.0}
PROBE_SIZE = (45, 38)
# Quantized exports are checked on these sample photos (center crops of QUALITY_SIZE, or of the
# fixed input size) and calibrated by default on the other sample photos (`CALIBRATION_SIZE`
# crops), so that the check never sees a calibration image.
QUALITY_PHOTOS = ("astronaut", "coffee")
QUALITY_SIZE = (128, 128)
CALIBRATION_SIZE = 256


class ExportError(RuntimeError):
    """An export failed (conversion, non-builtin TFLite ops or the parity check)."""


@dataclasses.dataclass
class ExportReport:
    """What an export wrote and how closely it matches the Keras model.

    Attributes:
        path: str, the SavedModel folder or `.tflite` file.
        format: "saved_model" or "tflite".
        quantize: None (float32), "float16", "dynamic" or "int8".
        max_abs_error: float, max |exported - Keras| on the probe over all outputs (None if
            the check was skipped).
        psnr: float, PSNR in dB between exported and Keras outputs on the probe (lowest over
            outputs; inf when identical; None if skipped).
        size_bytes: int, file size (total of the folder for a SavedModel).
        delegation: `Delegation`, how LiteRT's CPU delegate split the `.tflite` graph when
            the check ran it (None for a SavedModel or an unchecked export).
        input_size: (height, width) of a fixed-size (static-shape, batch 1) `.tflite` model,
            None when height and width are dynamic.
        float_layers: for "int8": the layers kept in float32 between int8 ones (paths such
            as "generator/model_2", `float_layers` of `export_tflite`); () when the whole
            graph is int8; None for other modes.
        checked_on: what the check ran on: "probe HxW" or "N photos HxW" (quantized modes);
            None if the check was skipped.
    """

    path: str
    format: str
    quantize: str | None
    max_abs_error: float | None
    psnr: float | None
    size_bytes: int
    delegation: "Delegation | None" = None
    input_size: tuple | None = None
    float_layers: tuple | None = None
    checked_on: str | None = None

    def __str__(self):
        precision = self.quantize or "float32"
        if self.input_size is not None:
            precision += " {}x{}".format(*self.input_size)
        text = f"{self.format} {precision} {self.path}: {_human_size(self.size_bytes)}"
        if self.float_layers is not None:
            text += f", {len(self.float_layers) or 'nothing'} kept in float32"
        if self.max_abs_error is None:
            text += ", not checked"
        else:
            text += f", max abs error {self.max_abs_error:.1e}, PSNR {self.psnr:.1f} dB vs Keras"
            if self.checked_on:
                text += f" on {self.checked_on}"
            if self.delegation is not None:
                text += f"; {self.delegation}"
        if self.float_layers:
            text += "\n  kept in float32: " + ", ".join(self.float_layers)
        return text


@dataclasses.dataclass
class Delegation:
    """How LiteRT's default CPU delegate (XNNPACK) split a `.tflite` model's graph.

    Operators inside the delegate run as a few fused partitions on XNNPACK's optimized
    kernels; those outside run one by one on LiteRT's reference kernels between partitions,
    so a fast model has few partitions and only cheap operators outside (with dynamic height
    and width, the scalar shape arithmetic of the pad-to-a-multiple logic stays outside).

    Attributes:
        ops: int, operators in the model's main graph.
        partitions: int, delegate partitions (XNNPACK nodes in the execution plan).
        outside: {operator name: count} of the operators left outside the delegate.
    """

    ops: int
    partitions: int
    outside: dict

    @property
    def ops_outside(self):
        """int, operators run outside the delegate."""
        return sum(self.outside.values())

    def __str__(self):
        listed = ", ".join(f"{count} {name}" for name, count in self.outside.items())
        return (
            f"{self.ops_outside} of {self.ops} ops outside the XNNPACK delegate"
            + (f" ({listed})" if listed else "")
            + f", {self.partitions} delegate partition{'s' * (self.partitions != 1)}"
        )


def delegation(path, inputs):
    """The `Delegation` of the `.tflite` file at `path`, from an `ai_edge_litert` Interpreter
    that runs its serving signature once on `inputs` ({name: array}; LiteRT applies its
    default delegate when tensors are first allocated). The split is the same whichever
    runtime runs the file (`tfrestore.litert` too): CompiledModel does not report it.

    Delegate nodes (op name DELEGATE) follow the model's own nodes in the node list; each
    lists the tensors entering and leaving its partition, so the operators inside are those
    reached by walking back from its outputs to its inputs.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=os.fspath(path))
    with native_stderr_captured():  # LiteRT's line about creating its delegate
        interpreter.get_signature_runner(SIGNATURE_KEY)(**inputs)
    nodes = interpreter._get_ops_details()  # noqa: SLF001 (LiteRT's only per-node listing)
    delegates = [node for node in nodes if node["op_name"] == "DELEGATE"]
    ops = [node for node in nodes if node["op_name"] != "DELEGATE"]
    producer = {int(t): op["index"] for op in ops for t in op["outputs"]}
    by_index = {op["index"]: op for op in ops}
    inside = set()
    for node in delegates:
        entering = {int(t) for t in node["inputs"]}
        pending = [int(t) for t in node["outputs"]]
        while pending:
            tensor = pending.pop()
            index = producer.get(tensor)
            if tensor in entering or index is None or index in inside:
                continue
            inside.add(index)
            pending.extend(int(t) for t in by_index[index]["inputs"] if t >= 0)
    outside = {}
    for op in ops:
        if op["index"] not in inside:
            outside[op["op_name"]] = outside.get(op["op_name"], 0) + 1
    outside = dict(sorted(outside.items(), key=lambda item: (-item[1], item[0])))
    return Delegation(len(ops), len(delegates), outside)


def _human_size(size):
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


# -- probe and comparison ---------------------------------------------------------------------

MAX_PROBE_HOLE = 64


def probe_inputs(channels, size=PROBE_SIZE, batch_size=1, seed=0):
    """Deterministic test inputs {name: [B, H, W, C] float32} for `channels` {name: C}.

    Images are smooth random fields (bicubic upsampling of a coarse random grid) plus a little
    fine noise, in [0, 1]; 1-channel inputs named like a mask get a centered square hole
    (1 = missing) of half the shorter side, at most `MAX_PROBE_HOLE` (so it fits the Context
    Encoder's 64x64 center at any probe size).
    """
    rng = np.random.RandomState(seed)
    height, width = size
    inputs = {}
    for name, depth in channels.items():
        if depth == 1 and "mask" in name:
            side = _probe_hole_side(height, width)
            inputs[name] = _centered_hole(batch_size, height, width, side)
            continue
        coarse = rng.uniform(size=[batch_size, 5, 4, depth]).astype(np.float32)
        smooth = tf.image.resize(coarse, [height, width], method="bicubic").numpy()
        noise = rng.normal(scale=0.03, size=smooth.shape).astype(np.float32)
        inputs[name] = np.clip(smooth + noise, 0.0, 1.0)
    return inputs


def _probe_hole_side(height, width):
    """The side of `probe_inputs`' hole: half the shorter side, at most `MAX_PROBE_HOLE`."""
    return min(min(height, width) // 2, MAX_PROBE_HOLE)


def _centered_hole(batch_size, height, width, side):
    """[B, H, W, 1] float32 mask with a centered side x side hole (1 = missing)."""
    mask = np.zeros([batch_size, height, width, 1], np.float32)
    top, left = (height - side) // 2, (width - side) // 2
    mask[:, top : top + side, left : left + side] = 1.0
    return mask


def photo_inputs(channels, size=QUALITY_SIZE, names=QUALITY_PHOTOS):
    """Real test inputs: a list of {name: [1, H, W, C] float32}, one per sample photo.

    Each photo is scaled (antialiased bilinear) so that it covers `size`, then center-cropped
    to it; 1-channel inputs named like a mask get `probe_inputs`' centered square hole.
    """
    from tfrestore import data

    height, width = size
    examples = []
    for photo in data.sample_images(names).values():
        scale = max(height / photo.shape[0], width / photo.shape[1])
        if scale > 1:
            shape = [math.ceil(photo.shape[0] * scale), math.ceil(photo.shape[1] * scale)]
            photo = tf.image.resize(photo, shape, antialias=True).numpy()
        top, left = (photo.shape[0] - height) // 2, (photo.shape[1] - width) // 2
        image = np.clip(photo[top : top + height, left : left + width], 0.0, 1.0)[None]
        examples.append(_with_masks({"image": image}, channels))
    return examples


def _with_masks(example, channels, hole_side=_probe_hole_side):
    """`example` {name: array} with one image, as {input name: array} for a model with
    `channels`: the image under the first 3-channel input's name, and under each mask input
    it lacks a centered square hole, `hole_side(height, width)` pixels a side (default:
    `probe_inputs`' hole)."""
    image = next(iter(example.values()))
    batch, height, width = image.shape[:3]
    filled = {}
    for name, depth in channels.items():
        if name in example:
            filled[name] = example[name]
        elif depth == 1 and "mask" in name:
            filled[name] = _centered_hole(batch, height, width, hole_side(height, width))
        else:
            filled[name] = image
    return filled


def compare(expected, actual):
    """(max abs error, PSNR in dB) between two output dicts, worst over their outputs.

    PSNR uses a peak of 1 (outputs are in [0, 1]) and is inf for identical outputs.
    """
    worst_error, worst_psnr = 0.0, math.inf
    for name, reference in expected.items():
        other = actual[name]
        if other.shape != reference.shape:
            raise ExportError(
                f"output {name!r} has shape {other.shape}, the Keras model's {reference.shape}"
            )
        error = float(np.max(np.abs(other.astype(np.float64) - reference)))
        if math.isnan(error):
            return math.nan, math.nan
        value = float(np.min(metrics.psnr(reference, other, max_val=1.0).numpy()))
        worst_error, worst_psnr = max(worst_error, error), min(worst_psnr, value)
    return worst_error, worst_psnr


def _check(label, reference, candidate, probes, atol, min_psnr):
    """Runs both on each probe (an input dict, or a list of them: the worst counts); returns
    (max abs error, PSNR) or raises ExportError."""
    if set(candidate.outputs) != set(reference.outputs) or set(candidate.inputs) != set(
        reference.inputs
    ):
        raise ExportError(
            f"{label}: exported inputs {list(candidate.inputs)} / outputs "
            f"{list(candidate.outputs)} differ from the model's {list(reference.inputs)} / "
            f"{list(reference.outputs)}"
        )
    if candidate.limits != reference.limits:
        raise ExportError(
            f"{label}: recorded input limits {candidate.limits} differ from the model's "
            f"{reference.limits}"
        )
    probes = [probes] if isinstance(probes, dict) else probes
    error, psnr = 0.0, math.inf
    for probe in probes:
        one_error, one_psnr = compare(reference(**probe), candidate(**probe))
        error, psnr = max(error, one_error), min(psnr, one_psnr)
        if math.isnan(one_error):
            error = psnr = math.nan
    shape = "x".join(str(d) for d in next(iter(probes[0].values())).shape[:3])
    what = f"a {shape} probe" if len(probes) == 1 else f"{len(probes)} photos ({shape})"
    problems = []
    if math.isnan(error):
        problems.append("the outputs contain NaN")
    if atol is not None and not error <= atol:
        problems.append(f"max abs error {error:.3g} > atol {atol:g}")
    if min_psnr is not None and not psnr >= min_psnr:
        problems.append(f"PSNR {psnr:.1f} dB < {min_psnr:g} dB")
    if problems:
        raise ExportError(
            f"{label} failed its parity check against the Keras model on {what}: "
            f"{'; '.join(problems)} (max abs error {error:.3g}, PSNR {psnr:.1f} dB); "
            "nothing was written"
        )
    return error, psnr


# -- atomic output ----------------------------------------------------------------------------


def path_size(path):
    """Bytes of a file, or of every file under a folder (a SavedModel)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def _check_saved_model_path(path):
    if os.path.isfile(path):
        raise ValueError(f"{path} is a file; a SavedModel is written as a folder")
    if os.path.isdir(path) and os.listdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ValueError(
                f"{path} is a folder that is not a SavedModel; refusing to replace it "
                "(give a new or empty folder, or an existing SavedModel)"
            )


def _check_tflite_path(path):
    if not path.lower().endswith(".tflite"):
        raise ValueError(f"TFLite output {path} must end in .tflite")
    if os.path.isdir(path):
        raise ValueError(f"TFLite output {path} is a folder")


# -- SavedModel -------------------------------------------------------------------------------


def _reference(model):
    """A Restorer for the model exports are checked against (in memory or a path)."""
    if isinstance(model, Restorer):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_restorer(model)
    # Exports are float32: a model built under a mixed-precision policy is exported (and
    # checked) as a float32 copy holding its weights.
    return KerasRestorer(float32_copy(model))


def _fixed_size_function(reference, input_size):
    """The serving function of `reference` (Keras or SavedModel) with static [1, H, W, C]
    inputs, so every shape in the converted graph is a constant."""
    height, width = input_size
    specs = [
        tf.TensorSpec([1, height, width, channels], tf.float32, name=name)
        for name, channels in reference.channels.items()
    ]

    @tf.function(input_signature=specs)
    def serve(*inputs):
        if reference.form == "keras":
            return model_serving_outputs(reference.model, *inputs)
        return reference.function(**dict(zip(reference.inputs, inputs, strict=True)))

    return serve


def _write_saved_model(reference, path, function=None):
    # Track exactly the variables the serving graph reads, so the SavedModel holds the
    # generator only and loads without any Keras or tfrestore class.
    function = function or reference.function
    concrete = function.get_concrete_function()
    # The signatures only, not the functions as attributes: saving traces an attribute's
    # function again (in its save context), for each of them.
    module = tf.Module()
    module.serving_variables = list(concrete.variables)
    signatures = {SIGNATURE_KEY: concrete}
    # Models with instance norm: the signatures tiled inference uses (image-wide statistics);
    # not for a fixed-size model, whose every shape is static.
    if function is reference.function:
        for key, statistics in reference.statistics_functions.items():
            signatures[key] = statistics.get_concrete_function()
    with tempfile.TemporaryDirectory(prefix="tfrestore-limits-") as scratch:
        limits_file = os.path.join(scratch, LIMITS_FILE)
        with open(limits_file, "w", encoding="utf-8") as file:
            file.write(input_limits.to_json(reference.limits))
        # An asset is copied into assets/ and tracked, so plain tf.saved_model.load finds it.
        setattr(module, LIMITS_NAME, tf.saved_model.Asset(limits_file))
        tf.saved_model.save(module, path, signatures=signatures)


def _with_metadata(flatbuffer, entries):
    """The `.tflite` flatbuffer with metadata entries {name: text} added (replacing entries
    of the same names), each stored as a UTF-8 buffer.

    Unpacks and repacks the model with TensorFlow's flatbuffer utilities, as the converter
    itself does to add its conversion metadata.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    names = {name.encode() for name in entries}
    model.metadata = [m for m in model.metadata or [] if m.name not in names]
    for name, text in entries.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(text.encode("utf-8"), np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = name, len(model.buffers) - 1
        model.metadata.append(entry)
    return flatbuffer_utils.convert_object_to_bytearray(model)


# -- mobile metadata --------------------------------------------------------------------------

# The `.tflite` metadata entry that describes the model to an app developer (JSON, see
# `model_description`), next to the input limits.
DESCRIPTION_NAME = "tfrestore_model"
DESCRIPTION_VERSION = 1


def _method_name(model_name):
    """The `tfrestore.models.get` name of a model class name ("DeblurGAN" -> "deblur_gan")."""
    from tfrestore import models

    return next((key for key, cls in models.MODELS.items() if cls.__name__ == model_name), None)


def _tensor_description(name, shape):
    channels = int(shape[-1])
    entry = {"name": name, "shape": [int(d) for d in shape], "dtype": "float32", "layout": "NHWC"}
    entry["range"] = [0.0, 1.0]
    if channels == 3:
        entry["channels"] = "RGB"
    elif "mask" in name:
        entry["channels"] = "mask"
        entry["mask"] = "1 = missing pixel to fill, 0 = known"
    else:
        entry["channels"] = "gray"
    return entry


def model_description(flatbuffer, limits, quantize, input_size):
    """The JSON-able description recorded as the `.tflite` metadata entry `DESCRIPTION_NAME`.

    Keys: `version`, `model` (class name) and `method` (`tfrestore.models.get` name, None for
    a model of another library), `signature` (the signature key), `inputs` and `outputs`
    (lists of {name, shape (-1 = dynamic), dtype, layout, range, channels ("RGB", "mask" or
    "gray"), and for masks their convention}), `input_size` ([height, width] of a fixed-size
    model, else None), `quantize` (None for float32 weights; inputs and outputs are float32
    in every mode) and `limits` (the input limits, also in `tfrestore_input_limits`).
    """
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=bytes(flatbuffer)).get_signature_runner(SIGNATURE_KEY)
    model = (limits or {}).get("model")
    return {
        "version": DESCRIPTION_VERSION,
        "model": model,
        "method": _method_name(model) if model else None,
        "signature": SIGNATURE_KEY,
        "inputs": [
            _tensor_description(name, details["shape_signature"])
            for name, details in runner.get_input_details().items()
        ],
        "outputs": [
            _tensor_description(name, details["shape_signature"])
            for name, details in runner.get_output_details().items()
        ],
        "input_size": None if input_size is None else list(input_size),
        "quantize": quantize,
        "limits": limits,
    }


def read_model_description(path):
    """The `model_description` recorded in a `.tflite` file, or None (not written by
    tfrestore, or by a version before it recorded one)."""
    recorded = tflite_metadata(path, DESCRIPTION_NAME)
    return None if recorded is None else json.loads(recorded.decode("utf-8"))


def integration_snippet(path):
    """A few lines telling an app developer how to call a `.tflite` file written by
    `export_tflite`: signature, input and output names, shapes and value ranges (for any
    LiteRT binding: Kotlin, Swift, C++ or Python)."""
    description = read_model_description(path)
    if description is None:
        return f"{path} carries no {DESCRIPTION_NAME} metadata (not exported by tfrestore)"
    name = os.path.basename(os.fspath(path))
    lines = [
        f"Using {name} with LiteRT (any binding): signature runner "
        f'"{description["signature"]}", float32 NHWC tensors, batch 1 per call',
    ]

    def shape_text(shape):
        return "[" + ", ".join("?" if d < 0 else str(d) for d in shape) + "]"

    for kind, entries in (("input ", description["inputs"]), ("output", description["outputs"])):
        for entry in entries:
            low, high = entry["range"]
            text = f'  {kind} "{entry["name"]}": {shape_text(entry["shape"])} '
            text += f"{entry['channels']} in [{low:g}, {high:g}]"
            if "mask" in entry:
                text += f" ({entry['mask']})"
            lines.append(text)
    if description["input_size"] is None:
        lines.append(
            "  height and width are dynamic: resize the input tensors to the image's "
            "[1, H, W, C], allocate tensors, then invoke; outputs have the input's H and W"
        )
    else:
        height, width = description["input_size"]
        lines.append(
            f"  fixed size: scale or tile images to {height}x{width} (static shapes, for the "
            "GPU and NPU delegates)"
        )
    limits = {k: v for k, v in (description.get("limits") or {}).items() if k != "model"}
    for key, value in limits.items():
        if key in input_limits.SIZE_KEYS:
            value = input_limits.size_text(value)
        else:  # a pixel count (`tile`)
            value = f"{value} px windows"
        lines.append(f"  {key.replace('_', ' ')}: {value}")
    lines.append(
        "  convert pixels: float = byte / 255 (RGB order); byte = round(clamp(float, 0, 1) * 255)"
    )
    # What `tfrestore.litert` sets, with its measured effect there.
    lines.append(
        f'  on the CPU, LiteRT CpuOptions: xnnpack_weight_cache_path="{litert.WEIGHT_CACHE}" '
        "packs the weights once for all signatures, not once each; "
        f"xnnpack_flags={litert.XNNPACK_FLAGS:#x} (TRANSIENT_INDIRECTION_BUFFER) frees each "
        "convolution's k*k pointers per output pixel after the run (large images)"
    )
    return "\n".join(lines)


def probe_size_of(reference, probe_size=None, default=PROBE_SIZE):
    """(height, width) to check an export of `reference` (a `Restorer`) at: `probe_size`, else
    the model's declared size, else `default` raised to its recorded minimum."""
    if probe_size is not None:
        return tuple(probe_size)
    # tfrestore models may declare the size to probe (`RestorationGAN.serving_size`); an
    # export has none, but its recorded minimum size still gives a valid probe.
    declared = getattr(getattr(reference, "model", None), "serving_size", None)
    if declared:
        return tuple(declared)
    minimum = (reference.limits or {}).get("min_size", (0, 0))
    return tuple(max(side, least) for side, least in zip(default, minimum, strict=True))


def export_saved_model(model, path, check=True, atol=1e-4, probe_size=None):
    """Writes `model` as a SavedModel whose `serving_default` restores images of any size.

    Args:
        model: a tfrestore model (or any Keras model with one image input), or a path to a
            `.keras` file.
        path: output folder. An existing SavedModel there is replaced only if the export
            succeeds; a non-empty folder that is not a SavedModel is refused.
        check: bool, reload the SavedModel and compare it with the Keras model on the probe
            (default True).
        atol: float, max abs error allowed by the check (default 1e-4).
        probe_size: (height, width) of the check's probe (default 45x38, or the model's
            `serving_size` for fixed-size models, or at least an export's recorded minimum
            size).

    Returns:
        ExportReport.

    Raises:
        ExportError: the check failed (nothing is written).
        ValueError: `path` is a file or a non-SavedModel folder; `model` is not a Keras model.

    Example:
        >>> print(export_saved_model(model, "out/saved_model"))
        saved_model float32 out/saved_model: 1.2 MB, max abs error 0.0e+00, PSNR inf dB vs Keras
    """
    path = os.fspath(path)
    reference = _reference(model)
    if not isinstance(reference, KerasRestorer):
        raise ValueError(
            f"export_saved_model needs a Keras model or a .keras file, got a {reference.form} model"
        )
    _check_saved_model_path(path)
    probe = None
    if check:
        probe = probe_inputs(reference.channels, probe_size_of(reference, probe_size))
    with atomic_output(path, directory=True) as temporary:
        _write_saved_model(reference, temporary)
        error = psnr = None
        if check:
            error, psnr = _check(
                f"SavedModel export {path}",
                reference,
                load_restorer(temporary),
                probe,
                atol,
                None,
            )
        size = path_size(temporary)
    return ExportReport(path, "saved_model", None, error, psnr, size)


# -- TFLite -----------------------------------------------------------------------------------


def tflite_ops(model):
    """Sorted names of the operators in a `.tflite` model (path or bytes).

    Builtin ops by their LiteRT name (`CONV_2D`); custom ops, Flex ones included, as
    `CUSTOM:<code>` (`CUSTOM:FlexConv2D`).
    """
    from ai_edge_litert import schema_py_generated as schema

    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as file:
            model = file.read()
    names = {
        value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")
    }
    flatbuffer = schema.Model.GetRootAs(bytearray(model), 0)
    ops = set()
    for i in range(flatbuffer.OperatorCodesLength()):
        code = flatbuffer.OperatorCodes(i)
        # Codes < 127 live in the deprecated 8-bit field; the larger of the two is the op.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            ops.add(f"CUSTOM:{(code.CustomCode() or b'').decode()}")
        else:
            ops.add(names.get(builtin, str(builtin)))
    return sorted(ops)


def _as_input_dicts(batches, channels, max_hole=None):
    """Yields {name: [1, H, W, C] float32} per example of each representative batch. A mask
    input a batch lacks gets a centered hole: `probe_inputs`' in even batches, in odd ones
    3/4 of the shorter side (at most `max_hole`, the model's limit), so that the calibration
    sees what the model meets in large holes. (MEDFE's partial convolutions divide by the
    count of valid pixels in their window, or 1 in windows without any: calibrated on the
    probe's holes alone, that 1 got a range of about 1e-6 in some layers, and the int8 file
    failed on larger holes: LiteRT's DIV stopped on a zero divisor, or XNNPACK refused the
    graph. Their divisor is now max(count, 1), which int8 cannot round to 0, so holes beyond
    the calibration's run too; the large holes still calibrate the ranges they meet.)"""

    def large_hole(height, width):
        return min(3 * min(height, width) // 4, max_hole or height + width)

    names = list(channels)
    for index, batch in enumerate(batches):
        if isinstance(batch, dict):
            arrays = batch
        elif isinstance(batch, (tuple, list)):
            arrays = dict(zip(names, batch, strict=True))
        else:
            arrays = {names[0]: batch}
        arrays = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
        arrays = _with_masks(arrays, channels, large_hole if index % 2 else _probe_hole_side)
        for i in range(len(next(iter(arrays.values())))):
            yield {name: value[i : i + 1] for name, value in arrays.items()}


def _converter(source, quantize, representative_data, channels, statistics=False, max_hole=None):
    # The instance-norm statistics signatures too, except for int8, whose calibration data
    # would have to cover each signature.
    keys = [SIGNATURE_KEY]
    if statistics and quantize != "int8":
        keys += [STATISTICS_KEY, WITH_STATISTICS_KEY]
    converter = tf.lite.TFLiteConverter.from_saved_model(source, signature_keys=keys)
    # Builtins only: with Flex (select TF) ops allowed, an op without a builtin would convert
    # and then fail on a stock mobile runtime; it must fail here instead.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    # The converter's own metadata entry (options, a model hash) costs another unpack and
    # repack of the whole file in Python, seconds for a large model; no runtime reads it.
    converter.exclude_conversion_metadata = True
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        # Integer kernels where they exist, float builtins for the rest; inputs and outputs
        # stay float32 so callers do not change.
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
        examples = list(_as_input_dicts(representative_data, channels, max_hole))
        if not examples:
            raise ValueError("representative_data is empty; int8 needs at least one batch")
        converter.representative_dataset = lambda: iter(examples)
        # Calibrate only: `_quantize_int8` then quantizes, leaving the float layers out.
        converter._experimental_calibrate_only = True  # noqa: SLF001 (as QuantizationDebugger)
    return converter


# -- selective int8 ---------------------------------------------------------------------------

GENERATOR = "generator"  # the attribute and layer name of a tfrestore model's generator


def _layer_paths(layer, parents=()):
    """Yields (path, layer) for every layer nested in a Keras `layer`, depth first; a path is
    the tuple of layer names from `layer`'s child down."""
    for child in layer._flatten_layers(include_self=False, recursive=False):  # noqa: SLF001
        path = (*parents, child.name)
        yield path, child
        yield from _layer_paths(child, path)


def default_float_layers(model):
    """What int8 exports of a Keras model keep in float32 unless told otherwise: for a
    tfrestore model "not generator" (the operators outside its generator network: padding to
    a multiple, cropping, pasting, compositing and range conversion), then the paths
    ("generator/model_2") of its instance norms, and of each batch norm that follows an
    activation instead of a convolution, with that activation.

    The operators around the generator are cheap but int8 breaks some of them (measured on the
    demo's Context Encoder: its one-hot crop-and-paste matrices in int8 gave 10 dB against
    float32, 54 dB in float32).

    Instance norm computes a mean and a variance over the whole image and then divides by its
    square root: in int8 the variance of a tensor whose range is calibrated for its largest
    values rounds to a few levels (measured: a DeblurGAN of random weights at 12.8 dB against
    float32), and XNNPACK has no int8 SQUARED_DIFFERENCE or RSQRT, so each norm also split the
    graph into more delegate partitions (30 instead of 4 for the demo's DeblurGAN).

    A batch norm after a convolution, transposed or not, folds into it or follows it as a
    per-channel scale of its own int8 output (the Context Encoder's decoder: int8 in 55.2 dB of
    float32 on the demo's weights); after an activation (EnlightenGAN's
    conv, LeakyReLU, batch norm) it stays a per-channel scale whose input int8 holds with one
    range for all channels, so channels with small activations round to a few levels that
    the norm then amplifies (the demo's EnlightenGAN: 25 dB with them in int8, 42-45 dB in
    float32).

    A partial convolution that starts a chain (its inputs come from no other partial
    convolution: MEDFE's first of each kernel size) sees the hole at its full size. It divides
    its output by the share of valid pixels in each window, so around the hole it multiplies
    the int8 rounding of its convolution by up to k * k * C; further ones see a hole each
    shrank. Measured on the MEDFE demo's weights (photo check): 29.6 dB with every partial
    convolution in int8, 40.3 with the first three in float32, 43.9 with all 15; keeping only
    the renormalization in float32 gave 31.1. At paper width, 256x256: 297, 383 and 795 ms
    (the official float32 code: about 2,500).
    """
    from tfrestore.layers.normalization import InstanceNormalization
    from tfrestore.layers.partial_conv import PartialConv2D

    layers = (
        [f"not {GENERATOR}"] if isinstance(getattr(model, GENERATOR, None), keras.Model) else []
    )
    for path, layer in _layer_paths(model):
        inputs = [parent.operation for n in layer._inbound_nodes for parent in n.parent_nodes]  # noqa: SLF001
        if isinstance(layer, InstanceNormalization):
            layers.append("/".join(path))
        elif isinstance(layer, PartialConv2D):
            if not any(isinstance(p, PartialConv2D) for p in inputs):
                layers.append("/".join(path))
        elif isinstance(layer, keras.layers.BatchNormalization):
            convolutions = (keras.layers.Conv2D, keras.layers.Conv2DTranspose)
            unfolded = [p for p in inputs if not isinstance(p, convolutions)]
            if len(inputs) == 1 and unfolded:
                layers += ["/".join((*path[:-1], unfolded[0].name)), "/".join(path)]
    return layers


def _node_names(flatbuffer):
    """Output tensor names of the operators of a `.tflite` model's main graph, in order."""
    from ai_edge_litert import schema_py_generated as schema

    graph = schema.Model.GetRootAs(bytearray(flatbuffer), 0).Subgraphs(0)
    names = []
    for i in range(graph.OperatorsLength()):
        operator = graph.Operators(i)
        for j in range(operator.OutputsLength()):
            names.append(graph.Tensors(operator.Outputs(j)).Name().decode())
    return names


def _layer_nodes(layer, nodes):
    """The node names in `nodes` that belong to the layer at path `layer` ("generator/model_2"),
    or for "not NAME" to none of the layer NAME.

    Converted ops are named after the TensorFlow name scopes they were traced in, one per
    layer (made unique with a suffix: "generator_1/model_2_1/moments/mean"); ops fused into
    one carry their names joined by ";".
    """
    negate = layer.startswith("not ")
    layer = layer.removeprefix("not ").strip()
    scopes = "/".join(re.escape(name) + r"(?:_\d+)?" for name in layer.split("/"))
    pattern = re.compile(r"(?:^|[/;])" + scopes + "/")
    return [node for node in nodes if bool(pattern.search(node)) != negate]


def _quantize_int8(label, calibrated, float_layers, required):
    """The int8 model from a calibrated one, with the operators of `float_layers` (layer
    paths) left in float32; returns (flatbuffer, the layers kept in float). A layer with no
    operator in the graph is an error if `required`, else skipped (e.g. a discriminator's)."""
    from tensorflow.lite.python import convert

    nodes = _node_names(calibrated)
    kept, denied = [], []
    for layer in float_layers:
        found = _layer_nodes(layer, nodes)
        if not found and required:
            raise ValueError(
                f"float_layers: no operator of layer {layer!r} in the converted graph "
                "(give layer names or paths such as 'generator/model_2')"
            )
        if found:
            kept.append(layer)
            denied += found
    try:
        # The quantizer prints its options ("fully_quantize: 0, ...") to fd 2 itself.
        with native_stderr_captured():
            flatbuffer = convert.mlir_quantize(calibrated, denylisted_nodes=denied or None)
    except Exception as error:  # the quantizer raises several unrelated error types
        raise ExportError(_conversion_error(label, error)) from error
    return flatbuffer, tuple(kept)


def _conversion_error(label, error):
    text = str(error)
    flex = re.search(r"TF Select ops: ([^\n]+)", text)
    missing = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)))
    if flex or missing:
        ops = flex.group(1).strip() if flex else ", ".join(missing)
        message = (
            f"{label} failed: these TensorFlow ops have no TFLite builtin and Flex ops are "
            f"not allowed: {ops}"
        )
        if "Conv2D" in ops:
            # Seen in practice: TFLite convolutions need a static input channel count, which
            # tf.pad with computed paddings loses.
            message += (
                " (a convolution whose input channel count is unknown in the graph, e.g. after "
                "tf.pad with computed paddings, cannot become CONV_2D: restore the channels "
                "with tf.reshape)"
            )
        return message
    lines = [line for line in text.splitlines() if "error" in line.lower()] or [text]
    return f"{label} failed: {lines[0][:500]}"


def export_tflite(
    model,
    path,
    quantize=None,
    representative_data=None,
    check=True,
    atol=None,
    min_psnr=None,
    saved_model_dir=None,
    probe_size=None,
    input_size=None,
    float_layers=None,
):
    """Converts `model` to a `.tflite` file with builtin ops only and dynamic height and width
    (or a fixed `input_size`).

    Args:
        model: a tfrestore model (or any Keras model with one image input), a path to a
            `.keras` file, or a path to a SavedModel folder written by `export_saved_model`
            (then converted directly and checked against itself).
        path: output file, ending in .tflite. An existing file is replaced only if the export
            succeeds.
        quantize: None (float32, default), "float16" (float16 weights: half the size, the
            GPU delegate's format; on the CPU no faster than float32), "dynamic"
            (dynamic-range: int8 weights, float activations, a quarter of the size) or "int8"
            (integer activations calibrated on `representative_data`, for integer-only
            accelerators, with the `float_layers` left in float32; inputs and outputs stay
            float32). Both quantized modes are checked on real photos (see `min_psnr`).
        representative_data: for "int8": an iterable of input batches, each an array
            [B, H, W, C] in [0, 1] (a mask input it lacks gets a centered hole), a tuple in
            `serving_inputs` order or a dict {input name: array}. A few dozen real images
            cropped to the deployment size calibrate well. None (default): the sample photos
            other than `QUALITY_PHOTOS`, 256 px crops (`CALIBRATION_SIZE`; or the fixed
            `input_size`).
        check: bool, run the `.tflite` file with LiteRT and compare it with the model on the
            probe (default True).
        atol: float, max abs error allowed; None (default) is the precision's default:
            float32 1e-4, float16 1e-2, none for dynamic and int8 (see `min_psnr`).
        min_psnr: float, lowest PSNR in dB allowed; None (default) is the precision's
            default: 35 for dynamic and int8 (`DEFAULT_MIN_PSNR`), none otherwise. Quantized
            modes are checked on the sample photos `QUALITY_PHOTOS` (center crops of
            `probe_size`, default 128x128 or the fixed `input_size`), worst photo counts.
        saved_model_dir: convert this SavedModel (exported from `model`) instead of writing a
            temporary one (a float32 or float16 export of a Keras model whose layers have
            XNNPACK forms traces its own: `tfrestore.layers.lowering`).
        probe_size: (height, width) of the check's probe (default 45x38, or the model's
            `serving_size` for fixed-size models, or at least an export's recorded minimum
            size).
        input_size: (height, width) for a fixed-size model: static [1, H, W, C] inputs and
            outputs, which GPU and NPU delegates need (combine with quantize="float16" for the
            GPU delegate's float16 weights); the check probes at this size. None (default)
            keeps batch, height and width dynamic.
        float_layers: for "int8": names or paths ("model_2", "generator/model_2") of the
            Keras layers whose operators stay float32 (with QUANTIZE/DEQUANTIZE around them),
            matched by the TensorFlow name scopes they were traced in, or "not NAME" for every
            operator outside layer NAME; each must be found. None (default): the operators
            outside the generator and the instance norms (`default_float_layers`), which int8
            cannot represent within 35 dB; () quantizes every operator that has an int8
            kernel. The report lists them (`ExportReport.float_layers`).

    The file records the model's input limits (metadata `tfrestore_input_limits`) and a
    description for app developers (metadata `tfrestore_model`: `model_description`,
    printed readably by `integration_snippet`).

    Returns:
        ExportReport.

    Raises:
        ValueError: unknown `quantize`, bad `path`, an `input_size` that is not two positive
            ints or that the model refuses, `float_layers` not found in the graph or given
            for another mode than "int8".
        ExportError: conversion failed (e.g. an op with no TFLite builtin), the result has
            custom ops, or the parity check failed; nothing is written.

    Example:
        >>> print(export_tflite(model, "out/model.tflite", quantize="dynamic"))
        tflite dynamic out/model.tflite: 39.9 kB, max abs error 2.5e-02, PSNR 47.5 dB vs Keras
    """
    if quantize not in QUANTIZATIONS:
        valid = ", ".join(repr(q) for q in QUANTIZATIONS)
        raise ValueError(f"unknown quantize={quantize!r}; valid values: {valid}")
    if float_layers is not None and quantize != "int8":
        raise ValueError(f"float_layers applies to quantize='int8' only, not {quantize!r}")
    path = os.fspath(path)
    _check_tflite_path(path)
    reference = _reference(model)
    if reference.form == "tflite":
        raise ValueError(f"cannot export a .tflite model again: {reference.path}")
    if reference.form == "saved_model" and saved_model_dir is None:
        saved_model_dir = reference.path
    if input_size is not None:
        input_size = _checked_input_size(reference, input_size)
    atol = DEFAULT_ATOL[quantize] if atol is None else atol
    min_psnr = DEFAULT_MIN_PSNR[quantize] if min_psnr is None else min_psnr
    label = f"TFLite {quantize or 'float32'} export {path}"

    with tempfile.TemporaryDirectory(prefix="tfrestore-export-") as scratch:
        source = os.fspath(saved_model_dir) if saved_model_dir else None
        if quantize == "int8" and representative_data is None:
            representative_data = calibration_photos(reference.channels, input_size)
        # A float graph of a Keras model whose layers have XNNPACK forms is traced anew,
        # within `xnnpack_forms` (a SavedModel has TensorFlow's forms).
        lowered = (
            quantize in (None, "float16")
            and reference.form == "keras"
            and has_xnnpack_forms(reference.model)
        )
        traced = reference  # the form converted (its statistics functions traced once)
        if input_size is not None or source is None or lowered:
            source = os.path.join(scratch, "saved_model")
            with xnnpack_forms() if lowered else contextlib.nullcontext():
                traced = KerasRestorer(reference.model) if lowered else reference
                function = None if input_size is None else _fixed_size_function(traced, input_size)
                _write_saved_model(traced, source, function)
        # Not for a fixed size (module doc); checked first so that nothing is traced for it.
        statistics = input_size is None and traced.has_statistics
        max_hole = (reference.limits or {}).get("max_hole")
        converter = _converter(
            source,
            quantize,
            representative_data,
            reference.channels,
            statistics,
            max_hole=min(max_hole) if max_hole else None,
        )
        try:
            with warnings.catch_warnings():
                # Int8 calibration runs TF's own (deprecated) interpreter; not ours to fix.
                warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
                flatbuffer = converter.convert()
        except Exception as error:  # the converter raises several unrelated error types
            raise ExportError(_conversion_error(label, error)) from error
    kept = None
    if quantize == "int8":
        required = float_layers is not None
        if float_layers is None:
            float_layers = (
                default_float_layers(reference.model) if reference.form == "keras" else ()
            )
        flatbuffer, kept = _quantize_int8(label, flatbuffer, float_layers, required)

    custom = [op for op in tflite_ops(flatbuffer) if op.startswith("CUSTOM:")]
    if custom:
        raise ExportError(f"{label}: the converted model has non-builtin ops {custom}")
    description = model_description(flatbuffer, reference.limits, quantize, input_size)
    entries = {DESCRIPTION_NAME: json.dumps(description)}
    if reference.limits is not None:
        entries[LIMITS_NAME] = input_limits.to_json(reference.limits)
    flatbuffer = _with_metadata(flatbuffer, entries)
    with atomic_output(path) as temporary:
        with open(temporary, "wb") as file:
            file.write(flatbuffer)
        error = psnr = split = checked_on = None
        if check:
            candidate = load_restorer(temporary)
            shapes = candidate.input_shapes
            if input_size is None and any(s[1:3] != [-1, -1] for s in shapes.values()):
                raise ExportError(f"{label}: height and width are not dynamic: {shapes}")
            if input_size is not None and any(
                s != [1, *input_size, candidate.channels[name]] for name, s in shapes.items()
            ):
                raise ExportError(f"{label}: inputs are not [1, {input_size}, C]: {shapes}")
            if quantize in ("dynamic", "int8"):
                size = input_size or probe_size_of(reference, probe_size, QUALITY_SIZE)
                probes = photo_inputs(reference.channels, size)
                checked_on = "{} photos {}x{}".format(len(probes), *size)
            else:
                size = input_size or probe_size_of(reference, probe_size)
                probes = [probe_inputs(reference.channels, size)]
                checked_on = "probe {}x{}".format(*size)
            error, psnr = _check(label, reference, candidate, probes, atol, min_psnr)
            split = delegation(temporary, probes[0])
            del candidate  # release the mapped file before it is renamed
    return ExportReport(
        path, "tflite", quantize, error, psnr, len(flatbuffer), split, input_size, kept, checked_on
    )


def calibration_photos(channels, input_size=None):
    """The default int8 calibration data: the sample photos other than `QUALITY_PHOTOS`, as
    {image input name: [1, H, W, 3]} center crops of `input_size` (default CALIBRATION_SIZE
    square); the calibration adds the masks (`_as_input_dicts`)."""
    from tfrestore import data

    names = [name for name in data.SAMPLE_NAMES if name not in QUALITY_PHOTOS]
    size = input_size or (CALIBRATION_SIZE, CALIBRATION_SIZE)
    images = {name: depth for name, depth in channels.items() if depth == 3}
    return photo_inputs(images, size, names)


def _checked_input_size(reference, input_size):
    """`input_size` as (height, width) ints; ValueError if malformed or refused by the model
    (e.g. smaller than its minimum size)."""
    if (
        not isinstance(input_size, (tuple, list))
        or len(input_size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in input_size)
        or min(input_size) < 1
    ):
        raise ValueError(f"input_size must be (height, width), two ints >= 1; got {input_size!r}")
    input_size = tuple(int(v) for v in input_size)
    blank = {
        name: np.zeros([1, *input_size, channels], np.float32)
        for name, channels in reference.channels.items()
    }
    try:
        reference.check_inputs(**blank)
    except ValueError as error:
        raise ValueError(f"input_size {input_size[0]}x{input_size[1]}: {error}") from None
    return input_size


def representative_images(paths, crop_size=256, limit=64):
    """Loads images for int8 calibration: a list of [1, h, w, 3] float32 batches in [0, 1].

    Args:
        paths: image files and/or folders (searched recursively).
        crop_size: int, center-crop each image to at most crop_size x crop_size (default 256),
            the size the model will mostly see; None keeps full images.
        limit: int, use at most this many images (default 64).
    """
    from tfrestore import data

    files = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            files.extend(os.path.join(path, name) for name in data.list_images(path))
        else:
            files.append(path)
    if not files:
        raise ValueError(f"no images found in {[os.fspath(p) for p in paths]}")
    batches = []
    for file in files[:limit]:
        image = data.read_image(file)
        if crop_size:
            height, width = image.shape[:2]
            top, left = max(height - crop_size, 0) // 2, max(width - crop_size, 0) // 2
            image = image[top : top + crop_size, left : left + crop_size]
        batches.append(image[None])
    return batches
