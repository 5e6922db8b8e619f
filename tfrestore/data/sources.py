"""Clean photos for pipelines that degrade them on the fly, and safe Python calls from tf.data.

The synthetic pipelines (`motion_blur_dataset`, `inpainting_dataset`,
`synthetic_low_light_dataset`, `synthetic_raindrop_dataset`) share this front end:
`photo_dataset` takes a folder, a list of files or a list of arrays, checks sizes before
anything is decoded, and yields cropped, flipped photos with a per-element seed.
`degraded_dataset` maps a degradation over it and batches; the degradation is drawn in numpy
through `tf.numpy_function` with a body made by `seeded_numpy_function`, seeded from the
element seed and wrapped in `tracked_call` (see the note on interpreter exit).
`synthetic_pair_dataset` is that whole recipe for a degradation `(image, rng) -> image`.
`unpaired_dataset` uses `photo_dataset` for each of its streams.
"""

import atexit
import contextlib
import os
import threading
import time

import numpy as np
import tensorflow as tf

from tfrestore.data.augment import cropped_dataset, map_options
from tfrestore.data.io import list_images, upright_reader
from tfrestore.data.paired import (
    check_full_image_batches,
    image_size,
    listing,
    positive_int,
    size_mismatch,
)

__all__ = [
    "as_rng",
    "degraded_dataset",
    "derived_seed",
    "is_exiting",
    "photo_dataset",
    "register_exit_hook",
    "seeded_numpy_function",
    "source_images",
    "synthetic_pair_dataset",
    "tracked_call",
]


