"""Tests for tfrestore.data.io: decoding, writing and listing images."""

import os
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import ExifTags, Image, ImageCms, ImageOps

from tfrestore.data import (
    ImageReadError,
    ImageTooLargeError,
    decode_image_tensor,
    image_size,
    io,
    list_images,
    paired_dataset,
    pixel_limit,
    read_image,
    read_photo,
    upright_reader,
    write_image,
)

ORIENTATION = 0x0112  # the EXIF tag


def _exif(orientation):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif


def _srgb_profile():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


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
        (".webp", "WEBP", _smooth_rgb, 0.03),  # lossy at Pillow's default quality
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


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])  # PIL's 16-bit gray, either byte order
def test_16bit_png_keeps_full_precision(tmp_path, mode):
    # Values that are not multiples of 257 would be rounded if decoded at 8 bits.
    values = (np.arange(12 * 17, dtype=np.uint16).reshape(12, 17) * 311 + 3).astype(np.uint16)
    order = ">" if mode.endswith("B") else "<"
    raw = values.astype(f"{order}u2").tobytes()
    Image.frombytes(mode, (17, 12), raw).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as written:
        assert written.mode.startswith("I;16")
    image = read_image(tmp_path / "deep.png")
    assert image.shape == (12, 17, 3)
    np.testing.assert_array_equal(np.round(image[:, :, 1] * 65535), values)


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
    Image.fromarray(rgb).save(tmp_path / "e.webp", lossless=True)
    paths = [str(tmp_path / name) for name in ("a.png", "b.png", "c.png", "d.png", "e.webp")]

    dataset = tf.data.Dataset.from_tensor_slices(paths).map(
        lambda path: decode_image_tensor(tf.io.read_file(path))
    )

    assert dataset.element_spec.shape.as_list() == [None, None, 3]
    images = [image.numpy() for image in dataset]
    np.testing.assert_allclose(images[0][:, :, 1], rgb[:, :, 0] / 255.0, atol=1e-6)
    np.testing.assert_allclose(images[1], rgb / 255.0, atol=1e-6)
    np.testing.assert_allclose(images[2], rgb / 255.0, atol=1e-6)
    np.testing.assert_allclose(images[3][:, :, 0], rgb[:, :, 0] / 255.0, atol=1e-6)
    np.testing.assert_allclose(images[4], rgb / 255.0, atol=1e-6)


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
    with pytest.raises(ValueError, match=r"out\.xyz: unknown image extension '\.xyz'; use one"):
        write_image(tmp_path / "out.xyz", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"out\.jpg: quality must be .* 1 to 100, got 0"):
        write_image(tmp_path / "out.jpg", np.zeros((4, 4, 3)), quality=0)
    with pytest.raises(ValueError, match=r"bit_depth for .*out\.png must be 8 or 16, got 12"):
        write_image(tmp_path / "out.png", np.zeros((4, 4, 3)), bit_depth=12)
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


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(tmp_path, orientation):
    pixels = _rgb(5, 7)  # lossless PNG: the result must equal Pillow's exactly
    path = tmp_path / "tagged.png"
    Image.fromarray(pixels).save(path, exif=_exif(orientation))
    with Image.open(path) as stored:
        expected = np.asarray(ImageOps.exif_transpose(stored)) / 255.0

    plain = tmp_path / "plain.png"  # no tag: read as stored by the same pipeline
    Image.fromarray(pixels).save(plain)
    paths = [str(path), str(plain)]
    pipeline = tf.data.Dataset.from_tensor_slices(paths).map(upright_reader(paths))

    image = read_image(path)
    from_pipeline, from_plain = (element.numpy() for element in pipeline)

    assert image.shape == expected.shape == ((7, 5, 3) if orientation >= 5 else (5, 7, 3))
    np.testing.assert_allclose(image, expected, atol=1e-6)
    np.testing.assert_array_equal(from_pipeline, image)
    np.testing.assert_allclose(from_plain, pixels / 255.0, atol=1e-6)
    assert image_size(path) == (expected.shape[1], expected.shape[0])  # upright width, height


