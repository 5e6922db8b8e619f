"""Low-light data: EnlightenGAN's unpaired pipeline and synthetic low light for paired checks.

`unpaired_dataset` follows EnlightenGAN's data (Jiang et al., "EnlightenGAN: Deep Light
Enhancement Without Paired Supervision", IEEE TIP 2021; upstream `data/unaligned_dataset.py`):
low-light and normal-light photos drawn independently, random crops and flips, and random
darkening of the low-light input. `synthetic_low_light` darkens a normal photo so a model can
be scored against the original (the demo and tests); evaluation on LOL-style paired folders
uses `paired_dataset(low_dir, normal_dir, ...)`.
"""

import functools

import numpy as np
import tensorflow as tf

from tfrestore.data.augment import cache_target, map_options
from tfrestore.data.paired import positive_int
from tfrestore.data.sources import as_rng, derived_seed, photo_dataset, synthetic_pair_dataset

__all__ = ["synthetic_low_light", "synthetic_low_light_dataset", "unpaired_dataset"]


def _value_range(value, name, minimum, maximum=None, allow_minimum=False):
    """`value` (a number or a (low, high) pair) as a float pair; ValueError naming `name`.

    Both ends must lie in (minimum, maximum] (or [minimum, maximum] with `allow_minimum`).
    """
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        bounds = (float(value), float(value))
    else:
        try:
            bounds = tuple(float(end) for end in value)
        except (TypeError, ValueError):
            bounds = ()
    above = (lambda end: end >= minimum) if allow_minimum else (lambda end: end > minimum)
    valid = (
        len(bounds) == 2
        and all(np.isfinite(end) and above(end) for end in bounds)
        and (maximum is None or bounds[1] <= maximum)
        and bounds[0] <= bounds[1]
    )
    if not valid:
        opening = "[" if allow_minimum else "("
        closing = f"{maximum}]" if maximum is not None else "inf)"
        interval = f"{opening}{minimum}, {closing}"
        raise ValueError(
            f"{name} must be a number or a (low, high) pair with low <= high, both in "
            f"{interval}; got {value!r}"
        )
    return bounds


def _low_light_ranges(exposure, gamma, noise):
    """The checked (low, high) ranges of `synthetic_low_light`'s parameters."""
    return (
        _value_range(exposure, "exposure", 0.0, 1.0),
        _value_range(gamma, "gamma", 0.0),
        _value_range(noise, "noise", 0.0, allow_minimum=True),
    )


def synthetic_low_light(image, rng=None, exposure=(0.1, 0.3), gamma=(1.5, 2.5), noise=(0.0, 0.02)):
    """Darkens a normal-light image: `exposure * image**gamma + N(0, noise^2)`, clipped.

    The usual synthetic low-light recipe (LLNet, Lore et al., Pattern Recognition 2017: gamma
    darkening plus Gaussian noise; Lv et al., IJCV 2021: `beta * (alpha * x)**gamma`): a
    gamma > 1 applied to the display-referred image crushes shadows more than highlights, as
    an under-exposed photo through a camera's tone curve does, and the factor `exposure`
    lowers the whole range. The gamma acts on display values on purpose: scaling linear light
    (`image**g`) and re-encoding (`**(1/g)`) with a pure power law would only multiply the
    image by `exposure**(1/g)`. The noise is signal-independent Gaussian read noise added to
    the darkened image (shot noise is not modelled). Each of the three parameters is a fixed
    number or a (low, high) range drawn uniformly per call, in the order exposure, gamma,
    noise, then the noise pixels.

    Noise-free, a constant image of value v becomes `exposure * v**gamma`; e.g. 0.5 with
    exposure 0.2 and gamma 2 becomes 0.05.

    Args:
        image: float array [..., H, W, 3] (any shape) with values in [0, 1]; values outside
            are clipped to [0, 1] first.
        rng: numpy Generator, int seed or None.
        exposure: number or (low, high) in (0, 1] (default (0.1, 0.3)), the brightness scale.
        gamma: number or (low, high) > 0 (default (1.5, 2.5)); 1 gives a plain scale.
        noise: number or (low, high) >= 0 (default (0.0, 0.02)), the noise standard
            deviation in [0, 1] units (0.02 is about 5 levels of 255).

    Returns:
        float32 numpy array of the image's shape, in [0, 1].

    Raises:
        ValueError: a parameter that is not a number or range within its bounds.

    Example:
        >>> dark = synthetic_low_light(photo, rng=0)
        >>> dark = synthetic_low_light(photo, exposure=0.2, gamma=2.0, noise=0.0)  # fixed
    """
    exposure, gamma, noise = _low_light_ranges(exposure, gamma, noise)
    rng = as_rng(rng)
    exposure, gamma, sigma = (rng.uniform(low, high) for low, high in (exposure, gamma, noise))
    image = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    dark = exposure * image.astype(np.float64) ** gamma
    if sigma > 0:
        dark = dark + rng.normal(0.0, sigma, size=dark.shape)
    return np.clip(dark, 0.0, 1.0).astype(np.float32)


