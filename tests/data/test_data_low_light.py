"""Tests for tfrestore.data.low_light: synthetic darkening and EnlightenGAN's unpaired data."""

import numpy as np
import pytest

from tfrestore.data import synthetic_low_light, synthetic_low_light_dataset, unpaired_dataset
from tfrestore.metrics import mean_brightness

COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32) * 0.8


def _photo(height=40, width=48, seed=0):
    return np.random.default_rng(seed).random((height, width, 3), dtype=np.float32)


def _constant_images(size=16):
    return [np.full((size, size, 3), colour, np.float32) for colour in COLOURS]


def _colour_labels(batch):
    """Index in COLOURS of each constant image in a [B, H, W, 3] batch."""
    pixels = batch[:, 0, 0, :]
    np.testing.assert_array_equal(batch, np.broadcast_to(pixels[:, None, None], batch.shape))
    return [int(np.argmin(np.abs(COLOURS - pixel).sum(axis=1))) for pixel in pixels]


def _flips(image):
    """The four flips of an HWC image: none, left-right, up-down, both."""
    return [image, image[:, ::-1], image[::-1], image[::-1, ::-1]]


def _flip_index(crop, image):
    (index,) = [i for i, flip in enumerate(_flips(image)) if np.array_equal(crop, flip)]
    return index


def test_noise_free_darkening_matches_hand_computation():
    # Half the pixels 0.2, half 0.8: 0.5 * 0.2**2 = 0.02 and 0.5 * 0.8**2 = 0.32.
    image = np.full((8, 8, 3), 0.2, np.float32)
    image[:, 4:] = 0.8
    dark = synthetic_low_light(image, exposure=0.5, gamma=2.0, noise=0.0)
    expected = np.where(image == 0.2, 0.02, 0.32)
    np.testing.assert_allclose(dark, expected, rtol=1e-6)
    brightness = mean_brightness(np.stack([image, dark])).numpy()
    np.testing.assert_allclose(brightness, [0.5, 0.17], rtol=1e-5)
    # gamma 1 is a plain scale: the mean brightness drops by exactly the exposure.
    photo = _photo()
    scaled = synthetic_low_light(photo, exposure=0.25, gamma=1.0, noise=0.0)
    ratio = mean_brightness(scaled[None]) / mean_brightness(photo[None])
    np.testing.assert_allclose(ratio.numpy(), [0.25], rtol=1e-5)


def test_darkening_is_seeded_and_stays_in_range():
    photo = _photo()
    dark = synthetic_low_light(photo, rng=3)
    assert dark.shape == photo.shape and dark.dtype == np.float32
    assert dark.min() >= 0.0 and dark.max() <= 1.0
    assert dark.mean() < 0.3 * photo.mean()
    np.testing.assert_array_equal(dark, synthetic_low_light(photo, rng=3))
    np.testing.assert_array_equal(dark, synthetic_low_light(photo, rng=np.random.default_rng(3)))
    assert not np.array_equal(dark, synthetic_low_light(photo, rng=4))


def test_parameters_are_drawn_from_their_ranges_and_noise_has_its_std():
    white = np.ones((4, 4, 3), np.float32)
    levels = [synthetic_low_light(white, rng=s, gamma=1.0, noise=0.0)[0, 0, 0] for s in range(20)]
    assert min(levels) >= 0.1 and max(levels) <= 0.3  # the default exposure range
    assert max(levels) - min(levels) > 0.1
    gray = np.full((64, 64, 3), 0.5, np.float32)
    noisy = synthetic_low_light(gray, rng=0, exposure=1.0, gamma=1.0, noise=0.05)
    assert abs(noisy.mean() - 0.5) < 0.005
    assert abs(noisy.std() - 0.05) < 0.003


