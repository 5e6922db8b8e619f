"""Restoring image files with a model: files and folders in, one image file per image out.

`restore_files(model, inputs, output)` is what `tfrestore restore` runs. Nothing is overwritten
silently, and a rerun goes on where an interrupted run stopped:

- Output format: by default each output keeps its input's format and extension, as a
  photographer expects (a JPEG in gives a JPEG out, written at `jpeg_quality`, 95 by default;
  a PNG gives a PNG, a WebP a WebP, a BMP a BMP). A GIF holds 256 colours at most, so it
  gives a PNG.
  `output_extension=".png"` (or .jpg, .webp, .tif, ...) writes every output in that format.
- What a photo carries goes through (`tfrestore.data.read_photo`): the image is restored and
  written upright (EXIF orientation applied; the output has no orientation tag), a gray image
  is written gray (BT.601 luma of the model's RGB), a 16-bit PNG is restored at full
  precision and written as a 16-bit PNG (8 bits in other formats), and the input's ICC
  colour profile, EXIF (capture date, camera, GPS, ...; without the orientation tag and the
  old thumbnail) and alpha channel (PNG, WebP, TIFF outputs; not restored, copied) are
  written to the output.
- Output names (`output_names`): a folder's images keep their path relative to it
  (`IN/a/1.jpg` -> `OUT/a/1.jpg`), a file given by name keeps its name (`x/1.jpg` ->
  `OUT/1.jpg`). Inputs that would share an output (only when formats change: `same.gif` and
  `same.png`, or `output_extension=".png"` with `same.jpg` and `same.png`) keep their extension
  in its name (`same.gif` -> `same.gif.png`, while `same.png` stays `same.png`); the same name
  from two places (`a/1.jpg` and `b/1.jpg` given as files, or from two input folders) gets
  `_2`, `_3`, ... in input order (`1.jpg`, `1_2.jpg`).
- An output that exists is skipped (`overwrite=True` replaces it), so finished images are not
  redone.
- The output folder is never read as input: when it lies inside an input folder its files are
  left out, and an input inside it is refused.
- The output folder is created and checked for writability before the model is loaded;
  outputs are written atomically (`tfrestore.data.write_image`), so an interrupted run leaves
  no half-written file.
- An image that fails (unreadable, too small for the model, ...) is reported by path and the
  others are still processed (`RestoreReport.failed`). An unknown `output_extension` or a
  `jpeg_quality` outside 1-100 is refused before anything is read.

Example:
    >>> report = restore_files("deblurgan.keras", ["photos/"], "restored/")
    >>> print(report)  # "restored 12 images into restored/; 3 skipped (output exists), ..."
"""

import collections
import dataclasses
import functools
import os
import tempfile

import numpy as np
import tensorflow as tf

from tfrestore import data, tiling
from tfrestore.inference import Restorer, load_restorer

__all__ = [
    "RestoreError",
    "RestoreJob",
    "RestoreReport",
    "check_output_folder",
    "error_reason",
    "output_names",
    "plan_jobs",
    "restore_files",
    "restore_image",
]


class RestoreError(ValueError):
    """Inputs, masks or an output folder that cannot be used; the message names them."""


@dataclasses.dataclass(frozen=True)
class RestoreJob:
    """One image to restore: its file, its output file and its mask file (inpainting models;
    a ValueError saying why it has none, or None for other models)."""

    source: str
    output: str
    mask: object = None


@dataclasses.dataclass
class RestoreReport:
    """What `restore_files` did; `str()` is the summary `tfrestore restore` prints.

    Attributes:
        output: str, the output folder.
        written: list of output paths written.
        skipped: list of output paths that existed and were left alone.
        failed: list of (input path, one-line reason).
    """

    output: str
    written: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    failed: list = dataclasses.field(default_factory=list)

    def __str__(self):
        text = f"restored {len(self.written)} images into {self.output}"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped (output exists; --overwrite replaces it)"
        if self.failed:
            text += f"; {len(self.failed)} failed"
        return text


