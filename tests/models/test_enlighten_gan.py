import numpy as np
import pytest
import tensorflow as tf
from model_harness import ModelHarness, run_replica_check, smooth_images, trainable_count

from tfrestore.models import EnlightenGAN, EnlightenGANGenerator, PatchGANDiscriminator
from tfrestore.models.enlighten_gan import gray_attention

TINY = {"filters": 4, "vgg_weights": None}


class TestEnlightenGAN(ModelHarness):
    model_name = "enlighten_gan"
    kwargs = TINY
    size = 64

    def make_batch(self, batch=2, height=None, width=None, seed=0):
        """(low, normal): dark photos and other, unrelated normal-light photos."""
        height, width = height or self.size, width or self.size
        normal = smooth_images(batch, height, width, seed + 100)
        low = smooth_images(batch, height, width, seed) * 0.2
        return low.astype("float32"), normal

    def trained_networks(self, model):
        return [*super().trained_networks(model), model.local_discriminator]


def test_paper_parameter_counts():
    assert trainable_count(EnlightenGANGenerator()) == 8_636_675
    assert trainable_count(PatchGANDiscriminator(64, 5, None)) == 11_154_369
    assert trainable_count(PatchGANDiscriminator(64, 4, None)) == 6_959_553
    model = EnlightenGAN(vgg_weights=None)
    assert model.discriminator(tf.zeros([1, 320, 320, 3])).shape == (1, 13, 13, 1)
    assert model.local_discriminator(tf.zeros([1, 32, 32, 3])).shape == (1, 5, 5, 1)


def test_gray_attention_on_known_pixels():
    # [-1, 1] pixels: black, white, pure red, mid gray
    pixels = tf.constant([[[[-1, -1, -1], [1, 1, 1], [1, -1, -1], [0, 0, 0]]]], tf.float32)
    expected = [1.0, 0.0, 1.0 - 0.299, 0.5]
    np.testing.assert_allclose(gray_attention(pixels)[0, 0, :, 0], expected, atol=1e-6)


def test_residual_is_scaled_by_attention():
    """A white image has attention 0: the generator returns its input unchanged."""
    generator = EnlightenGANGenerator(filters=4)
    white = tf.ones([1, 32, 32, 3])
    np.testing.assert_allclose(generator(white), white, atol=1e-6)


def test_patches_share_positions_across_images():
    model = EnlightenGAN(**TINY)
    model.compile()
    a = tf.reshape(tf.range(2 * 64 * 64 * 3, dtype=tf.float32), [2, 64, 64, 3])
    first, second = model._patches(a, a + 1.0)
    assert first.shape == (6 * 2, 32, 32, 3)
    np.testing.assert_array_equal(second, first + 1.0)
    again, _ = model._patches(a, a)
    np.testing.assert_array_equal(again, first)  # same step, same patches


def test_loss_terms_are_per_image():
    model = EnlightenGAN(**TINY)
    model.compile()
    low, normal = TestEnlightenGAN().make_batch(3)
    low_g, normal_g = low * 2 - 1, normal * 2 - 1
    restored = model.generate(tf.constant(low_g))
    g_terms = model.generator_losses(low_g, restored, normal_g)
    d_terms = model.discriminator_losses(low_g, restored, normal_g)
    for value in (*g_terms.values(), *d_terms.values()):
        assert value.shape == (3,)
    # with the generator output equal to its input, the feature-preserving loss is 0
    np.testing.assert_allclose(
        model.generator_losses(low_g, low_g, normal_g)["g_perceptual"], 0, atol=1e-6
    )


def test_zero_perceptual_weight_builds_and_runs_no_vgg():
    model = EnlightenGAN(**TINY, perceptual_weight=0.0)
    assert model.perceptual is None
    assert len(model.weights) == sum(
        len(network.weights)
        for network in (model.generator, model.discriminator, model.local_discriminator)
    )
    model.compile()
    low, normal = TestEnlightenGAN().make_batch(2)
    low_g, normal_g = low * 2 - 1, normal * 2 - 1
    terms = model.generator_losses(low_g, normal_g, normal_g)
    assert set(terms) == {"g_adv", "g_local"}
    assert float(np.min(terms["g_adv"])) > 0


def test_pixel_features_ignore_brightness_and_contrast():
    model = EnlightenGAN(**TINY, feature_network="pixels", perceptual_weight=0.5)
    assert EnlightenGAN.from_config(model.get_config()).feature_network == "pixels"
    assert len(model.weights) == sum(
        len(network.weights)
        for network in (model.generator, model.discriminator, model.local_discriminator)
    )  # no VGG
    model.compile()
    low, normal = TestEnlightenGAN().make_batch(2)
    low_g, normal_g = tf.constant(low * 2 - 1), tf.constant(normal * 2 - 1)
    brighter = 0.5 * low_g + 0.3  # an affine change of every channel: nothing to preserve
    terms = model.generator_losses(low_g, brighter, normal_g)
    np.testing.assert_allclose(terms["g_perceptual"], [0.0, 0.0], atol=1e-4)
    # swapping the images' content costs 2 * (1 - correlation) per pixel, times the weight
    swapped = model.generator_losses(low_g, low_g[::-1], normal_g)["g_perceptual"]
    per_channel = [
        np.corrcoef(low[0, ..., c].ravel(), low[1, ..., c].ravel())[0, 1] for c in range(3)
    ]
    expected = 0.5 * 2 * (1 - np.mean(per_channel))
    np.testing.assert_allclose(swapped, expected, rtol=5e-3)  # 5e-3: the norm's epsilon
    with pytest.raises(ValueError, match="feature_network must be one of"):
        EnlightenGAN(**TINY, feature_network="vgg19")


@pytest.mark.slow
def test_two_replicas_equal_one():
    run_replica_check("test_enlighten_gan", "TestEnlightenGAN", {})
