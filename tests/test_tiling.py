"""Tiled inference: the grid, its blending weights, and tiles against the whole image."""

import keras
import numpy as np
import pytest

import tfrestore
from tfrestore import inference, tiling
from tfrestore.inference import Restorer


def images(batch, height, width, channels=3, seed=0):
    return np.random.default_rng(seed).random((batch, height, width, channels), np.float32)


def local_network(radius=3):
    """Three 3x3 convolutions (zero padding): each output pixel sees `radius` px around it."""
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(3, 3, padding="same"),
        ]
    )


class LocalInpainter(keras.Model):
    """An inpainting model of local operations: the holes get a convolution of the image and
    mask, the known pixels stay (as tfrestore's inpainting models compose)."""

    serving_inputs = {"image": 3, "mask": 1}

    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(3, 5, padding="same")

    def serving_outputs(self, image, mask):
        filled = self.conv(keras.ops.concatenate([image * (1 - mask), mask], axis=-1))
        return {"restored": image * (1 - mask) + filled * mask}


@pytest.mark.parametrize(
    "length, tile, overlap, multiple",
    [(1000, 512, 64, 1), (97, 32, 8, 1), (333, 64, 17, 1), (256, 64, 16, 4), (136, 64, 24, 8)],
)
def test_blending_weights_add_up_to_one_and_windows_cover_the_axis(length, tile, overlap, multiple):
    starts = tiling.tile_starts(length, tile, overlap, multiple)
    assert starts[0] == 0 and starts[-1] == length - tile
    assert all(start % multiple == 0 for start in starts)
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))
    weights = tiling.axis_weights(length, starts, tile, overlap)
    total = np.zeros(length)
    for start, weight in zip(starts, weights, strict=True):
        total[start : start + tile] += weight
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    # The outer quarter of the overlap at inner borders is not used, the image edges are.
    margin = overlap // 4
    assert weights[0][0] == 1 and weights[-1][-1] == 1
    assert np.all(weights[0][tile - margin :] == 0) and np.all(weights[-1][:margin] == 0)


def test_tile_starts_are_spread_evenly():
    assert tiling.tile_starts(1000, 512, 64) == [0, 244, 488]  # 3 = ceil((1000-64) / 448)
    assert tiling.tile_starts(400, 512, 64) == [0]


def test_windows_shrink_to_cover_the_image_evenly_with_as_few_as_the_tile_allows():
    grid = tiling.plan_tiles(3000, 4000, tile=512, overlap=32, multiple=4)
    # ceil((3000 - 32) / 480) = 7 rows, ceil((4000 - 32) / 480) = 9 columns of 512 px, shrunk
    # to ceil((3000 + 6 * 32) / 7) = 456 and ceil((4000 + 8 * 32) / 9) = 473 -> 476 (x4).
    assert (len(grid.rows), len(grid.cols)) == (7, 9)
    assert grid.tile_size == (456, 476)
    assert grid.rows[-1] + 456 == 3000 and grid.cols[-1] + 476 == 4000


def test_a_grid_of_odd_size_adds_up_to_one_in_two_dimensions():
    grid = tiling.plan_tiles(45, 71, tile=20, overlap=8, multiple=4)
    assert (grid.height, grid.width) == (48, 72) and grid.tile_size == (20, 20)
    total = np.zeros((grid.height, grid.width, 1))
    for y, x, i, j in grid.windows:
        total[y : y + 20, x : x + 20] += grid.weight(i, j)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_tiles_give_the_whole_image_result_for_a_local_network():
    restorer = Restorer.from_model(local_network())
    x = images(2, 45, 71)  # odd sizes; overlap 16 leaves a 4 px margin > the 3 px radius
    whole = restorer(x, tile=0)["restored"]
    tiled = restorer(x, tile=24, overlap=16)["restored"]
    assert tiled.shape == x.shape
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    # Too small a margin for the receptive field: the tiles' borders show.
    assert np.abs(restorer(x, tile=24, overlap=4)["restored"] - whole).max() > 1e-3


