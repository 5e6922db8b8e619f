"""Tests for tfrestore.data.inpainting: hole filling and the (masked, mask) -> target dataset."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfrestore.data import center_mask, inpainting_dataset, read_image, write_image
from tfrestore.layers import DATASET_MEAN, DATASET_MEAN_FLOAT, fill_holes

MEAN = np.asarray(DATASET_MEAN_FLOAT, np.float32)


def _photos(count=3, height=150, width=170):
    rng = np.random.default_rng(0)
    return [rng.random((height, width, 3), dtype=np.float32) for _ in range(count)]


def _assert_filled(masked, mask, target, value=MEAN):
    """Known pixels equal the target exactly; hole pixels equal `value` exactly."""
    known = mask[..., 0] == 0
    np.testing.assert_array_equal(masked[known], target[known])
    holes = ~known
    assert holes.any()
    np.testing.assert_array_equal(masked[holes], np.broadcast_to(value, masked[holes].shape))


def test_dataset_mean_is_upstreams_fill():
    assert DATASET_MEAN == (117, 104, 123)
    np.testing.assert_allclose(DATASET_MEAN_FLOAT, np.array([117, 104, 123]) / 255)


def test_fill_holes_on_numpy_and_tensors():
    image = _photos(2, 128, 128)
    mask = np.stack([center_mask(), center_mask(overlap=0)])
    batch = np.stack(image)
    filled = fill_holes(batch, mask)
    assert isinstance(filled, np.ndarray) and filled.dtype == np.float32
    _assert_filled(filled, mask, batch)
    _assert_filled(fill_holes(batch[0], mask[0]), mask[0], batch[0])  # HWC

    filled_tf = fill_holes(tf.constant(batch), tf.constant(mask))
    assert tf.is_tensor(filled_tf)
    np.testing.assert_array_equal(filled_tf.numpy(), filled)
    graph = tf.function(fill_holes).get_concrete_function(
        tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None, None, None, 1])
    )
    np.testing.assert_array_equal(graph(tf.constant(batch), tf.constant(mask)).numpy(), filled)
    _assert_filled(fill_holes(batch, mask, value=0.0), mask, batch, value=0.0)


def test_fill_holes_rejects_bad_shapes():
    image = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="mask must have the image's shape with 1 channel"):
        fill_holes(image, np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="must match in batch, height and width"):
        fill_holes(tf.constant(image), tf.zeros((8, 9, 1)))
    with pytest.raises(ValueError, match="value must be a number or one value per image channel"):
        fill_holes(image, np.zeros((8, 8, 1), np.float32), value=(0.1, 0.2))


def test_dataset_yields_masked_image_mask_and_target():
    dataset = inpainting_dataset(_photos(), batch_size=2, mask="regions", seed=0)
    (masked_spec, mask_spec), target_spec = dataset.element_spec
    assert masked_spec.shape.as_list() == [2, 128, 128, 3]
    assert mask_spec.shape.as_list() == [2, 128, 128, 1]
    assert target_spec.shape.as_list() == [2, 128, 128, 3]
    batches = [tuple(t.numpy() for t in (x[0], x[1], y)) for x, y in dataset.take(2)]
    for masked, mask, target in batches:
        assert masked.dtype == mask.dtype == target.dtype == np.float32
        assert set(np.unique(mask)) <= {0.0, 1.0}
        for one_mask in mask:
            assert 0.2 <= one_mask.mean() <= 0.3  # the regions recipe
        _assert_filled(masked, mask, target)
    assert not np.array_equal(batches[0][1][0], batches[0][1][1])  # a mask per example

    again = inpainting_dataset(_photos(), batch_size=2, mask="regions", seed=0).take(2)
    for (masked, mask, target), (x, y) in zip(batches, again, strict=True):
        np.testing.assert_array_equal(masked, x[0].numpy())
        np.testing.assert_array_equal(mask, x[1].numpy())
        np.testing.assert_array_equal(target, y.numpy())


@pytest.mark.slow
def test_center_masks_from_a_folder_without_augmentation(tmp_path):
    image = _photos(1, 140, 160)[0]
    write_image(tmp_path / "a.png", image)
    dataset = inpainting_dataset(str(tmp_path), seed=0, repeat=False, augment=False)
    (((masked, mask), target),) = [((x[0].numpy(), x[1].numpy()), y.numpy()) for x, y in dataset]
    np.testing.assert_array_equal(mask[0], center_mask())
    np.testing.assert_allclose(target[0], image[6:134, 16:144], atol=0.5 / 255 + 1e-6)
    _assert_filled(masked, mask, target)


def test_callable_masks_full_images_and_fill_false():
    def left_half(size, rng):
        height, width = size
        mask = np.zeros((height, width), np.float32)  # [H, W] is accepted too
        mask[:, : width // 2] = 1
        return mask

    dataset = inpainting_dataset(_photos(1, 40, 60), crop_size=None, mask=left_half, fill=False)
    (masked, mask), target = next(iter(dataset))
    assert mask.shape == (1, 40, 60, 1) and masked.shape == target.shape == (1, 40, 60, 3)
    _assert_filled(masked.numpy(), mask.numpy(), target.numpy(), value=0.0)
    assert mask.numpy()[0, :, :30].min() == 1 and mask.numpy()[0, :, 30:].max() == 0


def test_dataset_rejects_bad_masks_and_arguments():
    with pytest.raises(ValueError, match="mask must be one of center, rectangles, regions"):
        inpainting_dataset(_photos(), mask="circles")
    with pytest.raises(ValueError, match=r"must return shape \[128, 128, 1\]"):
        inpainting_dataset(_photos(), mask=lambda size, rng: np.zeros((64, 64, 1)))
    with pytest.raises(ValueError, match="fill must be True, False, a number"):
        inpainting_dataset(_photos(), fill=(0.1, 0.2))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        inpainting_dataset(_photos(), batch_size=0)
    with pytest.raises(ValueError, match=r"smaller than crop_size=128.*images\[0\] \(100x90\)"):
        inpainting_dataset(_photos(1, 90, 100))


_LIVE_ITERATOR_SCRIPT = """
import numpy as np
from tfrestore.data import inpainting_dataset

