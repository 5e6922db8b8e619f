"""Running a restoration model from any of its forms: Keras, SavedModel or TFLite.

`load_restorer(path)` opens a `.keras` file, a SavedModel folder or a `.tflite` file;
`Restorer.from_model(model)` wraps a Keras model in memory. Every form is called the same way,
with named NHWC float32 batches of any height and width, and returns named numpy outputs:

    >>> restorer = load_restorer("out/model.tflite")
    >>> restorer.inputs, restorer.outputs
    (('image',), ('restored',))
    >>> restored = restorer(image=blurred[None])["restored"][0]

Export (`tfrestore.export`) checks its artefacts through these same runners, so what the
parity check measured is what users run.

Every call first checks the model's input limits (`tfrestore.models.limits`: MEDFE's minimum
size, the Context Encoder's largest hole) and raises the Keras model's one-line ValueError,
for every form: a Keras model declares them (`input_limits`), exports record them (a SavedModel
as the asset `assets/tfrestore_input_limits.json`, tracked as the root attribute
`tfrestore_input_limits`; a `.tflite` file as the TFLite metadata entry of that name), since
exported graphs cannot check them (TFLite has no Assert op).

Large images are restored in overlapping tiles (`tfrestore.tiling`): `restorer(x, tile=448,
overlap=32)`; by default (`tile=None`) images of more pixels than the model's window squared
are tiled in that window and smaller ones run whole, `tile=0` never tiles. The window is
`tiling.DEFAULT_TILE` (448) unless the model's input limits recommend their own (`tile`:
EnlightenGAN 768), which exports record with the limits. A fixed-size
`.tflite` file (exported with `input_size`) tiles larger images in windows of exactly its size.
Models with instance norm (DeblurGAN, MEDFE) normalize each feature map with statistics of the
whole image, which one tile does not have: their tiles use image-wide statistics, recorded in a
first pass over the image downscaled to as many pixels as one tile has (`STATISTICS_PIXELS`,
`statistics_functions`).
"""

import functools
import mmap
import os
import zipfile

import keras
import numpy as np
import tensorflow as tf

from tfrestore import tiling
from tfrestore.layers.convolution import own_storage_names
from tfrestore.layers.normalization import (
    InstanceNormalization,
    fixed_statistics,
    pack_statistics,
    recording_statistics,
)
from tfrestore.models import limits as input_limits

ACCEPTED_FORMS = (
    "a .keras file (Keras model), a SavedModel folder (containing saved_model.pb) "
    "or a .tflite file (LiteRT)"
)
SIGNATURE_KEY = "serving_default"
# Models with instance norm: the signatures that record its statistics ({"statistics": [B, K]})
# and that restore with given ones (the serving inputs and "statistics").
# The TFLite converter orders a file's subgraphs by signature key: these sort after
# `serving_default`, which stays subgraph 0, the graph LiteRT's Python API lists the ops of
# (`tfrestore.export.delegation`).
STATISTICS_KEY = "serving_statistics"
WITH_STATISTICS_KEY = "serving_with_statistics"
# Tiled models with instance norm take its statistics from the image downscaled to at most
# this many pixels; None: as many as one tile has, so that pass costs what a tile costs.
STATISTICS_PIXELS = None
# Where exports record the model's input limits (JSON, `tfrestore.models.limits`): the SavedModel
# root attribute and TFLite metadata name, and the SavedModel asset file.
LIMITS_NAME = "tfrestore_input_limits"
LIMITS_FILE = LIMITS_NAME + ".json"


class ModelLoadError(ValueError):
    """A model file or folder exists but cannot be loaded (damaged, incomplete, or refused by
    Keras' safe mode); the message names it and why, in one line."""


def _load_error(path, error):
    """The `ModelLoadError` for `error`, raised while loading the model at `path`."""
    if "safe_mode=False" in str(error):
        reason = "it holds a Lambda layer (Python code), which Keras' safe mode refuses to load"
    else:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = f"damaged or incomplete? ({lines[0] if lines else type(error).__name__})"
    return ModelLoadError(f"cannot load {path}: {reason}")


