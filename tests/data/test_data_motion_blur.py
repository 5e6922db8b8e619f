"""Tests for tfrestore.data.motion_blur: trajectories, PSFs, the blur recipe and the dataset."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from tfrestore.data import (
    blur_image,
    blur_image_tensor,
    motion_blur_dataset,
    random_motion_blur,
    random_psf,
    random_trajectory,
    trajectory_psfs,
    write_image,
)


def _photo(height=96, width=80, seed=0):
    """A smooth random image in [0, 1] (sums of a few sinusoids)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / 16.0
    channels = [np.sin(x * rng.uniform(0.5, 2) + y * rng.uniform(0.5, 2)) for _ in range(3)]
    return ((np.stack(channels, axis=-1) + 1) / 2).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trajectory_has_constant_step_and_fits_the_canvas(seed):
    x = random_trajectory(canvas=64, iters=2000, max_len=60, rng=seed)
    assert x.shape == (2000,) and np.iscomplexobj(x)
    np.testing.assert_allclose(np.abs(np.diff(x)), 60 / 1999, rtol=1e-9)
    assert x.real.min() >= 1 and x.imag.min() >= 1
    assert x.real.max() <= 63 and x.imag.max() <= 63


def test_trajectory_without_exploration_is_a_straight_line():
    x = random_trajectory(iters=500, max_len=30, expl=0, rng=4)
    steps = np.diff(x)
    np.testing.assert_allclose(steps, steps[0], atol=1e-12)
    assert math.isclose(abs(x[-1] - x[0]), 30, rel_tol=1e-9)


def test_trajectory_seeding():
    np.testing.assert_array_equal(random_trajectory(rng=5), random_trajectory(rng=5))
    np.testing.assert_array_equal(
        random_trajectory(rng=np.random.default_rng(5)), random_trajectory(rng=5)
    )
    assert not np.array_equal(random_trajectory(rng=5), random_trajectory(rng=6))


def test_psfs_are_cumulative_and_sum_to_the_exposure_fraction():
    x = random_trajectory(expl=0.005, rng=3)
    psfs = trajectory_psfs(x, canvas=64)
    assert psfs.shape == (4, 64, 64) and psfs.dtype == np.float32
    assert psfs.min() >= 0
    for earlier, later in zip(psfs[:-1], psfs[1:], strict=True):
        assert np.all(later >= earlier - 1e-7)
    # Every sample but the first (weight 0 upstream) contributes its exposure share.
    np.testing.assert_allclose(psfs.sum(axis=(1, 2)), [0.01, 0.1, 0.5, 1999 / 2000], atol=1e-5)


def test_psf_centroid_is_the_trajectory_centroid():
    # Bilinear splatting keeps the first moment: row = imaginary part, column = real part.
    x = random_trajectory(expl=0.01, rng=8)
    psf = trajectory_psfs(x, canvas=64, fractions=[1])[0].astype(np.float64)
    rows, cols = np.mgrid[0:64, 0:64]
    centroid = complex((cols * psf).sum() / psf.sum(), (rows * psf).sum() / psf.sum())
    assert abs(centroid - x[1:].mean()) < 1e-3


def _reference_psfs(x, canvas, fractions):
    """A slow, literal per-sample version of the kernel rasterisation, to check the fast one."""
    n = len(x)
    kernel = np.zeros((canvas, canvas))
    kernels, previous = [], 0.0
    for fraction in fractions:
        end, start = fraction * n, previous * n
        for t in range(n):
            if end >= t and start < t - 1:
                share = 1.0
            elif end >= t - 1 and start < t - 1:
                share = end - (t - 1)
            elif end >= t and start < t:
                share = t - start
            elif end >= t - 1 and start < t:
                share = end - start
            else:
                share = 0.0
            col = min(canvas - 1, max(1, math.floor(x[t].real)))
            row = min(canvas - 1, max(1, math.floor(x[t].imag)))
            for r in (row, row + 1):
                for c in (col, col + 1):
                    weight = max(0, 1 - abs(x[t].real - c)) * max(0, 1 - abs(x[t].imag - r))
                    kernel[r, c] += share * weight
        kernels.append(kernel / n)
        previous = fraction
    return np.array(kernels)


def test_psfs_match_a_per_sample_reference():
    fractions = (0.013, 0.3, 0.31, 1)
    x = random_trajectory(canvas=32, iters=150, max_len=25, expl=0.01, rng=2)
    np.testing.assert_allclose(
        trajectory_psfs(x, canvas=32, fractions=fractions),
        _reference_psfs(x, 32, fractions),
        atol=1e-7,
    )


