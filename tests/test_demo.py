"""The demo's evaluation and report helpers on tiny inputs (the 5-minute training is not run)."""

import numpy as np
import pytest
from model_harness import smooth_images

from tfrestore import cli, data, demo, layers, metrics
from tfrestore.demo import common, context_encoder


def hole_mask(batch, size, top, side):
    mask = np.zeros((batch, size, size, 1), "float32")
    mask[:, top : top + side, top : top + side] = 1.0
    return mask


def test_hole_scores_ignore_pixels_outside_the_hole():
    target = np.zeros((2, 8, 8, 3), "float32")
    mask = hole_mask(2, 8, 2, 4)
    images = target + 0.5 * (1 - mask)  # wrong everywhere outside the hole...
    images[0] += 0.1 * mask[0]  # ...and off by 0.1 inside it (example 0) or exact (example 1)
    psnr, l1 = metrics.hole_scores(target, images, mask)
    np.testing.assert_allclose(psnr, [20.0, np.inf])
    np.testing.assert_allclose(l1, [0.1, 0.0], atol=1e-7)
    with pytest.raises(ValueError, match="at least one hole pixel"):
        metrics.hole_scores(target, images, np.zeros_like(mask))


def test_table_matches_direct_computation():
    target = smooth_images(3, 16, 16)
    mask = hole_mask(3, 16, 4, 6)
    results = {
        "mean-filled input": layers.fill_holes(target, mask),
        "model": smooth_images(3, 16, 16, 1),
    }
    lines = context_encoder.inpainting_table(target, mask, results)
    assert lines[0].startswith("| held-out, inside the hole | PSNR (dB) | L1 |")
    hole = mask[..., 0] == 1
    for line, images in zip(lines[2:], results.values(), strict=True):
        difference = (images - target)[hole]  # [3 * 36 hole pixels, 3 channels]
        per_image = difference.reshape(3, -1)
        psnr = np.mean(10 * np.log10(1 / np.mean(per_image**2, axis=1)))
        l1 = np.mean(np.abs(per_image))
        _, name, psnr_cell, l1_cell, _ = line.split("|")
        assert float(psnr_cell) == pytest.approx(psnr, abs=0.006)
        assert float(l1_cell) == pytest.approx(l1, abs=6e-5)
    assert [line.split("|")[1].strip() for line in lines[2:]] == list(results)


def test_biharmonic_keeps_known_pixels_and_fills_a_ramp():
    ramp = np.linspace(0.1, 0.9, 24, dtype="float32")
    target = np.broadcast_to(ramp[None, None, :, None], (1, 24, 24, 3)).copy()
    mask = hole_mask(1, 24, 8, 8)
    filled = context_encoder.biharmonic_inpaint(layers.fill_holes(target, mask), mask)
    np.testing.assert_array_equal(filled[mask[..., 0] == 0], target[mask[..., 0] == 0])
    np.testing.assert_allclose(filled, target, atol=1e-3)  # biharmonic is exact on linear ramps


def test_held_out_crops_and_resize():
    photo = common.resize_shorter_side(np.random.default_rng(0).random((300, 450, 3)), 192)
    assert photo.shape == (192, 288, 3) and 0 <= photo.min() and photo.max() <= 1
    crops = context_encoder.held_out_crops([photo, photo.transpose(1, 0, 2)], size=128, count=3)
    assert crops.shape == (6, 128, 128, 3)
    np.testing.assert_array_equal(crops[0], photo[32:160, :128])  # left, vertically centred
    np.testing.assert_array_equal(crops[2], photo[32:160, -128:])  # right
    np.testing.assert_array_equal(crops[5], photo.transpose(1, 0, 2)[-128:, 32:160])  # bottom


