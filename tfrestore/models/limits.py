"""Input limits: what a model's inputs must satisfy beyond dtype and channels, as data.

A model describes its limits once, as a small JSON-able dict (`RestorationGAN.input_limits`,
named by `model_limits`). Keras `call` asserts them, `check_inputs` raises on them, and exports
record the same dict (`tfrestore.export`), because exported graphs cannot check anything
themselves (TFLite has no Assert op): `tfrestore.inference` reads the record back and refuses,
before running, what the Keras model refuses, with the same message.

Keys (all optional except `model`):
    model: str, the model's name in messages, e.g. "MEDFE".
    min_size: [height, width], the smallest image.
    max_hole: [height, width], the largest bounding box of one example's hole pixels
        (mask > 0).
    multiple: [height, width], the multiples the model reflect-pads H and W to inside (not a
        requirement: any size runs; `tfrestore.tiling` aligns its windows to it). Left out
        when it is 1.
    tile: int, the window size in pixels that tiled restore uses for this model by default
        (`tfrestore.inference.Restorer` with `tile=None`), where the library's default
        (`tfrestore.tiling.DEFAULT_TILE`) would show seams or need too much memory.

    >>> limits = {"model": "ContextEncoder", "min_size": [64, 64], "max_hole": [64, 64]}
    >>> check(limits, image, mask)  # ValueError: the hole does not fit in the 64x64 center ...
"""

import json

import tensorflow as tf

SIZE_KEYS = ("min_size", "max_hole", "multiple")
PIXEL_KEYS = ("tile",)


def model_limits(model):
    """The limits of a Keras model: `{"model": class name, **model.input_limits()}`, with
    `multiple` from its `pad_multiple` when that is above 1.

    A Keras model that declares no `input_limits` (a bare generator) has none beyond its name.
    """
    declared = model.input_limits() if hasattr(model, "input_limits") else {}
    multiple = int(getattr(model, "pad_multiple", 1))
    if multiple > 1:
        declared = {**declared, "multiple": [multiple, multiple]}
    return validated({"model": type(model).__name__, **declared})


def validated(limits, source="input limits"):
    """`limits` as plain JSON types; ValueError naming `source` for an unknown key or a bad
    value (a record written by a newer tfrestore must not be half-checked)."""
    if not isinstance(limits, dict) or not isinstance(limits.get("model"), str):
        raise ValueError(f"{source} must be a dict with a 'model' name, got {limits!r}")
    unknown = sorted(set(limits) - {"model", *SIZE_KEYS, *PIXEL_KEYS})
    if unknown:
        raise ValueError(
            f"{source} has keys this tfrestore does not know: {unknown} (known: model, "
            f"{', '.join(SIZE_KEYS + PIXEL_KEYS)}); upgrade tfrestore"
        )
    result = {"model": limits["model"]}
    for key in SIZE_KEYS:
        if key in limits:
            value = limits[key]
            if (
                not isinstance(value, (list, tuple))
                or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                or min(value) < 1
            ):
                raise ValueError(f"{source}: {key} must be [height, width] >= 1, got {value!r}")
            result[key] = [int(v) for v in value]
    for key in PIXEL_KEYS:
        if key in limits:
            value = limits[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"{source}: {key} must be a whole number of pixels >= 1, got {value!r}"
                )
            result[key] = int(value)
    return result


def to_json(limits):
    return json.dumps(validated(limits), sort_keys=True)


def from_json(text, source="input limits"):
    try:
        limits = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{source} is not valid JSON ({error})") from None
    return validated(limits, source)


def hole_extent(mask):
    """[B, 2] int32 height and width of each example's hole bounding box (mask > 0); 0 for
    an example without hole pixels."""
    holes = tf.convert_to_tensor(mask) > 0

    def span(present):  # [B, N] bool -> [B] int32 last - first + 1
        size = tf.shape(present)[1]
        index = tf.range(size)
        first = tf.reduce_min(tf.where(present, index, size), axis=1)
        last = tf.reduce_max(tf.where(present, index, -1), axis=1)
        return tf.maximum(last - first + 1, 0)

    return tf.stack(
        [span(tf.reduce_any(holes, axis=[2, 3])), span(tf.reduce_any(holes, axis=[1, 3]))], axis=1
    )


def size_text(size):
    """ "HxW" of a [height, width] size (limits' size keys, messages)."""
    return f"{size[0]}x{size[1]}"


def _height_width(image):
    """[2] int32 height and width, from the static shape when known (a numpy array is not
    copied into a tensor just to measure it)."""
    static = tf.TensorShape(getattr(image, "shape", None))[1:3]
    if static.is_fully_defined():
        return tf.constant(static.as_list(), tf.int32)
    return tf.shape(image)[1:3]


def requirements(limits, image, mask=None):
    """The checks of `limits` on an image [B, H, W, C] (and mask [B, H, W, 1]): a list of
    (ok, message), `ok` a scalar bool tensor. Graph-safe; run eagerly, each message also says
    what the inputs have."""
    name = limits["model"]
    eager = tf.executing_eagerly()
    checks = []
    if "min_size" in limits:
        minimum = limits["min_size"]
        size = _height_width(image)
        message = f"{name} takes images of at least {size_text(minimum)} pixels"
        if eager:
            message += f", got {size_text(size.numpy())}"
        checks.append((tf.reduce_all(size >= minimum), message))
    if "max_hole" in limits and mask is not None:
        largest = limits["max_hole"]
        extent = hole_extent(mask)
        fits = tf.reduce_all(extent <= largest, axis=1)
        message = f"the hole does not fit in the {size_text(largest)} center {name} inpaints"
        if eager and not tf.reduce_all(fits):
            first_bad = extent[tf.argmin(tf.cast(fits, tf.int32))].numpy()
            message += f": it spans {size_text(first_bad)} pixels"
        checks.append((tf.reduce_all(fits), message))
    return checks


def check(limits, image, mask=None):
    """Raises ValueError with the message of the first requirement the inputs fail (eager)."""
    for ok, message in requirements(limits, image, mask):
        if not bool(ok):
            raise ValueError(message)