@pytest.mark.parametrize("normalize", [True, False])
def test_blur_of_a_constant_image_is_that_constant(normalize):
    image = np.full((40, 56, 3), 0.3, np.float32)
    blurred = blur_image(image, random_psf(rng=0), normalize=normalize)
    np.testing.assert_allclose(blurred, 0.3, atol=1e-6)


@pytest.mark.parametrize("boundary", ["reflect", "zero"])
def test_blur_of_a_point_is_the_psf(boundary):
    psf = random_psf(rng=1)
    image = np.zeros((150, 130, 3), np.float32)  # not square
    image[70, 60] = 1.0
    blurred = blur_image(image, psf, boundary=boundary)
    # Output pixel (i, j) collects image pixel (i + 31 - k, j + 31 - l) * psf[k, l] (64x64 PSF).
    window = blurred[70 - 31 : 70 + 33, 60 - 31 : 60 + 33]
    for channel in range(3):
        np.testing.assert_allclose(window[:, :, channel], psf / psf.max(), atol=1e-5)
    outside = blurred.copy()
    outside[70 - 31 : 70 + 33, 60 - 31 : 60 + 33] = 0
    assert np.abs(outside).max() < 1e-5


def _upstream_recipe(image, psf):
    """DeblurGAN's blur on a square image, written with scipy as its script does."""
    delta = image.shape[0] - psf.shape[0]
    kernel = np.pad(psf, delta // 2)
    kernel = (kernel - kernel.min()) / (kernel.max() - kernel.min())
    image = (image - image.min()) / (image.max() - image.min())
    out = np.stack([signal.fftconvolve(image[:, :, c], kernel, "same") for c in range(3)], -1)
    return (out - out.min()) / (out.max() - out.min())


@pytest.mark.parametrize("size", [96, 97])
def test_zero_boundary_reproduces_upstream_on_square_images(size):
    image, psf = _photo(size, size), random_psf(rng=2)
    np.testing.assert_allclose(
        blur_image(image, psf, boundary="zero"), _upstream_recipe(image, psf), atol=1e-5
    )


def test_blur_output_range_shape_and_effect():
    image = _photo(70, 110)
    blurred = blur_image(image, random_psf(rng=3))
    assert blurred.shape == image.shape and blurred.dtype == np.float32
    assert blurred.min() == 0.0 and blurred.max() == 1.0
    # Blur removes high frequencies: neighbouring pixels get closer.
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(image, axis=1)).mean()


def test_plain_blur_is_a_normalised_convolution_with_mirrored_borders():
    image, psf = _photo(90, 75), random_psf(rng=4)
    blurred = blur_image(image, psf, normalize=False)
    padded = np.pad(image, ((32, 31), (32, 31), (0, 0)), mode="reflect")
    kernel = psf / psf.sum()
    expected = np.stack(
        [signal.fftconvolve(padded[:, :, c], kernel, "valid") for c in range(3)], axis=-1
    )
    np.testing.assert_allclose(blurred, expected, atol=1e-5)
    # A weighted average with weights summing to 1 stays inside the image's range.
    assert blurred.min() >= image.min() - 1e-6 and blurred.max() <= image.max() + 1e-6


