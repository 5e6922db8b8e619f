"""Reading, decoding, writing and listing image files.

Everything returned here is float32 RGB in [0, 1], HWC. Decoding goes through TensorFlow
(`tf.io.decode_image`), so the same code path serves eager reads and `tf.data` pipelines.

What real photos need:

- EXIF orientation: a phone stores a portrait photo as landscape pixels plus an orientation
  tag. Every image is seen upright, as the tag says (like `PIL.ImageOps.exif_transpose`):
  `read_photo` and `read_image` (so mask files, restore and evaluate), `image_size` (the
  upright width and height) and the training pipelines, which read files with
  `upright_reader` (the tags come from the headers when the pipeline is built; files without
  one, the usual case in training sets, cost nothing more). Nothing written carries the tag.
  `decode_image_tensor` and `read_image_tensor` alone give the pixels as stored.
- 16-bit PNGs (gray, gray+alpha, RGB, RGBA) decode exactly, as value / 65535 in float32, with
  no rounding to 8 bits; `read_photo` reports the file's bit depth and `write_image(...,
  bit_depth=16)` writes a 16-bit PNG (other formats are written with 8 bits).
- ICC profiles: `read_photo` returns the file's embedded profile and `write_image` embeds it
  (PNG, JPEG, WebP, TIFF). Pixels are not converted between colour spaces: the profile
  describes the restored pixels as it described the input's.
- EXIF (capture date, camera, exposure, GPS, ...): `read_photo` returns it and `write_image`
  writes it back (PNG, JPEG, WebP, TIFF) without the orientation tag and with the pixel
  dimensions of the image written; the embedded thumbnail (the unrestored photo) is dropped.
- Alpha: `read_photo` returns it apart from the RGB pixels (which never include it) and
  `write_image(..., alpha=...)` writes it to PNG, WebP and TIFF files.
- The output format follows the file's extension (.png, .jpg/.jpeg, .webp, .tif/.tiff, .bmp,
  .gif), with `quality` for JPEG and WebP.

Image files are measured from their header before anything decodes them (`image_size`, used by
`read_image` and by the training pipelines for every file): one with more pixels than the limit
is refused in one line. A small file can hold a huge image (a 389 kB PNG of 20000x20000 pixels
decodes to 4.8 GB of float32 RGB, and restoring it needs several times that). The limit is
`MAX_PIXELS` (120 megapixels); the environment variable `TFRESTORE_MAX_PIXELS` overrides it
(0: no limit), and `read_image` and `image_size` take `max_pixels=` for one call.
"""

import dataclasses
import math
import os
import re
import struct
import zlib

import numpy as np
import tensorflow as tf

from tfrestore.atomic import atomic_output

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")

# The default pixel limit (a 12000x10000 image: 1.44 GB as float32 RGB).
MAX_PIXELS = 120_000_000
MAX_PIXELS_VARIABLE = "TFRESTORE_MAX_PIXELS"
# PIL format names of the headers `image_size` reads: the formats we decode.
_HEADER_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")

# PIL format names for `write_image`, by lower-case extension.
WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".gif": "GIF",
}
_ORIENTATION_TAG = 0x0112  # EXIF


def _swap_axes(pixels):
    """[H, W, C] -> [W, H, C]: numpy for eager reads (a view; 3x faster than TensorFlow's copy
    of a 12-megapixel float image, measured), a tensor in pipelines."""
    if isinstance(pixels, np.ndarray):
        return pixels.transpose(1, 0, 2)
    return tf.transpose(pixels, [1, 0, 2])


# For each EXIF orientation 1-8, what turns the stored pixels [H, W, C] upright (a numpy array
# or a tensor): PIL.ImageOps.exif_transpose's transposes.
_UPRIGHT = (
    lambda pixels: pixels,  # 1: as stored
    lambda pixels: pixels[:, ::-1],  # 2: mirror left-right
    lambda pixels: pixels[::-1, ::-1],  # 3: rotate 180 degrees
    lambda pixels: pixels[::-1],  # 4: mirror top-bottom
    lambda pixels: _swap_axes(pixels),  # 5: mirror along the main diagonal
    lambda pixels: _swap_axes(pixels[::-1]),  # 6: rotate 90 degrees clockwise
    lambda pixels: _swap_axes(pixels[::-1, ::-1]),  # 7: mirror along the other diagonal
    lambda pixels: _swap_axes(pixels[:, ::-1]),  # 8: rotate 90 degrees counter-clockwise
)


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