def as_rng(rng):
    """A numpy Generator from None, an int seed, a SeedSequence or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


# Python called from tf.data threads vs. interpreter exit. If an iterator over a pipeline that
# calls Python through `tf.numpy_function` is still alive when Python shuts down (e.g.
# `it = iter(ds)` at module level), its destructor waits for the in-flight calls, but threads
# that reach for the GIL during finalisation never come back: the process hangs (measured with
# TF 2.21). So before finalisation an atexit hook makes our Python functions return at once
# (they check `is_exiting()`) and waits until none is running; the iterator's buffers then fill
# and it stops calling us. The hook is registered by the first pipeline built
# (`photo_dataset`), so other programs that import tfrestore pay nothing at exit.
_exiting = threading.Event()
_active_calls = 0
_active_lock = threading.Lock()
_exit_hook_registered = False


@contextlib.contextmanager
def tracked_call():
    """Wrap the body of every `tf.numpy_function` so the exit hook can wait for it."""
    global _active_calls
    with _active_lock:
        _active_calls += 1
    try:
        yield
    finally:
        with _active_lock:
            _active_calls -= 1


def is_exiting():
    """True once the interpreter is exiting: numpy_function bodies should return at once."""
    return _exiting.is_set()


def _quiesce_python_calls(quiet_seconds=0.1, timeout_seconds=3.0):
    """atexit hook: stop doing work in our numpy_functions and wait until none is running."""
    _exiting.set()
    deadline = time.monotonic() + timeout_seconds
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.01)  # releases the GIL so pending calls can enter and return
        with _active_lock:
            busy = _active_calls > 0
        if busy:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            return


def register_exit_hook():
    """Registers the exit hook once; call it when building a pipeline with numpy_functions."""
    global _exit_hook_registered
    if not _exit_hook_registered:
        atexit.register(_quiesce_python_calls)
        _exit_hook_registered = True


def seeded_numpy_function(function, on_exit):
    """A `tf.numpy_function` body `(*arrays, seed) -> function(*arrays, rng)`.

    `seed` (the last argument, a shape-[2] integer element seed) seeds the numpy Generator
    `rng`, so each element's degradation is reproducible. The call is tracked for the exit
    hook, and once the interpreter is exiting it returns `on_exit(*arrays)` without doing the
    work (nobody will read that element).
    """

    def call(*args):
        *arrays, seed = args
        with tracked_call():
            if is_exiting():
                return on_exit(*arrays)
            rng = np.random.default_rng(np.asarray(seed).astype(np.uint64))
            return function(*arrays, rng)

    return call


def derived_seed(element_seed, offset):
    """`element_seed + [0, offset]`: an independent stateless seed for one random choice.

    Offsets 0 and 1 are the crop and the flip of `photo_dataset`; degradations start at 2.
    """
    return element_seed + tf.constant([0, offset], tf.int64)


def _array_loader(arrays):
    """numpy_function body that returns arrays[index]."""

    def load(index):
        with tracked_call():
            return arrays[int(index)]

    return load


def source_images(images, argument="images"):
    """Normalises `images` to ('files', paths, names) or ('arrays', arrays, names).

    Args:
        images: a folder (searched recursively), a list of file paths, or a list of float
            [H, W, 3] arrays in [0, 1].
        argument: str, what the caller calls `images`, for the error messages.

    Raises:
        ValueError: an empty folder or list, or an array of the wrong shape, dtype or range
            (named as `images[i]`).
    """
    if isinstance(images, (str, os.PathLike)):
        folder = os.fspath(images)
        paths = [os.path.join(folder, name) for name in list_images(folder)]
        if not paths:
            raise ValueError(f"no images found in {folder}")
        return "files", paths, paths
    images = list(images)
    if not images:
        raise ValueError(f"{argument} is empty: give a folder or a list of [H, W, 3] arrays")
    if all(isinstance(item, (str, os.PathLike)) for item in images):
        paths = [os.fspath(item) for item in images]
        return "files", paths, paths
    arrays, names = [], []
    for index, item in enumerate(images):
        name = f"{argument}[{index}]"
        array = np.asarray(item)
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"{name} must have shape [H, W, 3], got {array.shape}")
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{name} must be float in [0, 1], got dtype {array.dtype}")
        array = array.astype(np.float32)
        if not (np.all(np.isfinite(array)) and array.min() >= 0.0 and array.max() <= 1.0):
            raise ValueError(f"{name} must have values in [0, 1]")
        arrays.append(array)
        names.append(name)
    return "arrays", arrays, names


def _loader(kind, sources):
    """(keys, load): one dataset element per image, and the graph function that reads it."""
    if kind == "files":
        return sources, upright_reader(sources)
    lookup = _array_loader(sources)

    def load(index):
        image = tf.numpy_function(lookup, [index], tf.float32)
        return tf.ensure_shape(image, [None, None, 3])

    return np.arange(len(sources), dtype=np.int64), load


def _sizes(kind, sources):
    """(width, height) of each image: from the file headers, or the array shapes."""
    if kind == "files":
        return [image_size(path) for path in sources]
    return [(array.shape[1], array.shape[0]) for array in sources]


def _checked_aligned(aligned, argument, names, sizes):
    """`source_images(aligned)`, checked to hold one image per photo with the photo's size."""
    kind, sources, aligned_names = source_images(aligned, argument)
    if len(sources) != len(names):
        raise ValueError(
            f"{argument} has {len(sources)} image(s) for {len(names)} photo(s); give one per "
            "photo, in the same order"
        )
    mismatched = [
        (name, size, photo, photo_size)
        for name, size, photo, photo_size in zip(
            aligned_names, _sizes(kind, sources), names, sizes, strict=True
        )
        if size != photo_size
    ]
    if mismatched:
        listed = listing(mismatched, size_mismatch)
        raise ValueError(
            f"{len(mismatched)} image(s) of {argument} differ in size from their photo "
            f"(width x height): {listed}"
        )
    return kind, sources