def _inside(path, folder):
    """Whether `path` is `folder` or inside it (both real paths)."""
    return os.path.commonpath([path, folder]) == folder


# Extensions an output keeps from its input by default: every format we write except GIF,
# whose 256-colour palette would undo the restoration (a GIF gives a PNG).
_KEPT_EXTENSIONS = tuple(extension for extension in data.WRITE_FORMATS if extension != ".gif")


def _output_name(name, extension):
    """`name` with `extension`; None keeps its own when it is in `_KEPT_EXTENSIONS`, else .png."""
    stem, own = os.path.splitext(name)
    if extension is None:
        extension = own if own.lower() in _KEPT_EXTENSIONS else ".png"
    return stem + extension


def _check_extension(extension):
    """`extension` as ".ext" in lower case (None stays None); RestoreError if we cannot write it."""
    if extension is None:
        return None
    normal = "." + str(extension).lower().lstrip(".")
    if normal not in data.WRITE_FORMATS:
        valid = ", ".join(sorted(data.WRITE_FORMATS))
        raise RestoreError(f"output extension {extension!r} is not one of {valid}")
    return normal


def output_names(names, extension=None):
    """Distinct output names for relative input names, in order (see the module docstring).

    Names compare without case, so no two outputs clash on a case-insensitive filesystem.

    Args:
        names: list of "/"-separated relative input names (as `data.list_images` gives).
        extension: str such as ".png", the extension of every output; None (default) keeps
            each input's own (every format we write but GIF; a GIF gives .png).

    Returns:
        list of "/"-separated relative output names, one per input, all distinct.

    Example:
        >>> output_names(["same.gif", "same.png", "a/1.jpg", "1.jpg", "1.jpg"])
        ['same.gif.png', 'same.png', 'a/1.jpg', '1.jpg', '1_2.jpg']
        >>> output_names(["same.jpg", "same.png"], extension=".png")
        ['same.jpg.png', 'same.png']
    """
    plain = [_output_name(name, extension) for name in names]
    sources = collections.defaultdict(set)  # output name -> the input names that want it
    for name, output in zip(names, plain, strict=True):
        sources[output.casefold()].add(name.casefold())
    # Inputs of different names that would share an output keep their extension in it (the
    # one whose name is that output keeps it as it is).
    wanted = [
        name + os.path.splitext(output)[1]
        if len(sources[output.casefold()]) > 1 and name.casefold() != output.casefold()
        else output
        for name, output in zip(names, plain, strict=True)
    ]
    # What is still shared (the same name from two places) gets _2, _3, ..., avoiding every
    # name another input wants.
    reserved = {name.casefold() for name in wanted}
    used, result = set(), []
    for name in wanted:
        (stem, extension), candidate, number = os.path.splitext(name), name, 1
        while candidate.casefold() in used:
            number += 1
            candidate = f"{stem}_{number}{extension}"
            if candidate.casefold() in reserved:
                candidate = name  # taken by another input: try the next number
        used.add(candidate.casefold())
        result.append(candidate)
    return result


