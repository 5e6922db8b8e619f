"""Raindrop data for AttentiveGAN: the Raindrop dataset and synthetic drops.

Qian et al., "Attentive Generative Adversarial Network for Raindrop Removal from a Single
Image", CVPR 2018. Their Raindrop dataset pairs `data/N_rain.png` with `gt/N_clean.png`
(`raindrop_files`, `raindrop_dataset`). `synthetic_raindrops` puts adherent drops on any clean
photo for demos and tests (`synthetic_raindrop_dataset`). The binary mask M of a rainy/clean
pair that supervises the attention maps is the model's own
(`tfrestore.models.attentive_gan.raindrop_mask`).
"""

import os
import re

import numpy as np

from tfrestore.data.low_light import _value_range
from tfrestore.data.motion_blur import blur_image
from tfrestore.data.paired import paired_dataset, paired_files
from tfrestore.data.sources import as_rng, synthetic_pair_dataset

__all__ = [
    "raindrop_dataset",
    "raindrop_files",
    "raindrop_key",
    "synthetic_raindrop_dataset",
    "synthetic_raindrops",
]


# `12_rain.png`, `scene/007_clean.JPG`: an optional folder, the number, the role, any extension.
_RAINDROP_NAME = re.compile(r"(?P<folder>.*/)?(?P<number>\d+)_(?:rain|clean)\.[^./]+", re.I)


def raindrop_key(name):
    """The pairing key of a Raindrop file: its folder and number (`a/012_rain.png` -> `a/12`).

    `N_rain.<ext>` and `N_clean.<ext>` in the same relative folder get the same key, whatever
    the extension and leading zeros. Any other name is its own key, so it finds no partner and
    `paired_files` reports it.
    """
    match = _RAINDROP_NAME.fullmatch(name)
    if match is None:
        return name
    return f"{match['folder'] or ''}{int(match['number'])}"


def _raindrop_folders(root_or_data_dir, gt_dir):
    """(data_dir, gt_dir): `root/data` and `root/gt`, or the two folders given."""
    folder = os.fspath(root_or_data_dir)
    if gt_dir is not None:
        return folder, os.fspath(gt_dir)
    data_dir, gt_dir = os.path.join(folder, "data"), os.path.join(folder, "gt")
    missing = [path for path in (data_dir, gt_dir) if not os.path.isdir(path)]
    if missing:
        raise FileNotFoundError(
            f"{folder} should hold the Raindrop folders data/ and gt/, but "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing; "
            "or pass the rainy-image folder and gt_dir"
        )
    return data_dir, gt_dir


def raindrop_files(root_or_data_dir, gt_dir=None, skip_unmatched=False):
    """Pairs the Raindrop dataset's rainy and clean images by number.

    Qian et al.'s dataset has `data/N_rain.png` and `gt/N_clean.png` in each split (train,
    test_a, test_b; some splits use .jpg). `12_rain.png` pairs with `12_clean.png` (or
    `12_clean.jpg`): see `raindrop_key`. Unmatched names are errors as in `paired_files`.

    Args:
        root_or_data_dir: a split folder holding `data/` and `gt/`, or the rainy-image folder
            itself when `gt_dir` is given.
        gt_dir: folder of clean images, or None (default) for `root_or_data_dir/gt`.
        skip_unmatched: bool (default False), see `paired_files`.

    Returns:
        List of (rainy_path, clean_path) tuples, sorted by rainy file name.

    Raises:
        FileNotFoundError: `data/` or `gt/` is missing (or a folder given does not exist).
        ValueError: names without a partner, two files with one number in a folder, or no
            pairs; the names are listed.

    Example:
        >>> raindrop_files("raindrop/train")[:1]
        [('raindrop/train/data/0_rain.png', 'raindrop/train/gt/0_clean.png')]
    """
    data_dir, gt_dir = _raindrop_folders(root_or_data_dir, gt_dir)
    return paired_files(data_dir, gt_dir, skip_unmatched=skip_unmatched, key=raindrop_key)