def test_blur_rejects_bad_input():
    with pytest.raises(ValueError, match="image must have shape"):
        blur_image(np.zeros((8, 8)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="psf must be finite, non-negative"):
        blur_image(np.zeros((8, 8, 3)), -np.ones((3, 3)))
    with pytest.raises(ValueError, match="boundary"):
        blur_image(np.zeros((8, 8, 3)), np.ones((3, 3)), boundary="wrap")


def test_random_psf_uses_the_upstream_exposures():
    sums = []
    for seed in range(12):
        psf = random_psf(rng=seed)
        assert psf.shape == (64, 64) and psf.min() >= 0
        sums.append(float(psf.sum()))
    # One of the 1/10, 1/2 or full-exposure kernels, never the 1/100 one.
    for total in sums:
        assert min(abs(total - f) for f in (0.1, 0.5, 1999 / 2000)) < 1e-4
    assert len({round(total, 2) for total in sums}) > 1


def test_random_motion_blur_is_seeded():
    image = _photo(64, 72)
    first = random_motion_blur(image, rng=9)
    np.testing.assert_array_equal(first, random_motion_blur(image, rng=9))
    assert not np.array_equal(first, random_motion_blur(image, rng=10))
    assert np.abs(first - image).mean() > 0.01


def test_dataset_from_arrays_yields_blurred_sharp_batches():
    images = [_photo(80, 90, seed=s) for s in range(3)]
    dataset = motion_blur_dataset(images, crop_size=64, batch_size=2, seed=1)
    assert [spec.shape.as_list() for spec in dataset.element_spec] == [[2, 64, 64, 3]] * 2
    batches = [(b.numpy(), s.numpy()) for b, s in dataset.take(2)]
    for blurred, sharp in batches:
        assert blurred.dtype == sharp.dtype == np.float32
        assert blurred.min() >= 0 and blurred.max() <= 1
        for one_blurred, one_sharp in zip(blurred, sharp, strict=True):
            assert np.abs(one_blurred - one_sharp).mean() > 0.01

    again = [
        (b.numpy(), s.numpy())
        for b, s in motion_blur_dataset(images, crop_size=64, batch_size=2, seed=1).take(2)
    ]
    for (b1, s1), (b2, s2) in zip(batches, again, strict=True):
        np.testing.assert_array_equal(b1, b2)
        np.testing.assert_array_equal(s1, s2)


def test_dataset_from_folder_center_crops_without_augment(tmp_path):
    image = _photo(72, 100)
    write_image(tmp_path / "sub" / "a.png", image)
    dataset = motion_blur_dataset(
        str(tmp_path), crop_size=64, seed=0, repeat=False, augment=False, normalize=False
    )
    ((blurred, sharp),) = [(b.numpy(), s.numpy()) for b, s in dataset]
    np.testing.assert_allclose(sharp[0], image[4:68, 18:82], atol=0.5 / 255 + 1e-6)
    assert abs(float(blurred.mean() - sharp.mean())) < 0.02  # plain blur keeps brightness
    assert np.abs(blurred - sharp).mean() > 0.005


def test_dataset_names_images_smaller_than_the_crop(tmp_path):
    with pytest.raises(ValueError, match=r"smaller than crop_size=64.*images\[1\] \(70x50\)"):
        motion_blur_dataset([_photo(80, 80), _photo(50, 70)], crop_size=64)
    write_image(tmp_path / "tiny.png", _photo(20, 30))
    with pytest.raises(ValueError, match=r"tiny\.png \(30x20\)"):
        motion_blur_dataset(str(tmp_path), crop_size=32)
    with pytest.raises(ValueError, match=r"images\[0\] must have shape \[H, W, 3\]"):
        motion_blur_dataset([np.zeros((80, 80))], crop_size=64)


_LIVE_ITERATOR_SCRIPT = """
import numpy as np
from tfrestore.data import motion_blur_dataset

images = [np.random.default_rng(0).random((160, 160, 3), dtype=np.float32)]
iterator = iter(motion_blur_dataset(images, crop_size=128, batch_size=4, seed=0))
next(iterator)
print("done", flush=True)
"""


@pytest.mark.slow
def test_process_exits_with_a_live_iterator():
    # tf.data keeps calling the blur (Python) while an iterator is alive; at interpreter exit
    # those calls used to deadlock the process.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", _LIVE_ITERATOR_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "done"


def test_center_psf_puts_the_centre_of_mass_in_the_middle():
    from tfrestore.data import center_psf, random_psf

    rows, cols = np.indices((64, 64))
    for seed in range(6):
        psf = center_psf(random_psf(rng=seed))
        total = psf.sum()
        assert abs((rows * psf).sum() / total - 31.5) <= 0.5
        assert abs((cols * psf).sum() / total - 31.5) <= 0.5
        np.testing.assert_allclose(total, random_psf(rng=seed).sum(), rtol=1e-6)


def test_centered_blur_keeps_a_point_in_place():
    from tfrestore.data import random_motion_blur

    image = np.zeros((96, 96, 3), np.float32)
    image[48, 48] = 1.0
    rows, cols = np.indices((96, 96))
    for seed in range(4):
        blurred = random_motion_blur(image, rng=seed, normalize=False, center=True)[..., 0]
        total = blurred.sum()
        assert abs((rows * blurred).sum() / total - 48) <= 1.0
        assert abs((cols * blurred).sum() / total - 48) <= 1.0


@pytest.mark.parametrize("normalize", [True, False])
def test_blur_tensor_matches_the_numpy_blur(normalize):
    """The graph-op blur the dataset runs equals `blur_image` (reflected borders), on a
    non-square image, and keeps a constant image."""
    image = _photo(40, 52, seed=4)
    psf = random_psf(rng=5)
    np.testing.assert_allclose(
        blur_image_tensor(image, psf, normalize).numpy(),
        blur_image(image, psf, normalize=normalize),
        atol=1e-5,
    )
    constant = np.full((40, 40, 3), 0.3, np.float32)
    np.testing.assert_allclose(blur_image_tensor(constant, psf, normalize), constant, atol=1e-6)