def saved_model_limits(module, source):
    """The input limits recorded in a loaded SavedModel (None if it records none)."""
    asset = getattr(module, LIMITS_NAME, None)
    if asset is None:
        return None
    text = tf.io.read_file(asset.asset_path).numpy().decode("utf-8")
    return input_limits.from_json(text, f"{source} ({LIMITS_FILE})")


def tflite_metadata(path, name):
    """The bytes of the TFLite metadata entry `name` of a `.tflite` file, or None.

    Reads the flatbuffer's metadata table through a memory map, without loading the weights.
    """
    from ai_edge_litert import schema_py_generated as schema

    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as view:
        model = schema.Model.GetRootAs(view, 0)
        for index in range(model.MetadataLength()):
            entry = model.Metadata(index)
            if entry.Name() == name.encode():
                data = model.Buffers(entry.Buffer()).DataAsNumpy()  # a view of the map, or 0
                found = data.tobytes() if isinstance(data, np.ndarray) else b""
                del data  # the map cannot close while a view of it exists
                return found
    return None


def model_serving_inputs(model):
    """{input name: channels} of a Keras model, in call order.

    tfrestore models declare `serving_inputs`; a plain single-input Keras model (a bare
    generator, say) is treated as taking one `image` with its input's channel count.
    """
    declared = getattr(model, "serving_inputs", None)
    if declared is not None:
        return dict(declared)
    try:
        shape = model.inputs[0].shape
    except (AttributeError, IndexError, TypeError):
        shape = (None, None, None, 3)
    return {"image": shape[-1] or 3}


def model_serving_outputs(model, *inputs):
    """{output name: tensor} of a Keras model (`serving_outputs`, else {"restored": model(x)})."""
    if hasattr(model, "serving_outputs"):
        return dict(model.serving_outputs(*inputs))
    return {"restored": model(inputs[0] if len(inputs) == 1 else inputs, training=False)}


def serving_function(model):
    """The `tf.function` that exported models serve: named inputs in, named outputs out.

    Its input signature has one float32 [None, None, None, C] tensor per entry of
    `model.serving_inputs` (batch, height and width dynamic), named after it; it returns
    `model.serving_outputs(...)` in inference mode.
    """
    specs = [
        tf.TensorSpec([None, None, None, channels], tf.float32, name=name)
        for name, channels in model_serving_inputs(model).items()
    ]

    @tf.function(input_signature=specs)
    def serve(*inputs):
        return model_serving_outputs(model, *inputs)

    return serve


def has_instance_norm(model):
    """Whether `model` holds an `InstanceNormalization` layer (True when it cannot tell)."""
    walk = getattr(model, "_flatten_layers", None)  # Keras' recursive walk (not public API)
    return walk is None or any(isinstance(layer, InstanceNormalization) for layer in walk())


def statistics_functions(model):
    """{STATISTICS_KEY: record, WITH_STATISTICS_KEY: serve} for a model with instance norm
    (`tfrestore.layers.InstanceNormalization`), else {}.

    `record` takes the serving inputs and returns {"statistics": [B, K] float32}, every
    instance norm's per-channel mean and variance on them; `serve` takes the serving inputs
    and `statistics` rows and returns the serving outputs with every instance norm using them
    (`tfrestore.layers.normalization.fixed_statistics`). Exports save both as signatures.
    """
    if not has_instance_norm(model):
        return {}  # skips tracing the model to find out
    specs = serving_function(model).input_signature

    @tf.function(input_signature=specs)
    def record(*inputs):
        with recording_statistics() as recorded:
            model_serving_outputs(model, *inputs)
        return {"statistics": pack_statistics(recorded, tf.shape(inputs[0])[0])}

    width = record.get_concrete_function().structured_outputs["statistics"].shape[-1]
    if not width:
        return {}

    @tf.function(
        input_signature=[*specs, tf.TensorSpec([None, width], tf.float32, name="statistics")]
    )
    def serve(*inputs):
        with fixed_statistics(inputs[-1]):
            return model_serving_outputs(model, *inputs[:-1])

    return {STATISTICS_KEY: record, WITH_STATISTICS_KEY: serve}