def test_exif_rotated_jpeg_is_read_upright(tmp_path):
    # A phone's portrait photo: landscape pixels, tag 6 ("turn 90 degrees clockwise").
    pixels = _smooth_rgb(32, 48)
    pixels[:8, :8] = 255  # a white top-left corner, stored; upright it is the top-right one
    path = tmp_path / "portrait.jpg"
    Image.fromarray(pixels).save(path, quality=95, exif=_exif(6))
    with Image.open(path) as stored:
        expected = np.asarray(ImageOps.exif_transpose(stored)) / 255.0

    image = read_image(path)

    assert image.shape == (48, 32, 3)
    assert np.abs(image - expected).mean() < 0.01  # two JPEG decoders: nearly equal
    assert image[:8, -8:].mean() > 0.95 and image[:8, :8].mean() < 0.7  # white went right


def test_read_photo_reports_bit_depth_gray_profile_and_format(tmp_path):
    profile = _srgb_profile()
    Image.fromarray(_rgb()).save(tmp_path / "a.png", icc_profile=profile)
    Image.fromarray(_smooth_rgb()).save(tmp_path / "b.jpg")
    levels = (np.arange(12 * 17 * 3).reshape(12, 17, 3) * 97 % 65536).astype(np.uint16)
    (tmp_path / "c.png").write_bytes(tf.io.encode_png(levels).numpy())
    (tmp_path / "d.png").write_bytes(tf.io.encode_png(levels[:, :, :2]).numpy())  # gray+alpha
    Image.fromarray(_smooth_rgb()[:, :, 0]).save(tmp_path / "e.jpg")  # gray

    a, b, c, d, e = (
        read_photo(tmp_path / name) for name in "a.png b.jpg c.png d.png e.jpg".split()
    )

    assert (a.bit_depth, a.gray, a.icc_profile, a.format) == (8, False, profile, "PNG")
    assert (b.bit_depth, b.gray, b.icc_profile, b.format) == (8, False, None, "JPEG")
    assert (c.bit_depth, c.gray, c.icc_profile, c.format) == (16, False, None, "PNG")
    assert (d.bit_depth, d.gray, e.bit_depth, e.gray) == (16, True, 8, True)
    np.testing.assert_array_equal(np.round(c.pixels * 65535), levels)  # no 8-bit rounding
    np.testing.assert_array_equal(np.round(d.pixels[:, :, 2] * 65535), levels[:, :, 0])


@pytest.mark.parametrize("channels", [3, 1])
def test_16bit_png_round_trip_is_exact(tmp_path, channels):
    levels = np.random.default_rng(0).integers(0, 65536, (9, 13, channels)).astype(np.uint16)
    path = tmp_path / "deep.png"
    profile = _srgb_profile()  # once: the profile's header holds its creation time (seconds)
    write_image(path, levels / 65535.0, bit_depth=16, icc_profile=profile)

    written = tf.io.decode_png(path.read_bytes(), dtype=tf.uint16).numpy()
    assert written.shape == (9, 13, channels)
    np.testing.assert_array_equal(written, levels)
    photo = read_photo(path)
    assert photo.bit_depth == 16 and photo.icc_profile == profile
    np.testing.assert_array_equal(
        np.round(photo.pixels * 65535), np.broadcast_to(levels, (9, 13, 3))
    )