def raindrop_dataset(
    root_or_data_dir,
    crop_size=256,
    batch_size=1,
    shuffle=True,
    augment=True,
    seed=None,
    skip_unmatched=False,
    repeat=False,
    gt_dir=None,
    cache=False,
):
    """(rainy, clean) batches from a Raindrop split folder: `paired_dataset` paired by number.

    Files are paired with `raindrop_files` and loaded, cropped and flipped exactly as in
    `paired_dataset`. Upstream's TF port resizes every image to 376x256 and crops 360x240;
    here images keep their size and crops are square. AttentiveGAN computes its mask M from
    each pair (`raindrop_mask`).

    Args:
        root_or_data_dir, gt_dir: see `raindrop_files`.
        crop_size, batch_size, shuffle, augment, seed, skip_unmatched, repeat, cache: see
            `paired_dataset` (defaults 256, 1, True, True, None, False, False, False).

    Returns:
        Dataset of `(rainy, clean)`, each float32 [batch, crop, crop, 3] in [0, 1].

    Raises:
        FileNotFoundError, ValueError: as `raindrop_files` and `paired_dataset`.

    Example:
        >>> ds = raindrop_dataset("raindrop/train", crop_size=256, batch_size=4, seed=0,
        ...                       repeat=True)
        >>> rainy, clean = next(iter(ds))  # each [4, 256, 256, 3]
    """
    data_dir, gt_dir = _raindrop_folders(root_or_data_dir, gt_dir)
    return paired_dataset(
        data_dir,
        gt_dir,
        crop_size=crop_size,
        batch_size=batch_size,
        shuffle=shuffle,
        augment=augment,
        seed=seed,
        skip_unmatched=skip_unmatched,
        repeat=repeat,
        key=raindrop_key,
        cache=cache,
    )


def _raindrop_ranges(count, radius, aspect, zoom, blur, edge, highlight):
    """The checked (low, high) ranges of `synthetic_raindrops`' parameters, as a dict."""
    counts = _value_range(count, "count", 0.0, allow_minimum=True)
    if not all(float(end).is_integer() for end in counts):
        raise ValueError(f"count must be an int or a (low, high) pair of ints; got {count!r}")
    return {
        "count": tuple(int(end) for end in counts),
        "radius": _value_range(radius, "radius", 0.0),
        "aspect": _value_range(aspect, "aspect", 0.0, 1.0),
        "zoom": _value_range(zoom, "zoom", 0.0),
        "blur": _value_range(blur, "blur", 0.0, allow_minimum=True),
        "edge": _value_range(edge, "edge", 0.0, 1.0, allow_minimum=True),
        "highlight": _value_range(highlight, "highlight", 0.0, 1.0, allow_minimum=True),
    }


def _gaussian_blur(image, sigma):
    """`image` blurred by a Gaussian of standard deviation `sigma` pixels (reflected borders)."""
    if sigma < 0.3:  # narrower than a pixel: nothing to blur
        return image
    offsets = np.arange(-int(np.ceil(3 * sigma)), int(np.ceil(3 * sigma)) + 1)
    profile = np.exp(-0.5 * (offsets / sigma) ** 2)
    return blur_image(image, np.outer(profile, profile), normalize=False)


def _bilinear(image, rows, cols):
    """`image` [H, W, C] sampled at fractional (rows, cols), clamped to the image."""
    height, width = image.shape[:2]
    rows = np.clip(rows, 0.0, height - 1.0)
    cols = np.clip(cols, 0.0, width - 1.0)
    top, left = np.floor(rows).astype(int), np.floor(cols).astype(int)
    bottom, right = np.minimum(top + 1, height - 1), np.minimum(left + 1, width - 1)
    dy, dx = (rows - top)[..., None], (cols - left)[..., None]
    upper = image[top, left] * (1 - dx) + image[top, right] * dx
    lower = image[bottom, left] * (1 - dx) + image[bottom, right] * dx
    return upper * (1 - dy) + lower * dy