class Restorer:
    """A restoration model in one of its forms, called with named NHWC float32 batches.

    Use `load_restorer(path)` or `Restorer.from_model(model)` rather than the subclasses.

    Attributes:
        inputs: tuple of input names, the order of positional calls (e.g. `("image",)` or
            `("image", "mask")`; a SavedModel or `.tflite` file lists them as its signature does).
        outputs: tuple of output names (e.g. `("restored",)`).
        channels: {input name: channel count}.
        form: "keras", "saved_model" or "tflite".
        path: where it was loaded from (None for a model in memory).
        limits: the model's input limits ({"model": name, ...}, see
            `tfrestore.models.limits`), or None for an export that records none (not written
            by tfrestore, or by a version before the record existed): then nothing is checked.
        fixed_size: (height, width) of a fixed-size `.tflite` export's inputs, else None (any
            size).

    Call it with the inputs as keyword arguments (or positionally, in `inputs` order):
    float32 arrays [B, H, W, C] of any B, H and W; images in [0, 1], masks 1 = missing.
    It returns {output name: float32 numpy array}. Inputs outside the model's limits raise
    ValueError before anything runs (`check_inputs`).

    Keyword arguments of the call besides the inputs:
        tile: int or None, restore in overlapping windows of at most this many pixels a side
            (`tfrestore.tiling`); None (default) tiles images of more pixels than the model's
            window squared in that window (its limits' `tile`, else `tiling.DEFAULT_TILE`);
            0 never tiles. A fixed-size `.tflite` file takes None (windows of exactly its
            size; images smaller than it are refused) or 0 (images of its size only).
        overlap: int or None, pixels neighbouring windows share (default
            `tiling.DEFAULT_OVERLAP`, at most a quarter of the tile).
        on_tile: optional callable(done, total) after each batch of windows.
    An image no larger than one tile runs whole. Inpainting models run only the windows that
    contain hole pixels. Models with instance norm use image-wide statistics in every window
    (`statistics_functions`) when their form has them (every Keras model; exports written by
    this tfrestore); otherwise each window normalizes with its own.
    """

    form = None
    # Runs `_run_with_statistics` (the form has the `statistics_functions` signatures).
    has_statistics = False
    statistics_functions = {}

    def __init__(self, channels, outputs, path=None, limits=None):
        self.channels = dict(channels)
        self.inputs = tuple(self.channels)
        self.outputs = tuple(outputs)
        self.path = None if path is None else os.fspath(path)
        self.limits = limits

    fixed_size = None

    @classmethod
    def from_model(cls, model):
        """Wraps an in-memory Keras model (a tfrestore model or a single-input Keras model)."""
        return KerasRestorer(model)

    def __call__(self, *args, tile=None, overlap=None, on_tile=None, **arrays):
        if args:
            if len(args) > len(self.inputs):
                raise ValueError(
                    f"{self.describe()} takes {len(self.inputs)} input(s) {list(self.inputs)}, "
                    f"got {len(args)} positional arrays"
                )
            for name, value in zip(self.inputs, args, strict=False):
                if name in arrays:
                    raise ValueError(f"input {name!r} given both positionally and by name")
                arrays[name] = value
        missing = [name for name in self.inputs if name not in arrays]
        unknown = [name for name in arrays if name not in self.channels]
        if missing or unknown:
            raise ValueError(
                f"{self.describe()} takes inputs {list(self.inputs)}; "
                f"missing {missing}, unknown {unknown}"
            )
        batch = {}
        for name in self.inputs:
            value = np.ascontiguousarray(arrays[name], dtype=np.float32)
            channels = self.channels[name]
            if value.ndim != 4 or channels not in (None, value.shape[-1]):
                raise ValueError(
                    f"input {name!r} must be a [batch, height, width, {channels or 'C'}] "
                    f"array, got shape {value.shape}"
                )
            batch[name] = value
        sizes = {value.shape[:3] for value in batch.values()}
        if len(sizes) > 1:
            raise ValueError(f"inputs must share batch, height and width, got {sorted(sizes)}")
        self.check_inputs(**batch)
        height, width = next(iter(sizes))[1:]
        plan = self._tiling(height, width, tile, overlap)
        if plan is None:
            outputs = self._run(batch)
        else:
            outputs = self._run_tiled(batch, *plan, on_tile=on_tile)
        return {name: np.asarray(outputs[name], dtype=np.float32) for name in self.outputs}

    def _run(self, batch):
        raise NotImplementedError

    def _run_with_statistics(self, batch, statistics):
        raise NotImplementedError

    def _statistics(self, batch):
        raise NotImplementedError

    def _tiling(self, height, width, tile, overlap):
        """(tile, overlap) to restore a `height` x `width` image with, or None to run it
        whole: `tiling.choose_tiling` with the model's own window (its limits' `tile`)."""
        return tiling.choose_tiling(height, width, tile, overlap, (self.limits or {}).get("tile"))

    def _run_tiled(self, batch, tile, overlap, on_tile=None):
        limits = self.limits or {}
        # A fixed-size model runs windows of exactly its size, one at a time (batch 1).
        exact = self.fixed_size is not None
        # Batch windows up to the pixels of the model's own window: the memory it was chosen for.
        window = limits.get("tile")
        batch_pixels = tiling.BATCH_PIXELS if window is None else window * window
        passthrough = None
        if "mask" in batch and self.outputs == ("restored",):

            def passthrough(window):  # no hole: the model returns the image as it is
                return None if window["mask"].any() else {"restored": window["image"]}

        function, statistics = self._run, None
        if self.has_statistics:
            function = self._run_with_statistics
            statistics = self._statistics(self._statistics_inputs(batch, tile * tile))
        return tiling.tiled_apply(
            function,
            batch,
            tile,
            overlap,
            multiple=limits.get("multiple", 1),
            min_size=limits.get("min_size"),
            batch_pixels=0 if exact else batch_pixels,
            passthrough=passthrough,
            extra=statistics,
            on_tile=on_tile,
            exact=exact,
        )

    def _statistics_inputs(self, batch, pixels):
        """The inputs the statistics pass sees: downscaled (area) to `STATISTICS_PIXELS` or
        else `pixels`, no smaller than the model's minimum size."""
        height, width = next(iter(batch.values())).shape[1:3]
        scale = ((STATISTICS_PIXELS or pixels) / (height * width)) ** 0.5
        if scale >= 1:
            return batch
        smallest = (self.limits or {}).get("min_size", (1, 1))
        size = [
            min(length, max(round(length * scale), least))
            for length, least in zip((height, width), smallest, strict=True)
        ]
        return {
            name: tf.image.resize(value, size, method="area").numpy()
            for name, value in batch.items()
        }

    def check_inputs(self, **arrays):
        """Raises ValueError, with the Keras model's message, when these inputs ([B, H, W, C]
        arrays by name) are outside the model's `limits`, e.g. smaller than MEDFE's minimum
        size or with a hole wider than the Context Encoder's. Every call checks first."""
        if self.limits is not None:
            image = arrays["image"] if "image" in arrays else arrays[self.inputs[0]]
            input_limits.check(self.limits, image, arrays.get("mask"))

    def describe(self):
        where = f" {self.path}" if self.path else ""
        return f"{self.form} model{where}"

    def __repr__(self):
        return (
            f"<{type(self).__name__} {self.path or '(in memory)'} inputs={list(self.inputs)} "
            f"outputs={list(self.outputs)}>"
        )


