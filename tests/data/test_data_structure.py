"""Tests for tfrestore.data.structure: RTV removes texture and keeps edges."""

import numpy as np
import pytest

from tfrestore.data import rtv_smooth

SIZE = 64
LEFT, RIGHT = (slice(4, -4), slice(4, 28)), (slice(4, -4), slice(36, -4))  # away from the edge


def _edge_with_texture(amplitude=0.1, period=4):
    """Gray 0.3 | 0.7 halves split at column 32, under a +-amplitude checkerboard texture."""
    rows, columns = np.mgrid[:SIZE, :SIZE]
    base = np.where(columns < SIZE // 2, 0.3, 0.7)
    phase = 2 * np.pi / period
    texture = np.sign(np.sin(phase * columns + 0.3) * np.sin(phase * rows + 0.3))
    image = base + amplitude * texture
    return np.repeat(image[:, :, None], 3, axis=2).astype(np.float32)


def _texture_variance(image):
    """The larger variance of the two flat halves: 0 without texture."""
    return max(image[LEFT].var(), image[RIGHT].var())


@pytest.mark.parametrize("period", [4, 8])
def test_texture_removed_and_edge_kept(period):
    image = _edge_with_texture(period=period)
    structure = rtv_smooth(image)
    assert structure.shape == image.shape and structure.dtype == np.float32
    assert _texture_variance(image) == pytest.approx(0.01)
    assert _texture_variance(structure) < 1e-6  # measured 4e-10 and 5e-10: a drop by 10^7
    # The halves keep their levels, and the edge stays a one-pixel step of nearly 0.4; a
    # Gaussian blur strong enough to remove the texture would spread it over ~10 pixels.
    np.testing.assert_allclose(structure[LEFT].mean(), 0.3, atol=0.005)
    np.testing.assert_allclose(structure[RIGHT].mean(), 0.7, atol=0.005)
    step = structure[8:-8, 32].mean() - structure[8:-8, 31].mean()
    assert step > 0.37  # measured 0.394 (period 4) and 0.395 (period 8)
    ideal = np.where(np.arange(SIZE) < 32, 0.3, 0.7)[None, :, None]
    assert np.abs(structure - ideal).max() < 0.02  # measured 0.006: the two flat halves


def test_constant_image_is_unchanged_and_gray_matches_rgb():
    constant = np.full((20, 30, 3), 0.4, np.float32)
    np.testing.assert_allclose(rtv_smooth(constant), constant, atol=1e-6)
    rgb = _edge_with_texture()
    gray = rtv_smooth(rgb[:, :, 0])
    assert gray.shape == (SIZE, SIZE)
    np.testing.assert_allclose(gray, rtv_smooth(rgb)[:, :, 0], atol=1e-5)


def test_texture_survives_weaker_settings():
    image = _edge_with_texture()
    # One iteration with a tiny lam barely smooths: the texture stays.
    weak = rtv_smooth(image, lam=1e-5, iterations=1)
    assert _texture_variance(weak) > 0.5 * _texture_variance(image)


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (np.zeros((8, 8, 4), np.float32), {}, r"shape \[H, W, 3\] or \[H, W\], got \(8, 8, 4\)"),
        (np.zeros((8,), np.float32), {}, r"shape \[H, W, 3\] or \[H, W\]"),
        (np.zeros((0, 8, 3), np.float32), {}, "empty"),
        (np.zeros((8, 8, 3), np.uint8), {}, "float in"),
        (np.full((8, 8, 3), 1.5, np.float32), {}, r"values must be in \[0, 1\]"),
        (np.full((8, 8, 3), np.nan, np.float32), {}, "NaN"),
        (np.zeros((8, 8, 3), np.float32), {"lam": 0}, "lam must be a positive number"),
        (np.zeros((8, 8, 3), np.float32), {"sigma": -1}, "sigma must be a positive number"),
        (np.zeros((8, 8, 3), np.float32), {"iterations": 1.5}, "iterations must be a positive"),
    ],
)
def test_bad_input_is_rejected(image, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rtv_smooth(image, **kwargs)
