"""Tests for tfrestore.data.io: decoding, writing and listing images."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfrestore.data import (
    ImageReadError,
    decode_image_tensor,
    list_images,
    read_image,
    write_image,
)


def _rgb(height=12, width=17, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _smooth_rgb(height=32, width=48):
    """A smooth image, so JPEG reproduces it closely."""
    y, x = np.mgrid[0:height, 0:width]
    channels = [x / width, y / height, (x + y) / (width + height)]
    return np.round(np.stack(channels, axis=-1) * 255).astype(np.uint8)


def _palette_rgb(height=12, width=17, seed=0):
    """Few colours, so GIF's palette holds them exactly."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    return palette[rng.integers(0, 16, (height, width))]


@pytest.mark.parametrize(
    "extension, pil_format, make, tolerance",
    [
        (".png", "PNG", _rgb, 1e-6),
        (".bmp", "BMP", _rgb, 1e-6),
        (".gif", "GIF", _palette_rgb, 1e-6),
        (".jpg", "JPEG", _smooth_rgb, 0.03),
    ],
)
def test_read_image_formats(tmp_path, extension, pil_format, make, tolerance):
    pixels = make()
    path = tmp_path / f"image{extension}"
    Image.fromarray(pixels).save(path, format=pil_format)

    image = read_image(path)

    assert image.dtype == np.float32
    assert image.shape == pixels.shape
    assert image.min() >= 0.0 and image.max() <= 1.0
    expected = pixels.astype(np.float32) / 255.0
    if tolerance < 0.01:
        np.testing.assert_allclose(image, expected, atol=tolerance)
    else:  # JPEG is lossy: compare on average, and bound the worst pixel loosely
        assert np.abs(image - expected).mean() < tolerance
        assert np.abs(image - expected).max() < 0.15


def test_grayscale_becomes_rgb(tmp_path):
    gray = _rgb()[:, :, 0]
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    image = read_image(tmp_path / "gray.png")
    assert image.shape == gray.shape + (3,)
    for channel in range(3):
        np.testing.assert_allclose(image[:, :, channel], gray / 255.0, atol=1e-6)


def test_rgba_drops_alpha_and_gray_alpha_keeps_gray(tmp_path):
    rgb = _rgb()
    alpha = np.full(rgb.shape[:2], 7, np.uint8)  # nearly transparent: must not darken RGB
    Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_allclose(read_image(tmp_path / "rgba.png"), rgb / 255.0, atol=1e-6)

    gray = rgb[:, :, 0]
    Image.fromarray(np.dstack([gray, alpha]), mode="LA").save(tmp_path / "la.png")
    image = read_image(tmp_path / "la.png")
    assert image.shape == gray.shape + (3,)
    np.testing.assert_allclose(image[:, :, 2], gray / 255.0, atol=1e-6)


def test_16bit_png_keeps_full_precision(tmp_path):
    # Values that are not multiples of 257 would be rounded if decoded at 8 bits.
    values = (np.arange(12 * 17, dtype=np.uint16).reshape(12, 17) * 311 + 3).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I;16")
    image = read_image(tmp_path / "deep.png")
    assert image.shape == (12, 17, 3)
    np.testing.assert_allclose(image[:, :, 1], values / 65535.0, atol=1e-6)


def test_format_is_sniffed_from_contents(tmp_path):
    pixels = _smooth_rgb()
    path = tmp_path / "actually_jpeg.png"
    Image.fromarray(pixels).save(path, format="JPEG")
    assert np.abs(read_image(path) - pixels / 255.0).mean() < 0.03


def test_missing_file_error_names_path(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(ImageReadError, match="nope.png: no such file"):
        read_image(path)
    assert issubclass(ImageReadError, ValueError)


@pytest.mark.parametrize("contents", [b"this is not an image", b""])
def test_undecodable_file_error_names_path_without_tf_noise(tmp_path, contents):
    path = tmp_path / "broken.png"
    path.write_bytes(contents)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "{{" not in message and "[Op:" not in message and "\n" not in message


def test_decode_image_tensor_inside_tf_data(tmp_path):
    rgb = _rgb(9, 11)
    Image.fromarray(rgb[:, :, 0], mode="L").save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "b.png")
    Image.fromarray(np.dstack([rgb, rgb[:, :, :1]]), mode="RGBA").save(tmp_path / "c.png")
    Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257).save(tmp_path / "d.png")
    paths = [str(tmp_path / name) for name in ("a.png", "b.png", "c.png", "d.png")]

    dataset = tf.data.Dataset.from_tensor_slices(paths).map(
        lambda path: decode_image_tensor(tf.io.read_file(path))
    )

    assert dataset.element_spec.shape.as_list() == [None, None, 3]
    images = [image.numpy() for image in dataset]
    np.testing.assert_allclose(images[0][:, :, 1], rgb[:, :, 0] / 255.0, atol=1e-6)
    np.testing.assert_allclose(images[1], rgb / 255.0, atol=1e-6)
    np.testing.assert_allclose(images[2], rgb / 255.0, atol=1e-6)
    np.testing.assert_allclose(images[3][:, :, 0], rgb[:, :, 0] / 255.0, atol=1e-6)


def test_write_image_round_trip_creates_folders(tmp_path):
    image = np.random.default_rng(1).random((10, 14, 3)).astype(np.float32)
    path = tmp_path / "new" / "nested" / "out.png"
    write_image(path, image)
    np.testing.assert_allclose(read_image(path), image, atol=0.5 / 255 + 1e-6)
    assert sorted(os.listdir(path.parent)) == ["out.png"]  # no temporary file left behind


def test_write_image_clips_and_accepts_gray(tmp_path):
    image = np.array([[[-0.5, 0.5, 1.5]]], np.float32).repeat(3, axis=0)
    write_image(tmp_path / "clipped.bmp", image)
    np.testing.assert_allclose(read_image(tmp_path / "clipped.bmp")[0, 0], [0, 128 / 255, 1])
    write_image(tmp_path / "gray.jpg", np.full((8, 8), 0.25, np.float32))
    assert abs(read_image(tmp_path / "gray.jpg").mean() - 0.25) < 0.01


def test_write_image_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"out\.tiff.*extension"):
        write_image(tmp_path / "out.tiff", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"out\.png.*\[H, W, 3\]"):
        write_image(tmp_path / "out.png", np.zeros((1, 4, 4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        write_image(tmp_path / "out.png", np.full((4, 4, 3), np.nan))
    assert not os.listdir(tmp_path)


def test_write_image_is_atomic_when_encoding_fails(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    write_image(path, np.zeros((4, 4, 3)))
    before = path.read_bytes()

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(path, np.ones((4, 4, 3)))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.png"]


def test_list_images_recursive_sorted_relative(tmp_path):
    for name in [
        "b.PNG",
        "a.jpg",
        "sub/c.jpeg",
        "sub/deeper/d.Bmp",
        "e.gif",
        "notes.txt",
        "f.tiff",
        ".hidden.png",
        ".cache/g.png",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert list_images(tmp_path) == ["a.jpg", "b.PNG", "e.gif", "sub/c.jpeg", "sub/deeper/d.Bmp"]


def test_list_images_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        list_images(tmp_path / "no_such_folder")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="file.png"):
        list_images(tmp_path / "file.png")