def _parse_header(stream):
    """The PIL image of a PNG, JPEG, WebP, BMP or GIF stream with only its header parsed (`size`,
    `format`, `info` with the EXIF and ICC profile found before the pixel data); None if it is
    none of these formats. Reads the header only; the pixels are never decoded.

    Calls PIL's format parsers (the factories `PIL.Image.open` tries) directly: `Image.open`
    also applies PIL's decompression-bomb limit, which raises without the size above 179
    megapixels and would overrule ours.
    """
    from PIL import Image, WebPImagePlugin  # noqa: F401 (registers the WebP parser)

    Image.preinit()  # registers the PNG, JPEG, BMP and GIF parsers
    prefix = stream.read(16)
    for name in _HEADER_FORMATS:
        factory, accept = Image.OPEN.get(name, (None, None))
        if factory is None or (accept is not None and accept(prefix) is not True):
            continue
        stream.seek(0)
        try:
            return factory(stream, "")
        except (SyntaxError, OSError, ValueError, EOFError, IndexError, struct.error):
            return None
    return None


def _read_header(path, max_pixels):
    """`_parse_header` of the file at `path`, checked against the pixel limit (see
    `image_size`)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as stream:
            header = _parse_header(stream)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read file ({error.strerror or error})") from None
    if header is None:
        raise ImageReadError(
            f"{path}: not a readable image (not a PNG, JPEG, WebP, BMP or GIF file)"
        )
    limit = pixel_limit(max_pixels)
    width, height = header.size
    if limit and width * height > limit:
        raise ImageTooLargeError(
            f"{path}: {width}x{height} pixels ({_megapixels(width * height)}) is above the "
            f"limit of {_megapixels(limit)}; set {MAX_PIXELS_VARIABLE} to change it"
        )
    return header


def image_size(path, max_pixels=None):
    """(width, height) of an image file, read from its header without decoding the pixels.

    The size upright: an EXIF orientation that turns the image by 90 degrees swaps them.

    Args:
        path: str or path-like, a PNG, JPEG, WebP, BMP or GIF file (sniffed from the contents).
        max_pixels: int, refuse images with more pixels; None (default) is `pixel_limit()`,
            0 no limit.

    Raises:
        ImageTooLargeError: more pixels than the limit.
        ImageReadError: the file is missing, unreadable or not a PNG, JPEG, WebP, BMP or GIF image;
            the message starts with the path.
    """
    header = _read_header(path, max_pixels)
    width, height = header.size
    return (height, width) if _orientation(header.info) >= 5 else (width, height)


def decode_image_tensor(encoded_bytes):
    """Decodes PNG/JPEG/WebP/BMP/GIF bytes to a float32 [H, W, 3] RGB tensor in [0, 1].

    Graph-safe (use it inside `tf.data` maps). Gray (1 channel) is repeated to RGB, gray+alpha
    keeps the gray channel, RGBA drops alpha (no compositing), 16-bit PNGs are scaled by 1/65535
    and 8-bit images by 1/255. Animated GIFs and WebPs give their first frame.

    Args:
        encoded_bytes: scalar string tensor, the file contents.

    Example:
        >>> image = decode_image_tensor(tf.io.read_file("photo.png"))  # [H, W, 3] float32
    """
    return _rgb(_decode_channels(encoded_bytes))


def _decode_channels(encoded_bytes):
    """The file's channels (gray, gray+alpha, RGB or RGBA) as a float32 [H, W, C] tensor."""

    # dtype=float32 makes TF decode PNGs at 16 bits and convert exactly (8-bit stays exact too);
    # WebP decodes to uint8 only (float32 is refused), so it is converted after decoding.
    def decode(dtype):
        return tf.io.decode_image(encoded_bytes, dtype=dtype, expand_animations=False)

    is_webp = tf.strings.substr(encoded_bytes, 8, 4) == "WEBP"  # "RIFF", size, "WEBP"
    return tf.cond(
        is_webp,
        lambda: tf.image.convert_image_dtype(decode(tf.uint8), tf.float32),
        lambda: decode(tf.float32),
    )


def _rgb(image):
    """[H, W, 3] RGB from decoded channels: gray repeated, alpha dropped (see
    `decode_image_tensor`)."""
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
    The pixels are as stored: `upright_reader` applies EXIF orientations.
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


