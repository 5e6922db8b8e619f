"""Reading, decoding, writing and listing image files.

Everything returned here is float32 RGB in [0, 1], HWC. Decoding goes through TensorFlow
(`tf.io.decode_image`), so the same code path serves eager reads and `tf.data` pipelines.

Image files are measured from their header before anything decodes them (`image_size`, used by
`read_image` and by the training pipelines for every file): one with more pixels than the limit
is refused in one line. A small file can hold a huge image (a 389 kB PNG of 20000x20000 pixels
decodes to 4.8 GB of float32 RGB, and restoring it needs several times that). The limit is
`MAX_PIXELS` (120 megapixels); the environment variable `TFRESTORE_MAX_PIXELS` overrides it
(0: no limit), and `read_image` and `image_size` take `max_pixels=` for one call.
"""

import math
import os
import re
import struct

import numpy as np
import tensorflow as tf

from tfrestore.atomic import atomic_output

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

# The default pixel limit (a 12000x10000 image: 1.44 GB as float32 RGB).
MAX_PIXELS = 120_000_000
MAX_PIXELS_VARIABLE = "TFRESTORE_MAX_PIXELS"
# PIL format names of the headers `image_size` reads: the formats we decode.
_HEADER_FORMATS = ("PNG", "JPEG", "BMP", "GIF")

# PIL format names for `write_image`, by lower-case extension.
_WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF"}


class ImageReadError(ValueError):
    """An image file is missing or cannot be decoded; the message names the path and why."""


class ImageTooLargeError(ImageReadError):
    """An image file has more pixels than the limit (`pixel_limit`); found from its header,
    before decoding. The message names the path, the image size and the limit."""


def pixel_limit(max_pixels=None):
    """The pixel limit in force: `max_pixels` if given, else the environment variable
    TFRESTORE_MAX_PIXELS, else `MAX_PIXELS` (read at each call); 0 or None means no limit.

    Raises:
        ValueError: TFRESTORE_MAX_PIXELS is not a whole number >= 0.
    """
    if max_pixels is not None:
        return int(max_pixels)
    value = os.environ.get(MAX_PIXELS_VARIABLE)
    if value is None or not value.strip():
        return MAX_PIXELS or 0
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (number >= 0 and number == int(number)):
        raise ValueError(
            f"{MAX_PIXELS_VARIABLE} must be a whole number of pixels (0: no limit), got {value!r}"
        )
    return int(number)


def _megapixels(pixels):
    return f"{pixels / 1e6:.3g} megapixels"


def _header_size(stream):
    """(width, height) from the header of a PNG, JPEG, BMP or GIF stream; None if it is none
    of them. Reads the header only.

    Calls PIL's format parsers (the factories `PIL.Image.open` tries) directly: `Image.open`
    also applies PIL's decompression-bomb limit, which raises without the size above 179
    megapixels and would overrule ours.
    """
    from PIL import Image

    Image.preinit()  # registers the PNG, JPEG, BMP and GIF parsers
    prefix = stream.read(16)
    for name in _HEADER_FORMATS:
        factory, accept = Image.OPEN.get(name, (None, None))
        if factory is None or (accept is not None and accept(prefix) is not True):
            continue
        stream.seek(0)
        try:
            return factory(stream, "").size
        except (SyntaxError, OSError, ValueError, EOFError, IndexError, struct.error):
            return None
    return None


