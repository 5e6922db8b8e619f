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
  at run time (`tfrestore.inference` does).

Both record the model's input limits (`tfrestore.models.limits`, e.g. MEDFE's minimum size
or the Context Encoder's largest hole) as JSON, because the exported graphs cannot check them
(TFLite has no Assert op); `tfrestore.inference` reads the record and refuses what the Keras
model refuses, before running:
- SavedModel: the asset `assets/tfrestore_input_limits.json`, also reachable with plain
  TensorFlow as `tf.saved_model.load(path).tfrestore_input_limits.asset_path`.
- TFLite: the flatbuffer's metadata entry `tfrestore_input_limits` (the standard place for
  extra data: LiteRT ignores entries it does not know, and the converter writes its own
  `CONVERSION_METADATA` entry the same way), so the file stays self-contained.

Exports compute in float32 whatever the dtype policy the model was built and trained under
(`tfrestore.models.precision`): a mixed-precision model is exported from a float32 copy.

Every export is run on a deterministic probe (a smooth random 1x45x38 image: non-square and
not a multiple of 4, so in-graph padding is exercised; masks get a centered square hole) and
compared with the Keras model: the report gives the max abs error and the PSNR between the
two. An export that fails its check raises `ExportError` and writes nothing: the artefact is
built under a temporary sibling name and only renamed to `path` once it passed, so an
existing file or folder at `path` is kept intact.
"""

import dataclasses
import math
import os
import re
import tempfile
import warnings

import numpy as np
import tensorflow as tf

from tfrestore import metrics
from tfrestore.atomic import atomic_output
from tfrestore.inference import (
    LIMITS_FILE,
    LIMITS_NAME,
    SIGNATURE_KEY,
    KerasRestorer,
    Restorer,
    load_restorer,
)
from tfrestore.models import limits as input_limits
from tfrestore.models.precision import float32_copy

QUANTIZATIONS = (None, "float16", "dynamic", "int8")

# Default parity thresholds per precision, against the float32 Keras model. float32 must match
# to rounding (measured 1e-6 to 3e-5). float16 weights keep ~3 significant digits (measured
# 1e-3 tiny, 2e-3 paper width at 45x38, 4.5e-3 at 256x256), so 1e-2. Int8 errors scale with
# each tensor's range and single pixels can be off by 0.1-0.4 (measured on random DeblurGANs,
# tiny / paper width: dynamic 3e-2 / 9e-2, 47 / 35 dB; full int8 0.2 / 0.4, 31 / 22 dB), so a
# max-error bound would be arbitrary: they get a PSNR floor instead. The floors are sanity
# checks that catch a broken conversion (the probe input itself scores ~12 dB against the
# output), not quality targets: pass `min_psnr` (or `atol`) for one.
DEFAULT_ATOL = {None: 1e-4, "float16": 1e-2, "dynamic": None, "int8": None}
DEFAULT_MIN_PSNR = {None: None, "float16": None, "dynamic": 25.0, "int8": 15.0}
PROBE_SIZE = (45, 38)


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
    """

    path: str
    format: str
    quantize: str | None
    max_abs_error: float | None
    psnr: float | None
    size_bytes: int

    def __str__(self):
        precision = self.quantize or "float32"
        text = f"{self.format} {precision} {self.path}: {_human_size(self.size_bytes)}"
        if self.max_abs_error is None:
            return text + ", not checked"
        return text + f", max abs error {self.max_abs_error:.1e}, PSNR {self.psnr:.1f} dB vs Keras"


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
            mask = np.zeros([batch_size, height, width, 1], np.float32)
            side = min(min(height, width) // 2, MAX_PROBE_HOLE)
            top, left = (height - side) // 2, (width - side) // 2
            mask[:, top : top + side, left : left + side] = 1.0
            inputs[name] = mask
            continue
        coarse = rng.uniform(size=[batch_size, 5, 4, depth]).astype(np.float32)
        smooth = tf.image.resize(coarse, [height, width], method="bicubic").numpy()
        noise = rng.normal(scale=0.03, size=smooth.shape).astype(np.float32)
        inputs[name] = np.clip(smooth + noise, 0.0, 1.0)
    return inputs


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


def _check(label, reference, candidate, probe, atol, min_psnr):
    """Runs both on the probe; returns (max abs error, PSNR) or raises ExportError."""
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
    error, psnr = compare(reference(**probe), candidate(**probe))
    shape = "x".join(str(d) for d in next(iter(probe.values())).shape[:3])
    problems = []
    if math.isnan(error):
        problems.append("the outputs contain NaN")
    if atol is not None and not error <= atol:
        problems.append(f"max abs error {error:.3g} > atol {atol:g}")
    if min_psnr is not None and not psnr >= min_psnr:
        problems.append(f"PSNR {psnr:.1f} dB < {min_psnr:g} dB")
    if problems:
        raise ExportError(
            f"{label} failed its parity check against the Keras model on a {shape} probe: "
            f"{'; '.join(problems)} (max abs error {error:.3g}, PSNR {psnr:.1f} dB); "
            "nothing was written"
        )
    return error, psnr


# -- atomic output ----------------------------------------------------------------------------


def _size(path):
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


def _write_saved_model(reference, path):
    # Track exactly the variables the serving graph reads, so the SavedModel holds the
    # generator only and loads without any Keras or tfrestore class.
    concrete = reference.function.get_concrete_function()
    module = tf.Module()
    module.serve = reference.function
    module.serving_variables = list(concrete.variables)
    with tempfile.TemporaryDirectory(prefix="tfrestore-limits-") as scratch:
        limits_file = os.path.join(scratch, LIMITS_FILE)
        with open(limits_file, "w", encoding="utf-8") as file:
            file.write(input_limits.to_json(reference.limits))
        # An asset is copied into assets/ and tracked, so plain tf.saved_model.load finds it.
        setattr(module, LIMITS_NAME, tf.saved_model.Asset(limits_file))
        tf.saved_model.save(module, path, signatures={SIGNATURE_KEY: concrete})


def _with_limits(flatbuffer, limits):
    """The `.tflite` flatbuffer with `limits` as its metadata entry `LIMITS_NAME` (JSON).

    Unpacks and repacks the model with TensorFlow's flatbuffer utilities, as the converter
    itself does to add its conversion metadata.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(input_limits.to_json(limits).encode("utf-8"), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = LIMITS_NAME, len(model.buffers) - 1
    model.metadata = [m for m in model.metadata or [] if m.name != LIMITS_NAME.encode()]
    model.metadata.append(entry)
    return flatbuffer_utils.convert_object_to_bytearray(model)


def _probe_size(reference, probe_size):
    if probe_size is not None:
        return tuple(probe_size)
    # tfrestore models may declare the size to probe (`RestorationGAN.serving_size`); an
    # export has none, but its recorded minimum size still gives a valid probe.
    declared = getattr(getattr(reference, "model", None), "serving_size", None)
    if declared:
        return tuple(declared)
    minimum = (reference.limits or {}).get("min_size", (0, 0))
    return tuple(max(default, least) for default, least in zip(PROBE_SIZE, minimum, strict=True))


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
    probe = probe_inputs(reference.channels, _probe_size(reference, probe_size)) if check else None
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
        size = _size(temporary)
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


def _as_input_dicts(batches, names):
    """Yields {name: [1, H, W, C] float32} per example of each representative batch."""
    for batch in batches:
        if isinstance(batch, dict):
            arrays = batch
        elif isinstance(batch, (tuple, list)):
            arrays = dict(zip(names, batch, strict=True))
        else:
            arrays = {names[0]: batch}
        arrays = {name: np.asarray(arrays[name], np.float32) for name in names}
        for i in range(len(next(iter(arrays.values())))):
            yield {name: value[i : i + 1] for name, value in arrays.items()}


def _converter(source, quantize, representative_data, names):
    converter = tf.lite.TFLiteConverter.from_saved_model(source, signature_keys=[SIGNATURE_KEY])
    # Builtins only: with Flex (select TF) ops allowed, an op without a builtin would convert
    # and then fail on a stock mobile runtime; it must fail here instead.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        # Integer kernels where they exist, float builtins for the rest (e.g. instance norm's
        # rsqrt); inputs and outputs stay float32 so callers do not change.
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
        examples = list(_as_input_dicts(representative_data, names))
        if not examples:
            raise ValueError("representative_data is empty; int8 needs at least one batch")
        converter.representative_dataset = lambda: iter(examples)
    return converter


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
):
    """Converts `model` to a `.tflite` file with builtin ops only and dynamic height and width.

    Args:
        model: a tfrestore model (or any Keras model with one image input), a path to a
            `.keras` file, or a path to a SavedModel folder written by `export_saved_model`
            (then converted directly and checked against itself).
        path: output file, ending in .tflite. An existing file is replaced only if the export
            succeeds.
        quantize: None (float32, default), "float16" (float16 weights), "dynamic"
            (dynamic-range int8 weights) or "int8" (full integer quantization calibrated on
            `representative_data`; inputs and outputs stay float32).
        representative_data: for "int8": an iterable of input batches, each an array
            [B, H, W, C] in [0, 1] (single-input models), a tuple in `serving_inputs` order or
            a dict {input name: array}. A few dozen real images cropped to the deployment size
            calibrate well.
        check: bool, run the `.tflite` file with LiteRT and compare it with the model on the
            probe (default True).
        atol: float, max abs error allowed; None (default) is the precision's default:
            float32 1e-4, float16 1e-2, none for dynamic and int8 (see `min_psnr`).
        min_psnr: float, lowest PSNR in dB allowed; None (default) is the precision's
            default: 25 for dynamic, 15 for int8, none otherwise.
        saved_model_dir: convert this SavedModel (exported from `model`) instead of writing a
            temporary one.
        probe_size: (height, width) of the check's probe (default 45x38, or the model's
            `serving_size` for fixed-size models, or at least an export's recorded minimum
            size).

    Returns:
        ExportReport.

    Raises:
        ValueError: unknown `quantize`, "int8" without `representative_data`, bad `path`.
        ExportError: conversion failed (e.g. an op with no TFLite builtin), the result has
            custom ops, or the parity check failed; nothing is written.

    Example:
        >>> print(export_tflite(model, "out/model.tflite", quantize="dynamic"))
        tflite dynamic out/model.tflite: 39.9 kB, max abs error 2.5e-02, PSNR 47.5 dB vs Keras
    """
    if quantize not in QUANTIZATIONS:
        valid = ", ".join(repr(q) for q in QUANTIZATIONS)
        raise ValueError(f"unknown quantize={quantize!r}; valid values: {valid}")
    if quantize == "int8" and representative_data is None:
        raise ValueError(
            "quantize='int8' needs representative_data: a few input batches to calibrate the "
            "int8 ranges (or use quantize='dynamic', which needs none)"
        )
    path = os.fspath(path)
    _check_tflite_path(path)
    reference = _reference(model)
    if reference.form == "tflite":
        raise ValueError(f"cannot export a .tflite model again: {reference.path}")
    if reference.form == "saved_model" and saved_model_dir is None:
        saved_model_dir = reference.path
    atol = DEFAULT_ATOL[quantize] if atol is None else atol
    min_psnr = DEFAULT_MIN_PSNR[quantize] if min_psnr is None else min_psnr
    label = f"TFLite {quantize or 'float32'} export {path}"

    with tempfile.TemporaryDirectory(prefix="tfrestore-export-") as scratch:
        source = os.fspath(saved_model_dir) if saved_model_dir else None
        if source is None:
            source = os.path.join(scratch, "saved_model")
            _write_saved_model(reference, source)
        converter = _converter(source, quantize, representative_data, reference.inputs)
        try:
            with warnings.catch_warnings():
                # Int8 calibration runs TF's own (deprecated) interpreter; not ours to fix.
                warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
                flatbuffer = converter.convert()
        except Exception as error:  # the converter raises several unrelated error types
            raise ExportError(_conversion_error(label, error)) from error

    custom = [op for op in tflite_ops(flatbuffer) if op.startswith("CUSTOM:")]
    if custom:
        raise ExportError(f"{label}: the converted model has non-builtin ops {custom}")
    if reference.limits is not None:
        flatbuffer = _with_limits(flatbuffer, reference.limits)
    with atomic_output(path) as temporary:
        with open(temporary, "wb") as file:
            file.write(flatbuffer)
        error = psnr = None
        if check:
            candidate = load_restorer(temporary)
            dynamic = {
                name: list(details["shape_signature"])
                for name, details in candidate.runner.get_input_details().items()
            }
            if any(shape[1:3] != [-1, -1] for shape in dynamic.values()):
                raise ExportError(f"{label}: height and width are not dynamic: {dynamic}")
            probe = probe_inputs(reference.channels, _probe_size(reference, probe_size))
            error, psnr = _check(label, reference, candidate, probe, atol, min_psnr)
            del candidate  # release the mapped file before it is renamed
    return ExportReport(path, "tflite", quantize, error, psnr, len(flatbuffer))


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
