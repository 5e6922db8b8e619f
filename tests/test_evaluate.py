"""tfrestore.evaluate: mean scores on paired, inpainting and low-light folders, and bad data."""

import keras
import numpy as np
import pytest
from model_harness import smooth_images

from tfrestore import data, layers, metrics, models
from tfrestore.evaluate import EvaluationError, evaluate
from tfrestore.inference import load_restorer


@pytest.fixture(scope="module")
def model():
    return models.get("deblur_gan", filters=4, num_blocks=1, vgg_weights=None)


def write_pairs(folder, sizes, degraded="blurred", target="sharp"):
    """Smooth images in folder/target/ and darker copies in folder/degraded/, as read back."""
    for index, (height, width) in enumerate(sizes):
        image = smooth_images(1, height, width, seed=index)[0]
        data.write_image(str(folder / target / f"{index}.png"), image)
        data.write_image(str(folder / degraded / f"{index}.png"), image * 0.5)
    return [
        [data.read_image(str(folder / name / f"{index}.png")) for index in range(len(sizes))]
        for name in (degraded, target)
    ]


def mean_scores(images, targets=None, no_reference=False):
    """{metric: mean} over single images (of different sizes), as `evaluate` averages them."""
    per_image = [
        metrics.image_scores(image[None], None if target is None else target[None], no_reference)
        for image, target in zip(images, targets or [None] * len(images), strict=True)
    ]
    return {name: float(np.mean([scores[name] for scores in per_image])) for name in per_image[0]}


def assert_scores(actual, expected, tolerance=1e-4):
    assert sorted(actual) == sorted(expected)
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, rel=tolerance, abs=tolerance), name


@pytest.mark.slow
def test_paired_scores_of_input_and_restored_images(model, tmp_path):
    degraded, target = write_pairs(tmp_path, [(32, 40), (24, 24)])
    restored = [model.predict(image[None], verbose=0)[0] for image in degraded]

    report = evaluate(model, str(tmp_path))
    assert (report.kind, report.count) == ("paired", 2)
    assert report.folders == (str(tmp_path / "blurred"), str(tmp_path / "sharp"))
    assert sorted(report.scores) == ["input", "restored"]
    assert_scores(report.scores["input"], mean_scores(degraded, target))
    assert_scores(report.scores["restored"], mean_scores(restored, target))
    assert report.scores["input"]["psnr"] == pytest.approx(
        np.mean([metrics.psnr(t[None], d[None]) for d, t in zip(degraded, target)]), abs=1e-4
    )
    psnr, ssim = (report.scores["input"][name] for name in ("psnr", "ssim"))
    assert str(report).splitlines()[:2] == [
        f"2 pairs from {tmp_path}",
        f"input    PSNR {psnr:.2f} dB  SSIM {ssim:.4f}",
    ]

    # The same scores from a .keras file or an opened restorer.
    model_file = str(tmp_path / "model.keras")
    model.save(model_file)
    for form in (model_file, load_restorer(model_file)):
        scores = evaluate(form, tmp_path).scores
        for image in ("input", "restored"):
            assert_scores(scores[image], report.scores[image], tolerance=1e-6)