@dataclasses.dataclass(frozen=True, eq=False)
class Photo:
    """An image file read by `read_photo`: its upright pixels and what writing it back needs.

    Attributes:
        pixels: float32 numpy [H, W, 3] RGB in [0, 1], turned upright (EXIF orientation).
        bit_depth: int, bits per channel in the file: 16 for a 16-bit PNG, else 8.
        icc_profile: bytes of the embedded ICC colour profile, or None.
        format: str, the file's format as PIL names it ("PNG", "JPEG", "WEBP", "BMP", "GIF").
        gray: bool, the file holds gray pixels (gray or gray+alpha; `pixels` repeats them).
        alpha: float32 numpy [H, W, 1] in [0, 1], the file's alpha channel turned upright like
            `pixels` (1 = opaque), or None when it has none.
        exif: bytes of the file's EXIF as PIL reads it ("Exif\\0\\0" then TIFF data), or
            None; its orientation tag describes the stored pixels, not `pixels`.
    """

    pixels: np.ndarray
    bit_depth: int = 8
    icc_profile: bytes | None = None
    format: str = "PNG"
    gray: bool = False
    exif: bytes | None = None
    alpha: np.ndarray | None = None


def _orientation(info):
    """The EXIF orientation (1-8) in a parsed header's `info`; 1 when there is none.

    Only EXIF found before the pixel data counts (always so in JPEG and WebP; a PNG's eXIf
    chunk after the image data is not read, which would mean decoding the file twice).
    """
    from PIL import Image

    raw = info.get("exif")
    if not raw:
        return 1
    exif = Image.Exif()
    try:
        exif.load(raw)
        value = exif.get(_ORIENTATION_TAG, 1)
    except Exception:  # damaged EXIF must not make the photo unreadable: show it as stored
        return 1
    return value if value in range(1, 9) else 1