def image_size(path, max_pixels=None):
    """(width, height) of an image file, read from its header without decoding the pixels.

    Args:
        path: str or path-like, a PNG, JPEG, BMP or GIF file (sniffed from the contents).
        max_pixels: int, refuse images with more pixels; None (default) is `pixel_limit()`,
            0 no limit.

    Raises:
        ImageTooLargeError: more pixels than the limit.
        ImageReadError: the file is missing, unreadable or not a PNG, JPEG, BMP or GIF image;
            the message starts with the path.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as stream:
            size = _header_size(stream)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read file ({error.strerror or error})") from None
    if size is None:
        raise ImageReadError(f"{path}: not a readable image (not a PNG, JPEG, BMP or GIF file)")
    limit = pixel_limit(max_pixels)
    width, height = size
    if limit and width * height > limit:
        raise ImageTooLargeError(
            f"{path}: {width}x{height} pixels ({_megapixels(width * height)}) is above the "
            f"limit of {_megapixels(limit)}; set {MAX_PIXELS_VARIABLE} to change it"
        )
    return size


def decode_image_tensor(encoded_bytes):
    """Decodes PNG/JPEG/BMP/GIF bytes to a float32 [H, W, 3] RGB tensor in [0, 1].

    Graph-safe (use it inside `tf.data` maps). Gray (1 channel) is repeated to RGB, gray+alpha
    keeps the gray channel, RGBA drops alpha (no compositing), 16-bit PNGs are scaled by 1/65535
    and 8-bit images by 1/255. Animated GIFs give their first frame.

    Args:
        encoded_bytes: scalar string tensor, the file contents.

    Example:
        >>> image = decode_image_tensor(tf.io.read_file("photo.png"))  # [H, W, 3] float32
    """
    # dtype=float32 makes TF decode PNGs at 16 bits and convert exactly (8-bit stays exact too).
    image = tf.io.decode_image(encoded_bytes, dtype=tf.float32, expand_animations=False)
    channels = tf.shape(image)[2]
    image = tf.cond(
        channels < 3,
        lambda: tf.tile(image[:, :, :1], [1, 1, 3]),
        lambda: image[:, :, :3],
    )
    return tf.ensure_shape(image, [None, None, 3])


def read_image_tensor(path):
    """Reads and decodes the image file at `path` (a string tensor) with `decode_image_tensor`.

    Graph-safe, for `tf.data` maps; `read_image` is the eager version with friendlier errors.
    It does not check the pixel limit: pipelines measure every file with `image_size` first.
    """
    return decode_image_tensor(tf.io.read_file(path))


def _short_tf_message(error):
    """The useful line of a TensorFlow error message, without node names and op tags."""
    message = getattr(error, "message", None) or str(error)
    message = re.sub(r"\{\{[^}]*\}\}", "", message)
    message = re.sub(r"\[Op:[^\]]*\]", "", message)
    message = re.sub(r"\s+name:\s*$", "", message, flags=re.MULTILINE)  # an op's empty name
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def read_image(path, max_pixels=None):
    """Reads an image file as a float32 [H, W, 3] RGB numpy array in [0, 1].

    Args:
        path: str or path-like, a PNG, JPEG, BMP or GIF file (the format is sniffed from the
            contents, not the extension). See `decode_image_tensor` for channel handling.
        max_pixels: int, refuse images with more pixels before decoding them; None (default)
            is `pixel_limit()` (`MAX_PIXELS`, 120 megapixels, or TFRESTORE_MAX_PIXELS), 0 no
            limit.

    Raises:
        ImageTooLargeError: more pixels than the limit (read from the header; nothing is
            decoded).
        ImageReadError: the file does not exist, cannot be read or cannot be decoded; the
            message starts with the path.

    Example:
        >>> image = read_image("photos/cat.jpg")
        >>> image.shape, image.dtype
        ((300, 451, 3), dtype('float32'))
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageReadError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ImageReadError(f"{path}: is a folder, not an image file")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise ImageReadError(f"{path}: empty file")
    image_size(path, max_pixels)  # the header only: other formats and huge images stop here
    try:
        with open(path, "rb") as handle:
            contents = handle.read()
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read file ({error.strerror or error})") from None
    try:
        image = decode_image_tensor(tf.constant(contents))
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
        reason = _short_tf_message(error)
        raise ImageReadError(f"{path}: cannot decode image ({reason})") from None
    return image.numpy()


def write_image(path, image):
    """Writes a float [0, 1] RGB image as an 8-bit file, atomically, creating parent folders.

    The format follows the extension (.png, .jpg/.jpeg, .bmp, .gif). Values are clipped to
    [0, 1] and rounded to 8 bits. The file is written to a temporary name in the same folder
    and moved into place (`tfrestore.atomic`), so readers never see a half-written file; it
    gets the permissions `open()` gives under the umask.

    Args:
        path: str or path-like destination.
        image: array-like [H, W, 3] (or [H, W] / [H, W, 1] gray) with values in [0, 1].

    Raises:
        ValueError: unknown extension, wrong shape, or non-finite values.

    Example:
        >>> write_image("out/restored.png", np.zeros([32, 32, 3], np.float32))
    """
    from PIL import Image  # PIL only for encoding: it writes every format we read.

    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in _WRITE_FORMATS:
        valid = ", ".join(sorted(_WRITE_FORMATS))
        raise ValueError(f"{path}: unknown image extension {extension!r}; use one of {valid}")
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(
            f"image for {path} must have shape [H, W, 3] (or [H, W] gray), got {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"image for {path} is empty (shape {array.shape})")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"image for {path} contains NaN or infinite values")
    pixels = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)

    with atomic_output(path) as temporary, open(temporary, "wb") as stream:
        Image.fromarray(pixels).save(stream, format=_WRITE_FORMATS[extension])


def list_images(folder):
    """Lists the image files under `folder`, recursively, as sorted relative paths.

    Image files are those ending in .png, .jpg, .jpeg, .bmp or .gif (any case). Hidden files
    and folders (names starting with ".") are skipped. Relative paths use "/" separators.

    Args:
        folder: str or path-like.

    Raises:
        FileNotFoundError: `folder` does not exist.
        NotADirectoryError: `folder` is a file.

    Example:
        >>> list_images("data/train/sharp")
        ['0001.png', '0002.png', 'scene2/0001.png']
    """
    folder = os.fspath(folder)
    if not os.path.exists(folder):
        raise FileNotFoundError(f"image folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"image folder {folder} is a file, not a folder")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in files:
            if name.startswith(".") or not name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            relative = os.path.relpath(os.path.join(root, name), folder)
            found.append(relative.replace(os.sep, "/"))
    return sorted(found)
