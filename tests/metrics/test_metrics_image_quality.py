import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage.filters import gaussian
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from tfrestore.metrics import PSNR, SSIM, psnr, ssim


@pytest.fixture(scope="module")
def pairs():
    """Two 64x64 RGB pairs: a smooth random image and a noisy, slightly blurred copy."""
    rng = np.random.default_rng(0)
    clean = np.stack([gaussian(rng.random((64, 64, 3)), 2, channel_axis=-1) for _ in range(2)])
    clean = (clean - clean.min()) / (clean.max() - clean.min())
    noisy = np.stack(
        [
            gaussian(c, 0.7, channel_axis=-1) + rng.normal(0, s, c.shape)
            for c, s in zip(clean, [0.03, 0.1], strict=True)
        ]
    )
    return clean.astype("float32"), np.clip(noisy, 0, 1).astype("float32")


def test_psnr_matches_skimage(pairs):
    clean, noisy = pairs
    values = psnr(clean, noisy)
    assert values.shape == (2,) and values.dtype == tf.float32
    expected = [
        peak_signal_noise_ratio(c, n, data_range=1.0) for c, n in zip(clean, noisy, strict=True)
    ]
    np.testing.assert_allclose(values, expected, atol=1e-4)


def test_ssim_matches_skimage(pairs):
    clean, noisy = pairs
    values = ssim(clean, noisy)
    assert values.shape == (2,)
    expected = [
        structural_similarity(
            c,
            n,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=-1,
        )
        for c, n in zip(clean, noisy, strict=True)
    ]
    np.testing.assert_allclose(values, expected, atol=1e-4)


def test_max_val_scales(pairs):
    clean, noisy = pairs
    np.testing.assert_allclose(psnr(clean * 255, noisy * 255, 255.0), psnr(clean, noisy), atol=1e-3)
    np.testing.assert_allclose(ssim(clean * 255, noisy * 255, 255.0), ssim(clean, noisy), atol=1e-5)


def test_identical_images():
    image = tf.random.stateless_uniform([1, 16, 16, 3], seed=[0, 1])
    assert np.isinf(psnr(image, image)[0])  # documented: inf, as tf.image.psnr
    np.testing.assert_allclose(ssim(image, image), [1.0], atol=1e-6)


def test_ssim_rejects_images_smaller_than_its_window():
    with pytest.raises(ValueError, match="11x11"):
        ssim(tf.zeros([1, 8, 32, 3]), tf.zeros([1, 8, 32, 3]))


@pytest.mark.parametrize("metric_class, fn", [(PSNR, psnr), (SSIM, ssim)])
def test_keras_metric_averages_examples_over_batches(pairs, metric_class, fn):
    clean, noisy = pairs
    metric = metric_class()
    metric.update_state(clean, noisy)  # 2 examples
    metric.update_state(clean[:1], clean[:1] * 0.9)  # 1 more
    per_example = np.concatenate([fn(clean, noisy), fn(clean[:1], clean[:1] * 0.9)])
    np.testing.assert_allclose(metric.result(), per_example.mean(), rtol=1e-6)
    metric.reset_state()
    metric.update_state(clean, noisy, sample_weight=[1.0, 3.0])
    np.testing.assert_allclose(
        metric.result(), np.average(per_example[:2], weights=[1, 3]), rtol=1e-6
    )


@pytest.mark.parametrize("metric_class, name", [(PSNR, "psnr"), (SSIM, "ssim")])
def test_keras_metric_config_round_trip(metric_class, name):
    metric = metric_class(max_val=255.0)
    assert metric.name == name
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert isinstance(restored, metric_class)
    assert restored.get_config() == metric.get_config()
    assert restored.max_val == 255.0
