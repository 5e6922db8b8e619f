import keras
import numpy as np
import pytest
import tensorflow as tf
from model_harness import ModelHarness, run_replica_check, smooth_images, trainable_count

from tfrestore.data import center_mask
from tfrestore.models import ContextEncoder, ContextEncoderDiscriminator, ContextEncoderGenerator

TINY = {"filters": 4, "bottleneck_channels": 8}


@pytest.fixture(scope="module")
def tiny_context_encoder():
    """One tiny Context Encoder for the tests that only read it (predict, losses): its predict
    step is traced once. Seeded as a test's own model."""
    keras.utils.set_random_seed(0)
    return ContextEncoder(**TINY)


class TestContextEncoder(ModelHarness):
    model_name = "context_encoder"
    kwargs = TINY
    size = 128
    shapes = ((128, 128), (150, 173))

    def make_batch(self, batch=2, height=None, width=None, seed=0):
        target = smooth_images(batch, height or 128, width or 128, seed)
        mask = np.zeros(target.shape[:3] + (1,), "float32")
        mask[:, 40:90, 36:86] = 1.0  # fits in the 64x64 center of a window around it
        return (target * (1 - mask), mask), target

    def inputs(self, degraded):
        return degraded

    @pytest.fixture(scope="class")
    @classmethod
    def shared_model(cls, tiny_context_encoder):
        return tiny_context_encoder


def test_paper_parameter_counts():
    assert trainable_count(ContextEncoderGenerator()) == 71_124_544
    assert trainable_count(ContextEncoderDiscriminator()) == 2_765_568


def test_channel_wise_bottleneck_variant():
    generator = ContextEncoderGenerator(filters=4, bottleneck="channel_wise")
    assert generator(tf.zeros([2, 128, 128, 3])).shape == (2, 64, 64, 3)
    assert any(layer.name == "channel_wise_fc" for layer in generator.layers)
    with pytest.raises(ValueError, match="bottleneck must be one of"):
        ContextEncoderGenerator(bottleneck="dense")


def test_only_hole_pixels_change(tiny_context_encoder):
    model = tiny_context_encoder
    image = smooth_images(1, 128, 128)
    mask = center_mask(128)[None]
    restored = model.predict((image, mask), verbose=0)
    keep = mask[..., 0] == 0
    np.testing.assert_array_equal(restored[0][keep[0]], image[0][keep[0]])
    assert not np.allclose(restored[0][~keep[0]], image[0][~keep[0]])


def test_large_image_window_follows_the_hole(tiny_context_encoder):
    """Inside a large image, the hole is inpainted from the 128x128 window centred on it:
    the same result as that window given alone. Holes at a corner work too."""
    model = tiny_context_encoder
    image = smooth_images(1, 300, 260, seed=3)
    mask = np.zeros((1, 300, 260, 1), "float32")
    mask[:, 100:140, 90:130] = 1.0  # centre (120, 110): window rows 56..183, cols 46..173
    restored = model.predict((image, mask), verbose=0)
    window = model.predict((image[:, 56:184, 46:174], mask[:, 56:184, 46:174]), verbose=0)
    np.testing.assert_allclose(restored[:, 56:184, 46:174], window, atol=1e-5)
    np.testing.assert_array_equal(restored[:, :56], image[:, :56])

    corner = np.zeros_like(mask)
    corner[:, 260:300, 220:260] = 1.0
    restored = model.predict((image, corner), verbose=0)
    hole = corner[0, :, :, 0] == 1
    np.testing.assert_array_equal(restored[0][~hole], image[0][~hole])
    assert np.isfinite(restored).all() and not np.allclose(restored[0][hole], image[0][hole])


