"""The demo's evaluation and report helpers on tiny inputs (the 5-minute training is not run)."""

import numpy as np
import pytest
from model_harness import smooth_images

from tfrestore import cli, data, demo, metrics
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
        "mean-filled input": data.fill_holes(target, mask),
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
    filled = context_encoder.biharmonic_inpaint(data.fill_holes(target, mask), mask)
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
