import numpy as np
import pytest
import tensorflow as tf
from model_harness import ModelHarness, run_replica_check, smooth_images

from tfrestore.models import AttentiveGAN, AttentiveGANDiscriminator, AttentiveGANGenerator
from tfrestore.models.attentive_gan import raindrop_mask
from tfrestore.models.attentive_gan.attentive_gan_generator import ZeroStateConv2D

TINY = {"filters": 4, "discriminator_filters": 2, "crop_size": (32, 32), "vgg_weights": None}


class TestAttentiveGAN(ModelHarness):
    model_name = "attentive_gan"
    kwargs = TINY

    def make_batch(self, batch=2, height=None, width=None, seed=0):
        """(rainy, clean): bright blobs added to clean images."""
        height, width = height or self.size, width or self.size
        clean = smooth_images(batch, height, width, seed)
        rainy = clean.copy()
        rainy[:, height // 4 : height // 2, width // 4 : width // 2] += 0.3
        return np.clip(rainy, 0, 1), clean

    def test_export_has_the_attention_output(self, shared_model):
        from tfrestore.inference import load_restorer

        model = shared_model
        rainy, _ = self.make_batch(1, 36, 44)
        runner = load_restorer(model)  # the traced serving function
        outputs = runner(image=rainy)
        assert set(outputs) == {"restored", "attention"}
        assert outputs["attention"].shape == (1, 36, 44, 1)
        assert 0.0 <= outputs["attention"].min() and outputs["attention"].max() <= 1.0

    def test_panels_show_four_attention_maps(self, shared_model):
        model = shared_model
        rainy, _ = self.make_batch(1)
        images = model.panel_images(rainy)
        assert len(images) == 5 and all(tuple(i.shape) == (1, 32, 32, 3) for i in images)


def test_paper_parameter_counts():
    assert AttentiveGANGenerator().count_params() == 6_244_362
    assert AttentiveGANDiscriminator().count_params() == 7_737_746


def test_recurrent_steps_share_weights():
    generator = AttentiveGANGenerator(filters=4)
    names = [w.path for w in generator.weights]
    assert len(names) == len(set(names))
    assert sum("conv_i_0" in name for name in names) == 2  # one kernel, one bias for 4 steps


def test_zero_state_gate_equals_the_gate_over_zeros_and_names_bad_inputs():
    gate = ZeroStateConv2D(5, 3, padding="same", activation="sigmoid", name="conv_i_0")
    gate.build((None, None, None, 8))
    rng = np.random.default_rng(0)
    gate.set_weights([rng.normal(size=(3, 3, 8, 5)), rng.normal(size=5)])
    features = tf.constant(rng.normal(size=(2, 7, 9, 4)), tf.float32)
    with_zeros = gate(tf.concat([features, tf.zeros([2, 7, 9, 4])], -1))
    np.testing.assert_allclose(gate(features), with_zeros, atol=1e-6)
    assert not np.allclose(gate(tf.concat([features, features], -1)), with_zeros, atol=1e-3)
    with pytest.raises(ValueError, match="conv_i_0: inputs need at most the kernel's 8 channels"):
        gate(tf.zeros([1, 7, 9, 9]))


def test_first_step_skips_the_zero_state():
    generator = AttentiveGANGenerator(filters=4)
    kinds = [layer.__class__.__qualname__ for layer in generator.layers]
    assert kinds.count("ZeroStateConv2D") == 4
    names = {layer.name for layer in generator.layers}
    # Steps 1-3 concatenate the hidden state and use the forget gate; step 0 does neither.
    assert {"step1_x_h", "step2_x_h", "step3_x_h", "step3_fc"} <= names
    assert not {"step0_x_h", "step0_fc", "step0_cell"} & names
    # Files store weights by layer order: the forget gate stays where it was when step 0 called
    # it (a file written then loads: checked by hand against one).
    with_weights = [layer.name for layer in generator.layers if layer.weights]
    assert with_weights[10:16] == [
        "det_conv5_2",
        "conv_f_0",
        "conv_i_0",
        "conv_g_0",
        "conv_o_0",
        "det_conv_mask_0",
    ]


def test_raindrop_mask_threshold_and_morphology():
    clean = np.zeros((1, 24, 24, 3), np.float32)
    rainy = clean.copy()
    rainy[:, 4:12, 4:12] = 0.05  # channel sum 0.15 >= 35/255: a drop
    rainy[:, 18, 18] = 0.5  # an isolated pixel: removed by the opening
    rainy[:, 20:23, 2:5] = 0.01  # sum 0.03 < 35/255: not a drop
    mask = raindrop_mask(rainy, clean).numpy()[0, :, :, 0]
    assert mask[6:10, 6:10].all() and mask[18, 18] == 0 and not mask[20:23, 2:5].any()
    assert set(np.unique(mask)) <= {0.0, 1.0}
    raw = raindrop_mask(rainy, clean, kernel_size=0).numpy()[0, :, :, 0]
    assert raw[18, 18] == 1 and raw.sum() == 64 + 1


def test_attention_and_multiscale_losses_on_known_values():
    model = AttentiveGAN(**TINY)
    rainy, clean = TestAttentiveGAN().make_batch(2)
    rainy_g, clean_g = model.to_generator_range(rainy), model.to_generator_range(clean)
    mask = raindrop_mask(rainy_g, clean_g)
    # a fake generator output: every attention map = the mask, every scale = the target
    scaled = [tf.image.resize(clean_g, [32 // s, 32 // s], method="area") for s in (4, 2, 1)]
    perfect = [mask] * 4 + scaled
    terms = model.generator_losses(rainy_g, perfect, clean_g)
    np.testing.assert_allclose(terms["g_attention"], 0.0, atol=1e-7)
    np.testing.assert_allclose(terms["g_multiscale"], 0.0, atol=1e-7)
    # maps all 0: attention loss = sum_t 0.8^(4-t) * mean(M^2)
    zeros = [tf.zeros_like(mask)] * 4 + scaled
    expected = sum(0.8 ** (4 - t) for t in range(1, 5)) * np.mean(mask.numpy() ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(
        model.generator_losses(rainy_g, zeros, clean_g)["g_attention"], expected, rtol=1e-5
    )


def test_discriminator_map_loss_weight():
    model = AttentiveGAN(**TINY)
    rainy, clean = TestAttentiveGAN().make_batch(2)
    restored = model.generate(model.to_generator_range(rainy))
    terms = model.discriminator_losses(None, restored, model.to_generator_range(clean))
    doubled = AttentiveGAN(**{**TINY, "map_weight": 0.1})
    doubled.set_weights(model.get_weights())
    terms2 = doubled.discriminator_losses(None, restored, model.to_generator_range(clean))
    np.testing.assert_allclose(terms2["d_map"], 2 * terms["d_map"], rtol=1e-5)
    assert terms["d_adv"].shape == (2,)


@pytest.mark.slow
def test_two_replicas_equal_one():
    run_replica_check("test_attentive_gan", "TestAttentiveGAN", {})


def test_zero_perceptual_weight_builds_and_runs_no_vgg():
    model = AttentiveGAN(**{**TINY, "perceptual_weight": 0.0})
    assert model.perceptual is None
    rainy, clean = TestAttentiveGAN().make_batch(2)
    rainy_g, clean_g = model.to_generator_range(rainy), model.to_generator_range(clean)
    terms = model.generator_losses(rainy_g, model.generate(rainy_g), clean_g)
    assert "g_perceptual" not in terms
    assert float(terms["g_multiscale"][0]) > 0.0


def test_start_as_identity_restores_the_input_and_stays_trainable():
    generator = AttentiveGANGenerator(filters=4)
    images = tf.constant(smooth_images(2, 32, 48, seed=3))
    before = generator(images)
    generator.start_as_identity()
    after = generator(images)
    np.testing.assert_allclose(after[-1], images, atol=1e-6)
    for old, new in zip(before[:4], after[:4]):  # the attention maps
        np.testing.assert_array_equal(old, new)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(generator(images)[-1] - 0.5))
    kernel = generator.get_layer("deconv2_0").kernel
    gradient = tape.gradient(loss, kernel).numpy()
    assert np.abs(gradient[:, :, :3, :]).max() > 0  # its zeroed channels still learn