def test_hole_that_does_not_fit_is_a_clear_error(tiny_context_encoder):
    model = tiny_context_encoder
    image = smooth_images(1, 128, 128)
    mask = np.zeros((1, 128, 128, 1), "float32")
    mask[:, 10:100, 10:100] = 1.0
    with pytest.raises(Exception, match="does not fit in the 64x64 center"):
        model.predict((image, mask), verbose=0)
    with pytest.raises(Exception, match="at least 64x64"):
        model.predict((image[:, :60], mask[:, :60]), verbose=0)
    with pytest.raises(ValueError, match="does not fit in the 64x64 center"):
        model.check_inputs((image, mask))  # the same requirements, eagerly (the CLI's check)
    with pytest.raises(ValueError, match="at least 64x64"):
        model.check_inputs((image[:, :60], mask[:, :60]))
    model.check_inputs((image, np.zeros_like(mask)))


def test_overlap_ring_weights_and_loss_terms(tiny_context_encoder):
    model = tiny_context_encoder
    weights = model._pixel_weights.numpy()[0, :, :, 0]
    assert weights[0, 0] == 10.0 and weights[3, 30] == 10.0 and weights[4, 4] == 1.0
    assert weights.sum() == 56 * 56 + 10 * (64 * 64 - 56 * 56)
    target = smooth_images(2, 128, 128)
    mask = np.repeat(center_mask(128)[None], 2, axis=0)
    degraded = model.inputs_to_generator((target * (1 - mask), mask))
    target_g = model.to_generator_range(target)
    restored = model.generate(degraded)
    terms = model.generator_losses(degraded, restored, target_g)
    real_center = target_g[:, 32:96, 32:96]  # the window is the whole 128x128 image
    np.testing.assert_allclose(model._target_center(degraded, target_g), real_center, atol=1e-6)
    expected = 0.999 * np.mean(
        weights[None, :, :, None] * (real_center - restored) ** 2, axis=(1, 2, 3)
    )
    np.testing.assert_allclose(terms["g_l2"], expected, rtol=1e-5)
    assert terms["g_adv"].shape == (2,)


def test_generator_learns_ten_times_faster():
    model = ContextEncoder(**TINY)
    model.compile()
    assert float(model.generator_optimizer.learning_rate) == pytest.approx(2e-3)
    assert float(model.discriminator_optimizer.learning_rate) == pytest.approx(2e-4)


@pytest.mark.slow
def test_two_replicas_equal_one():
    """Synchronized BatchNorm: 2 replicas with 2 examples each match 1 replica with 4."""
    run_replica_check("test_context_encoder", "TestContextEncoder", {})


@pytest.mark.slow
def test_each_step_moves_generator_batch_norm_statistics_ten_percent():
    """One update of the generator's BatchNorm moving statistics per training step, 10% toward
    the batch's (PyTorch's momentum 0.1), from mean 0 and variance 1: after n steps the
    starting variance still weighs 0.9**n, why a model trained a few tens of steps fills holes
    with near-uniform gray in inference mode (see the ContextEncoder docstring)."""
    model = ContextEncoder(**TINY)
    model.compile(learning_rate=0.0)  # fixed weights: every step sees the same batch statistics
    target = smooth_images(2, 128, 128)
    mask = np.repeat(center_mask(128)[None], 2, axis=0)
    data = tf.data.Dataset.from_tensors(((target * (1 - mask), mask), target)).repeat()
    norms = [layer for layer in model.generator.layers if hasattr(layer, "moving_variance")]
    assert len(norms) == 9

    model.fit(data, epochs=1, steps_per_epoch=1, verbose=0)
    batch_mean = [layer.moving_mean.numpy() / 0.1 for layer in norms]
    batch_variance = [(layer.moving_variance.numpy() - 0.9) / 0.1 for layer in norms]
    assert max(np.abs(v - 1.0).max() for v in batch_variance) > 0.5
    model.fit(data, epochs=1, steps_per_epoch=3, verbose=0)
    start = 0.9**4
    for layer, mean, variance in zip(norms, batch_mean, batch_variance, strict=True):
        np.testing.assert_allclose(layer.moving_mean, (1 - start) * mean, atol=1e-5)
        expected = start + (1 - start) * variance
        np.testing.assert_allclose(layer.moving_variance, expected, atol=1e-5)
