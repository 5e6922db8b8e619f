import numpy as np
import pytest

from tfrestore.metrics import image_scores


def test_image_scores_on_known_values():
    target = np.full((2, 16, 16, 3), 0.5, "float32")
    target[1, ..., 0] = 0.9  # reddish: rg = 0.4 * 255 and yb = 0.2 * 255 at every pixel
    images = target - 0.1  # MSE 0.01: 20 dB
    scores = image_scores(images, target)
    assert list(scores) == ["psnr", "ssim", "brightness", "colorfulness"]
    assert all(values.shape == (2,) for values in scores.values())
    np.testing.assert_allclose(scores["psnr"], [20.0, 20.0], atol=1e-4)
    np.testing.assert_allclose(scores["brightness"], [0.4, 0.4 + 0.299 * 0.4], atol=1e-6)
    colorful = 0.3 * np.hypot(0.4 * 255, 0.2 * 255)  # flat images: only the means count
    np.testing.assert_allclose(scores["colorfulness"], [0.0, colorful], atol=1e-3)
    assert image_scores(target, target)["ssim"] == pytest.approx([1.0, 1.0])


def test_image_scores_without_target_or_without_no_reference_terms():
    images = np.full((1, 16, 16, 3), 0.25, "float32")
    assert list(image_scores(images)) == ["brightness", "colorfulness"]
    assert image_scores(images, no_reference=False) == {}
    assert list(image_scores(images, images, no_reference=False)) == ["psnr", "ssim"]