def plan_jobs(inputs, output, masks=None, output_extension=None):
    """The `RestoreJob`s of image files and folders: what is read and where it goes.

    Args:
        inputs: list of image files and folders (folders searched recursively; hidden files
            and the output folder left out). The same file given twice is restored once.
        output: str, the output folder.
        masks: inpainting models: mask files in input order, or a list with one folder of
            masks named like the images (`tfrestore.data.match_mask_files`); else None.
        output_extension: str such as ".png" or "jpg", the format of every output (one of
            `tfrestore.data.WRITE_FORMATS`); None (default) keeps each input's format.

    Returns:
        list of `RestoreJob`, in input order.

    Raises:
        RestoreError: an unknown `output_extension`, an input that does not exist or lies
            inside the output folder, no images at all, or masks that do not match the
            images.
    """
    output_extension = _check_extension(output_extension)
    output_real = os.path.realpath(output)
    sources, names, seen = [], [], set()
    for path in map(os.fspath, inputs):
        if not os.path.exists(path):
            raise RestoreError(f"input not found: {path}")
        real = os.path.realpath(path)
        if _inside(real, output_real):
            raise RestoreError(
                f"input {path} is inside the output folder {output}: outputs are never read "
                "as inputs; choose another output folder"
            )
        if os.path.isdir(path):
            found = [
                (os.path.join(path, name), name)
                for name in data.list_images(path)
                if not _inside(os.path.realpath(os.path.join(path, name)), output_real)
            ]
        else:
            found = [(path, os.path.basename(path))]
        for source, name in found:
            key = os.path.realpath(source)
            if key not in seen:
                seen.add(key)
                sources.append(source)
                names.append(name)
    if not sources:
        raise RestoreError(f"no images found in: {' '.join(map(os.fspath, inputs))}")
    try:
        mask_files = data.match_mask_files(masks, sources, name="--mask")
    except (ValueError, FileNotFoundError) as error:
        raise RestoreError(str(error)) from None
    outputs = [
        os.path.join(output, *name.split("/")) for name in output_names(names, output_extension)
    ]
    mask_files = mask_files or [None] * len(sources)
    return [RestoreJob(*job) for job in zip(sources, outputs, mask_files, strict=True)]


def check_output_folder(folder):
    """Creates `folder` (and its parents) if needed and checks that files can be written in it,
    by creating and deleting a hidden file: permissions, a read-only filesystem or a file in
    the way are found before any work starts.

    Raises:
        RestoreError: one line naming the folder and the reason.
    """
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise RestoreError(f"output folder {folder} is a file")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-write-check-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise RestoreError(f"cannot write to output folder {folder}: {reason}") from None


def error_reason(error):
    """The one line that says why `error` happened, for messages that name the file first.

    A TensorFlow graph error gives its reason (it reads "Graph execution error:", the Python
    stack where the op was defined, the reason, then "[[{{node ...}}]]"); an OSError gives
    "path: reason"; anything else the first line of its message (else its type).
    """
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    message = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in message.splitlines()]
    lines = [line for line in lines if line and not line.startswith("[[")]
    if lines and lines[0].startswith("Graph execution error"):
        lines = lines[-1:]
    return lines[0] if lines else type(error).__name__


def restore_image(restorer, image, mask=None, tile=None, overlap=None, on_tile=None):
    """Restores one image: float32 [H, W, 3] (and mask [H, W, 1]) in, [H, W, 3] out.

    `tile`, `overlap` and `on_tile` are the restorer's (`tfrestore.inference.Restorer`):
    large images are restored in overlapping tiles (None: above the square of the model's
    window, 448 px or its own; 0: never).

    Raises:
        ValueError: the image is outside the model's input limits (its message), or the model
            fails on it (e.g. an image smaller than its padding): one line with the image size
            and the runtime's reason.
    """
    inputs = {"image": np.asarray(image, np.float32)[None]}
    if mask is not None:
        inputs["mask"] = np.asarray(mask, np.float32)[None]
    try:  # the call checks the model's input limits first (a ValueError in its own words)
        return restorer(**inputs, tile=tile, overlap=overlap, on_tile=on_tile)["restored"][0]
    except (tf.errors.OpError, RuntimeError) as error:  # TensorFlow, LiteRT
        height, width = image.shape[:2]
        raise ValueError(
            f"the model cannot process this {width}x{height} image: {error_reason(error)}"
        ) from None


def _restore_job(restorer, job, jpeg_quality, **tiling_options):
    """Restores `job`: upright, at the input's bit depth, gray if it is gray, with its ICC
    profile, EXIF and alpha channel; `tiling_options` go to `restore_image`."""
    if isinstance(job.mask, Exception):
        raise job.mask
    photo = data.read_photo(job.source)
    mask = None
    if job.mask is not None:
        mask = data.read_mask(job.mask, photo.pixels.shape[:2])
    restored = restore_image(restorer, photo.pixels, mask, **tiling_options)
    if photo.gray:  # the model sees and returns RGB; a gray photo stays gray (BT.601 luma)
        restored = restored @ np.asarray(data.GRAY_WEIGHTS, np.float32)
    data.write_image(
        job.output,
        restored,
        bit_depth=photo.bit_depth,
        icc_profile=photo.icc_profile,
        quality=jpeg_quality,
        exif=photo.exif,
        alpha=photo.alpha,
    )