images = [np.random.default_rng(0).random((160, 160, 3), dtype=np.float32)]
iterator = iter(inpainting_dataset(images, batch_size=4, mask="free_form", seed=0))
next(iterator)
print("done", flush=True)
"""


@pytest.mark.slow
def test_process_exits_with_a_live_iterator():
    # Masks are drawn in Python from tf.data threads, which must not keep the interpreter
    # from exiting while an iterator is alive (see tfrestore.data.sources).
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


def _positional(count, height=150, width=170):
    """Photos whose pixels say where they are ((row, column, photo) / 256) and structures that
    differ from them: a crop's content then tells which window of which source it shows."""
    rows, columns = np.mgrid[:height, :width] / 256
    photos = [
        np.stack([rows, columns, np.full_like(rows, index / 256)], axis=-1).astype(np.float32)
        for index in range(count)
    ]
    structures = [np.sqrt(photo[..., ::-1]) for photo in photos]
    return photos, structures


def _expected_structure(target, structures):
    """The structure pixels at the source positions that the target's pixels encode."""
    rows, columns, index = (np.rint(target[..., c] * 256).astype(int) for c in range(3))
    return np.stack(structures)[index, rows, columns]


def test_structures_are_cropped_and_flipped_like_their_photos():
    photos, structures = _positional(3)
    options = {"batch_size": 2, "mask": "regions", "seed": 0}
    dataset = inpainting_dataset(photos, structures=structures, **options)
    (masked_spec, mask_spec), (target_spec, structure_spec) = dataset.element_spec
    assert target_spec.shape.as_list() == structure_spec.shape.as_list() == [2, 128, 128, 3]
    plain = inpainting_dataset(photos, **options)
    flips = set()
    for (x, (target, structure)), (plain_x, plain_target) in zip(
        dataset.take(4), plain.take(4), strict=True
    ):
        target, structure = target.numpy(), structure.numpy()
        np.testing.assert_array_equal(structure, _expected_structure(target, structures))
        flips |= {bool(one[0, 1, 1] < one[0, 0, 1]) for one in target}  # columns decrease
        # The masks, masked images and targets are those of the dataset without structures.
        np.testing.assert_array_equal(x[0].numpy(), plain_x[0].numpy())
        np.testing.assert_array_equal(x[1].numpy(), plain_x[1].numpy())
        np.testing.assert_array_equal(target, plain_target.numpy())
    assert flips == {False, True}  # both cases were checked


def test_structures_from_a_folder(tmp_path):
    photos, structures = _positional(2, 140, 160)
    for name, photo, structure in zip(("a.jpg", "sub/b.png"), photos, structures, strict=True):
        write_image(tmp_path / "photos" / name, photo)
        write_image(tmp_path / "structures" / f"{os.path.splitext(name)[0]}.png", structure)
    dataset = inpainting_dataset(
        str(tmp_path / "photos"),
        structures=str(tmp_path / "structures"),
        batch_size=2,
        repeat=False,
        augment=False,
    )
    (_, mask), (_, structure) = next(iter(dataset))
    np.testing.assert_array_equal(mask.numpy()[0], center_mask())
    for index, name in enumerate(("a.png", "sub/b.png")):
        written = read_image(tmp_path / "structures" / name)
        np.testing.assert_array_equal(structure.numpy()[index], written[6:134, 16:144])

    write_image(tmp_path / "photos" / "sub" / "c.png", photos[0])
    with pytest.raises(
        ValueError, match=r"1 photo\(s\) in .*photos have no structure .*sub/c\.png"
    ):
        inpainting_dataset(str(tmp_path / "photos"), structures=str(tmp_path / "structures"))
    with pytest.raises(ValueError, match="with a list of images give structures as a list"):
        inpainting_dataset(photos, structures=str(tmp_path / "structures"))


def test_structures_of_another_count_or_size_are_rejected():
    photos, structures = _positional(2)
    with pytest.raises(ValueError, match=r"structures has 1 image\(s\) for 2 photo\(s\)"):
        inpainting_dataset(photos, structures=structures[:1])
    structures[1] = structures[1][:, :160]
    with pytest.raises(ValueError, match=r"structures\[1\] is 160x150 but images\[1\] is 170x150"):
        inpainting_dataset(photos, structures=structures)
    with pytest.raises(ValueError, match=r"structures\[0\] must have values in \[0, 1\]"):
        inpainting_dataset(photos, structures=[structures[0] + 1, structures[0]])