def read_photo(path, max_pixels=None):
    """Reads an image file with what restoring and writing it back needs (`Photo`).

    The pixels are decoded as by `decode_image_tensor` (16-bit PNGs exactly, as value / 65535)
    and turned upright as the file's EXIF orientation says (`PIL.ImageOps.exif_transpose`
    gives the same pixels); bit depth, gray or colour, ICC profile and EXIF come from the
    header.

    Args:
        path: str or path-like, a PNG, JPEG, WebP, BMP or GIF file (the format is sniffed from the
            contents, not the extension). See `decode_image_tensor` for channel handling.
        max_pixels: int, refuse images with more pixels before decoding them; None (default)
            is `pixel_limit()` (`MAX_PIXELS`, 120 megapixels, or TFRESTORE_MAX_PIXELS), 0 no
            limit.

    Returns:
        A `Photo`.

    Raises:
        ImageTooLargeError: more pixels than the limit (read from the header; nothing is
            decoded).
        ImageReadError: the file does not exist, cannot be read or cannot be decoded; the
            message starts with the path.

    Example:
        >>> photo = read_photo("scans/page.png")
        >>> photo.pixels.shape, photo.bit_depth, photo.icc_profile is not None
        ((3000, 2000, 3), 16, True)
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageReadError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ImageReadError(f"{path}: is a folder, not an image file")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise ImageReadError(f"{path}: empty file")
    header = _read_header(path, max_pixels)  # other formats and huge images stop here
    try:
        with open(path, "rb") as handle:
            contents = handle.read()
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read file ({error.strerror or error})") from None
    try:
        decoded = _decode_channels(tf.constant(contents))
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
        reason = _short_tf_message(error)
        raise ImageReadError(f"{path}: cannot decode image ({reason})") from None
    upright = _UPRIGHT[_orientation(header.info) - 1]
    pixels = np.ascontiguousarray(upright(_rgb(decoded).numpy()))
    alpha = None
    if decoded.shape[2] in (2, 4):  # gray+alpha, RGBA
        alpha = np.ascontiguousarray(upright(decoded[:, :, -1:].numpy()))
    if header.format == "PNG":
        # The 8-byte signature, the IHDR chunk's length and type, width and height, then the
        # bit depth (byte 24) and the colour type (25: 0 gray, 4 gray+alpha). PIL's mode
        # cannot tell: it opens 16-bit gray+alpha as RGBA.
        bit_depth, gray = (16 if contents[24] == 16 else 8), contents[25] in (0, 4)
    else:
        bit_depth, gray = 8, header.mode in ("1", "L", "LA")
    icc_profile = header.info.get("icc_profile") or None
    exif = header.info.get("exif") or None
    return Photo(pixels, bit_depth, icc_profile, header.format, gray, exif, alpha)


def upright_reader(paths):
    """A graph function `path -> image` that reads these files upright, for `tf.data` maps.

    `read_image_tensor` (the pixels as stored) followed by the turn each file's EXIF
    orientation asks for. The orientations are read from the headers now, once; a path not
    among `paths` is read as stored. When no file has an orientation tag, the function is
    `read_image_tensor` itself.

    Args:
        paths: list of str, the image files the pipeline will read.

    Example:
        >>> read = upright_reader(files)
        >>> images = tf.data.Dataset.from_tensor_slices(files).map(read)
    """
    turned = {}
    for path in map(os.fspath, paths):
        orientation = _orientation(_read_header(path, max_pixels=0).info)
        if orientation != 1:
            turned[path] = orientation
    if not turned:
        return read_image_tensor
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            list(turned), list(turned.values()), tf.string, tf.int32
        ),
        default_value=1,
    )

    def read(path):
        pixels = read_image_tensor(path)
        branches = [lambda turn=turn: turn(pixels) for turn in _UPRIGHT]
        pixels = tf.switch_case(table.lookup(path) - 1, branches)
        return tf.ensure_shape(pixels, [None, None, 3])

    return read


def read_image(path, max_pixels=None):
    """Reads an image file as a float32 [H, W, 3] RGB numpy array in [0, 1], upright.

    The pixels of `read_photo` (EXIF orientation applied, 16-bit PNGs at full precision),
    with its arguments and errors (`ImageTooLargeError`, `ImageReadError` naming the path).

    Example:
        >>> image = read_image("photos/cat.jpg")
        >>> image.shape, image.dtype
        ((300, 451, 3), dtype('float32'))
    """
    return read_photo(path, max_pixels).pixels


def _png_chunk(kind, body):
    """One PNG chunk: length, type, body and the CRC of type and body."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _encode_png16(pixels, icc_profile, exif):
    """PNG bytes of float [H, W] or [H, W, C] values in [0, 1] (C: 1-4), 16 bits per channel.

    PIL cannot write 16-bit RGB, so TensorFlow encodes. An ICC profile goes into an iCCP chunk
    (profile name, a zero byte, compression method 0, the zlib-compressed profile), EXIF into
    an eXIf chunk (the TIFF data, without PIL's "Exif\\0\\0"), both placed right after the IHDR
    chunk (8-byte signature + 25-byte IHDR), before the image data, where readers look.
    """
    levels = np.round(pixels * 65535.0).astype(np.uint16)
    if levels.ndim == 2:
        levels = levels[:, :, None]
    encoded = tf.io.encode_png(levels).numpy()
    chunks = b""
    if icc_profile:
        chunks += _png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc_profile))
    if exif:
        chunks += _png_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0"))
    return encoded[:33] + chunks + encoded[33:]


def _exif_for(exif, width, height):
    """EXIF bytes for a written image of `width` x `height` from a read one (`Photo.exif`):
    without the orientation tag (the pixels are upright), with the Exif sub-IFD's pixel
    dimensions set to the new size, and without the thumbnail (PIL writes only the main IFD
    and its sub-IFDs). None when `exif` is empty or cannot be parsed: nothing is written."""
    from PIL import Image

    if not exif:
        return None
    parsed = Image.Exif()
    try:
        parsed.load(exif)
        parsed.pop(_ORIENTATION_TAG, None)
        details = parsed.get_ifd(0x8769) if 0x8769 in parsed else {}  # the Exif sub-IFD
        for tag, value in ((0xA002, width), (0xA003, height)):  # PixelX/YDimension
            if tag in details:
                details[tag] = value
        return parsed.tobytes()
    except Exception:  # damaged EXIF must not stop the image being written: write none
        return None


def check_quality(quality, name="quality"):
    """Returns `quality` if it is a whole number from 1 to 100 (a JPEG or WebP quality).

    Raises:
        ValueError: one line starting with `name`, saying what would be valid.
    """
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number from 1 to 100, got {quality!r}")
    if not 1 <= quality <= 100:
        raise ValueError(f"{name} must be a whole number from 1 to 100, got {quality}")
    return int(quality)


