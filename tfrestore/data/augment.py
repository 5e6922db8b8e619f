"""Aligned crops and flips for image pairs, usable inside `tf.data` maps.

Every pipeline (paired folders, and the photos that the synthetic ones degrade) orders,
loads and augments its images through `cropped_dataset`, which crops and flips with
`crop_and_flip`, so a degraded image and its target always get the same window and flip.

Seeds: `seed=None` uses TensorFlow's stateful random ops; an int or a shape-[2] integer
tensor uses the stateless ops, so a pipeline with a fixed seed gives the same crops each run.
"""

import glob
import os

import tensorflow as tf


def _stateless_seed(seed):
    """A shape-[2] int64 seed tensor for the stateless random ops, from an int or a tensor."""
    if isinstance(seed, int):
        return tf.constant([seed, 0], dtype=tf.int64)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if seed.shape.rank == 0:
        return tf.stack([seed, tf.constant(0, tf.int64)])
    return seed


def element_seeds(seed=None):
    """An endless dataset of shape-[2] int64 seeds, one per element, for the stateless ops.

    Zip it with a pipeline so each element gets its own reproducible seed (random seeds when
    `seed` is None).
    """
    return tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)


def map_options(seed):
    """`Dataset.map` keyword arguments: parallel, and in order when the pipeline is seeded."""
    return {
        "num_parallel_calls": tf.data.AUTOTUNE,
        "deterministic": True if seed is not None else None,
    }


def _stack(images, caller, crop_size=None):
    """Stacks HWC images along channels, so one op crops or flips them all the same way.

    Checks that the images share height and width (and are at least `crop_size`): statically
    with a ValueError when the shapes are known, else at run time with an
    InvalidArgumentError; both messages name `caller`.
    """
    images = [tf.convert_to_tensor(image) for image in images]
    shapes = [image.shape for image in images]
    if any(shape.rank not in (None, 3) for shape in shapes):
        raise ValueError(f"{caller}: images must be [H, W, C], got shapes {shapes}")
    if not all(shape[:2].is_compatible_with(shapes[0][:2]) for shape in shapes):
        raise ValueError(f"{caller}: the images must have the same height and width: {shapes}")
    size = tf.shape(images[0])[:2]
    checks = [
        tf.debugging.assert_equal(
            tf.shape(image)[:2],
            size,
            message=f"{caller}: the images must have the same height and width",
        )
        for image in images[1:]
    ]
    if crop_size is not None:
        checks.append(
            tf.debugging.assert_greater_equal(
                size,
                crop_size,
                message=f"{caller}: the images are smaller than the crop size {crop_size}",
            )
        )
    with tf.control_dependencies(checks):
        return images, tf.concat(images, axis=2)


def _unstack(stacked, images):
    """Undoes `_stack`, keeping each image's static channel count."""
    parts = tf.split(stacked, [tf.shape(image)[2] for image in images], axis=2)
    for part, image in zip(parts, images, strict=True):
        part.set_shape(stacked.shape[:2].concatenate(image.shape[2:]))
    return parts


def random_crop_images(images, size, seed=None):
    """Crops the same random `size` x `size` window out of every HWC image in `images`.

    Args:
        images: list of [H, W, C] tensors with equal H and W (channels may differ).
        size: int, crop height and width; must be <= H and <= W.
        seed: None, an int, or a shape-[2] integer tensor (see the module docstring).

    Returns:
        A list of [size, size, C] tensors, in the order given.
    """
    images, stacked = _stack(images, "random_crop_images", size)
    crop_shape = tf.stack([size, size, tf.shape(stacked)[2]])
    if seed is None:
        cropped = tf.image.random_crop(stacked, crop_shape)
    else:
        cropped = tf.image.stateless_random_crop(stacked, crop_shape, _stateless_seed(seed))
    cropped.set_shape([size, size, None])
    return _unstack(cropped, images)


def center_crop_images(images, size):
    """Crops the central `size` x `size` window (rounded towards the top left) of each image.

    Args:
        images: list of [H, W, C] tensors with equal H and W.
        size: int, crop height and width; must be <= H and <= W.
    """
    images, stacked = _stack(images, "center_crop_images", size)
    shape = tf.shape(stacked)
    top = (shape[0] - size) // 2
    left = (shape[1] - size) // 2
    cropped = stacked[top : top + size, left : left + size, :]
    cropped.set_shape([size, size, None])
    return _unstack(cropped, images)


def random_flip_images(images, seed=None):
    """Flips all images left-right together with probability 0.5.

    Args:
        images: list of [H, W, C] tensors with equal H and W.
        seed: None, an int, or a shape-[2] integer tensor.
    """
    images, stacked = _stack(images, "random_flip_images")
    if seed is None:
        flipped = tf.image.random_flip_left_right(stacked)
    else:
        flipped = tf.image.stateless_random_flip_left_right(stacked, _stateless_seed(seed))
    flipped.set_shape(stacked.shape)
    return _unstack(flipped, images)


def crop_and_flip(images, crop_size=None, augment=True, seed=None):
    """The shared augmentation: aligned crop, then aligned horizontal flip.

    With `augment=True` the crop window is random and a left-right flip is applied with
    probability 0.5; with `augment=False` the crop is central and nothing is flipped (for
    evaluation). `crop_size=None` keeps the full images.

    Args:
        images: list of [H, W, C] tensors with equal H and W.
        crop_size: int or None (default None).
        augment: bool (default True).
        seed: None, an int, or a shape-[2] integer tensor; the crop and the flip derive
            different seeds from it.

    Returns:
        A list of tensors, in the order given.
    """
    images = list(images)
    crop_seed = flip_seed = None
    if seed is not None:
        base = _stateless_seed(seed)
        crop_seed = base
        flip_seed = base + tf.constant([0, 1], tf.int64)
    if crop_size is not None:
        if augment:
            images = random_crop_images(images, crop_size, crop_seed)
        else:
            images = center_crop_images(images, crop_size)
    if augment:
        images = random_flip_images(images, flip_seed)
    return images


