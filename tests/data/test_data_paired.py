"""Tests for tfrestore.data.paired: folder matching, validation and aligned augmentation."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfrestore.data import (
    center_crop_pair,
    image_size,
    paired_dataset,
    paired_files,
    random_crop_pair,
    random_flip_pair,
    read_image,
    write_image,
)


def _write(folder, names, size=(24, 20), seed=0, invert=False):
    """Writes random PNGs of `size` = (height, width); `invert` writes 1 - image instead."""
    rng = np.random.default_rng(seed)
    for name in names:
        image = rng.random(size + (3,)).astype(np.float32)
        write_image(os.path.join(folder, name), 1.0 - image if invert else image)


def _pair_folders(tmp_path, names, size=(24, 20), invert=False):
    degraded, target = tmp_path / "degraded", tmp_path / "target"
    _write(degraded, names, size, invert=invert)
    _write(target, names, size)
    return str(degraded), str(target)


def _batches(dataset):
    return [(d.numpy(), t.numpy()) for d, t in dataset]


def test_paired_files_matches_relative_names(tmp_path):
    degraded, target = _pair_folders(tmp_path, ["b.png", "a.png", "scene/c.png"])
    pairs = paired_files(degraded, target)
    assert pairs == [
        (os.path.join(degraded, name), os.path.join(target, name))
        for name in ["a.png", "b.png", "scene/c.png"]
    ]


def test_unmatched_names_are_listed(tmp_path):
    degraded, target = tmp_path / "degraded", tmp_path / "target"
    _write(degraded, ["same.png", "only_blur.png", "x.png"])
    _write(target, ["same.png", "only_sharp.png", "x.jpg"])
    with pytest.raises(ValueError) as info:
        paired_files(degraded, target)
    message = str(info.value)
    assert message.startswith("4 image name(s) have no partner")
    assert f"only in {degraded}: only_blur.png, x.png" in message
    assert f"only in {target}: only_sharp.png, x.jpg" in message
    assert "same.png" not in message


def test_many_unmatched_names_are_truncated(tmp_path):
    degraded, target = tmp_path / "degraded", tmp_path / "target"
    _write(degraded, [f"{i:02d}.png" for i in range(13)], size=(4, 4))
    _write(target, ["00.png"], size=(4, 4))
    with pytest.raises(ValueError, match=r"12 image name\(s\).*10\.png, \.\.\. and 2 more"):
        paired_files(degraded, target)


def test_skip_unmatched_logs_the_count(tmp_path, caplog):
    degraded, target = tmp_path / "degraded", tmp_path / "target"
    _write(degraded, ["a.png", "b.png", "c.png"])
    _write(target, ["a.png", "z.png"])
    with caplog.at_level(logging.WARNING, logger="tfrestore.data.paired"):
        pairs = paired_files(degraded, target, skip_unmatched=True)
    assert [os.path.basename(d) for d, _ in pairs] == ["a.png"]
    assert "skipped 3 unmatched" in caplog.text


def test_size_mismatch_lists_pairs_and_sizes(tmp_path):
    degraded, target = tmp_path / "degraded", tmp_path / "target"
    _write(degraded, ["ok.png"], size=(16, 16))
    _write(target, ["ok.png"], size=(16, 16))
    _write(degraded, ["bad.png"], size=(16, 20))
    _write(target, ["bad.png"], size=(18, 20))
    with pytest.raises(ValueError) as info:
        paired_dataset(degraded, target, crop_size=8)
    message = str(info.value)
    assert message.startswith("1 pair(s) differ in size")
    assert "bad.png is 20x16 but" in message and "bad.png is 20x18" in message
    assert "ok.png" not in message


def test_image_smaller_than_crop_is_named(tmp_path):
    degraded, target = tmp_path / "degraded", tmp_path / "target"
    _write(degraded, ["big.png"], size=(40, 40))
    _write(target, ["big.png"], size=(40, 40))
    _write(degraded, ["small.png"], size=(30, 50))
    _write(target, ["small.png"], size=(30, 50))
    with pytest.raises(ValueError, match=r"smaller than crop_size=32: .*small\.png \(50x30\)"):
        paired_dataset(degraded, target, crop_size=32)


def test_bad_arguments(tmp_path):
    degraded, target = _pair_folders(tmp_path, ["a.png"])
    with pytest.raises(ValueError, match="crop_size must be"):
        paired_dataset(degraded, target, crop_size=0)
    with pytest.raises(ValueError, match="batch_size must be"):
        paired_dataset(degraded, target, batch_size=1.5)
    with pytest.raises(ValueError, match="dataset would be empty"):
        paired_dataset(degraded, target, crop_size=8, batch_size=2)


def test_crops_are_aligned_for_a_copy(tmp_path):
    degraded, target = tmp_path / "degraded", tmp_path / "target"
    _write(degraded, ["a.png", "b.png", "c.png"])
    _write(target, ["a.png", "b.png", "c.png"])
    dataset = paired_dataset(degraded, target, crop_size=8, batch_size=3, seed=3, repeat=True)
    for degraded_batch, target_batch in _batches(dataset.take(4)):
        assert degraded_batch.shape == target_batch.shape == (3, 8, 8, 3)
        assert degraded_batch.dtype == np.float32
        np.testing.assert_array_equal(degraded_batch, target_batch)


def test_crops_and_flips_are_aligned_for_different_content(tmp_path):
    # degraded = 1 - target, so only the same window and the same flip give degraded + target = 1.
    degraded, target = _pair_folders(tmp_path, ["a.png", "b.png"], size=(24, 20), invert=True)
    dataset = paired_dataset(degraded, target, crop_size=6, batch_size=2, seed=0, repeat=True)
    sources = [read_image(os.path.join(target, name)) for name in ["a.png", "b.png"]]
    windows, flips = set(), set()
    for degraded_batch, target_batch in _batches(dataset.take(20)):
        np.testing.assert_allclose(degraded_batch + target_batch, 1.0, atol=1.5 / 255)
        for crop in target_batch:
            window, flipped = _locate(crop, sources)
            windows.add(window)
            flips.add(flipped)
    assert len(windows) > 10  # the crop windows are random...
    assert flips == {False, True}  # ...and so are the flips


def _locate(crop, sources):
    """(source index, top, left) and whether `crop` is flipped, by exhaustive search."""
    size = crop.shape[0]
    for index, source in enumerate(sources):
        for flipped, candidate in ((False, crop), (True, crop[:, ::-1])):
            for top in range(source.shape[0] - size + 1):
                for left in range(source.shape[1] - size + 1):
                    if np.array_equal(source[top : top + size, left : left + size], candidate):
                        return (index, top, left), flipped
    raise AssertionError("crop not found in any source image")


def test_batches_drop_the_remainder(tmp_path):
    degraded, target = _pair_folders(tmp_path, [f"{i}.png" for i in range(5)], size=(8, 8))
    batches = _batches(paired_dataset(degraded, target, crop_size=8, batch_size=2))
    assert [d.shape[0] for d, _ in batches] == [2, 2]


def test_seed_makes_the_pipeline_reproducible(tmp_path):
    degraded, target = _pair_folders(tmp_path, [f"{i}.png" for i in range(4)])

    def first_batches(seed):
        dataset = paired_dataset(degraded, target, crop_size=8, batch_size=2, seed=seed)
        return np.concatenate([d for d, _ in _batches(dataset)])

    np.testing.assert_array_equal(first_batches(7), first_batches(7))
    assert not np.array_equal(first_batches(7), first_batches(8))


def test_without_augment_the_crop_is_central_and_unflipped(tmp_path):
    degraded, target = _pair_folders(tmp_path, ["a.png"], size=(24, 20))
    dataset = paired_dataset(degraded, target, crop_size=8, shuffle=False, augment=False)
    ((degraded_batch, target_batch),) = _batches(dataset)
    source = read_image(os.path.join(target, "a.png"))
    np.testing.assert_array_equal(target_batch[0], source[8:16, 6:14])


def test_full_images_without_crop(tmp_path):
    degraded, target = tmp_path / "degraded", tmp_path / "target"
    for folder in (degraded, target):
        _write(folder, ["a.png"], size=(10, 12))
        _write(folder, ["b.png"], size=(14, 9))
    batches = _batches(paired_dataset(degraded, target, crop_size=None, shuffle=False))
    assert [d.shape for d, _ in batches] == [(1, 10, 12, 3), (1, 14, 9, 3)]
    with pytest.raises(ValueError, match="batch_size=2 needs all images to have one size"):
        paired_dataset(degraded, target, crop_size=None, batch_size=2)


def test_pair_helpers_keep_images_aligned():
    a = tf.reshape(tf.range(10 * 12 * 3, dtype=tf.float32), [10, 12, 3])
    b = tf.concat([2.0 * a, a[:, :, :1]], axis=2)  # different channel count is fine
    crop_a, crop_b = random_crop_pair(a, b, 4, seed=[1, 2])
    assert crop_a.shape == (4, 4, 3) and crop_b.shape == (4, 4, 4)
    np.testing.assert_array_equal(crop_b[:, :, :3], 2.0 * crop_a)
    top, left = int(crop_a[0, 0, 0]) // 36, int(crop_a[0, 0, 0]) % 36 // 3
    np.testing.assert_array_equal(crop_a, a[top : top + 4, left : left + 4])

    flipped = set()
    for seed in range(16):
        flip_a, flip_b = random_flip_pair(a, b, seed=seed)
        np.testing.assert_array_equal(flip_b[:, :, :3], 2.0 * flip_a)
        flipped.add(bool(np.array_equal(flip_a, a[:, ::-1])))
    assert flipped == {False, True}

    center_a, _ = center_crop_pair(a, b, 4)
    np.testing.assert_array_equal(center_a, a[3:7, 4:8])


def test_pair_helpers_are_reproducible_with_a_seed():
    a = tf.reshape(tf.range(10 * 12 * 3, dtype=tf.float32), [10, 12, 3])
    for seed in range(12):
        np.testing.assert_array_equal(
            random_crop_pair(a, a, 4, seed=seed)[0], random_crop_pair(a, a, 4, seed=seed)[0]
        )
        np.testing.assert_array_equal(
            random_flip_pair(a, a, seed=[seed, 5])[0], random_flip_pair(a, a, seed=[seed, 5])[0]
        )


def test_pair_helpers_reject_different_sizes():
    with pytest.raises(ValueError, match="random_crop_images: .*same height and width"):
        random_crop_pair(tf.zeros([8, 8, 3]), tf.zeros([8, 9, 3]), 4, seed=1)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3])] * 2)
    def flip(a, b):  # unknown sizes: checked when the graph runs
        return random_flip_pair(a, b, seed=1)

    with pytest.raises(tf.errors.InvalidArgumentError, match="same height and width"):
        flip(tf.zeros([8, 8, 3]), tf.zeros([8, 9, 3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than the crop size 9"):
        center_crop_pair(tf.zeros([8, 10, 3]), tf.zeros([8, 10, 3]), 9)


def test_pairs_are_read_upright_by_their_exif_orientation(tmp_path):
    # The degraded photo as a phone stores it (turned, with tag 6 "rotate 90 clockwise"), the
    # target upright: sizes are compared and pixels decoded upright, so the pair aligns.
    upright = np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    for folder in ("degraded", "target"):
        (tmp_path / folder).mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.rot90(upright, 1)).save(tmp_path / "degraded" / "a.png", exif=exif)
    Image.fromarray(upright).save(tmp_path / "target" / "a.png")
    assert image_size(tmp_path / "degraded" / "a.png") == (20, 24)  # upright width x height

    dataset = paired_dataset(
        tmp_path / "degraded", tmp_path / "target", crop_size=None, augment=False
    )

    [(degraded, target)] = _batches(dataset)
    np.testing.assert_array_equal(degraded, target)
    np.testing.assert_allclose(target[0], upright / 255.0, atol=1e-6)


def test_memory_cache_gives_the_batches_of_no_cache(tmp_path):
    """Three epochs of a seeded, parallel pipeline: the same batches whether the decoded
    images come from the files or from the cache (cache files: the unpaired pipeline's test)."""
    degraded, target = _pair_folders(tmp_path, [f"{i}.png" for i in range(3)])

    def batches(cache):
        dataset = paired_dataset(
            degraded, target, crop_size=8, batch_size=2, seed=5, repeat=True, cache=cache
        )
        return np.stack([np.stack(pair) for pair in _batches(dataset.take(5))])

    np.testing.assert_array_equal(batches(True), batches(False))
    with pytest.raises(ValueError, match="cache must be true, false or a file path prefix"):
        paired_dataset(degraded, target, crop_size=8, cache=3)