def write_image(path, image, *, bit_depth=8, icc_profile=None, quality=95, exif=None, alpha=None):
    """Writes a float [0, 1] RGB image file, atomically, creating parent folders.

    The format follows the extension (`WRITE_FORMATS`: .png, .jpg/.jpeg, .webp, .tif/.tiff,
    .bmp, .gif, any case). Values are clipped to [0, 1] and rounded to 8 bits (16 for a
    16-bit PNG). The file is written to a temporary name in the same folder and moved into
    place (`tfrestore.atomic`), so readers never see a half-written file; it gets the
    permissions `open()` gives under the umask. No orientation tag is written, so the pixels
    are shown as they are (write them upright: `read_photo` turns them so).

    Args:
        path: str or path-like destination.
        image: array-like [H, W, 3] (or [H, W] / [H, W, 1] gray) with values in [0, 1].
        bit_depth: 8 (default) or 16: bits per channel for a PNG; every other format is
            written with 8 bits (so a 16-bit input's `Photo.bit_depth` can be passed as is).
        icc_profile: bytes or None (default): an ICC profile to embed (PNG, JPEG, WebP, TIFF;
            BMP and GIF have no place for it and are written without).
        quality: int from 1 to 100 (default 95), the JPEG and WebP quality.
        exif: bytes or None (default): EXIF to write, as `Photo.exif` (PNG, JPEG, WebP, TIFF),
            without its orientation tag and thumbnail and with this image's pixel dimensions;
            EXIF that cannot be parsed is left out.
        alpha: array-like [H, W] or [H, W, 1] in [0, 1] or None (default): an alpha channel
            (1 = opaque) for formats that hold one (PNG, WebP, TIFF); other formats are
            written opaque.

    Raises:
        ValueError: unknown extension (or one this Pillow cannot write), wrong shape,
            non-finite values, or a bad `bit_depth` or `quality`; the message names the path.

    Example:
        >>> write_image("out/restored.jpg", np.zeros([32, 32, 3], np.float32), quality=90)
    """
    from PIL import Image  # PIL for encoding: it writes every format we read, and more.

    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in WRITE_FORMATS:
        valid = ", ".join(sorted(WRITE_FORMATS))
        raise ValueError(f"{path}: unknown image extension {extension!r}; use one of {valid}")
    image_format = WRITE_FORMATS[extension]
    Image.init()
    if image_format not in Image.SAVE:
        raise ValueError(f"{path}: this Pillow installation cannot write {image_format} files")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth for {path} must be 8 or 16, got {bit_depth!r}")
    check_quality(quality, f"{path}: quality")
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
    array = np.clip(array, 0.0, 1.0)
    if alpha is not None:
        alpha = np.asarray(alpha, dtype=np.float32)
        if alpha.shape not in (array.shape[:2], array.shape[:2] + (1,)):
            raise ValueError(
                f"alpha for {path} must have shape [H, W] (or [H, W, 1]) like the image "
                f"{array.shape[:2]}, got {alpha.shape}"
            )
        if not np.all(np.isfinite(alpha)):
            raise ValueError(f"alpha for {path} contains NaN or infinite values")
        alpha = alpha.reshape(array.shape[:2] + (1,))
        if image_format in ("PNG", "WEBP", "TIFF"):
            colour = array[:, :, None] if array.ndim == 2 else array
            array = np.concatenate([colour, np.clip(alpha, 0.0, 1.0)], axis=2)  # LA or RGBA
    exif = _exif_for(exif, array.shape[1], array.shape[0])

    with atomic_output(path) as temporary, open(temporary, "wb") as stream:
        if bit_depth == 16 and image_format == "PNG":
            stream.write(_encode_png16(array, icc_profile, exif))
        else:
            pixels = np.round(array * 255.0).astype(np.uint8)
            options = {"quality": quality} if image_format in ("JPEG", "WEBP") else {}
            if icc_profile:
                options["icc_profile"] = icc_profile  # BMP and GIF ignore these two
            if exif:
                options["exif"] = exif
            Image.fromarray(pixels).save(stream, format=image_format, **options)


def list_images(folder):
    """Lists the image files under `folder`, recursively, as sorted relative paths.

    Image files are those ending in .png, .jpg, .jpeg, .webp, .bmp or .gif (any case). Hidden files
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