def synthetic_low_light_dataset(
    images,
    crop_size=256,
    batch_size=1,
    seed=None,
    repeat=True,
    augment=True,
    exposure=(0.1, 0.3),
    gamma=(1.5, 2.5),
    noise=(0.0, 0.02),
    cache=False,
):
    """(dark, original) pairs made on the fly with `synthetic_low_light`.

    For demos and tests that need a target to measure PSNR against; EnlightenGAN itself
    trains on `unpaired_dataset`. Each photo is cropped (and flipped) with the shared
    `crop_and_flip`, then darkened in numpy with parameters drawn per example from the
    element's seed. With `augment=False` the order is fixed and the crop central (the
    darkening is still random unless its parameters are fixed numbers).

    Args:
        images: a folder of normal-light photos (searched recursively), a list of file paths,
            or a list of float32 [H, W, 3] arrays in [0, 1].
        crop_size: int or None (default 256). None keeps full images (batch_size 1 unless all
            have one size).
        batch_size: int >= 1 (default 1). With a crop, incomplete batches are dropped.
        seed: int or None (default None). An int makes order, crops, flips and darkening
            reproducible.
        repeat: bool (default True), cycle forever.
        augment: bool (default True).
        exposure, gamma, noise: see `synthetic_low_light`.
        cache: False (default), True (keep the decoded photos in memory) or a file path
            prefix (in `tf.data` cache files); see `tfrestore.data.augment.cropped_dataset`.

    Returns:
        Dataset of `(dark, original)`, each float32 [batch, crop, crop, 3] in [0, 1].

    Raises:
        ValueError: bad darkening parameters, an image smaller than crop_size (named with its
            size), bad arrays, an empty folder, or bad arguments.

    Example:
        >>> ds = synthetic_low_light_dataset(list(sample_images().values()), crop_size=128,
        ...                                  batch_size=4, seed=0)
        >>> dark, original = next(iter(ds))  # each [4, 128, 128, 3]
    """
    options = dict(zip(("exposure", "gamma", "noise"), _low_light_ranges(exposure, gamma, noise)))
    darken = functools.partial(synthetic_low_light, **options)
    return synthetic_pair_dataset(
        images, darken, crop_size, batch_size, seed, repeat, augment, cache
    )


def _stream_seeds(seed):
    """Two different int seeds (or two Nones) for the low-light and normal-light streams.

    Distinct even when both streams read the same images, so their orders, crops and flips
    are independent.
    """
    if seed is None:
        return None, None
    low, normal = np.random.SeedSequence(seed).generate_state(2, np.uint32)
    return int(low), int(normal)


def _random_vertical_flip(image, element_seed):
    """Flips up-down with probability 0.5, from a seed distinct from the crop's and flip's."""
    flipped = tf.image.stateless_random_flip_up_down(image, derived_seed(element_seed, 2))
    return tf.ensure_shape(flipped, image.shape)