def test_paired_layouts_and_errors_name_the_files(model, tmp_path):
    write_pairs(tmp_path / "ok", [(16, 16)], degraded="degraded", target="target")
    assert evaluate(model, tmp_path / "ok").count == 1

    with pytest.raises(EvaluationError, match=f"data folder not found: {tmp_path / 'nope'}$"):
        evaluate(str(tmp_path / "missing.keras"), tmp_path / "nope")  # before opening the model
    with pytest.raises(FileNotFoundError, match="missing.keras: no such file"):
        evaluate(str(tmp_path / "missing.keras"), tmp_path / "ok")
    with pytest.raises(EvaluationError, match="has no paired sub-folders; expected one of: "):
        evaluate(model, tmp_path)

    sizes = tmp_path / "sizes"
    data.write_image(str(sizes / "blurred" / "a.png"), smooth_images(1, 32, 40)[0])
    data.write_image(str(sizes / "sharp" / "a.png"), smooth_images(1, 32, 48)[0])
    blurred, sharp = sizes / "blurred" / "a.png", sizes / "sharp" / "a.png"
    with pytest.raises(EvaluationError) as error:
        evaluate(model, sizes)
    assert str(error.value) == f"{blurred} is 40x32 but {sharp} is 48x32 (width x height)"

    data.write_image(str(sizes / "blurred" / "b.png"), smooth_images(1, 8, 8)[0])
    with pytest.raises(EvaluationError, match=f"only in {sizes / 'blurred'}: b.png"):
        evaluate(model, sizes)

    broken = tmp_path / "broken"
    write_pairs(broken, [(16, 16)])
    (broken / "sharp" / "0.png").write_bytes(b"not an image")
    with pytest.raises(EvaluationError, match=str(broken / "sharp" / "0.png")):
        evaluate(model, broken)


# -- inpainting models: images/ + masks/, scores inside the holes -------------------------------


@pytest.fixture(scope="module")
def inpainting_model():
    return models.get("context_encoder", filters=4, bottleneck_channels=8)


def write_inpainting_data(folder, count, size, hole):
    """`count` images in folder/images/ with the rectangle `hole` = (top, left, h, w) missing in
    folder/masks/; returns (images, masks) as read back, [count, H, W, 3] and [count, H, W, 1]."""
    height, width = size
    top, left, hole_height, hole_width = hole
    mask = np.zeros((height, width), "float32")
    mask[top : top + hole_height, left : left + hole_width] = 1.0
    for index in range(count):
        image = smooth_images(1, height, width, seed=index)[0]
        data.write_image(str(folder / "images" / f"p{index}.png"), image)
        data.write_image(str(folder / "masks" / f"p{index}.png"), mask)
    images = np.stack([data.read_image(str(folder / "images" / f"p{i}.png")) for i in range(count)])
    return images, np.broadcast_to(mask[None, :, :, None], (count, height, width, 1))


def test_inpainting_scores_inside_the_holes(inpainting_model, tmp_path):
    target, mask = write_inpainting_data(tmp_path, 2, (128, 128), (30, 40, 50, 40))
    filled = layers.fill_holes(target, mask)
    restored = inpainting_model.predict((filled, mask), verbose=0)

    report = evaluate(inpainting_model, tmp_path)
    assert (report.kind, report.count) == ("inpainting", 2)
    assert report.hole_fraction == pytest.approx(50 * 40 / 128**2)
    for image, batch in (("input", filled), ("restored", restored)):
        psnr, l1 = metrics.hole_scores(target, batch, mask)
        expected = {"psnr": float(np.mean(psnr)), "l1": float(np.mean(l1))}
        assert_scores(report.scores[image], expected)
    assert report.scores["input"]["psnr"] != pytest.approx(report.scores["restored"]["psnr"])
    means = report.scores["input"]
    assert str(report).splitlines() == [
        f"2 images with masks from {tmp_path} (holes: 12.2% of the pixels); inside the holes:",
        f"input    PSNR {means['psnr']:.2f} dB  L1 {means['l1']:.4f}  (mean-filled)",
        f"restored PSNR {report.scores['restored']['psnr']:.2f} dB  "
        f"L1 {report.scores['restored']['l1']:.4f}",
    ]


def test_inpainting_errors_name_the_image(inpainting_model, tmp_path):
    with pytest.raises(EvaluationError, match="has no image and mask sub-folders; expected one of"):
        evaluate(inpainting_model, tmp_path)
    write_inpainting_data(tmp_path, 2, (96, 96), (30, 30, 20, 20))
    data.write_image(str(tmp_path / "masks" / "p1.png"), np.zeros((96, 96), "float32"))
    with pytest.raises(EvaluationError, match=r"p1.png: mask .*p1.png marks no pixel as missing"):
        evaluate(inpainting_model, tmp_path)
    (tmp_path / "masks" / "p1.png").unlink()
    with pytest.raises(EvaluationError, match=r"images/p1.png: no mask for it in"):
        evaluate(inpainting_model, tmp_path)


