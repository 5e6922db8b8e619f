"""tfrestore.restore: output names and formats, what a photo carries (orientation, 16 bits,
ICC profile), nothing overwritten silently, outputs never read back."""

import os

import numpy as np
import pytest
import tensorflow as tf
from model_harness import smooth_images
from PIL import Image, ImageCms, ImageOps

from tfrestore import data, inference, models
from tfrestore.restore import RestoreError, output_names, restore_files


@pytest.fixture(scope="module")
def restorer():
    model = models.get("deblur_gan", filters=4, num_blocks=1, vgg_weights=None)
    return inference.Restorer.from_model(model)


@pytest.fixture(scope="module")
def identity():
    """A tiny DeblurGAN that returns its input (zero last conv): outputs show what I/O keeps."""
    model = models.get("deblur_gan", filters=4, num_blocks=1, vgg_weights=None)
    model.generator.start_as_identity()
    return inference.Restorer.from_model(model)


def write(path, height, width, seed=0):
    data.write_image(str(path), smooth_images(1, height, width, seed=seed)[0])


def size_of(path):
    return data.read_image(str(path)).shape[:2]


@pytest.mark.parametrize(
    "names,expected",
    [
        (["a/1.jpg", "b/1.jpg", "c.bmp"], ["a/1.png", "b/1.png", "c.png"]),
        (["same.jpg", "same.png"], ["same.jpg.png", "same.png"]),
        (["same.png", "same.jpg", "same.bmp"], ["same.png", "same.jpg.png", "same.bmp.png"]),
        (["Same.JPG", "same.png"], ["Same.JPG.png", "same.png"]),  # case-insensitive filesystems
        (["1.jpg", "1.jpg", "1_2.jpg"], ["1.png", "1_3.png", "1_2.png"]),  # _2 is 1_2.jpg's
        (["x.jpg", "x.jpg.png", "x.png"], ["x.jpg.png", "x.jpg_2.png", "x.png"]),
    ],
)
def test_output_names_in_one_format_are_distinct_and_deterministic(names, expected):
    assert output_names(names, extension=".png") == expected


@pytest.mark.parametrize(
    "names,expected",
    [  # by default each output keeps its input's format and name; a GIF gives a PNG
        (
            ["a.jpg", "b.JPEG", "c.png", "d.bmp", "e.gif", "f.webp"],
            ["a.jpg", "b.JPEG", "c.png", "d.bmp", "e.png", "f.webp"],
        ),
        (["same.jpg", "same.png"], ["same.jpg", "same.png"]),  # no clash: nothing changes
        (["same.gif", "same.png"], ["same.gif.png", "same.png"]),
        (["x.JPG", "x.jpg", "a/x.jpg"], ["x.JPG", "x_2.jpg", "a/x.jpg"]),  # case-insensitive
        (["noext", "odd.jfif"], ["noext.png", "odd.png"]),  # no format we write by that name
    ],
)
def test_output_names_keep_the_input_format(names, expected):
    assert output_names(names) == expected


def test_outputs_mirror_folders_and_clashing_inputs_get_distinct_names(restorer, tmp_path):
    # (input, its output in out/): each input has its own width, so its output shows it.
    cases = [
        ("in/a/1.jpg", "a/1.jpg"),
        ("in/b/1.jpg", "b/1.jpg"),
        ("in/same.gif", "same.gif.png"),
        ("in/same.png", "same.png"),
        ("in/c.webp", "c.webp"),
        ("other/1.jpg", "1.jpg"),  # given as a file, beside the folder in/
        ("other/1.JPG", "1_2.JPG"),  # the same name, on a case-insensitive filesystem
    ]
    for index, (source, _) in enumerate(cases):
        write(tmp_path / source, 20, 24 + 4 * index, seed=index)
    out = tmp_path / "out"
    report = restore_files(
        restorer,
        [str(tmp_path / "in"), str(tmp_path / "other/1.jpg"), str(tmp_path / "other/1.JPG")],
        str(out),
    )
    assert sorted(report.written) == sorted(str(out / output) for _, output in cases)
    for source, output in cases:
        assert size_of(out / output) == size_of(tmp_path / source)
        with Image.open(out / output) as written:  # the format its extension names
            assert written.format == data.WRITE_FORMATS[os.path.splitext(output)[1].lower()]
    assert report.skipped == [] and report.failed == []
    assert str(report) == f"restored 7 images into {out}"


def test_existing_outputs_are_skipped_unless_overwrite(restorer, tmp_path):
    write(tmp_path / "in" / "a.png", 16, 16)
    write(tmp_path / "in" / "b.png", 16, 20, seed=1)
    out = tmp_path / "out"
    data.write_image(str(out / "a.png"), np.zeros((8, 8, 3)))  # someone else's file
    report = restore_files(restorer, [str(tmp_path / "in")], str(out))
    assert report.written == [str(out / "b.png")] and report.skipped == [str(out / "a.png")]
    assert size_of(out / "a.png") == (8, 8)  # left alone
    assert str(report) == (
        f"restored 1 images into {out}; 1 skipped (output exists; --overwrite replaces it)"
    )
    report = restore_files(restorer, [str(tmp_path / "in")], str(out), overwrite=True)
    assert len(report.written) == 2 and size_of(out / "a.png") == (16, 16)