def synthetic_raindrops(
    image,
    rng=None,
    count=(10, 40),
    radius=(4, 16),
    aspect=(0.7, 1.0),
    zoom=(1.5, 3.0),
    blur=(1.0, 3.0),
    edge=(0.0, 0.3),
    highlight=(0.0, 0.3),
):
    """Adherent raindrops on a photo: each drop is a small lens showing a blurred, flipped view.

    A drop on the glass in front of the lens refracts light like a fisheye lens: it shows an
    upside-down, shrunk view of a region around it, and since the camera focuses on the scene
    behind it, the drop is out of focus. So for each drop (random centre, radius, axis ratio
    and orientation) the pixels inside sample a Gaussian-blurred copy of the photo at
    `centre - zoom * (0.6 + 0.4 * rho**2) * offset` (rho = 0 at the centre, 1 on the rim: the
    view is flipped through the centre and compressed towards the rim), are darkened towards
    the rim by `edge * rho**4` and get a soft highlight at the upper left. The drop is
    alpha-blended over the photo with an edge that fades over the blur width (at least one
    pixel), so pixels change up to that width outside the returned mask. Later drops cover
    earlier ones; every drop refracts the clean photo. This is a visual model, not a ray
    trace; Qian et al.'s dataset photographs real drops on glass.

    The defaults suit images of about 256 x 256 (there a drop covers 10-20 % of the pixels);
    `count` is per image, so scale it with the area for larger ones. Each parameter is a fixed
    value or a (low, high) range drawn uniformly per drop (`count` and `blur` per image).

    Args:
        image: float array [H, W, C] with values in [0, 1] (values outside are clipped).
        rng: numpy Generator, int seed or None.
        count: int or (low, high) ints >= 0 (default (10, 40)), drops per image.
        radius: number or (low, high) > 0 (default (4, 16)), the drop's major semi-axis in
            pixels.
        aspect: number or (low, high) in (0, 1] (default (0.7, 1.0)), minor / major axis.
        zoom: number or (low, high) > 0 (default (1.5, 3.0)): the rim shows the scene `zoom`
            radii away from the centre.
        blur: number or (low, high) >= 0 (default (1.0, 3.0)), defocus standard deviation in
            pixels.
        edge: number or (low, high) in [0, 1] (default (0.0, 0.3)), rim darkening.
        highlight: number or (low, high) in [0, 1] (default (0.0, 0.3)), highlight brightness.

    Returns:
        (rainy, mask): float32 [H, W, C] in [0, 1], and float32 [H, W, 1] in {0, 1} with
        1 inside a drop (where its blending weight is above 1/2).

    Raises:
        ValueError: a bad image shape or a parameter outside its range (named).

    Example:
        >>> rainy, mask = synthetic_raindrops(photo, rng=0)
        >>> rainy, mask = synthetic_raindrops(photo, rng=0, count=5, radius=20)  # 5 big drops
    """
    ranges = _raindrop_ranges(count, radius, aspect, zoom, blur, edge, highlight)
    image = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    if image.ndim != 3 or min(image.shape) < 1:
        raise ValueError(f"image must have shape [H, W, C], got {image.shape}")
    rng = as_rng(rng)
    height, width = image.shape[:2]
    # All random numbers up front, in a fixed order: count, blur, then one row per drop.
    number = int(rng.integers(ranges["count"][0], ranges["count"][1], endpoint=True))
    sigma = rng.uniform(*ranges["blur"])
    centres = rng.uniform((0.0, 0.0), (height, width), size=(number, 2))
    per_drop = {
        name: rng.uniform(*ranges[name], size=number)
        for name in ("radius", "aspect", "zoom", "edge", "highlight")
    }
    angles = rng.uniform(0.0, np.pi, size=number)

    source = _gaussian_blur(image, sigma)
    rainy = image.copy()
    mask = np.zeros((height, width, 1), np.float32)
    fade = max(sigma, 1.0)  # the edge's half-width in pixels
    for index in range(number):
        (centre_row, centre_col), angle = centres[index], angles[index]
        major = per_drop["radius"][index]
        minor = major * per_drop["aspect"][index]
        # The drop's bounding box, with room for the fading edge.
        reach = major + fade + 1.0
        top, bottom = int(max(centre_row - reach, 0)), int(min(centre_row + reach + 1, height))
        left, right = int(max(centre_col - reach, 0)), int(min(centre_col + reach + 1, width))
        if top >= bottom or left >= right:
            continue
        rows, cols = np.mgrid[top:bottom, left:right].astype(np.float64)
        d_row, d_col = rows - centre_row, cols - centre_col
        # Coordinates along the drop's axes, in units of its semi-axes: rho = 1 on the rim.
        along = (d_col * np.cos(angle) + d_row * np.sin(angle)) / major
        across = (-d_col * np.sin(angle) + d_row * np.cos(angle)) / minor
        rho = np.hypot(along, across)
        # Signed distance to the rim in pixels (approximate for an ellipse), then smoothstep.
        ramp = np.clip(0.5 + (1.0 - rho) * np.sqrt(major * minor) / (2.0 * fade), 0.0, 1.0)
        alpha = (ramp * ramp * (3.0 - 2.0 * ramp))[..., None]
        scale = -per_drop["zoom"][index] * (0.6 + 0.4 * np.minimum(rho, 1.0) ** 2)
        drop = _bilinear(source, centre_row + scale * d_row, centre_col + scale * d_col)
        drop = drop * (1.0 - per_drop["edge"][index] * np.minimum(rho, 1.0)[..., None] ** 4)
        # The highlight: a small bright spot up and to the left of the centre, in image axes.
        size = np.sqrt(major * minor)
        glint = np.exp(-((d_row / size + 0.4) ** 2 + (d_col / size + 0.35) ** 2) / 0.045)
        drop = drop + per_drop["highlight"][index] * glint[..., None]
        window = rainy[top:bottom, left:right]
        rainy[top:bottom, left:right] = window * (1.0 - alpha) + drop * alpha
        mask[top:bottom, left:right] = np.maximum(mask[top:bottom, left:right], alpha > 0.5)
    return np.clip(rainy, 0.0, 1.0).astype(np.float32), mask