def test_16bit_is_for_png_only_and_8bit_png_stays_8bit(tmp_path):
    image = np.random.default_rng(0).random((6, 8, 3)).astype(np.float32)
    write_image(tmp_path / "a.png", image)
    write_image(tmp_path / "b.bmp", image, bit_depth=16)  # BMP has no 16-bit RGB: 8 bits
    assert read_photo(tmp_path / "a.png").bit_depth == 8
    with Image.open(tmp_path / "b.bmp") as written:
        assert written.mode == "RGB"
    np.testing.assert_allclose(read_image(tmp_path / "b.bmp"), image, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("extension", [".png", ".jpg", ".webp", ".tif"])
def test_write_image_embeds_the_icc_profile(tmp_path, extension):
    profile = _srgb_profile()
    path = tmp_path / f"out{extension}"
    write_image(path, np.full((8, 8, 3), 0.5, np.float32), icc_profile=profile)
    with Image.open(path) as written:
        assert written.format == io.WRITE_FORMATS[extension]
        assert written.info["icc_profile"] == profile
        np.testing.assert_allclose(np.asarray(written) / 255.0, 0.5, atol=2 / 255)


@pytest.mark.parametrize(
    "extension, bit_depth", [(".jpg", 8), (".png", 8), (".png", 16), (".webp", 8), (".tif", 8)]
)
def test_write_image_keeps_exif_without_orientation(tmp_path, extension, bit_depth):
    # A portrait phone photo's EXIF: stored 40x24 with tag 6; the upright image is 24x40.
    exif = _exif(6)
    exif[0x010F] = "PhoneMaker"  # Make
    details = exif.get_ifd(0x8769)
    details[0x9003] = "2024:05:01 10:00:00"  # DateTimeOriginal
    details[0xA002], details[0xA003] = 40, 24  # PixelXDimension, PixelYDimension
    source = tmp_path / "source.jpg"
    Image.fromarray(np.zeros((24, 40, 3), np.uint8)).save(source, exif=exif)
    photo = read_photo(source)
    assert photo.pixels.shape == (40, 24, 3) and photo.exif.startswith(b"Exif")

    path = tmp_path / f"out{extension}"
    write_image(path, photo.pixels, bit_depth=bit_depth, exif=photo.exif)

    with Image.open(path) as written:
        assert written.size == (24, 40)
        kept = written.getexif()
        details = kept.get_ifd(0x8769)
    assert ORIENTATION not in kept and kept[0x010F] == "PhoneMaker"
    assert details[0x9003] == "2024:05:01 10:00:00"
    assert (details[0xA002], details[0xA003]) == (24, 40)  # the size written


def test_alpha_is_read_upright_and_written_where_the_format_holds_it(tmp_path):
    rgba = _rgb(5, 7, seed=1)
    alpha = np.arange(35, dtype=np.uint8).reshape(5, 7) * 7
    Image.fromarray(np.dstack([rgba, alpha])).save(tmp_path / "a.png", exif=_exif(6))

    photo = read_photo(tmp_path / "a.png")

    assert photo.alpha.shape == (7, 5, 1)  # turned like the pixels
    np.testing.assert_allclose(photo.alpha[:, :, 0], np.rot90(alpha, -1) / 255.0, atol=1e-6)
    for name, mode in (("b.png", "RGBA"), ("b.tif", "RGBA"), ("b.jpg", "RGB"), ("c.png", "LA")):
        image = photo.pixels[:, :, 0] if name == "c.png" else photo.pixels
        write_image(tmp_path / name, image, alpha=photo.alpha)
        with Image.open(tmp_path / name) as written:
            assert written.mode == mode  # JPEG has no alpha: written opaque
            if mode != "RGB":
                np.testing.assert_array_equal(np.asarray(written)[:, :, -1], np.rot90(alpha, -1))
    assert read_photo(tmp_path / "b.jpg").alpha is None
    with pytest.raises(ValueError, match=r"alpha for .*d\.png must have shape \[H, W\]"):
        write_image(tmp_path / "d.png", photo.pixels, alpha=np.ones((5, 7)))


def test_the_exif_thumbnail_is_not_written(tmp_path):
    # Little-endian TIFF data: IFD0 with Make "ab", then IFD1 (a thumbnail's offset tag).
    ifd0 = struct.pack("<HHHI4sI", 1, 0x010F, 2, 3, b"ab\0\0", 8 + 18)
    ifd1 = struct.pack("<HHHIII", 1, 0x0201, 4, 1, 999, 0)
    raw = b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd0 + ifd1
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.jpg", exif=raw)
    with Image.open(tmp_path / "a.jpg") as source:
        assert source.getexif().get_ifd(ExifTags.IFD.IFD1) == {0x0201: 999}

    write_image(tmp_path / "b.jpg", np.zeros((4, 4, 3)), exif=read_photo(tmp_path / "a.jpg").exif)

    with Image.open(tmp_path / "b.jpg") as written:
        kept = written.getexif()
        assert kept.get_ifd(ExifTags.IFD.IFD1) == {} and kept[0x010F] == "ab"
        assert 0x8769 not in kept  # no empty Exif sub-IFD added


def test_damaged_exif_is_left_out(tmp_path):
    write_image(tmp_path / "a.jpg", np.zeros((4, 4, 3)), exif=b"Exif\0\0garbage")
    with Image.open(tmp_path / "a.jpg") as written:
        assert "exif" not in written.info


def test_write_image_honours_jpeg_quality(tmp_path):
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    reference = tmp_path / "reference.jpg"
    for quality in (30, 95):
        write_image(tmp_path / f"q{quality}.jpg", image, quality=quality)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(reference, quality=quality)
        with Image.open(tmp_path / f"q{quality}.jpg") as ours, Image.open(reference) as pillows:
            assert ours.quantization == pillows.quantization  # Pillow's tables for `quality`
    assert (tmp_path / "q30.jpg").stat().st_size < (tmp_path / "q95.jpg").stat().st_size
    with Image.open(tmp_path / "q95.jpg") as default:
        write_image(tmp_path / "default.jpg", image)
        with Image.open(tmp_path / "default.jpg") as written:
            assert written.quantization == default.quantization  # 95 by default


def test_list_images_recursive_sorted_relative(tmp_path):
    for name in [
        "b.PNG",
        "a.jpg",
        "sub/c.jpeg",
        "sub/deeper/d.Bmp",
        "e.gif",
        "w.WebP",
        "notes.txt",
        "f.tiff",
        ".hidden.png",
        ".cache/g.png",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert list_images(tmp_path) == [
        "a.jpg",
        "b.PNG",
        "e.gif",
        "sub/c.jpeg",
        "sub/deeper/d.Bmp",
        "w.WebP",
    ]


def test_list_images_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        list_images(tmp_path / "no_such_folder")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="file.png"):
        list_images(tmp_path / "file.png")


def _black_png(path, width, height):
    """Writes a real 1-bit gray PNG of black pixels: 20000x20000 takes about 50 kB on disk."""
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte, then 8 pixels a byte
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind, body):
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    path.write_bytes(
        signature + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return path


def test_huge_image_is_refused_from_its_header_without_decoding(tmp_path, monkeypatch):
    np.testing.assert_array_equal(read_image(_black_png(tmp_path / "small.png", 13, 7)), 0.0)
    huge = _black_png(tmp_path / "huge.png", 20000, 20000)
    assert huge.stat().st_size < 200_000

    def no_decoding(*args):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(io, "_decode_channels", no_decoding)  # what every read decodes with
    monkeypatch.delenv("TFRESTORE_MAX_PIXELS", raising=False)
    with pytest.raises(ImageTooLargeError) as info:
        read_image(huge)
    assert str(info.value) == (
        f"{huge}: 20000x20000 pixels (400 megapixels) is above the limit of 120 megapixels; "
        "set TFRESTORE_MAX_PIXELS to change it"
    )
    assert isinstance(info.value, ImageReadError)
    # The training pipelines measure every file the same way before building the dataset.
    for folder in ("blurred", "sharp"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.png").write_bytes(huge.read_bytes())
    with pytest.raises(ImageTooLargeError, match="a.png: 20000x20000 pixels"):
        paired_dataset(tmp_path / "blurred", tmp_path / "sharp", crop_size=64)


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    path = _black_png(tmp_path / "a.png", 40, 30)
    monkeypatch.setenv("TFRESTORE_MAX_PIXELS", "1000")
    with pytest.raises(ImageTooLargeError, match=r"40x30 pixels \(0.0012 megapixels\).*0.001 meg"):
        read_image(path)
    assert read_image(path, max_pixels=0).shape == (30, 40, 3)  # 0: no limit
    assert image_size(path, max_pixels=1200) == (40, 30)
    monkeypatch.setenv("TFRESTORE_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="TFRESTORE_MAX_PIXELS must be a whole number"):
        read_image(path)
    monkeypatch.delenv("TFRESTORE_MAX_PIXELS")
    monkeypatch.setattr(io, "MAX_PIXELS", 100)
    assert pixel_limit() == 100 and pixel_limit(5) == 5
    with pytest.raises(ImageTooLargeError, match="limit of 0.0001 megapixels"):
        image_size(path)
