import numpy as np
import pytest
import tensorflow as tf
from model_harness import ModelHarness, run_replica_check

from tfrestore.models import DeblurGAN, DeblurGANDiscriminator, DeblurGANGenerator


class TestDeblurGAN(ModelHarness):
    model_name = "deblur_gan"
    kwargs = {"filters": 4, "num_blocks": 1, "discriminator_steps": 2, "vgg_weights": None}


def test_paper_parameter_counts():
    assert DeblurGANGenerator().count_params() == 11_378_179
    assert DeblurGANDiscriminator().count_params() == 2_764_737


def test_critic_is_a_70px_patchgan():
    assert DeblurGANDiscriminator(filters=4)(tf.zeros([1, 256, 256, 3])).shape == (1, 35, 35, 1)


def test_residual_output_is_clamped_to_generator_range():
    generator = DeblurGANGenerator(filters=4, num_blocks=1)
    outputs = generator(tf.fill([1, 16, 16, 3], 1.0)).numpy()
    assert outputs.max() <= 1.0 and outputs.min() >= -1.0


def test_dropout_only_in_training():
    generator = DeblurGANGenerator(filters=4, num_blocks=1, dropout_rate=0.5)
    x = tf.random.uniform([1, 16, 16, 3], -1, 1)
    np.testing.assert_array_equal(generator(x), generator(x))
    assert not np.allclose(generator(x, training=True), generator(x, training=True))


def test_loss_weights_scale_logged_terms():
    """The logged perceptual term is its weight times the raw loss (here checked at 2 weights)."""
    degraded = tf.random.uniform([2, 16, 16, 3])
    target = tf.random.uniform([2, 16, 16, 3])
    values = []
    for weight in (1.0, 3.0):
        model = DeblurGAN(filters=4, num_blocks=1, perceptual_weight=weight, vgg_weights=None)
        model.set_weights(DeblurGAN(filters=4, num_blocks=1, vgg_weights=None).get_weights())
        terms = model.generator_losses(degraded * 2 - 1, target * 2 - 1, target * 2 - 1)
        values.append(terms["g_perceptual"].numpy())
    assert values[0].shape == (2,)
    np.testing.assert_allclose(values[1], 3.0 * values[0], rtol=1e-5)


def test_zero_perceptual_weight_builds_and_runs_no_vgg():
    model = DeblurGAN(filters=4, num_blocks=1, perceptual_weight=0.0, l1_weight=1.0)
    assert model.perceptual is None
    degraded, target = tf.random.uniform([2, 16, 16, 3]), tf.random.uniform([2, 16, 16, 3])
    terms = model.generator_losses(degraded, degraded, target)
    assert set(terms) == {"g_adv", "g_l1"}
    np.testing.assert_allclose(terms["g_l1"], np.abs(degraded - target).mean(axis=(1, 2, 3)))


def test_bad_discriminator_steps():
    with pytest.raises(ValueError, match="discriminator_steps"):
        DeblurGAN(filters=4, num_blocks=1, discriminator_steps=0, vgg_weights=None)


@pytest.mark.slow
def test_two_replicas_equal_one():
    # Dropout draws per-replica random streams (Keras layers), so it is off here; the
    # gradient penalty's interpolation weights are drawn per global example and stay on.
    run_replica_check("test_deblur_gan", "TestDeblurGAN", {"dropout_rate": 0.0})