def unpaired_dataset(
    low,
    normal,
    crop_size=320,
    batch_size=1,
    seed=None,
    repeat=True,
    augment=True,
    darken_probability=0.5,
    darken_range=(2.0, 4.0),
    cache=False,
):
    """EnlightenGAN's unpaired `(low, normal)` training batches.

    The low-light and normal-light photos come from two independently shuffled streams, so
    which normal photo meets which low photo changes from epoch to epoch (upstream draws the
    normal image at random for every low image). One epoch is one pass over the low photos;
    the normal stream cycles as long as needed.

    Augmentation (`augment=True`, upstream `unaligned_dataset.py`): a random crop, a
    horizontal flip and a vertical flip (p = 0.5 each), drawn separately for each image.
    Upstream flips horizontally twice (in its transform, then again with the vertical flip;
    two independent p = 0.5 flips are one p = 0.5 flip) and applies the second pair of flips
    to the low and normal image together; since the two are unpaired, only the independence
    matters. With `augment=False` both streams keep their order, crops are central and
    nothing is flipped.

    Darkening (upstream `vary`): with probability `darken_probability` the low image is
    divided by a factor drawn uniformly from `darken_range` (upstream divides by a random
    integer in [200, 400] over 100; here the factor is continuous). It is applied whatever
    `augment` is; pass `darken_probability=0` to turn it off. Note that upstream's
    self-feature-preserving VGG loss compares the output with the low image *before* this
    darkening, which this dataset does not return.

    Args:
        low: low-light photos: a folder (searched recursively), a list of file paths, or a
            list of float32 [H, W, 3] arrays in [0, 1].
        normal: normal-light photos, in the same forms.
        crop_size: int or None (default 320, upstream's fineSize). None keeps full images
            (batch_size 1 unless all images of each stream have one size).
        batch_size: int >= 1 (default 1; upstream trains with 32). With a crop, incomplete
            batches are dropped.
        seed: int or None (default None). An int makes both streams reproducible (they get
            different seeds derived from it).
        repeat: bool (default True), cycle over the low photos forever.
        augment: bool (default True).
        darken_probability: float in [0, 1] (default 0.5).
        darken_range: factor or (low, high) factors >= 1 (default (2.0, 4.0)).
        cache: False (default), True (keep the decoded photos of both streams in memory) or a
            file path prefix (`<prefix>.low.*` and `<prefix>.normal.*` `tf.data` cache files);
            see `tfrestore.data.augment.cropped_dataset`.

    Returns:
        Dataset of `(low, normal)`, each float32 [batch, crop, crop, 3] in [0, 1].

    Raises:
        ValueError: an image smaller than crop_size (named with its size), bad arrays, an
            empty folder, or bad arguments.

    Example:
        >>> ds = unpaired_dataset("data/trainA", "data/trainB", batch_size=8, seed=0)
        >>> low, normal = next(iter(ds))  # each [8, 320, 320, 3]
    """
    crop_size = positive_int(crop_size, "crop_size", allow_none=True)
    batch_size = positive_int(batch_size, "batch_size")
    if isinstance(darken_probability, bool) or not (
        isinstance(darken_probability, (int, float, np.integer, np.floating))
        and 0.0 <= darken_probability <= 1.0
    ):
        raise ValueError(f"darken_probability must be in [0, 1], got {darken_probability!r}")
    darken_probability = float(darken_probability)
    min_factor, max_factor = _value_range(darken_range, "darken_range", 1.0, allow_minimum=True)

    low_seed, normal_seed = _stream_seeds(seed)
    low_cache, normal_cache = (cache_target(cache, f".{stream}") for stream in ("low", "normal"))
    low_photos = photo_dataset(
        low, crop_size, batch_size, low_seed, repeat, augment, cache=low_cache
    )
    normal_photos = photo_dataset(
        normal, crop_size, batch_size, normal_seed, True, augment, cache=normal_cache
    )

    def prepare_low(image, element_seed):
        if augment:
            image = _random_vertical_flip(image, element_seed)
        coin, fraction = tf.unstack(
            tf.random.stateless_uniform([2], derived_seed(element_seed, 3), dtype=tf.float32)
        )
        factor = min_factor + (max_factor - min_factor) * fraction
        return tf.where(coin < darken_probability, image / factor, image)

    def prepare_normal(image, element_seed):
        return _random_vertical_flip(image, element_seed) if augment else image

    dataset = tf.data.Dataset.zip(
        low_photos.map(prepare_low, **map_options(seed)),
        normal_photos.map(prepare_normal, **map_options(seed)),
    )
    dataset = dataset.batch(batch_size, drop_remainder=crop_size is not None)
    return dataset.prefetch(tf.data.AUTOTUNE)