def _check_mask_use(restorer, model, masks_given):
    takes_mask = "mask" in restorer.inputs
    if takes_mask and not masks_given:
        raise RestoreError(
            f"{model} is an inpainting model (inputs: {', '.join(restorer.inputs)}): "
            "give each image a mask with --mask"
        )
    if masks_given and not takes_mask:
        raise RestoreError(
            f"{model} takes no mask (inputs: {', '.join(restorer.inputs)}); "
            "--mask is for inpainting models"
        )


def restore_files(
    model,
    inputs,
    output,
    masks=None,
    overwrite=False,
    on_file=None,
    output_extension=None,
    jpeg_quality=95,
    tile=None,
    overlap=None,
    on_tile=None,
):
    """Restores image files and folders into `output` as images of the same size.

    See the module docstring for output formats and names, skipping and what is checked
    first. Everything that can be checked without the model is checked before it is loaded:
    inputs, masks, output format and quality, and the output folder.

    Args:
        model: a `.keras` file, SavedModel folder or `.tflite` file, or a `Restorer`.
        inputs: list of image files and folders.
        output: str, the output folder (created if needed).
        masks: inpainting models: mask files in input order, or [one folder of masks named
            like the images]; None for other models.
        overwrite: bool (default False), replace existing outputs instead of skipping them.
        on_file: optional callable `(index, total, job, outcome)` after each image, in order;
            `outcome` is "written", "skipped" or the one-line reason it failed.
        output_extension: str such as ".png", the format of every output; None (default)
            keeps each input's format (a GIF gives a PNG).
        jpeg_quality: int from 1 to 100 (default 95), the quality of JPEG (and WebP) outputs.
        tile, overlap: tiled restore of large images (`restore_image`): None (default)
            tiles images above the square of the model's window (448 px, or the model's own:
            EnlightenGAN 768), 0 never tiles, N tiles in windows of at
            most N x N.
        on_tile: optional callable `(index, total, job, done, tiles)` after each batch of
            tiles of a tiled image: `done` of its `tiles` tiles are restored.

    Returns:
        A `RestoreReport`.

    Raises:
        RestoreError: unusable inputs, masks (given to a model that takes none, or missing for
            an inpainting model), output extension, JPEG quality, tile or overlap, or output
            folder; nothing is restored.
        ValueError, FileNotFoundError: `model` cannot be loaded
            (`tfrestore.inference.load_restorer`).
        KeyboardInterrupt: stops between two files or during one; finished outputs are
            complete (written atomically), so the same call again goes on from there.
    """
    jobs = plan_jobs(inputs, output, masks, output_extension)
    try:  # a bad JPEG quality, tile or overlap, before any work
        jpeg_quality = data.check_quality(jpeg_quality, "JPEG quality")
        tiling.choose_tiling(1, 1, tile, overlap)
    except ValueError as error:
        raise RestoreError(str(error)) from None
    check_output_folder(output)
    restorer = model if isinstance(model, Restorer) else load_restorer(model)
    _check_mask_use(restorer, restorer.path or restorer.describe(), masks)
    report = RestoreReport(os.fspath(output))
    for index, job in enumerate(jobs):
        if not overwrite and os.path.exists(job.output):
            report.skipped.append(job.output)
            outcome = "skipped"
        else:
            progress = None
            if on_tile is not None:
                progress = functools.partial(on_tile, index, len(jobs), job)
            try:
                _restore_job(
                    restorer, job, jpeg_quality, tile=tile, overlap=overlap, on_tile=progress
                )
            except Exception as error:  # one bad file must not stop the others
                outcome = error_reason(error)
                report.failed.append((job.source, outcome))
            else:
                report.written.append(job.output)
                outcome = "written"
        if on_file is not None:
            on_file(index, len(jobs), job, outcome)
    return report
