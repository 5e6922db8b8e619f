"""Sample photos shipped with scikit-image, for demos and tests (nothing is downloaded).

Only images that scikit-image installs with the package are used; its other samples need a
network download (pooch) and are left out.
"""

import functools
import os

import numpy as np

from tfrestore.data.io import read_image

# Natural photos in the scikit-image wheel. camera, coins and moon are gray (returned as RGB).
SAMPLE_NAMES = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "motorcycle",
    "retina",
    "rocket",
)


def _skimage_data():
    import skimage.data

    return skimage.data


@functools.cache
def _load(name):
    data = _skimage_data()
    if name == "motorcycle":
        raw = data.stereo_motorcycle()[0]  # the left view of the stereo pair
    else:
        raw = getattr(data, name)()
    image = np.asarray(raw)
    if np.issubdtype(image.dtype, np.integer):
        image = image.astype(np.float32) / float(np.iinfo(image.dtype).max)
    else:
        image = image.astype(np.float32)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = image[:, :, :3]
    image.setflags(write=False)  # cached: callers get copies
    return image


def sample_images(names=None):
    """Loads scikit-image sample photos as float32 [H, W, 3] RGB arrays in [0, 1].

    Args:
        names: iterable of names from `SAMPLE_NAMES`, or None (default) for all of them.

    Returns:
        dict name -> array (a fresh copy each call), in the order asked.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).

    Example:
        >>> images = sample_images(["astronaut", "coffee"])
        >>> images["coffee"].shape
        (400, 600, 3)
    """
    if isinstance(names, str):
        names = [names]
    names = SAMPLE_NAMES if names is None else tuple(names)
    unknown = [name for name in names if name not in SAMPLE_NAMES]
    if unknown:
        raise ValueError(
            f"unknown sample image name(s) {unknown}; valid names: {', '.join(SAMPLE_NAMES)}"
        )
    return {name: _load(name).copy() for name in names}


def clock_motion():
    """scikit-image's real motion-blurred photo (`clock_motion.png`) as float32 RGB in [0, 1].

    A gray photo of a wall clock taken with camera motion; useful to see a deblurring model on
    real (not synthetic) blur. Returned as [H, W, 3] with the gray value in every channel.

    Raises:
        FileNotFoundError: the file is missing from the scikit-image installation.

    Example:
        >>> clock_motion().shape
        (300, 400, 3)
    """
    path = os.path.join(os.path.dirname(_skimage_data().__file__), "clock_motion.png")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: scikit-image's clock_motion.png is missing")
    return read_image(path)