def test_the_output_folder_is_never_read_as_input(restorer, tmp_path):
    photos = tmp_path / "photos"
    write(photos / "a.png", 16, 16)
    write(photos / "sub" / "b.jpg", 16, 16)
    out = photos / "restored"
    for run in range(2):  # the second run must not restore the first run's outputs
        report = restore_files(restorer, [str(photos)], str(out))
        assert len(report.written) == (2 if run == 0 else 0)
        assert len(report.skipped) == (0 if run == 0 else 2)
    assert sorted(data.list_images(str(out))) == ["a.png", "sub/b.jpg"]
    with pytest.raises(RestoreError, match="input .*a.png is inside the output folder"):
        restore_files(restorer, [str(out / "a.png")], str(out))  # an earlier output as input
    with pytest.raises(RestoreError, match="is inside the output folder"):
        restore_files(restorer, [str(photos)], str(photos))  # -o is the input folder


def test_unwritable_output_folder_is_found_before_the_model_loads(tmp_path):
    write(tmp_path / "a.png", 16, 16)
    (tmp_path / "file").write_text("not a folder")
    missing_model = str(tmp_path / "no_model.keras")  # loading it would fail differently
    with pytest.raises(RestoreError, match="output folder .*file is a file"):
        restore_files(missing_model, [str(tmp_path / "a.png")], str(tmp_path / "file"))
    with pytest.raises(RestoreError, match="cannot write to output folder .*: Not a directory"):
        restore_files(missing_model, [str(tmp_path / "a.png")], str(tmp_path / "file" / "out"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(tmp_path):
    write(tmp_path / "a.png", 16, 16)
    (tmp_path / "out").mkdir(mode=0o500)
    with pytest.raises(RestoreError, match="cannot write to output folder .*Permission denied"):
        restore_files(str(tmp_path / "m.keras"), [str(tmp_path / "a.png")], str(tmp_path / "out"))


def test_failures_are_counted_and_the_same_file_is_restored_once(restorer, tmp_path):
    write(tmp_path / "in" / "a.png", 16, 16)
    (tmp_path / "in" / "broken.png").write_bytes(b"not an image")
    data.write_image(str(tmp_path / "in" / "dot.png"), np.zeros((1, 1, 3)))
    seen = []
    report = restore_files(
        restorer,
        [str(tmp_path / "in"), str(tmp_path / "in" / "a.png")],
        str(tmp_path / "out"),
        on_file=lambda index, total, job, outcome: seen.append((index, total, outcome)),
    )
    assert report.written == [str(tmp_path / "out" / "a.png")]
    failed = dict(report.failed)
    assert set(failed) == {str(tmp_path / "in" / "broken.png"), str(tmp_path / "in" / "dot.png")}
    assert failed[str(tmp_path / "in" / "dot.png")].startswith(
        "the model cannot process this 1x1 image: paddings must be less than the dimension size"
    )
    assert str(report) == f"restored 1 images into {tmp_path / 'out'}; 2 failed"
    assert [(index, total) for index, total, _ in seen] == [(0, 3), (1, 3), (2, 3)]
    assert seen[0][2] == "written" and os.listdir(tmp_path / "out") == ["a.png"]


def srgb_profile():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_rotated_jpeg_is_restored_upright_as_a_jpeg_with_its_exif_but_the_tag(identity, tmp_path):
    pixels = np.round(smooth_images(1, 24, 40)[0] * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # a phone's portrait photo: landscape pixels, "rotate 90 clockwise"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 10:00:00"  # DateTimeOriginal: keep it
    Image.fromarray(pixels).save(tmp_path / "portrait.jpg", quality=95, exif=exif)
    with Image.open(tmp_path / "portrait.jpg") as stored:
        upright = np.asarray(ImageOps.exif_transpose(stored)) / 255.0

    report = restore_files(identity, [str(tmp_path / "portrait.jpg")], str(tmp_path / "out"))

    assert report.written == [str(tmp_path / "out" / "portrait.jpg")]
    with Image.open(tmp_path / "out" / "portrait.jpg") as written:
        assert written.format == "JPEG" and written.size == (24, 40)  # upright: 24 wide
        assert written.getexif().get(0x0112) is None  # no tag to turn it again
        assert written.getexif().get_ifd(0x8769)[0x9003] == "2024:05:01 10:00:00"
        restored = np.asarray(written) / 255.0
    assert np.abs(restored - upright).mean() < 0.01  # the identity model, JPEG twice


@pytest.mark.parametrize("channels", [3, 1, 2, 4])  # RGB, gray, gray+alpha, RGBA
def test_16bit_png_keeps_full_precision_through_the_model(identity, tmp_path, channels):
    levels = np.random.default_rng(0).integers(0, 65536, (20, 28, channels)).astype(np.uint16)
    (tmp_path / "scan.png").write_bytes(tf.io.encode_png(levels).numpy())

    restore_files(identity, [str(tmp_path / "scan.png")], str(tmp_path / "out"))

    encoded = (tmp_path / "out" / "scan.png").read_bytes()
    assert encoded[24] == 16  # the IHDR bit depth
    written = tf.io.decode_png(encoded, dtype=tf.uint16).numpy()
    # Gray stays gray, the alpha channel is copied: every channel as it was.
    np.testing.assert_array_equal(written, levels)


@pytest.mark.parametrize("name", ["logo.png", "logo.webp"])
def test_the_alpha_channel_is_copied_to_the_output(identity, tmp_path, name):
    rgba = np.round(smooth_images(1, 16, 24)[0] * 255).astype(np.uint8)
    alpha = np.zeros((16, 24), np.uint8)
    alpha[4:12, 6:18] = 255  # opaque inside, transparent around
    Image.fromarray(np.dstack([rgba, alpha])).save(tmp_path / name, lossless=True)

    restore_files(identity, [str(tmp_path / name)], str(tmp_path / "out"))

    with Image.open(tmp_path / "out" / name) as written:
        assert written.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(written)[:, :, 3], alpha)


def test_gray_jpeg_stays_gray(identity, tmp_path):
    gray = np.round(smooth_images(1, 16, 24)[0, :, :, 0] * 255).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "bw.jpg", quality=95)

    restore_files(identity, [str(tmp_path / "bw.jpg")], str(tmp_path / "out"))

    with Image.open(tmp_path / "out" / "bw.jpg") as written:
        assert written.mode == "L"
        assert np.abs(np.asarray(written) / 255.0 - gray / 255.0).mean() < 0.01


@pytest.mark.parametrize("name,bit_depth", [("a.jpg", 8), ("a.png", 8), ("a.png", 16)])
def test_the_icc_profile_is_carried_to_the_output(identity, tmp_path, name, bit_depth):
    profile = srgb_profile()
    image = smooth_images(1, 16, 20)[0]
    data.write_image(tmp_path / name, image, bit_depth=bit_depth, icc_profile=profile)

    restore_files(identity, [str(tmp_path / name)], str(tmp_path / "out"))

    photo = data.read_photo(tmp_path / "out" / name)
    assert photo.icc_profile == profile and photo.bit_depth == bit_depth


def test_jpeg_quality_is_honoured(identity, tmp_path):
    write(tmp_path / "a.jpg", 32, 32)
    reference = tmp_path / "reference.jpg"
    for quality in (40, 95):
        out = tmp_path / f"q{quality}"
        restore_files(identity, [str(tmp_path / "a.jpg")], str(out), jpeg_quality=quality)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(reference, quality=quality)
        with Image.open(out / "a.jpg") as written, Image.open(reference) as pillows:
            assert written.quantization == pillows.quantization  # Pillow's tables for quality
    assert (tmp_path / "q40" / "a.jpg").stat().st_size < (tmp_path / "q95" / "a.jpg").stat().st_size


@pytest.mark.parametrize("extension", [".png", "webp", ".TIF"])
def test_output_extension_sets_every_output_format(identity, tmp_path, extension):
    write(tmp_path / "in" / "a.jpg", 16, 16)
    write(tmp_path / "in" / "b.png", 16, 20)
    out = tmp_path / "out"
    report = restore_files(identity, [str(tmp_path / "in")], str(out), output_extension=extension)
    suffix = "." + extension.lower().lstrip(".")
    assert report.written == [str(out / f"a{suffix}"), str(out / f"b{suffix}")]
    for name in report.written:
        with Image.open(name) as written:
            assert written.format == data.WRITE_FORMATS[suffix]


def test_a_file_in_a_format_we_cannot_read_fails_by_name(identity, tmp_path):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "scan.tif")
    write(tmp_path / "a.png", 16, 16)
    files = [str(tmp_path / "scan.tif"), str(tmp_path / "a.png")]
    report = restore_files(identity, files, str(tmp_path / "out"))
    assert report.written == [str(tmp_path / "out" / "a.png")]
    assert report.failed == [
        (
            files[0],
            f"{files[0]}: not a readable image (not a PNG, JPEG, WebP, BMP or GIF file)",
        )
    ]


def test_unknown_output_extension_and_bad_quality_are_refused_first(tmp_path):
    write(tmp_path / "a.png", 16, 16)
    missing_model = str(tmp_path / "no_model.keras")  # loading it would fail differently
    with pytest.raises(RestoreError, match=r"output extension '\.xyz' is not one of \.bmp, "):
        restore_files(
            missing_model, [str(tmp_path / "a.png")], str(tmp_path / "out"), output_extension=".xyz"
        )
    with pytest.raises(
        RestoreError, match="^JPEG quality must be a whole number from 1 to 100, got 0$"
    ):
        restore_files(
            missing_model, [str(tmp_path / "a.png")], str(tmp_path / "out"), jpeg_quality=0
        )
    assert not (tmp_path / "out").exists()
