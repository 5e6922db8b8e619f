"""Paired folders (degraded image, target image) as a `tf.data` pipeline.

The two folders are matched by relative file name (`blur/a/1.png` pairs with `sharp/a/1.png`),
or by a key computed from it (`key=raindrop_key` pairs `data/12_rain.png` with
`gt/12_clean.png`).
Problems are found before anything is decoded: names without a partner, pairs whose sizes
differ and images smaller than the crop are reported together, by name.
"""

import logging
import operator
import os

import tensorflow as tf

from tfrestore.data.augment import (
    center_crop_pair,
    cropped_dataset,
    random_crop_pair,
    random_flip_pair,
)
from tfrestore.data.io import image_size, list_images, upright_reader

__all__ = [
    "paired_files",
    "paired_dataset",
    "random_crop_pair",
    "random_flip_pair",
    "center_crop_pair",
    "image_size",
]

logger = logging.getLogger(__name__)

# How many offending names an error message lists before it just gives the count.
_MAX_LISTED = 10


def listing(names, describe=str):
    """'a, b, c' for the first `_MAX_LISTED` items, then ', ... and N more'."""
    shown = ", ".join(describe(name) for name in names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        shown += f", ... and {len(names) - _MAX_LISTED} more"
    return shown


def paired_files(degraded_dir, target_dir, skip_unmatched=False, key=None):
    """Matches two folders of images by relative file name.

    Args:
        degraded_dir: folder of degraded inputs (searched recursively).
        target_dir: folder of clean targets with the same relative names.
        skip_unmatched: bool (default False). If False, any name present in only one folder is
            an error; if True such names are skipped and a warning gives their count.
        key: callable or None (default None: the relative name itself). Maps a relative name
            to a pairing key; names with equal keys pair (e.g. `raindrop_key` pairs
            `12_rain.png` with `12_clean.jpg`).

    Returns:
        List of (degraded_path, target_path) tuples of full paths, sorted by degraded name.

    Raises:
        FileNotFoundError: a folder does not exist.
        ValueError: names without a partner (listed, first 10 and a count), names of one
            folder that share a key, or no pairs.

    Example:
        >>> paired_files("gopro/train/blur", "gopro/train/sharp")[:1]
        [('gopro/train/blur/0001.png', 'gopro/train/sharp/0001.png')]
    """
    degraded_dir, target_dir = os.fspath(degraded_dir), os.fspath(target_dir)
    degraded_by_key = _names_by_key(degraded_dir, key)
    target_by_key = _names_by_key(target_dir, key)
    only_degraded = [name for k, name in degraded_by_key.items() if k not in target_by_key]
    only_target = [name for k, name in target_by_key.items() if k not in degraded_by_key]
    unmatched = len(only_degraded) + len(only_target)
    if unmatched and not skip_unmatched:
        parts = []
        if only_degraded:
            parts.append(f"only in {degraded_dir}: {listing(only_degraded)}")
        if only_target:
            parts.append(f"only in {target_dir}: {listing(only_target)}")
        matched_by = "relative file name"
        if key is not None:
            matched_by = f"{getattr(key, '__name__', 'key')}(relative file name)"
        raise ValueError(
            f"{unmatched} image name(s) have no partner ({'; '.join(parts)}). "
            f"Pairs are matched by {matched_by}; pass skip_unmatched=True to skip them."
        )
    if unmatched:
        logger.warning(
            "skipped %d unmatched image name(s) (%d only in %s, %d only in %s)",
            unmatched,
            len(only_degraded),
            degraded_dir,
            len(only_target),
            target_dir,
        )
    pairs = [
        (os.path.join(degraded_dir, name), os.path.join(target_dir, target_by_key[k]))
        for k, name in degraded_by_key.items()
        if k in target_by_key
    ]
    if not pairs:
        raise ValueError(f"no image pairs found in {degraded_dir} and {target_dir}")
    return pairs


def _names_by_key(folder, key):
    """{pairing key: relative name} of the images in `folder`, in name order.

    Raises:
        ValueError: several names share a key (listed with the key).
    """
    groups = {}
    for name in list_images(folder):
        groups.setdefault(name if key is None else key(name), []).append(name)
    shared = [(k, names) for k, names in groups.items() if len(names) > 1]
    if shared:
        listed = listing(shared, lambda item: f"{' and '.join(item[1])} (key {item[0]!r})")
        raise ValueError(
            f"{len(shared)} pairing key(s) in {folder} belong to several images: {listed}. "
            "Keep one image per key."
        )
    return {k: names[0] for k, names in groups.items()}


def size_mismatch(mismatch):
    """`"a is WxH but b is WxH"` for a (name, (width, height), other, (width, height))."""
    name, size, other, other_size = mismatch
    return f"{name} is {size[0]}x{size[1]} but {other} is {other_size[0]}x{other_size[1]}"


def _check_pair_sizes(pairs, crop_size, batch_size):
    """Validates sizes from the file headers; returns the list of (width, height)."""
    sizes, mismatched, too_small = [], [], []
    for degraded_path, target_path in pairs:
        degraded_size, target_size = image_size(degraded_path), image_size(target_path)
        sizes.append(degraded_size)
        if degraded_size != target_size:
            mismatched.append((degraded_path, degraded_size, target_path, target_size))
        elif crop_size is not None and min(degraded_size) < crop_size:
            too_small.append((degraded_path, degraded_size))
    if mismatched:
        listed = listing(mismatched, size_mismatch)
        raise ValueError(f"{len(mismatched)} pair(s) differ in size (width x height): {listed}")
    if too_small:
        listed = listing(too_small, lambda s: f"{s[0]} ({s[1][0]}x{s[1][1]})")
        raise ValueError(
            f"{len(too_small)} image(s) are smaller than crop_size={crop_size}: {listed}"
        )
    if crop_size is None:
        check_full_image_batches(sizes, batch_size)
    return sizes


def check_full_image_batches(sizes, batch_size):
    """ValueError unless uncropped images of these (width, height) sizes can form batches."""
    if batch_size > 1 and len(set(sizes)) > 1:
        raise ValueError(
            f"crop_size=None keeps full images, so batch_size={batch_size} needs all images to "
            f"have one size; found {len(set(sizes))} sizes. Use batch_size=1 or set crop_size."
        )


def positive_int(value, name, allow_none=False):
    """`value` as a Python int >= 1 (or None when allowed); ValueError naming `name` if not."""
    if value is None and allow_none:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or number < 1:
        expected = "a positive int or None" if allow_none else "a positive int"
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return number


def paired_dataset(
    degraded_dir,
    target_dir,
    crop_size=256,
    batch_size=1,
    shuffle=True,
    augment=True,
    seed=None,
    skip_unmatched=False,
    repeat=False,
    key=None,
    cache=False,
):
    """A `tf.data.Dataset` of aligned (degraded, target) batches from two paired folders.

    Each pair is decoded upright (`upright_reader`: float32 RGB in [0, 1]), then cropped and
    flipped identically (`crop_and_flip`): with `augment=True` a random `crop_size` window and a
    random left-right flip, with `augment=False` the central window and no flip. Sizes are
    checked from the file headers before the pipeline is built.

    Args:
        degraded_dir: folder of degraded images.
        target_dir: folder of targets, same relative names.
        crop_size: int or None (default 256). None keeps full images; then batch_size must be 1
            unless all images have the same size.
        batch_size: int >= 1 (default 1). With a crop the last incomplete batch is dropped.
        shuffle: bool (default True), reshuffle the file order each epoch.
        augment: bool (default True), random crop and flip (else center crop).
        seed: int or None (default None). An int makes order, crops and flips reproducible.
        skip_unmatched: bool (default False), see `paired_files`.
        repeat: bool (default False), repeat forever.
        key: callable or None (default None), how names pair, see `paired_files`.
        cache: False (default), True (keep the decoded images in memory) or a file path
            prefix (keep them in `tf.data` cache files there); see `cropped_dataset`.

    Returns:
        Dataset of `(degraded, target)`, each float32 [batch, crop, crop, 3].

    Raises:
        ValueError: unmatched names, pairs of different sizes, images smaller than crop_size
            (each listed by name), bad arguments, or fewer pairs than one batch.

    Example:
        >>> ds = paired_dataset("gopro/train/blur", "gopro/train/sharp", crop_size=256,
        ...                     batch_size=4, seed=0, repeat=True)
        >>> degraded, target = next(iter(ds))  # each [4, 256, 256, 3]
    """
    crop_size = positive_int(crop_size, "crop_size", allow_none=True)
    batch_size = positive_int(batch_size, "batch_size")
    pairs = paired_files(degraded_dir, target_dir, skip_unmatched=skip_unmatched, key=key)
    _check_pair_sizes(pairs, crop_size, batch_size)
    drop_remainder = crop_size is not None
    if drop_remainder and not repeat and len(pairs) < batch_size:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {len(pairs)} pair(s) found in "
            f"{degraded_dir}; the last incomplete batch is dropped, so the dataset would be empty"
        )

    degraded, target = ([pair[side] for pair in pairs] for side in (0, 1))
    sources = [(degraded, upright_reader(degraded)), (target, upright_reader(target))]
    dataset = cropped_dataset(sources, crop_size, seed, shuffle, repeat, augment, cache)
    dataset = dataset.map(lambda pair, _: pair)  # the element seeds were for the crop and flip
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)
