"""Tests for tfrestore.metrics.no_reference: mean brightness and colorfulness."""

import numpy as np
import pytest
import tensorflow as tf

from tfrestore.metrics import colorfulness, mean_brightness


def test_mean_brightness_of_known_images():
    images = np.zeros((4, 6, 8, 3), np.float32)
    images[1] = 0.5
    images[2, ..., 0] = 1.0  # pure red: 0.299
    images[3, :3] = (0.0, 1.0, 0.0)  # top half green: 0.587 / 2
    np.testing.assert_allclose(
        mean_brightness(images).numpy(), [0.0, 0.5, 0.299, 0.2935], rtol=1e-6
    )


def test_colorfulness_of_gray_images_is_zero():
    gray = np.repeat(np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32), 3, -1)
    np.testing.assert_allclose(colorfulness(gray).numpy(), [0.0, 0.0], atol=1e-3)


def test_colorfulness_of_a_two_colour_image_matches_a_hand_computation():
    # Half red (255, 0, 0), half blue (0, 0, 255) on the 0..255 scale:
    #   red:  rg = 255, yb = 127.5;   blue: rg = 0, yb = -255.
    #   mean_rg = 127.5, std_rg = 127.5; mean_yb = -63.75, std_yb = 191.25.
    image = np.zeros((1, 4, 4, 3), np.float32)
    image[0, :, :2, 0] = 1.0
    image[0, :, 2:, 2] = 1.0
    expected = np.hypot(127.5, 191.25) + 0.3 * np.hypot(127.5, -63.75)
    np.testing.assert_allclose(colorfulness(image).numpy(), [expected], rtol=1e-5)
    # The per-example values do not mix across the batch.
    batch = np.concatenate([image, np.full_like(image, 0.3)])
    np.testing.assert_allclose(colorfulness(batch).numpy(), [expected, 0.0], rtol=1e-5, atol=1e-3)


def test_metrics_run_in_a_graph_with_dynamic_shapes():
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    images = tf.random.stateless_uniform([2, 9, 7, 3], seed=[1, 2])
    for metric in (mean_brightness, colorfulness):
        graph = tf.function(metric).get_concrete_function(spec)
        np.testing.assert_allclose(graph(images).numpy(), metric(images).numpy(), rtol=1e-6)


@pytest.mark.parametrize("metric", [mean_brightness, colorfulness])
def test_metrics_reject_non_rgb_batches(metric):
    with pytest.raises(ValueError, match=r"must be \[B, H, W, 3\] RGB"):
        metric(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"must be \[B, H, W, 3\] RGB"):
        metric(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="must be float"):
        metric(np.zeros((1, 8, 8, 3), np.uint8))
