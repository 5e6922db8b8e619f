"""Inpainting data: (masked image, mask) pipelines, holes filled as the models fill them.

Used by the Context Encoder and MEDFE (which also needs each photo's structure image, see
`tfrestore.data.structure`). Masks are float32 [H, W, 1] with 1 = missing pixel (see
`tfrestore.data.masks`); images are float32 RGB in [0, 1]. The hole filling itself
(`fill_holes`) belongs to the models, in `tfrestore.layers`.
"""

import functools
import os

import numpy as np
import tensorflow as tf

from tfrestore.data.io import list_images
from tfrestore.data.masks import MASK_KINDS, random_mask
from tfrestore.data.paired import _names_by_key, listing, positive_int
from tfrestore.data.sources import degraded_dataset, seeded_numpy_function
from tfrestore.layers.holes import DATASET_MEAN_FLOAT, fill_holes

__all__ = ["inpainting_dataset"]


def _mask_maker(mask):
    """A function (size, rng) -> mask from a kind name or a callable; ValueError if neither."""
    if isinstance(mask, str) and mask in MASK_KINDS:
        return functools.partial(random_mask, mask)
    if callable(mask) and not isinstance(mask, str):
        return mask
    raise ValueError(
        f"mask must be one of {', '.join(MASK_KINDS)} or a callable(size, rng) -> "
        f"[H, W, 1] mask, got {mask!r}"
    )


def _checked_mask(result, height, width):
    """The result of a mask callable as float32 [height, width, 1] in [0, 1]; else ValueError."""
    result = np.asarray(result, dtype=np.float32)
    if result.shape == (height, width):
        result = result[:, :, None]
    if result.shape != (height, width, 1):
        raise ValueError(
            f"the mask function must return shape [{height}, {width}, 1] for size "
            f"({height}, {width}), got {result.shape}"
        )
    if not (np.all(np.isfinite(result)) and result.min() >= 0.0 and result.max() <= 1.0):
        raise ValueError("the mask function must return values in [0, 1] (1 = missing pixel)")
    return result


def _mask_drawer(make):
    """numpy_function body: a mask for `size` ([2] int) drawn from `seed` ([2] int64)."""

    def draw(size, rng):
        height, width = (int(side) for side in size)
        return _checked_mask(make((height, width), rng), height, width)

    def empty(size):
        return np.zeros((int(size[0]), int(size[1]), 1), np.float32)

    return seeded_numpy_function(draw, on_exit=empty)


def _fill_value(fill):
    """The hole fill for `fill`: True = dataset mean, False = 0, else a number or RGB triple."""
    if fill is True:
        return DATASET_MEAN_FLOAT
    if fill is False:
        return 0.0
    value = np.asarray(fill, dtype=np.float32) if not isinstance(fill, str) else None
    if value is None or value.shape not in ((), (3,)) or not np.all(np.isfinite(value)):
        raise ValueError(f"fill must be True, False, a number or an (r, g, b) triple, got {fill!r}")
    return tuple(value.tolist()) if value.ndim else float(value)


def _without_extension(name):
    return os.path.splitext(name)[0]


def _structure_files(images, structures):
    """The structure image file of each photo of folder `images`, from folder `structures`.

    Photos and structure images pair by relative path without the extension
    (`photos/a/1.jpg` <-> `structures/a/1.png`), as `tfrestore prepare-structure` writes them.

    Raises:
        ValueError: `images` is not a folder, photos without a structure image (listed), or
            several structure images for one photo.
    """
    folder = os.fspath(structures)
    if not isinstance(images, (str, os.PathLike)):
        raise ValueError(
            f"structures={folder!r} is a folder, which pairs with a folder of images by relative "
            "path; with a list of images give structures as a list in the same order"
        )
    by_key = _names_by_key(folder, _without_extension)
    photos = list_images(images)
    missing = [name for name in photos if _without_extension(name) not in by_key]
    if missing:
        raise ValueError(
            f"{len(missing)} photo(s) in {os.fspath(images)} have no structure image in "
            f"{folder} (same relative path and name, any image extension): {listing(missing)}. "
            f"Make them with `tfrestore prepare-structure {os.fspath(images)} {folder}`."
        )
    return [os.path.join(folder, by_key[_without_extension(name)]) for name in photos]