def test_an_image_smaller_than_a_tile_runs_whole():
    restorer = Restorer.from_model(local_network())
    x = images(1, 30, 17)
    calls = []
    tiled = restorer(x, tile=64, on_tile=lambda *args: calls.append(args))["restored"]
    np.testing.assert_array_equal(tiled, restorer(x, tile=0)["restored"])
    assert calls == []  # not tiled at all


def test_tile_none_tiles_only_above_the_pixel_budget(monkeypatch):
    restorer = Restorer.from_model(local_network())
    x = images(1, 40, 50)
    whole = restorer(x, tile=0)["restored"]
    calls = []
    np.testing.assert_array_equal(restorer(x)["restored"], whole)  # 2000 px: under budget
    monkeypatch.setattr(tiling, "AUTO_TILE_PIXELS", 1999)
    monkeypatch.setattr(tiling, "DEFAULT_TILE", 24)
    auto = restorer(x, on_tile=lambda done, total: calls.append((done, total)))["restored"]
    np.testing.assert_array_equal(auto, restorer(x, tile=24, overlap=6)["restored"])
    assert calls[-1] == (6, 6)  # 2 x 3 windows of 24 px, overlap min(64, 24 // 4)
    np.testing.assert_array_equal(restorer(x, tile=0)["restored"], whole)  # 0: never


@pytest.mark.slow
def test_a_model_s_own_window_is_its_default_and_exports_record_it():
    from tfrestore.models import limits

    enlighten = tfrestore.models.EnlightenGAN(filters=4, vgg_weights=None)
    recorded = limits.from_json(limits.to_json(limits.model_limits(enlighten)))
    assert recorded == {"model": "EnlightenGAN", "multiple": [16, 16], "tile": 768}
    enlighten.align_corners = False  # translation-invariant upsampling: the library's window
    assert "tile" not in limits.model_limits(enlighten)
    with pytest.raises(ValueError, match="tile must be a whole number of pixels >= 1, got 0"):
        limits.validated({"model": "M", "tile": 0}, "m.tflite metadata")

    restorer = Restorer.from_model(local_network())
    restorer.limits = {"model": "Sequential", "tile": 24}
    x = images(1, 40, 50)  # 2000 px: above 24 x 24, tiled in 24 px windows
    calls = []
    auto = restorer(x, on_tile=lambda done, total: calls.append(total))["restored"]
    np.testing.assert_array_equal(auto, restorer(x, tile=24, overlap=6)["restored"])
    assert calls[-1] == 6  # one window per call: batches stay within 24 x 24 pixels


def test_masks_across_tile_borders_and_windows_without_holes_not_run():
    keras.utils.set_random_seed(2)
    restorer = Restorer.from_model(LocalInpainter())
    x = images(1, 60, 90)
    mask = np.zeros([1, 60, 90, 1], np.float32)
    mask[:, 20:35, 25:50] = 1  # across the borders of the windows at x = 0, 24 and 48
    whole = restorer(x, mask, tile=0)["restored"]
    tiled = restorer(x, mask, tile=32, overlap=16)["restored"]
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    known = mask[..., 0] == 0  # the input, up to the blend's rounding (weights add up to 1)
    np.testing.assert_allclose(tiled[known], x[known], atol=1e-6)

    ran = []

    def function(arrays):
        ran.append(len(arrays["image"]))
        return restorer(**arrays, tile=0)

    def passthrough(window):
        return None if window["mask"].any() else {"restored": window["image"]}

    result = tiling.tiled_apply(
        function, {"image": x, "mask": mask}, 32, 16, passthrough=passthrough
    )
    np.testing.assert_array_equal(result["restored"], tiled)
    grid = tiling.plan_tiles(60, 90, 32, 16)
    with_holes = sum(mask[0, y : y + 32, x0 : x0 + 32].any() for y, x0, _, _ in grid.windows)
    assert sum(ran) == with_holes < len(grid)


