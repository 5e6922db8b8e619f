"""Tests for tfrestore.data.samples: scikit-image photos, loaded offline."""

import numpy as np
import pytest

from tfrestore.data import SAMPLE_NAMES, clock_motion, sample_images

GRAY = {"camera", "coins", "moon"}


def test_every_sample_loads_as_rgb_in_unit_range():
    images = sample_images()
    assert tuple(images) == SAMPLE_NAMES
    for name, image in images.items():
        assert image.dtype == np.float32, name
        assert image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 256, name
        assert image.min() >= 0.0 and image.max() <= 1.0, name
        assert image.std() > 0.05 and image.max() > 0.5, name  # a real photo, not blank
        channels_equal = np.array_equal(image[:, :, 0], image[:, :, 1])
        assert channels_equal == (name in GRAY), name


def test_known_sizes_and_values():
    images = sample_images(["astronaut", "coffee"])
    assert images["astronaut"].shape == (512, 512, 3)
    assert images["coffee"].shape == (400, 600, 3)
    import skimage.data

    np.testing.assert_allclose(images["coffee"], skimage.data.coffee() / 255.0, atol=1e-6)


def test_samples_are_fresh_copies():
    first = sample_images(["chelsea"])["chelsea"]
    first[:] = 0
    assert sample_images(["chelsea"])["chelsea"].max() > 0.5


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown sample image name.*'lena'.*astronaut"):
        sample_images(["astronaut", "lena"])


def test_clock_motion_is_the_real_blurred_photo():
    image = clock_motion()
    assert image.shape == (300, 400, 3) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0 and image.std() > 0.05
    np.testing.assert_array_equal(image[:, :, 0], image[:, :, 2])
    # Motion blur leaves few sharp edges: neighbouring pixels differ little on average.
    assert np.abs(np.diff(image[:, :, 0], axis=1)).mean() < 0.01