@pytest.mark.parametrize(
    "kwargs",
    [{"exposure": 0.0}, {"exposure": 1.5}, {"gamma": (2.0, 1.0)}, {"noise": -0.1}, {"gamma": "x"}],
)
def test_bad_darkening_parameters_are_rejected(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"{name} must be a number or a \\(low, high\\) pair"):
        synthetic_low_light(_photo(), **kwargs)
    with pytest.raises(ValueError, match=name):
        synthetic_low_light_dataset([_photo()], crop_size=16, **kwargs)


def test_synthetic_dataset_pairs_dark_and_original():
    photos = [_photo(seed=s) for s in range(3)]
    fixed = synthetic_low_light_dataset(
        photos, crop_size=32, batch_size=2, seed=0, exposure=0.5, gamma=1.0, noise=0.0
    )
    for dark, original in fixed.take(2):
        assert dark.shape == original.shape == (2, 32, 32, 3)
        np.testing.assert_allclose(dark.numpy(), 0.5 * original.numpy(), rtol=1e-6)

    def batches():
        dataset = synthetic_low_light_dataset(photos, crop_size=32, batch_size=2, seed=1)
        return [np.stack([d.numpy(), o.numpy()]) for d, o in dataset.take(2)]

    first = batches()
    np.testing.assert_array_equal(first, batches())
    for dark, original in first:
        assert dark.min() >= 0.0 and dark.max() <= 1.0
        assert dark.mean() < 0.3 * original.mean()


def test_unpaired_streams_are_independent():
    images = _constant_images()
    dataset = unpaired_dataset(images, images, crop_size=16, seed=0, darken_probability=0.0)
    assert [spec.shape.as_list() for spec in dataset.element_spec] == [[1, 16, 16, 3]] * 2
    pairs = [
        (_colour_labels(low.numpy())[0], _colour_labels(normal.numpy())[0])
        for low, normal in dataset.take(40)
    ]
    # Each epoch of 4 low images shows every colour once (a shuffle, not sampling).
    for epoch in range(10):
        assert sorted(low for low, _ in pairs[4 * epoch : 4 * epoch + 4]) == [0, 1, 2, 3]
    # Same images and one seed, yet not zipped in the same order (which would match 40 of 40;
    # independent shuffles match 1 in 4 on average, 22 with this seed).
    assert sum(low == normal for low, normal in pairs) < 30
    # The pairing is not fixed across epochs (a fixed one gives 4 distinct pairs): each low
    # colour meets more than one normal colour (12 of the 16 possible pairs occur here).
    assert len(set(pairs)) >= 10
    for colour in range(4):
        assert len({normal for low, normal in pairs if low == colour}) >= 2
    again = unpaired_dataset(images, images, crop_size=16, seed=0, darken_probability=0.0)
    assert pairs == [
        (_colour_labels(low.numpy())[0], _colour_labels(normal.numpy())[0])
        for low, normal in again.take(40)
    ]


def test_unpaired_batches_and_one_pass_without_repeat():
    low = [_photo(40, 48, seed=s) for s in range(5)]
    normal = [_photo(36, 36, seed=10 + s) for s in range(2)]
    dataset = unpaired_dataset(low, normal, crop_size=32, batch_size=2, repeat=False, seed=0)
    batches = list(dataset)
    assert len(batches) == 2  # 5 low images, incomplete batch dropped; normal cycles
    for low_batch, normal_batch in batches:
        assert low_batch.shape == normal_batch.shape == (2, 32, 32, 3)
        assert low_batch.dtype == normal_batch.dtype == np.float32
        assert 0.0 <= float(np.min(low_batch)) and float(np.max(normal_batch)) <= 1.0