def test_instance_norm_tiles_with_the_whole_image_statistics_give_its_result(monkeypatch):
    model = tfrestore.models.DeblurGAN(filters=4, num_blocks=1, vgg_weights=None)
    restorer = Restorer.from_model(model)
    assert restorer.has_statistics and restorer.limits["multiple"] == [8, 8]
    x = images(2, 150, 190)
    whole = restorer(x, tile=0)["restored"]
    # Statistics from the full-size image; overlap 96 leaves a 24 px margin, DeblurGAN's
    # receptive field radius at 1 residual block (3 + 1 + 2 + 8 + 4 + 2 + 3 = 23 px).
    monkeypatch.setattr(inference, "STATISTICS_PIXELS", 10**9)
    tiled = restorer(x, tile=128, overlap=96)["restored"]
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    # naive tiles: each normalizes with its own statistics
    monkeypatch.setattr(restorer, "has_statistics", False)
    assert np.abs(restorer(x, tile=128, overlap=96)["restored"] - whole).max() > 1e-2


def test_recorded_statistics_are_each_instance_norm_mean_and_variance():
    model = tfrestore.models.DeblurGAN(filters=4, num_blocks=1, vgg_weights=None)
    functions = inference.statistics_functions(model)
    x = images(2, 32, 36)
    statistics = functions[inference.STATISTICS_KEY](x)["statistics"].numpy()
    # filters 4: norms of 4, 8, 16 (down), 16 + 16 (block), 8, 4 (up) channels: mean and var.
    assert statistics.shape == (2, 2 * (4 + 8 + 16 + 16 + 16 + 8 + 4))
    assert np.all(statistics[:, 4:8] > 0)  # the first norm's variances
    serve = functions[inference.WITH_STATISTICS_KEY]
    np.testing.assert_allclose(
        serve(x, statistics)["restored"], model.predict(x, verbose=0), atol=1e-5
    )
    assert inference.statistics_functions(local_network()) == {}


@pytest.mark.parametrize(
    "tile, overlap, message",
    [
        (-1, None, "tile must be a whole number of pixels >= 0, got -1"),
        (32, 32, r"overlap \(32\) must be smaller than the tile \(32\)"),
        (2.5, None, "tile must be a whole number of pixels >= 0, got 2.5"),
        (None, 600, r"overlap \(600\) must be smaller than the tile \(448\)"),  # even when small
    ],
)
def test_bad_tile_or_overlap_is_refused_naming_it(tile, overlap, message):
    restorer = Restorer.from_model(local_network())
    with pytest.raises(ValueError, match=message):
        restorer(images(1, 40, 40), tile=tile, overlap=overlap)


@pytest.mark.slow
def test_exports_tile_with_image_wide_statistics_like_the_keras_model(
    deblur_gan_forms, monkeypatch
):
    model, folder, _ = deblur_gan_forms
    x = images(1, 150, 190)
    whole = Restorer.from_model(model)(x, tile=0)["restored"]
    monkeypatch.setattr(inference, "STATISTICS_PIXELS", 10**9)
    for form in ("saved_model", "model.tflite"):
        restorer = inference.load_restorer(folder / form)
        assert restorer.has_statistics
        np.testing.assert_allclose(restorer(x, tile=128, overlap=96)["restored"], whole, atol=1e-5)
        if form.endswith(".tflite"):  # every pass on the restorer's one compiled model
            assert set(restorer.litert.shapes) == {
                inference.STATISTICS_KEY,
                inference.WITH_STATISTICS_KEY,
            }


def test_restore_command_tiles_and_shows_tile_progress(tmp_path, capsys):
    from tfrestore import cli, data

    model = tfrestore.models.DeblurGAN(filters=4, num_blocks=1, vgg_weights=None)
    model.save(tmp_path / "model.keras")
    data.write_image(str(tmp_path / "x.png"), images(1, 70, 90)[0])
    base = ["restore", str(tmp_path / "model.keras"), str(tmp_path / "x.png")]
    base += ["-o", str(tmp_path / "out")]
    assert cli.main([*base, "--tile", "32", "--overlap", "8"]) == 0
    tiles = len(tiling.plan_tiles(70, 90, 32, 8, multiple=8))
    assert f"x.png: tiles {tiles}/{tiles}" in capsys.readouterr().out  # plain lines: no TTY
    image = data.read_image(str(tmp_path / "x.png"))
    expected = Restorer.from_model(model)(image[None], tile=32, overlap=8)["restored"][0]
    restored = data.read_image(str(tmp_path / "out" / "x.png"))
    np.testing.assert_allclose(restored, expected, atol=0.5 / 255 + 1e-6)

    assert cli.main([*base, "--tile", "32", "--overlap", "32"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("error: overlap (32) must be smaller than the tile (32)")
    )
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*base, "--tile", "-1"])
    assert exit_info.value.code == 2
    assert "expected a whole number of pixels >= 0, got '-1'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.exhaustive