def inpainting_dataset(
    images,
    crop_size=128,
    batch_size=1,
    mask="center",
    seed=None,
    repeat=True,
    augment=True,
    fill=True,
    structures=None,
    cache=False,
):
    """`((masked_image, mask), target)` training batches with masks drawn on the fly.

    Each photo is cropped (and flipped) with the shared `crop_and_flip`; a mask is drawn per
    example in numpy (`tf.numpy_function`) from the element's seed, and its holes are filled
    (`fill_holes`). `(masked_image, mask)` is the `x` and `target` the `y` that Keras `fit`
    passes to the inpainting models. With `augment=True` the photo order is shuffled and crops
    and flips are random; with `augment=False` the order is fixed and the crop central (random
    masks stay random). Upstream's random-region training uses one mask per batch; here every
    example gets its own. With `structures` (MEDFE) the `y` is `(target, structure)`: each
    photo's structure image, cropped and flipped exactly like the photo.

    Args:
        images: a folder of photos (searched recursively), a list of file paths, or a list of
            float32 [H, W, 3] arrays in [0, 1].
        crop_size: int or None (default 128, the Context Encoder's size). None keeps full
            images (batch_size 1 unless all have one size) and draws masks at their size.
        batch_size: int >= 1 (default 1). With a crop, incomplete batches are dropped.
        mask: a kind from `MASK_KINDS` ("center" by default, drawn with `random_mask`'s
            defaults) or a callable `(size, rng) -> mask` where size is (height, width) and
            rng a numpy Generator, returning [H, W, 1] (or [H, W]) values in [0, 1].
        seed: int or None (default None). An int makes order, crops, flips and masks
            reproducible.
        repeat: bool (default True), cycle forever.
        augment: bool (default True).
        fill: True (default) fills holes with `DATASET_MEAN_FLOAT` as the Context Encoder
            does; False leaves them 0 (for models that fill or ignore holes themselves); or a
            number or (r, g, b) triple in [0, 1].
        structures: None (default), a folder of structure images named like the photos of
            folder `images` (relative path without extension: `photos/a/1.jpg` <->
            `structures/a/1.png`, as `tfrestore prepare-structure` writes them), or a list of
            files or float32 [H, W, 3] arrays, one per image in order, each the size of its
            photo.
        cache: False (default), True (keep the decoded photos and structure images in memory)
            or a file path prefix (in `tf.data` cache files); see
            `tfrestore.data.augment.cropped_dataset`.

    Returns:
        Dataset of `((masked_image, mask), target)`: float32 [batch, crop, crop, 3],
        [batch, crop, crop, 1] and [batch, crop, crop, 3]. With `structures`,
        `((masked_image, mask), (target, structure))`, structure [batch, crop, crop, 3].

    Raises:
        ValueError: an unknown mask kind (listing the kinds), a mask callable that returns a
            bad mask (checked once at crop size before the pipeline is built), an image
            smaller than crop_size, bad arrays, an empty folder, or bad arguments; photos
            without a structure image, or structures of another count or size (named).

    Example:
        >>> ds = inpainting_dataset(list(sample_images().values()), batch_size=4,
        ...                         mask="regions", seed=0)
        >>> (masked, mask), target = next(iter(ds))  # [4, 128, 128, 3], [4, ..., 1], [4, ..., 3]
    """
    crop_size = positive_int(crop_size, "crop_size", allow_none=True)
    batch_size = positive_int(batch_size, "batch_size")
    make = _mask_maker(mask)
    fill_value = _fill_value(fill)
    if crop_size is not None:  # fail here, not inside the pipeline
        _checked_mask(make((crop_size, crop_size), np.random.default_rng(0)), crop_size, crop_size)
    draw = _mask_drawer(make)
    if isinstance(structures, (str, os.PathLike)):
        structures = _structure_files(images, structures)

    def make_example(photo, mask_seed):
        target = photo[0] if structures is not None else photo
        holes = tf.numpy_function(draw, [tf.shape(target)[:2], mask_seed], tf.float32)
        holes = tf.ensure_shape(holes, target.shape[:2].concatenate([1]))
        # With structures, `photo` is (target, structure), which is the `y` MEDFE trains on.
        return (fill_holes(target, holes, fill_value), holes), photo

    return degraded_dataset(
        images,
        make_example,
        crop_size,
        batch_size,
        seed,
        repeat,
        augment,
        aligned=structures,
        aligned_argument="structures",
        cache=cache,
    )
