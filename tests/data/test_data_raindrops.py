"""Tests for tfrestore.data.raindrops: Raindrop folders, synthetic drops and their masks."""

import os

import numpy as np
import pytest
from scipy import ndimage

from tfrestore.data import (
    raindrop_dataset,
    raindrop_files,
    raindrop_key,
    sample_images,
    synthetic_raindrop_dataset,
    synthetic_raindrops,
    write_image,
)
from tfrestore.models.attentive_gan import elliptical_kernel, raindrop_mask


def _write(folder, names, size=(12, 10), seed=0, invert=False):
    """Random PNG/JPEG files of `size` = (height, width); `invert` writes 1 - image."""
    rng = np.random.default_rng(seed)
    for name in names:
        image = rng.random(size + (3,)).astype(np.float32)
        write_image(os.path.join(folder, name), 1.0 - image if invert else image)


def _split(tmp_path, numbers, size=(12, 10)):
    """A Raindrop split: data/N_rain.png and gt/N_clean.png, rainy = 1 - clean."""
    _write(tmp_path / "data", [f"{n}_rain.png" for n in numbers], size, invert=True)
    _write(tmp_path / "gt", [f"{n}_clean.png" for n in numbers], size)
    return tmp_path


def _crop(image, size=256):
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top : top + size, left : left + size]


@pytest.fixture(scope="module")
def photos():
    """256 x 256 central crops of textured sample photos."""
    images = sample_images(["astronaut", "chelsea", "motorcycle"])
    return {name: _crop(image) for name, image in images.items()}


def test_raindrop_key():
    assert raindrop_key("12_rain.png") == raindrop_key("12_clean.jpg") == "12"
    assert raindrop_key("a/007_Rain.JPG") == raindrop_key("a/7_clean.png") == "a/7"
    assert raindrop_key("b/7_clean.png") != raindrop_key("a/7_rain.png")
    assert raindrop_key("notes.png") == "notes.png"


def test_files_pair_by_number_whatever_the_extension(tmp_path):
    _split(tmp_path, [0, 2, 12])
    _write(tmp_path / "data", ["3_rain.jpg", "4_rain.jpg"])
    _write(tmp_path / "gt", ["3_clean.jpg", "4_clean.png"])
    data, gt = str(tmp_path / "data"), str(tmp_path / "gt")
    expected = [
        (os.path.join(data, f"{n}_rain.{rain}"), os.path.join(gt, f"{n}_clean.{clean}"))
        for n, rain, clean in [(0, "png", "png"), (12, "png", "png"), (2, "png", "png")]
        + [(3, "jpg", "jpg"), (4, "jpg", "png")]
    ]
    assert raindrop_files(tmp_path) == expected
    assert raindrop_files(data, gt_dir=gt) == expected


def test_unmatched_and_duplicate_names_are_listed(tmp_path):
    _split(tmp_path, [1, 2])
    _write(tmp_path / "data", ["5_rain.png", "notes.png"])
    _write(tmp_path / "gt", ["7_clean.png"])
    with pytest.raises(ValueError) as info:
        raindrop_files(tmp_path)
    message = str(info.value)
    assert message.startswith("3 image name(s) have no partner")
    assert f"only in {tmp_path / 'data'}: 5_rain.png, notes.png" in message
    assert f"only in {tmp_path / 'gt'}: 7_clean.png" in message
    assert "raindrop_key" in message and "1_rain" not in message
    pairs = raindrop_files(tmp_path, skip_unmatched=True)
    assert [os.path.basename(rain) for rain, _ in pairs] == ["1_rain.png", "2_rain.png"]
    _write(tmp_path / "gt", ["1_clean.jpg"])
    with pytest.raises(ValueError, match=r"1_clean\.jpg and 1_clean\.png \(key '1'\)"):
        raindrop_files(tmp_path, skip_unmatched=True)


def test_missing_folders_are_named(tmp_path):
    _write(tmp_path / "data", ["1_rain.png"])
    with pytest.raises(FileNotFoundError, match=r"data/ and gt/.*gt is missing"):
        raindrop_files(tmp_path)


def test_size_mismatch_is_named(tmp_path):
    _split(tmp_path, [1], size=(16, 16))
    _write(tmp_path / "data", ["2_rain.png"], size=(16, 20))
    _write(tmp_path / "gt", ["2_clean.png"], size=(18, 20))
    with pytest.raises(ValueError) as info:
        raindrop_dataset(tmp_path, crop_size=8)
    message = str(info.value)
    assert message.startswith("1 pair(s) differ in size")
    assert "2_rain.png is 20x16 but" in message and "2_clean.png is 20x18" in message
    assert "1_rain.png" not in message