class KerasRestorer(Restorer):
    """Runs a Keras model through `serving_function`, the graph that export saves."""

    form = "keras"

    def __init__(self, model, path=None):
        self.model = model
        self.function = serving_function(model)
        # Tracing once with dynamic shapes names the outputs without running the model.
        outputs = list(self.function.get_concrete_function().structured_outputs)
        limits = input_limits.model_limits(model)
        super().__init__(model_serving_inputs(model), outputs, path, limits)

    @functools.cached_property
    def has_statistics(self):
        return has_instance_norm(self.model) and bool(self.statistics_functions)

    @functools.cached_property
    def statistics_functions(self):
        """`statistics_functions(model)`, traced when tiling or an export first needs them."""
        return statistics_functions(self.model)

    def _call(self, function, batch, *extra):
        outputs = function(*[tf.constant(batch[name]) for name in self.inputs], *extra)
        return {name: t.numpy() for name, t in outputs.items()}

    def _run(self, batch):
        return self._call(self.function, batch)

    def _statistics(self, batch):
        return self._call(self.statistics_functions[STATISTICS_KEY], batch)["statistics"]

    def _run_with_statistics(self, batch, statistics):
        function = self.statistics_functions[WITH_STATISTICS_KEY]
        return self._call(function, batch, tf.constant(statistics))