def test_medfe_names_an_image_too_small_for_it(tmp_path):
    model = models.get("medfe", filters=4, dilation=1, vgg_weights=None)
    write_inpainting_data(tmp_path, 1, (60, 150), (10, 40, 20, 50))
    with pytest.raises(
        EvaluationError, match="p0.png: MEDFE takes images of at least 65x65 pixels"
    ):
        evaluate(model, tmp_path)


# -- low-light models: low/ + high/ pairs, or a plain folder of low-light images ---------------


@pytest.fixture(scope="module")
def low_light_model_file(tmp_path_factory):
    """A .keras file: the low-light evaluation is chosen from the class of the loaded model."""
    path = tmp_path_factory.mktemp("eg") / "eg.keras"
    models.get("enlighten_gan", filters=4, vgg_weights=None).save(str(path))
    return str(path)


def write_low_light(folder, sizes):
    """Darkened smooth images in folder/low/ and the originals in folder/high/, as read back."""
    for index, (height, width) in enumerate(sizes):
        image = smooth_images(1, height, width, seed=index)[0]
        data.write_image(str(folder / "high" / f"{index}.png"), image)
        data.write_image(
            str(folder / "low" / f"{index}.png"), data.synthetic_low_light(image, index)
        )
    return [
        [data.read_image(str(folder / name / f"{index}.png")) for index in range(len(sizes))]
        for name in ("low", "high")
    ]


@pytest.mark.slow
def test_low_light_pairs_and_plain_folder(low_light_model_file, tmp_path):
    low, high = write_low_light(tmp_path, [(32, 40), (48, 32)])
    model = keras.models.load_model(low_light_model_file)
    enhanced = [model.predict(image[None], verbose=0)[0] for image in low]

    report = evaluate(low_light_model_file, tmp_path)
    assert (report.kind, report.count) == ("low_light", 2)
    assert_scores(report.scores["input"], mean_scores(low, high, no_reference=True))
    assert_scores(report.scores["restored"], mean_scores(enhanced, high, no_reference=True))
    assert_scores(report.scores["target"], mean_scores(high, no_reference=True))
    lines = str(report).splitlines()
    assert lines[0] == f"2 pairs from {tmp_path} (low/ vs high/)"
    assert [line.split()[0] for line in lines[1:4]] == ["input", "enhanced", "high"]
    assert lines[-1].startswith("brightness: mean BT.601 luma in [0, 1]")

    report = evaluate(low_light_model_file, tmp_path / "low")
    assert report.folders is None and sorted(report.scores) == ["input", "restored"]
    assert_scores(report.scores["input"], mean_scores(low, no_reference=True))
    assert_scores(report.scores["restored"], mean_scores(enhanced, no_reference=True))
    assert str(report).splitlines()[0] == (
        f"2 low-light images from {tmp_path / 'low'} (no targets: no-reference scores)"
    )
    assert "PSNR" not in str(report)


@pytest.mark.slow
def test_low_light_errors_name_the_folder(low_light_model_file, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationError, match=f"no images found in {tmp_path / 'empty'}; "):
        evaluate(low_light_model_file, tmp_path / "empty")
    write_low_light(tmp_path / "lol", [(32, 32), (32, 32)])
    (tmp_path / "lol" / "high" / "1.png").unlink()
    with pytest.raises(EvaluationError, match=f"only in {tmp_path / 'lol' / 'low'}: 1.png"):
        evaluate(low_light_model_file, tmp_path / "lol")
    (tmp_path / "lol" / "high" / "0.png").unlink()
    (tmp_path / "lol" / "high").rmdir()
    with pytest.raises(EvaluationError, match=f"{tmp_path / 'lol'} has low/ but no high/"):
        evaluate(low_light_model_file, tmp_path / "lol")
