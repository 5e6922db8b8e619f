"""Tests for tfrestore.data.masks: center hole geometry, random masks, seeding, dispatch."""

import numpy as np
import pytest

from tfrestore.data import (
    MASK_KINDS,
    center_mask,
    free_form_mask,
    mask_fraction,
    random_mask,
    random_rectangle_mask,
    random_region_mask,
)

RANDOM_KINDS = [kind for kind in MASK_KINDS if kind != "center"]


def _hole_box(mask):
    """(top, bottom, left, right) inclusive bounds of the nonzero pixels."""
    rows = np.flatnonzero(mask[:, :, 0].any(axis=1))
    cols = np.flatnonzero(mask[:, :, 0].any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def _assert_is_mask(mask, height, width):
    assert mask.shape == (height, width, 1)
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_center_mask_is_upstreams_56_pixel_hole():
    mask = center_mask()
    _assert_is_mask(mask, 128, 128)
    assert _hole_box(mask) == (36, 91, 36, 91)
    assert mask.sum() == 56 * 56  # the box is full
    assert mask_fraction(mask) == pytest.approx(56 * 56 / 128**2)


def test_center_mask_without_overlap_is_the_64_pixel_center():
    mask = center_mask(128, hole=64, overlap=0)
    assert _hole_box(mask) == (32, 95, 32, 95)
    assert mask.sum() == 64 * 64
    assert mask_fraction(mask) == 0.25


def test_center_mask_scales_with_the_size():
    mask = center_mask((96, 160))  # hole = half of each side, less 4 px each side
    _assert_is_mask(mask, 96, 160)
    assert _hole_box(mask) == (28, 67, 44, 115)
    assert mask.sum() == 40 * 72
    assert _hole_box(center_mask(256, hole=64, overlap=0)) == (96, 159, 96, 159)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"overlap": 32}, "overlap must be less than half"),
        ({"overlap": -1}, "overlap must be an int >= 0"),
        ({"hole": 200}, "hole must fit"),
        ({"size": 0}, "size must be a positive int"),
        ({"size": (1, 2, 3)}, r"size must be an int or a \(height, width\) pair"),
    ],
)
def test_center_mask_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        center_mask(**kwargs)


@pytest.mark.parametrize("size", [128, (96, 160)])
def test_region_masks_have_an_accepted_fraction_and_are_blobs(size):
    height, width = (size, size) if isinstance(size, int) else size
    for seed in range(8):
        mask = random_region_mask(size, rng=seed)
        _assert_is_mask(mask, height, width)
        assert 0.2 <= mask_fraction(mask) <= 0.3
        # Blobs about 17 px across (one noise sample per 1/0.06 px), not pixel noise: few
        # horizontal neighbours differ.
        assert (mask[:, 1:] != mask[:, :-1]).mean() < 0.1
    mask = random_region_mask(128, rng=0, fraction=(0.05, 0.5), threshold=0.4)
    assert 0.05 <= mask_fraction(mask) <= 0.5


def test_region_mask_gives_up_with_a_clear_error():
    with pytest.raises(ValueError, match=r"in \[0.99, 1.0\] in max_tries=3 tries"):
        random_region_mask(64, rng=0, fraction=(0.99, 1.0), max_tries=3)
    with pytest.raises(ValueError, match="fraction must satisfy"):
        random_region_mask(64, fraction=(0.3, 0.2))
    with pytest.raises(ValueError, match="noise_scale must be a number > 0"):
        random_region_mask(64, noise_scale=0)


def test_rectangles_lie_inside_the_image_with_sides_in_range():
    for seed in range(20):
        mask = random_rectangle_mask((60, 90), rng=seed, min_size=10, max_size=30)
        _assert_is_mask(mask, 60, 90)
        top, bottom, left, right = _hole_box(mask)
        height, width = bottom - top + 1, right - left + 1
        assert 10 <= height <= 30 and 10 <= width <= 30
        assert mask.sum() == height * width  # one full rectangle
    defaults = random_rectangle_mask(128, rng=0, count=3)
    assert 16 * 16 <= defaults.sum() <= 3 * 64 * 64


def test_rectangles_reject_bad_sizes():
    with pytest.raises(ValueError, match="max_size must be at most"):
        random_rectangle_mask((60, 90), max_size=70)
    with pytest.raises(ValueError, match="min_size must not exceed max_size"):
        random_rectangle_mask(64, min_size=20, max_size=10)
    with pytest.raises(ValueError, match="count must be a positive int"):
        random_rectangle_mask(64, count=0)


@pytest.mark.parametrize("size", [128, (64, 200)])
def test_free_form_masks_are_neither_empty_nor_full(size):
    height, width = (size, size) if isinstance(size, int) else size
    fractions = []
    for seed in range(10):
        mask = free_form_mask(size, rng=seed)
        _assert_is_mask(mask, height, width)
        fractions.append(mask_fraction(mask))
    assert 0 < min(fractions) and max(fractions) < 0.9
    thin = free_form_mask(size, rng=0, max_strokes=1, min_width=1, max_width=1)
    assert 0 < mask_fraction(thin) < 0.05


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_random_masks_are_seeded(kind):
    first = random_mask(kind, 96, rng=3)
    np.testing.assert_array_equal(first, random_mask(kind, 96, rng=3))
    np.testing.assert_array_equal(first, random_mask(kind, 96, rng=np.random.default_rng(3)))
    assert not np.array_equal(first, random_mask(kind, 96, rng=4))


def test_random_mask_dispatches_and_rejects_unknown_kinds():
    np.testing.assert_array_equal(random_mask("center", 128), center_mask())
    np.testing.assert_array_equal(
        random_mask("rectangles", 64, rng=1, count=2), random_rectangle_mask(64, rng=1, count=2)
    )
    with pytest.raises(ValueError, match="center, rectangles, regions, free_form"):
        random_mask("circles", 64)