def test_darkening_probability_and_range():
    image = [np.full((8, 8, 3), 0.8, np.float32)]
    dataset = unpaired_dataset(
        image, image, crop_size=8, batch_size=50, seed=0, darken_probability=0.3
    )
    ratios = np.concatenate(
        [low.numpy()[:, 0, 0, 0] / normal.numpy()[:, 0, 0, 0] for low, normal in dataset.take(8)]
    )
    darkened = ratios < 1.0
    assert abs(darkened.mean() - 0.3) < 0.07  # 400 draws
    np.testing.assert_array_equal(ratios[~darkened], 1.0)
    factors = 1.0 / ratios[darkened]
    assert factors.min() >= 2.0 - 1e-5 and factors.max() <= 4.0 + 1e-5
    assert factors.min() < 2.3 and factors.max() > 3.7  # spread over the whole range
    never = unpaired_dataset(image, image, crop_size=8, batch_size=50, darken_probability=0.0)
    always = unpaired_dataset(image, image, crop_size=8, batch_size=50, darken_range=3.0,
                              darken_probability=1.0)  # fmt: skip
    low, normal = next(iter(never))
    np.testing.assert_array_equal(low.numpy(), normal.numpy())
    low, normal = next(iter(always))
    np.testing.assert_allclose(low.numpy(), normal.numpy() / 3.0, rtol=1e-6)


def test_vertical_and_horizontal_flips_happen_in_both_streams():
    image = _photo(12, 12)
    dataset = unpaired_dataset([image], [image], crop_size=12, batch_size=16, seed=0,
                               darken_probability=0.0)  # fmt: skip
    counts = np.zeros((2, 4), int)
    for batch in dataset.take(4):
        for stream, crops in enumerate(batch):
            for crop in crops.numpy():
                counts[stream, _flip_index(crop, image)] += 1
    assert counts.min() >= 6, counts  # 64 draws per stream, each flip pattern 1 in 4
    plain = unpaired_dataset([image], [image], crop_size=12, augment=False, darken_probability=0)
    for low, normal in plain.take(3):
        np.testing.assert_array_equal(low.numpy()[0], image)
        np.testing.assert_array_equal(normal.numpy()[0], image)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"darken_probability": 1.5}, "darken_probability must be in"),
        ({"darken_range": (0.5, 2.0)}, "darken_range must be"),
        ({"darken_range": (4.0, 2.0)}, "darken_range must be"),
        ({"crop_size": 64}, "smaller than crop_size=64"),
        ({"batch_size": 0}, "batch_size must be a positive int"),
    ],
)
def test_unpaired_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        unpaired_dataset([_photo()], [_photo()], **{"crop_size": 32, **kwargs})


def test_unpaired_streams_cache_to_their_own_files(tmp_path):
    """A file cache gives the batches of no cache, written then read back, one file set per
    stream (the two would clash on one prefix)."""
    images = [_photo(seed=seed) for seed in range(3)]
    prefix = tmp_path / "cache"

    def batches(cache):
        dataset = unpaired_dataset(images, images, crop_size=16, batch_size=2, seed=0, cache=cache)
        return [np.stack([low, normal]) for low, normal in dataset.take(4).as_numpy_iterator()]

    expected = batches(False)
    np.testing.assert_array_equal(batches(str(prefix)), expected)  # writes the files
    np.testing.assert_array_equal(batches(str(prefix)), expected)  # reads them
    assert {path.name for path in tmp_path.glob("cache.*.index")} == {
        "cache.low.index",
        "cache.normal.index",
    }


def test_a_cache_left_locked_is_named_before_the_first_batch(tmp_path):
    """A run killed while writing a file cache leaves a lockfile, on which TensorFlow would
    fail the first epoch with a traceback; the pipeline names it and what to delete."""
    images = [_photo(seed=seed) for seed in range(3)]
    lock = tmp_path / "cache.normal_0.lockfile"
    lock.write_text("")
    with pytest.raises(ValueError, match=f"{lock} exists: another run is writing this cache"):
        unpaired_dataset(images, images, crop_size=16, cache=str(tmp_path / "cache"))
    lock.unlink()
    dataset = unpaired_dataset(
        images, images, crop_size=16, batch_size=2, seed=0, cache=str(tmp_path / "cache")
    )
    assert next(iter(dataset))[0].shape == (2, 16, 16, 3)