def synthetic_raindrop_dataset(
    images,
    crop_size=256,
    batch_size=1,
    seed=None,
    repeat=True,
    augment=True,
    count=(10, 40),
    radius=(4, 16),
    aspect=(0.7, 1.0),
    zoom=(1.5, 3.0),
    blur=(1.0, 3.0),
    edge=(0.0, 0.3),
    highlight=(0.0, 0.3),
    cache=False,
):
    """(rainy, clean) pairs made on the fly with `synthetic_raindrops`.

    For demos and tests without the Raindrop dataset. Each photo is cropped (and flipped) with
    the shared `crop_and_flip`, then gets drops drawn in numpy from the element's seed. With
    `augment=False` the order is fixed and the crop central (the drops are still random).
    AttentiveGAN computes its mask M from each pair (`raindrop_mask`), as for real data.

    Args:
        images: a folder of clean photos (searched recursively), a list of file paths, or a
            list of float32 [H, W, 3] arrays in [0, 1].
        crop_size: int or None (default 256). None keeps full images (batch_size 1 unless all
            have one size).
        batch_size: int >= 1 (default 1). With a crop, incomplete batches are dropped.
        seed: int or None (default None). An int makes order, crops, flips and drops
            reproducible.
        repeat: bool (default True), cycle forever.
        augment: bool (default True).
        count, radius, aspect, zoom, blur, edge, highlight: see `synthetic_raindrops`.
        cache: False (default), True (keep the decoded photos in memory) or a file path
            prefix (in `tf.data` cache files); see `tfrestore.data.augment.cropped_dataset`.

    Returns:
        Dataset of `(rainy, clean)`, each float32 [batch, crop, crop, 3] in [0, 1].

    Raises:
        ValueError: bad drop parameters, an image smaller than crop_size (named with its
            size), bad arrays, an empty folder, or bad arguments.

    Example:
        >>> ds = synthetic_raindrop_dataset(list(sample_images().values()), crop_size=128,
        ...                                 batch_size=4, seed=0, count=(3, 10))
        >>> rainy, clean = next(iter(ds))  # each [4, 128, 128, 3]
    """
    options = _raindrop_ranges(count, radius, aspect, zoom, blur, edge, highlight)

    def add_drops(image, rng):
        return synthetic_raindrops(image, rng, **options)[0]  # the rainy image, not its mask

    return synthetic_pair_dataset(
        images, add_drops, crop_size, batch_size, seed, repeat, augment, cache
    )
