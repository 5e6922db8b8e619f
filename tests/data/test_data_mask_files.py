"""Tests for tfrestore.data.mask_files: reading mask images, finding each image's mask."""

import os

import numpy as np
import pytest
from PIL import Image

from tfrestore.data import ImageReadError, MaskFolder, match_mask_files, read_mask


def write_png(path, pixels):
    """Writes uint8 pixels ([H, W], [H, W, 3] or [H, W, 4]) exactly, as PNG."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(pixels, np.uint8)).save(path)
    return str(path)


def test_read_mask_is_gray_above_half_and_ignores_alpha(tmp_path):
    # BT.601 luma: red 0.299 and blue 0.114 are kept, green 0.587 and white are missing;
    # gray 128/255 is just above 0.5, 127/255 just below.
    rgb = [
        [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
        [[255, 255, 255], [128, 128, 128], [127, 127, 127]],
    ]
    path = write_png(tmp_path / "rgb.png", rgb)
    mask = read_mask(path)
    assert mask.shape == (2, 3, 1) and mask.dtype == np.float32
    np.testing.assert_array_equal(mask[..., 0], [[0, 1, 0], [1, 1, 0]])

    transparent_white = np.full((2, 2, 4), 255, np.uint8)
    transparent_white[..., 3] = 0
    path = write_png(tmp_path / "rgba.png", transparent_white)
    np.testing.assert_array_equal(read_mask(path), np.ones((2, 2, 1)))


def test_read_mask_checks_the_size_and_names_the_file(tmp_path):
    path = write_png(tmp_path / "m.png", np.zeros((3, 4)))
    assert read_mask(path, (3, 4)).shape == (3, 4, 1)
    with pytest.raises(ValueError, match=r"is 4x3 but the image is 5x3 \(width x height\)") as err:
        read_mask(path, (3, 5))
    assert path in str(err.value)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ImageReadError, match="broken.png"):
        read_mask(str(tmp_path / "broken.png"))


def test_read_mask_applies_exif_orientation(tmp_path):
    # Stored 2x3 with the missing pixel top-left; tag 8 ("turn 90 degrees counter-clockwise")
    # shows it 3x2 with that pixel bottom-left, where the upright photo's hole is.
    stored = np.zeros((2, 3), np.uint8)
    stored[0, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 8
    path = tmp_path / "rotated.png"
    Image.fromarray(stored).save(path, exif=exif)
    mask = read_mask(str(path), (3, 2))
    np.testing.assert_array_equal(mask[..., 0], [[0, 0], [0, 0], [1, 0]])


def test_mask_folder_finds_masks_by_stem_in_sub_folders(tmp_path):
    folder = tmp_path / "masks"
    a = write_png(folder / "a.png", np.zeros((2, 2)))
    b = write_png(folder / "sub" / "b.bmp", np.zeros((2, 2)))
    write_png(folder / "c.png", np.zeros((2, 2)))
    write_png(folder / "c.jpg", np.zeros((2, 2)))
    mask_for = MaskFolder(str(folder))
    assert mask_for("photos/a.jpg") == a
    assert mask_for(str(tmp_path / "other" / "b.png")) == b
    with pytest.raises(ValueError, match="several masks match its name: .*c.jpg, .*c.png"):
        mask_for("c.png")
    with pytest.raises(ValueError, match=r"no mask for it in .*masks \(expected d.png or another"):
        mask_for("d.jpg")


def test_match_mask_files_by_folder_or_in_order(tmp_path):
    a = write_png(tmp_path / "masks" / "a.png", np.zeros((2, 2)))
    images = ["in/a.jpg", "in/b.jpg"]
    assert match_mask_files(None, images) is None
    assert match_mask_files([], images) is None

    found = match_mask_files([str(tmp_path / "masks")], images)
    assert found[0] == a
    assert isinstance(found[1], ValueError) and "no mask for it" in str(found[1])

    b = write_png(tmp_path / "elsewhere.png", np.zeros((2, 2)))
    assert match_mask_files([b, a], images) == [b, a]  # in order, whatever the names


def test_match_mask_files_errors_name_the_option(tmp_path):
    a = write_png(tmp_path / "a.png", np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"--mask got 1 file\(s\) for 2 input image\(s\)"):
        match_mask_files([a], ["x.png", "y.png"], name="--mask")
    with pytest.raises(ValueError, match=r"^masks takes mask files or one folder, got folder"):
        match_mask_files([a, str(tmp_path)], ["x.png", "y.png"])
    with pytest.raises(FileNotFoundError, match="mask not found: .*nope.png"):
        match_mask_files([str(tmp_path / "nope.png")], ["x.png"])