def test_demo_outputs_and_unknown_model(capsys):
    assert demo.default_output("deblur_gan") == "outputs/demo"
    assert demo.default_output("context_encoder") == "outputs/demo/context_encoder"
    assert cli.main(["demo", "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no demo for 'nope'" in err and "context_encoder" in err and "Traceback" not in err


# -- EnlightenGAN demo -------------------------------------------------------------------------


def test_enlighten_gan_output_folder():
    assert demo.default_output("enlighten_gan") == "outputs/demo/enlighten_gan"


def test_low_light_table_matches_known_values():
    from tfrestore.demo import enlighten_gan

    target = np.full((2, 16, 16, 3), 0.5, "float32")
    target[1, ..., 0] = 0.9  # a reddish image: rg = 0.4 * 255, yb = 0.2 * 255 everywhere
    results = {"dark": target - 0.1, "enhanced": target}
    lines = enlighten_gan.low_light_table(target, results)
    assert lines[0].split("|")[2:-1] == [
        " PSNR (dB) ",
        " SSIM ",
        " mean brightness ",
        " colorfulness ",
    ]
    dark = [cell.strip() for cell in lines[2].split("|")[1:-1]]
    assert dark[:2] == ["dark", "20.00"]  # MSE 0.01
    assert float(dark[2]) == pytest.approx(np.mean(metrics.ssim(target, target - 0.1)), abs=6e-5)
    brightness = 0.5 - 0.1 + 0.299 * 0.2  # mean of the gray and the reddish image's luma
    assert float(dark[3]) == pytest.approx(brightness, abs=6e-5)
    colorfulness = 0.3 * np.hypot(0.4 * 255, 0.2 * 255) / 2  # flat images: only the means count
    assert float(dark[4]) == pytest.approx(colorfulness, abs=0.006)
    original = [cell.strip() for cell in lines[4].split("|")[1:-1]]
    assert original[:3] == ["original", "-", "-"] and float(original[3]) == pytest.approx(
        brightness + 0.1, abs=6e-5
    )
    scores = enlighten_gan.low_light_scores(results["enhanced"], target)
    assert scores["psnr"] == np.inf and scores["ssim"] == pytest.approx(1.0)


def test_held_out_pairs_are_seeded_darkened_centre_squares():
    from tfrestore.demo import enlighten_gan

    photos = [smooth_images(1, 40, 60, seed)[0] for seed in (0, 1)]
    dark, original = enlighten_gan.held_out_pairs(photos, side=20, seed=3)
    assert dark.shape == original.shape == (2, 20, 20, 3) and dark.dtype == np.float32
    resized = common.resize_shorter_side(photos[1], 20)  # 20 x 30: the middle 20 columns
    np.testing.assert_allclose(original[1], resized[:, 5:25], atol=1e-6)
    rng = np.random.default_rng(3)
    expected = [data.synthetic_low_light(image, rng=rng) for image in original]
    np.testing.assert_array_equal(dark, np.stack(expected))
    np.testing.assert_array_equal(dark, enlighten_gan.held_out_pairs(photos, 20, 3)[0])
    assert np.mean(dark) < 0.3 * np.mean(original)


def test_unpaired_low_light_batches_are_dark_and_unrelated():
    from tfrestore.demo import enlighten_gan

    # three flat photos, told apart by their brightest channel (which darkening keeps)
    photos = [np.full((48, 48, 3), 0.2, "float32") for _ in range(3)]
    for channel, photo in enumerate(photos):
        photo[..., channel] = 0.9
    dataset = enlighten_gan.unpaired_low_light_dataset(photos, crop_size=32, batch_size=2, seed=0)
    pairs = []
    for low, normal in dataset.take(8):
        assert low.shape == normal.shape == (2, 32, 32, 3)
        assert float(np.max(np.mean(low, axis=(1, 2)))) <= 0.3 * 0.9**1.5 + 0.01
        np.testing.assert_allclose(np.unique(normal), [0.2, 0.9])  # not darkened
        for dark, bright in zip(low.numpy(), normal.numpy(), strict=True):
            pairs.append((np.argmax(dark.mean(axis=(0, 1))), np.argmax(bright.mean(axis=(0, 1)))))
    assert {low for low, _ in pairs} == {normal for _, normal in pairs} == {0, 1, 2}
    assert any(low != normal for low, normal in pairs)  # the two sides are drawn apart


def test_linear_decay_over_time_scales_every_optimizer():
    import time

    import keras

    optimizers = [keras.optimizers.Adam(2e-4), keras.optimizers.Adam(1e-3)]
    decay = common.LinearDecayOverTime(100.0, optimizers)
    assert [decay.scale(t) for t in (0, 50, 75, 100, 150)] == [1.0, 1.0, 0.5, 0.0, 0.0]
    late = common.LinearDecayOverTime(100.0, optimizers, constant_fraction=0.8)
    assert late.scale(90.0) == pytest.approx(0.5)
    decay.start = time.monotonic() - 75.0  # three quarters of the budget spent
    decay.on_train_batch_begin(0)
    rates = [float(optimizer.learning_rate) for optimizer in optimizers]
    np.testing.assert_allclose(rates, [1e-4, 5e-4], rtol=0.02)


def test_medfe_demo_masks_and_structures():
    from tfrestore.demo import medfe

    masks = medfe.held_out_masks(3, size=64)
    assert masks.shape == (3, 64, 64, 1) and set(np.unique(masks)) <= {0.0, 1.0}
    np.testing.assert_array_equal(masks, medfe.held_out_masks(3, size=64))  # fixed seed
    assert not np.array_equal(masks[0], masks[1]) and 0.0 < masks.mean() < 0.6
    photo = smooth_images(1, 40, 60)[0]
    photos, structures = medfe.photos_and_structures([photo], sides=(32, 40, 48))
    assert [p.shape for p in photos] == [(32, 48, 3), (40, 60, 3), (48, 32, 3), (60, 40, 3)]
    np.testing.assert_allclose(structures[1], data.rtv_smooth(photos[1]), atol=1e-6)
    np.testing.assert_array_equal(structures[3], structures[1].transpose(1, 0, 2))


def test_attentive_gan_held_out_pairs_are_fixed_by_the_seed():
    from tfrestore.demo import attentive_gan

    photos, _ = common.split_photos()
    rainy, clean, mask = attentive_gan.held_out_pairs(photos, size=128, count=2, seed=5)
    assert rainy.shape == clean.shape == (2 * len(common.HELD_OUT), 128, 128, 3)
    assert mask.shape == (2 * len(common.HELD_OUT), 128, 128, 1)
    crops = context_encoder.held_out_crops([photos[n] for n in common.HELD_OUT], 128, 2)
    np.testing.assert_array_equal(clean, crops)
    again, _, mask_again = attentive_gan.held_out_pairs(photos, size=128, count=2, seed=5)
    np.testing.assert_array_equal(rainy, again)
    np.testing.assert_array_equal(mask, mask_again)
    other, _, _ = attentive_gan.held_out_pairs(photos, size=128, count=2, seed=6)
    assert np.abs(other - rainy).max() > 0.1
    # Drops change the pixels they cover (and none far outside); every crop has some.
    assert 0.02 < mask.mean() < 0.6 and mask.reshape(len(mask), -1).any(axis=1).all()
    changed = np.abs(rainy - clean).max(axis=-1) > 1 / 255
    assert changed[mask[..., 0] > 0].mean() > 0.9


def test_attentive_gan_drop_count_scales_with_area():
    from tfrestore.demo import attentive_gan

    size = 2 * attentive_gan.CROP_SIZE
    drops = attentive_gan.drops_for_size(size, {"count": (5, 15), "radius": (6, 20)})
    assert drops == {"count": (20, 60), "radius": (6, 20)}
    assert attentive_gan.drops_for_size(size, {})["count"] == (40, 160)  # the default (10, 40)


def test_attentive_gan_grid_rows_and_columns():
    from tfrestore.demo.attentive_gan import grid

    images = [np.full((2, 4, 6, 3), value, "float32") for value in (0.1, 0.3, 0.4)]
    attention = np.full((2, 4, 6, 1), 0.2, "float32")
    attention[1] = 1.5  # clipped to 1
    picture = grid(images[0], attention, images[1], images[2])
    assert picture.shape == (8, 24, 3)
    np.testing.assert_allclose(picture[:4, :, 0][0, ::6], [0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(picture[4:, 6:12], 1.0)  # second row's map, gray as RGB
    np.testing.assert_allclose(picture[4:, 18:], 0.4)  # clean, last column


def test_attentive_gan_demo_output():
    assert demo.default_output("attentive_gan") == "outputs/demo/attentive_gan"
    assert "attentive_gan" in demo.DEMOS


# -- DeblurGAN demo ----------------------------------------------------------------------------


def test_deblur_gan_identity_start_returns_its_input_exactly():
    from tfrestore.models import DeblurGANGenerator

    generator = DeblurGANGenerator(filters=4, num_blocks=2)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 20, 28, 3)).astype("float32")
    images[0, 0, 0] = [-1.0, 1.0, 0.0]  # the clamp's bounds pass too
    assert np.abs(generator(images).numpy() - images).max() > 0.01  # random start
    generator.start_as_identity()
    np.testing.assert_array_equal(generator(images).numpy(), images)
    with pytest.raises(ValueError, match="learn_residual"):
        DeblurGANGenerator(filters=4, num_blocks=1, learn_residual=False).start_as_identity()


def test_deblur_gan_identity_start_trains_every_generator_layer():
    """The zeroed last conv passes no gradient back, so the first step changes only it; the
    second changes every kernel of the generator."""
    from tfrestore.demo import deblur_gan

    model = deblur_gan.build_model(filters=4, num_blocks=1)
    model.compile(learning_rate=deblur_gan.LEARNING_RATE, run_eagerly=True)  # no tracing: fast
    blurred, sharp = smooth_images(2, 16, 16, 1), smooth_images(2, 16, 16, 2)
    np.testing.assert_allclose(model.predict(blurred, verbose=0), blurred, atol=1e-6)
    generator = model.generator
    last = generator.output_conv_name(generator.num_blocks)
    kernels = [w for w in generator.trainable_weights if w.path.endswith("kernel")]

    def changed(before):
        return {w.path.split("/")[-2] for w, b in zip(kernels, before) if np.any(w.numpy() != b)}

    before = [w.numpy() for w in kernels]
    model.train_on_batch(blurred, sharp)
    assert changed(before) == {last}
    before = [w.numpy() for w in kernels]
    model.train_on_batch(blurred, sharp)
    assert changed(before) == {w.path.split("/")[-2] for w in kernels}


def test_deblur_gan_report_states_the_built_recipe():
    from tfrestore.demo import deblur_gan

    settings = deblur_gan.recipe(deblur_gan.build_model())
    assert settings.keys() == deblur_gan.PAPER.keys()
    assert settings == {
        **{name: value for name, value in deblur_gan.MODEL_KWARGS.items() if name in settings},
        "identity_start": True,
        "gradient_penalty_weight": 10.0,
        "learning_rate": pytest.approx(deblur_gan.LEARNING_RATE),
        "constant_fraction": deblur_gan.CONSTANT_FRACTION,
        "crop_size": deblur_gan.CROP_SIZE,
        "batch_size": deblur_gan.BATCH_SIZE,
        "max_len": deblur_gan.BLUR["max_len"],
        "precision": deblur_gan.PRECISION,
    }
    table = deblur_gan.recipe_table(settings)
    assert table[2:] == [
        "| generator | width 16, 4 residual blocks, no dropout "
        "| width 64, 9 residual blocks, dropout 0.5 |",
        "| start | identity (last conv zeroed) | random |",
        "| content loss | L1 x 100 | VGG19 conv3_3 MSE x 100 |",
        "| adversarial | WGAN-GP (lambda 10), 1 critic step per generator step "
        "| WGAN-GP (lambda 10), 5 critic steps per generator step |",
        "| optimizer | Adam 0.0005, constant for 50 % of the run, then linear decay to 0 "
        "| Adam 0.0001, constant for 50 % of the run, then linear decay to 0 |",
        "| data | 128x128 crops, batch 4, blur trajectories 20 px "
        "| 256x256 crops, batch 1, blur trajectories 60 px |",
        f"| precision | {deblur_gan.PRECISION} | float32 |",
    ]


def test_deblur_gan_paper_column_is_the_paper_config():
    import inspect
    import pathlib

    import yaml

    from tfrestore.data import random_psf
    from tfrestore.demo.deblur_gan import PAPER
    from tfrestore.models import DeblurGAN

    path = pathlib.Path(__file__).resolve().parents[1] / "training/configs/deblur_gan.yaml"
    config = yaml.safe_load(path.read_text())
    model, optimizer, data_config = config["model"], config["optimizer"], config["data"]
    for name in ("filters", "num_blocks", "dropout_rate", "perceptual_weight"):
        assert PAPER[name] == model[name], name
    for name in ("gradient_penalty_weight", "discriminator_steps"):
        assert PAPER[name] == model[name], name
    assert PAPER["learning_rate"] == optimizer["learning_rate"] == DeblurGAN.learning_rate
    assert PAPER["constant_fraction"] == optimizer["constant_fraction"]
    assert PAPER["crop_size"] == data_config["crop_size"] == 256
    assert PAPER["batch_size"] == data_config["batch_size"] == 1
    defaults = inspect.signature(DeblurGAN).parameters
    assert PAPER["l1_weight"] == defaults["l1_weight"].default == 0.0
    assert PAPER["max_len"] == inspect.signature(random_psf).parameters["max_len"].default
    assert PAPER["identity_start"] is False


def test_deblur_gan_clock_measures():
    from tfrestore.demo.deblur_gan import gradient_energy, periodic_artifacts

    ramp = np.broadcast_to(np.linspace(0, 1, 65)[None, :64, None], (64, 64, 3))
    assert gradient_energy(ramp) == pytest.approx((255 / 64) ** 2)
    assert periodic_artifacts(ramp) < 1e-9  # smooth shading has no pattern
    alternating = (np.indices((256, 256)).sum(axis=0) % 2 * 2 - 1)[..., None].repeat(3, axis=-1)
    checker = 0.5 + 0.1 * alternating
    assert periodic_artifacts(checker) == pytest.approx(0.1 * 255 * 8 / 9)  # less its 3x3 mean
    assert gradient_energy(checker) == pytest.approx(2 * (0.2 * 255) ** 2)
    photo = common.split_photos()[0]["astronaut"][:256, :256]
    assert periodic_artifacts(photo) < 0.5 < periodic_artifacts(photo + 0.01 * alternating)