def photo_dataset(
    images,
    crop_size,
    batch_size,
    seed=None,
    repeat=True,
    augment=True,
    aligned=None,
    aligned_argument="aligned",
    cache=False,
):
    """Unbatched `(photo, element_seed)` pairs: cropped, flipped photos and their seeds.

    With `augment=True` the photo order is shuffled and crops and flips are random
    (`crop_and_flip`); with `augment=False` the order is fixed and the crop is central. The
    element seed (shape [2] int64) has already seeded the crop ([0, 0] offset) and the flip
    ([0, 1]); a degradation should derive its own with `derived_seed(element_seed, 2)` (or
    use `degraded_dataset`, which does). Callers map their degradation, then batch with
    `drop_remainder=crop_size is not None`. With `aligned` (one image per photo, e.g. MEDFE's
    structure images) the elements are `((photo, aligned_image), element_seed)`, both cropped
    and flipped the same way (`crop_and_flip` stacks them).

    Args:
        images: see `source_images`.
        crop_size: int or None (full images). Already checked by the caller.
        batch_size: int >= 1, only used to check the sizes against it.
        seed: int or None. An int makes order, crops, flips and element seeds reproducible.
        repeat: bool, cycle forever.
        augment: bool.
        aligned: None (default), or images as in `source_images` aligned with the photos:
            one per photo, in the same order, of the same size.
        aligned_argument: str, what the caller calls `aligned`, for the error messages.
        cache: False (default), True (keep the decoded images in memory) or a file path
            prefix (keep them in `tf.data` cache files there); see `cropped_dataset`.

    Raises:
        ValueError: an image smaller than crop_size (named with its size), bad arrays, an
            empty folder, full images of several sizes with batch_size > 1, or fewer images
            than one batch without repeat; an `aligned` of another length, or whose images
            differ in size from their photos (named).
    """
    kind, sources, names = source_images(images)
    register_exit_hook()
    sizes = _sizes(kind, sources)
    if crop_size is not None:
        too_small = [
            (name, size) for name, size in zip(names, sizes, strict=True) if min(size) < crop_size
        ]
        if too_small:
            listed = listing(too_small, lambda item: f"{item[0]} ({item[1][0]}x{item[1][1]})")
            raise ValueError(
                f"{len(too_small)} image(s) are smaller than crop_size={crop_size} "
                f"(width x height): {listed}"
            )
    else:
        check_full_image_batches(sizes, batch_size)
    if crop_size is not None and not repeat and len(sources) < batch_size:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {len(sources)} image(s) given; the "
            "last incomplete batch is dropped, so the dataset would be empty"
        )
    loaders = [_loader(kind, sources)]
    if aligned is not None:
        loaders.append(_loader(*_checked_aligned(aligned, aligned_argument, names, sizes)))
    return cropped_dataset(
        loaders, crop_size, seed, shuffle=augment, repeat=repeat, augment=augment, cache=cache
    )


def degraded_dataset(
    images,
    make_example,
    crop_size,
    batch_size,
    seed,
    repeat,
    augment,
    aligned=None,
    aligned_argument="aligned",
    cache=False,
):
    """Batches of `make_example(photo, degradation_seed)` over `photo_dataset`'s photos.

    `degradation_seed` is `derived_seed(element_seed, 2)`, distinct from the crop's and the
    flip's. Incomplete batches are dropped when cropping (every example has the crop size).

    Args:
        images, crop_size, batch_size, seed, repeat, augment, aligned, aligned_argument,
            cache: see `photo_dataset`.
        make_example: `(photo, seed) -> example`, a `tf.data` map function on one
            [H, W, 3] photo (with `aligned`, a `(photo, aligned_image)` tuple) and its
            shape-[2] int64 seed.
    """
    dataset = photo_dataset(
        images, crop_size, batch_size, seed, repeat, augment, aligned, aligned_argument, cache
    )
    dataset = dataset.map(
        lambda photo, element_seed: make_example(photo, derived_seed(element_seed, 2)),
        **map_options(seed),
    )
    dataset = dataset.batch(batch_size, drop_remainder=crop_size is not None)
    return dataset.prefetch(tf.data.AUTOTUNE)


def synthetic_pair_dataset(
    images, degrade, crop_size, batch_size, seed, repeat, augment, cache=False
):
    """Batches of `(degrade(photo, rng), photo)`: a synthetic pipeline from its degradation.

    Each photo is cropped and flipped (`photo_dataset`), then degraded in numpy inside
    `tf.numpy_function` (`seeded_numpy_function`), with `rng` seeded from the example's
    degradation seed (`degraded_dataset`): a seeded pipeline gives the same pairs every run.

    Args:
        images, crop_size, batch_size, seed, repeat, augment, cache: as the public synthetic
            datasets take them (see `photo_dataset`); crop_size and batch_size are checked
            here.
        degrade: `(image, rng) -> degraded`, a float32 [H, W, 3] numpy image in and one of
            the same shape out; rng is a numpy Generator.

    Returns:
        Dataset of `(degraded, photo)`, each float32 [batch, crop, crop, 3].
    """
    crop_size = positive_int(crop_size, "crop_size", allow_none=True)
    batch_size = positive_int(batch_size, "batch_size")
    body = seeded_numpy_function(degrade, on_exit=lambda image: image)

    def make_pair(photo, degradation_seed):
        degraded = tf.numpy_function(body, [photo, degradation_seed], tf.float32)
        return tf.ensure_shape(degraded, photo.shape), photo

    return degraded_dataset(
        images, make_pair, crop_size, batch_size, seed, repeat, augment, cache=cache
    )