def random_crop_pair(a, b, size, seed=None):
    """Crops the same random `size` x `size` window from `a` and `b` (HWC, equal H and W).

    Args:
        a, b: [H, W, C] tensors, e.g. the degraded image and its target.
        size: int, crop height and width; must be <= H and <= W.
        seed: None (stateful random op), an int, or a shape-[2] integer tensor (stateless).

    Example:
        >>> degraded, target = random_crop_pair(degraded, target, 256, seed=[1, 2])
    """
    return tuple(random_crop_images([a, b], size, seed))


def center_crop_pair(a, b, size):
    """Crops the central `size` x `size` window from `a` and `b` (HWC, equal H and W).

    Example:
        >>> degraded, target = center_crop_pair(degraded, target, 256)
    """
    return tuple(center_crop_images([a, b], size))


def random_flip_pair(a, b, seed=None):
    """Flips `a` and `b` left-right together with probability 0.5.

    Args:
        a, b: [H, W, C] tensors with equal H and W.
        seed: None, an int, or a shape-[2] integer tensor.

    Example:
        >>> degraded, target = random_flip_pair(degraded, target, seed=3)
    """
    return tuple(random_flip_images([a, b], seed))


def cache_target(cache, suffix=""):
    """What `cache` (a pipeline's argument: False, True, "" or a path) asks for: None (no
    cache), "" (memory) or a file prefix for `tf.data.Dataset.cache` (its folder created;
    `suffix` appended, so that two streams of one pipeline write different files).

    Raises:
        ValueError: `cache` is neither a bool nor a non-empty path, or a lockfile of the
            prefix exists (a run is writing these files, or one was stopped while it did):
            named, with what to delete, before TensorFlow would stop the first epoch with it.
    """
    if cache is False or cache is None:
        return None
    if cache is True or cache == "":  # "" is tf.data's name for memory
        return ""
    if not isinstance(cache, (str, os.PathLike)):
        raise ValueError(f"cache must be true, false or a file path prefix, got {cache!r}")
    prefix = os.path.abspath(os.fspath(cache)) + suffix
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    locks = sorted(glob.glob(glob.escape(prefix) + "_*.lockfile"))
    if locks:
        raise ValueError(
            f"cache {prefix}: {locks[0]} exists: another run is writing this cache, or one was "
            f"stopped while writing it; if none is running, delete it and {prefix}_*tempstate* "
            "(the unfinished files), then run again"
        )
    return prefix


def cropped_dataset(sources, crop_size, seed, shuffle, repeat, augment, cache=False):
    """Unbatched `(images, element_seed)`: loaded, then cropped and flipped together.

    The front end shared by `paired_dataset` and `photo_dataset`. An element takes one key
    from each source, loads each image and passes them to `crop_and_flip` with the element's
    seed (which seeds the crop as it is and the flip with [0, 1] added; degradations derive
    theirs with larger offsets). Loading and cropping run in parallel (`map_options`), in
    order when seeded.

    With `cache`, the decoded images (float32, 12 bytes a pixel for RGB) are kept after the
    first pass, in memory or in files, and later passes skip reading and decoding; crops, flips
    and everything after stay random per pass. The order is shuffled over the decoded images
    with the same permutation as over the file names, so a seeded pipeline gives the same
    batches with and without a cache. The shuffle buffer then holds every decoded image
    (memory caches share it), so a cache suits data sets that fit in memory; a file cache is
    not checked against the files: delete it when the images change. A run killed while it
    writes the files (the first pass) leaves `<prefix>_0.lockfile`, which stops the next run
    (`cache_target` names it) until it is deleted.

    Args:
        sources: list of `(keys, load)`, one per image of an element: `keys` a sequence with
            one path or index per element (the same length for every source), `load` a graph
            function from one key to a float32 [H, W, C] image.
        crop_size: int or None (full images).
        seed: int or None. An int makes order, crops, flips and element seeds reproducible.
        shuffle: bool, reshuffle the order every epoch.
        repeat: bool, cycle forever.
        augment: bool, random crop and flip (else the central crop), see `crop_and_flip`.
        cache: False (default), True (decoded images in memory) or a file path prefix (in
            `tf.data` cache files `<prefix>.index`, `<prefix>.data-*`, kept for later runs).

    Returns:
        Dataset of `(images, element_seed)`: the image itself for a single source, else a
        tuple with one image per source; the seed is shape [2] int64.
    """
    cache = cache_target(cache)
    single = len(sources) == 1
    keys = tuple(source_keys for source_keys, _ in sources)
    dataset = tf.data.Dataset.from_tensor_slices(keys[0] if single else keys)

    def load_all(*element_keys):  # one key per source (tf.data unpacks a tuple element)
        return tuple(load(one) for one, (_, load) in zip(element_keys, sources, strict=True))

    if cache is not None:
        # In file order, so the shuffle below permutes the images as it would the names.
        dataset = dataset.map(load_all, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        dataset = dataset.cache(cache)
    if shuffle:
        dataset = dataset.shuffle(len(keys[0]), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = tf.data.Dataset.zip(dataset, element_seeds(seed))

    def crop(element, element_seed):
        loaded = element if cache is not None else load_all(*((element,) if single else element))
        cropped = crop_and_flip(loaded, crop_size=crop_size, augment=augment, seed=element_seed)
        return (cropped[0] if single else tuple(cropped)), element_seed

    return dataset.map(crop, **map_options(seed))