class SavedModelRestorer(Restorer):
    """Runs the `serving_default` signature of a SavedModel (no tfrestore import needed)."""

    form = "saved_model"

    def __init__(self, path):
        try:
            self.module = tf.saved_model.load(os.fspath(path))
        except Exception as error:  # TensorFlow raises IndexError, DataLossError, ...
            raise _load_error(path, error) from error
        if SIGNATURE_KEY not in self.module.signatures:
            raise ValueError(
                f"SavedModel {path} has no {SIGNATURE_KEY!r} signature "
                f"(it has {sorted(self.module.signatures)})"
            )
        self.function = self.module.signatures[SIGNATURE_KEY]
        _, specs = self.function.structured_input_signature
        channels = {name: spec.shape[-1] for name, spec in specs.items()}
        limits = saved_model_limits(self.module, path)
        super().__init__(channels, list(self.function.structured_outputs), path, limits)
        keys = (STATISTICS_KEY, WITH_STATISTICS_KEY)
        self.has_statistics = all(key in self.module.signatures for key in keys)

    def _call(self, function, arrays):
        outputs = function(**{name: tf.constant(value) for name, value in arrays.items()})
        return {name: t.numpy() for name, t in outputs.items()}

    def _run(self, batch):
        return self._call(self.function, batch)

    def _statistics(self, batch):
        return self._call(self.module.signatures[STATISTICS_KEY], batch)["statistics"]

    def _run_with_statistics(self, batch, statistics):
        function = self.module.signatures[WITH_STATISTICS_KEY]
        return self._call(function, {**batch, "statistics": statistics})


class TFLiteRestorer(Restorer):
    """Runs a `.tflite` file on LiteRT (`tfrestore.litert.LiteRTModel`: CompiledModel with a
    shared weights cache and transient indirection buffers), resized to each call's shape.

    Inputs and outputs are mapped by the `serving_default` signature names, which the
    converter keeps when converting from a SavedModel.
    """

    form = "tflite"

    def __init__(self, path, num_threads=None):
        from tfrestore.litert import LiteRTModel

        self.num_threads = num_threads
        try:
            self.litert = LiteRTModel(os.fspath(path), num_threads=num_threads)
        except Exception as error:
            raise _load_error(path, error) from error
        signatures = self.litert.signatures
        if SIGNATURE_KEY not in signatures:
            raise ValueError(
                f"{path} has no {SIGNATURE_KEY!r} signature (it has {sorted(signatures)}); "
                "export it with tfrestore.export.export_tflite"
            )
        # Shapes as the file declares them, -1 for a dynamic dimension.
        self.input_shapes = signatures[SIGNATURE_KEY]["inputs"]
        channels = {name: shape[-1] for name, shape in self.input_shapes.items()}
        # A fixed-size export (`input_size`) has static shapes: LiteRT would resize them
        # anyway and run a graph whose shapes were folded for another size.
        self.fixed_shapes = {
            name: shape for name, shape in self.input_shapes.items() if min(shape) > 0
        }
        recorded = tflite_metadata(path, LIMITS_NAME)
        limits = None if recorded is None else input_limits.from_json(recorded, f"{path} metadata")
        outputs = list(signatures[SIGNATURE_KEY]["outputs"])
        super().__init__(channels, outputs, path, limits)
        self.has_statistics = all(
            key in signatures for key in (STATISTICS_KEY, WITH_STATISTICS_KEY)
        )

    @property
    def fixed_size(self):
        """(height, width) of a fixed-size export's inputs, or None (any size)."""
        for shape in self.fixed_shapes.values():
            return tuple(shape[1:3])
        return None

    def _tiling(self, height, width, tile, overlap):
        # A fixed-size model restores a larger image in windows of exactly its size (and an
        # image of its size as one window, which also serves batches of several).
        size = self.fixed_size
        if size is None or tile == 0:
            return super()._tiling(height, width, tile, overlap)
        pixels = "x".join(map(str, size))
        if tile is not None:
            raise ValueError(
                f"{self.describe()} has a fixed input size {pixels}: tile must be None (windows "
                f"of exactly {pixels}) or 0 (images of that size only), got {tile!r}"
            )
        if height < size[0] or width < size[1]:
            raise ValueError(
                f"{self.describe()} has a fixed input size {pixels}: it restores images of at "
                f"least {pixels} (larger ones in windows of that size), got {height}x{width} "
                "(export without input_size for any size)"
            )
        return size, tiling.checked_overlap(overlap, min(size))

    def _run(self, batch):
        for name, shape in self.fixed_shapes.items():
            if list(batch[name].shape) != shape:
                raise ValueError(
                    f"{self.describe()} has a fixed input size: {name!r} must be {shape}, got "
                    f"{list(batch[name].shape)} (export without input_size for any size)"
                )
        return self.litert(SIGNATURE_KEY, batch)

    def _statistics(self, batch):
        # On the restorer's own compiled model, kept from image to image (its weights packed
        # once for all signatures), not one built for each image's pass.
        return self.litert(STATISTICS_KEY, batch)["statistics"]

    def _run_with_statistics(self, batch, statistics):
        return self.litert(WITH_STATISTICS_KEY, {**batch, "statistics": statistics})