def test_a_fixed_size_tflite_tiles_larger_images_in_windows_of_its_size(tmp_path):
    from tfrestore import export

    model = tfrestore.models.DeblurGAN(filters=4, num_blocks=1, vgg_weights=None)
    model(images(1, 32, 32))
    export.export_tflite(model, tmp_path / "fixed.tflite", input_size=(48, 40), check=False)
    restorer = inference.load_restorer(tmp_path / "fixed.tflite")
    x = images(2, 90, 101)
    counted = []
    tiled = restorer(x, on_tile=lambda done, total: counted.append(total))["restored"]
    # What the Keras model gives in the same windows of exactly 48 x 40 (a fixed-size file has
    # no statistics signatures: each window normalizes with its own).
    keras_restorer = Restorer.from_model(model)
    keras_restorer.has_statistics = False
    keras_restorer.fixed_size = (48, 40)  # windows of exactly that size
    expected = keras_restorer._run_tiled({"image": x}, (48, 40), 10)["restored"]
    grid = tiling.plan_tiles(90, 101, (48, 40), 10, multiple=4, exact=True)
    assert grid.tile_size == (48, 40) and counted[-1] == 2 * len(grid) == 2 * 3 * 4
    np.testing.assert_allclose(tiled, expected, atol=1e-4)
    # An image of its size runs as one window, several per batch.
    one = restorer(x[:, :48, :40])["restored"]
    np.testing.assert_allclose(one, model.predict(x[:, :48, :40], verbose=0), atol=1e-4)
    with pytest.raises(ValueError, match="fixed input size 48x40: it restores images of at le"):
        restorer(x[:, :47])
    with pytest.raises(ValueError, match="fixed input size 48x40: tile must be None"):
        restorer(x, tile=64)


@pytest.mark.slow
def test_a_trained_deblur_gan_tiles_with_downscaled_statistics_like_the_whole_image():
    from tfrestore import data
    from tfrestore.demo import deblur_gan as demo
    from tfrestore.demo.common import split_photos
    from tfrestore.metrics.image_quality import psnr

    keras.utils.set_random_seed(3)
    # The demo's recipe, narrower and from a random start (not the identity).
    model = tfrestore.models.get(
        "deblur_gan", vgg_weights=None, **{**demo.MODEL_KWARGS, "filters": 8, "num_blocks": 2}
    )
    model.compile(learning_rate=demo.LEARNING_RATE)
    photos, train_photos = split_photos()
    dataset = data.motion_blur_dataset(
        train_photos, crop_size=64, batch_size=2, seed=0, **demo.BLUR
    )
    photo = photos["astronaut"][None, 100:400, 100:400]  # held out
    restorer = Restorer.from_model(model)
    before = float(psnr(photo, restorer(photo)["restored"])[0])
    model.fit(dataset, epochs=1, steps_per_epoch=40, verbose=0)
    whole = restorer(photo, tile=0)["restored"]
    # Measured: 17.0 dB before, 39.2 after (it learned to keep a sharp photo).
    assert float(psnr(photo, whole)[0]) > before + 10
    # 128 px windows; statistics from the photo area-downscaled to 128 x 128.
    tiled = restorer(photo, tile=128, overlap=32)["restored"]
    seams = float(psnr(whole, tiled)[0])
    restorer.has_statistics = False  # naive windows, each with its own statistics: lower
    naive = float(psnr(whole, restorer(photo, tile=128, overlap=32)["restored"])[0])
    assert seams >= 35 and naive < seams  # measured: 48.8 and 41.9 dB