def test_dataset_yields_aligned_batches(tmp_path):
    _split(tmp_path, [1, 2, 3])
    dataset = raindrop_dataset(tmp_path, crop_size=8, batch_size=2, seed=0, repeat=True)
    for rainy, clean in dataset.take(3):
        assert rainy.shape == clean.shape == (2, 8, 8, 3)
        np.testing.assert_allclose(rainy.numpy(), 1.0 - clean.numpy(), atol=1.01 / 255)


def test_drops_change_pixels_only_near_the_mask(photos):
    photo = photos["astronaut"]
    rainy, mask = synthetic_raindrops(photo, rng=0)
    assert rainy.shape == photo.shape and rainy.dtype == np.float32
    assert mask.shape == photo.shape[:2] + (1,) and mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert 0.0 <= rainy.min() and rainy.max() <= 1.0
    changed = np.abs(rainy - photo).max(axis=-1) > 0
    # The edge fades over the blur width (at most 3 px, 3.6 px along an elongated drop).
    near = ndimage.binary_dilation(mask[..., 0] > 0, structure=elliptical_kernel(11))
    assert not np.any(changed & ~near)
    inside = mask[..., 0] > 0
    assert np.abs(rainy - photo).sum(axis=-1)[inside].mean() > 0.1  # drops are visible
    unchanged, zero = synthetic_raindrops(photo, rng=0, count=0)
    np.testing.assert_array_equal(unchanged, photo)
    assert not zero.any()


def test_default_drops_cover_a_sane_fraction(photos):
    fractions = [synthetic_raindrops(photos["chelsea"], rng=seed)[1].mean() for seed in range(8)]
    # Measured over 20 seeds at 256 x 256: 0.045 to 0.18, mean 0.12.
    assert 0.03 < min(fractions) and max(fractions) < 0.3
    assert 0.08 < np.mean(fractions) < 0.18


def test_drops_are_seeded(photos):
    photo = photos["motorcycle"]
    rainy, mask = synthetic_raindrops(photo, rng=3)
    again, same_mask = synthetic_raindrops(photo, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(rainy, again)
    np.testing.assert_array_equal(mask, same_mask)
    assert not np.array_equal(mask, synthetic_raindrops(photo, rng=4)[1])


def test_raindrop_mask_of_a_synthetic_pair_finds_the_drops(photos):
    # Measured over 20 seeds: IoU min 0.61 / 0.73 / 0.76 and mean 0.70 / 0.82 / 0.82
    # (astronaut, chelsea, motorcycle). On flat photos (sky, moon) drops that refract a
    # uniform background barely differ from it and the IoU falls to 0.1-0.4.
    ious = []
    for seed, photo in enumerate(photos.values()):
        rainy, mask = synthetic_raindrops(photo, rng=seed)
        found = raindrop_mask(rainy[None], photo[None]).numpy()[0]
        ious.append((found * mask).sum() / np.maximum(found, mask).sum())
    assert min(ious) > 0.5 and np.mean(ious) > 0.65, ious


@pytest.mark.parametrize(
    "kwargs",
    [{"count": 2.5}, {"count": (5, 1)}, {"radius": 0}, {"aspect": 1.5}, {"blur": -1}],
)
def test_bad_drop_parameters_are_rejected(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        synthetic_raindrops(np.zeros((8, 8, 3), np.float32), **kwargs)
    with pytest.raises(ValueError, match=name):
        synthetic_raindrop_dataset([np.zeros((8, 8, 3), np.float32)], crop_size=8, **kwargs)


def test_synthetic_dataset_shapes_and_seeding(photos):
    images = list(photos.values())

    def batches(seed):
        dataset = synthetic_raindrop_dataset(
            images, crop_size=64, batch_size=2, seed=seed, count=(2, 5)
        )
        return [(rainy.numpy(), clean.numpy()) for rainy, clean in dataset.take(2)]

    first = batches(1)
    for rainy, clean in first:
        assert rainy.shape == clean.shape == (2, 64, 64, 3)
        assert rainy.dtype == np.float32 and 0.0 <= rainy.min() and rainy.max() <= 1.0
        assert not np.array_equal(rainy, clean)
    for (rainy, clean), (again, same) in zip(first, batches(1), strict=True):
        np.testing.assert_array_equal(rainy, again)
        np.testing.assert_array_equal(clean, same)
    evaluation = synthetic_raindrop_dataset(images, crop_size=None, augment=False, seed=0)
    rainy, clean = next(iter(evaluation))
    np.testing.assert_array_equal(clean.numpy()[0], images[0])
    assert rainy.shape == (1, 256, 256, 3)