def load_keras_model(path):
    """Loads a `.keras` file saved from a tfrestore model (or any registered Keras model).

    Raises:
        FileNotFoundError: nothing exists at `path`.
        ModelLoadError: the file is not a `.keras` zip archive, its weights are unreadable, or
            it holds a Lambda layer (safe mode).
    """
    import tfrestore.models  # noqa: F401  (registers the tfrestore classes for deserializing)

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if os.path.isfile(path) and not zipfile.is_zipfile(path):  # Keras says "File not found"
        raise ModelLoadError(f"cannot load {path}: not a .keras file (a zip archive); damaged?")
    try:
        return keras.models.load_model(path)
    except Exception as error:
        # Files saved while the XNNPACK-friendly convolutions were stored under their own
        # names (`tfrestore.layers.convolution`, module doc) load under those.
        try:
            with own_storage_names():
                return keras.models.load_model(path)
        except Exception:
            pass
        raise _load_error(path, error) from error


def load_restorer(path, num_threads=None):
    """Opens a restoration model from a `.keras` file, a SavedModel folder or a `.tflite` file.

    Args:
        path: str or path-like. Also accepts a Keras model in memory (same as
            `Restorer.from_model`).
        num_threads: int, LiteRT interpreter threads for `.tflite` files (default: LiteRT's).

    Returns:
        A `Restorer`: `restorer(image=batch)` returns {"restored": array, ...}; inputs outside
        the model's recorded input limits raise the Keras model's ValueError before running.

    Raises:
        FileNotFoundError: nothing exists at `path`.
        ValueError: `path` is none of the accepted forms (a folder without saved_model.pb,
            an unknown extension), or its recorded input limits are unreadable (or have keys
            of a newer tfrestore); `ModelLoadError` (a ValueError) when it is one of them but
            cannot be loaded (damaged, incomplete, a Lambda layer refused by safe mode).

    Example:
        >>> restorer = load_restorer("out/saved_model")
        >>> restorer(image=np.zeros([1, 45, 38, 3], np.float32))["restored"].shape
        (1, 45, 38, 3)
    """
    if isinstance(path, keras.Model):
        return Restorer.from_model(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected a path or a Keras model, got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or folder; expected {ACCEPTED_FORMS}")
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ValueError(
                f"{path} is a folder without saved_model.pb, so not a SavedModel; "
                f"expected {ACCEPTED_FORMS}"
            )
        return SavedModelRestorer(path)
    extension = os.path.splitext(path)[1].lower()
    if extension == ".keras":
        return KerasRestorer(load_keras_model(path), path=path)
    if extension == ".tflite":
        return TFLiteRestorer(path, num_threads=num_threads)
    raise ValueError(
        f"{path}: unknown model file extension {extension!r}; expected {ACCEPTED_FORMS}"
    )
