import keras
import numpy as np
import pytest
import tensorflow as tf
from model_harness import ModelHarness, run_replica_check, smooth_images, trainable_count
from torch_reference import random_state_dict, read_keys

from tfrestore import export
from tfrestore.inference import load_restorer
from tfrestore.models import MEDFE, MEDFEDiscriminator, MEDFEGenerator
from tfrestore.models.pytorch_weights import load_state_dict

TINY = {"filters": 4, "dilation": 1, "vgg_weights": None}
KEYS = "medfe_reconstructed.txt"


def square_hole(batch, height, width, top=40, left=36, side=50):
    mask = np.zeros((batch, height, width, 1), "float32")
    mask[:, top : top + side, left : left + side] = 1.0
    return mask


@pytest.fixture(scope="module")
def tiny_medfe():
    """One tiny MEDFE for the tests that only predict with it: building one and tracing its
    predict step take seconds. Seeded as a test's own model."""
    keras.utils.set_random_seed(0)
    return MEDFE(**TINY)


@pytest.fixture(scope="module")
def paper_medfe():
    """One paper-size MEDFE (its generator alone has 103 M parameters: seconds to build), its
    generator loaded with random weights under upstream's keys: (model, state, ignored keys).
    Tests only read it."""
    rng = np.random.default_rng(0)
    state = {}
    for section in ("EN params", "DE params", "MEDFE(PCblock) params"):
        state.update(random_state_dict(read_keys(KEYS, section), rng))
    model = MEDFE(vgg_weights=None)
    return model, state, load_state_dict(model.generator, state)


class TestMEDFE(ModelHarness):
    model_name = "medfe"
    kwargs = TINY
    size = 128
    shapes = ((128, 128), (100, 173))  # 100 is padded to 128 inside

    def make_batch(self, batch=2, height=None, width=None, seed=0):
        height, width = height or 128, width or 128
        target = smooth_images(batch, height, width, seed)
        structure = smooth_images(batch, height, width, seed + 100)
        mask = square_hole(batch, height, width)
        return (target * (1 - mask), mask), (target, structure)

    def target_image(self, target):
        return target[0]

    @pytest.fixture(scope="class")
    @classmethod
    def shared_model(cls, tiny_medfe):
        return tiny_medfe  # the module's: its predict step is traced once for all

    @pytest.mark.slow  # tracing MEDFE's predict step at two sizes takes seconds
    def test_output_shape_any_size(self, shared_model):
        super().test_output_shape_any_size(shared_model)

    # The harness's training check, 30-40 s for MEDFE; MEDFE's training and its .keras round
    # trip (safe mode) are also covered by test_train.py and tests/convert in `make test`.
    @pytest.mark.slow
    @pytest.mark.exhaustive
    def test_fit_trains_every_network_and_the_keras_file_keeps_it(self, tmp_path):
        super().test_fit_trains_every_network_and_the_keras_file_keeps_it(tmp_path)


@pytest.mark.slow
def test_paper_parameter_counts(paper_medfe):
    # Upstream EN 30,026,432 + DE 18,098,499 + MEDFE 82,191,139, less the MEDFE block's
    # 27,197,440 frozen partial-conv mask weights (the paper variant keeps none; the
    # upstream layout keeps them as non-trainable variables).
    generator = paper_medfe[0].generator  # MEDFE's defaults are MEDFEGenerator()'s
    assert type(generator) is MEDFEGenerator and trainable_count(generator) == 103_118_630
    assert trainable_count(MEDFEDiscriminator()) == 2_764_737


def test_upstream_conv_ups_resize_the_narrow_output_of_their_1x1_conv():
    # Upstream resizes, then applies the 1x1 conv; the conv first gives the same values (see
    # the fidelity tests) on scale² times fewer pixels, and resizes maps of the conv's width
    # (at paper width pc_block_up_128 resizes 64 channels, not 512).
    generator = MEDFEGenerator(filters=4)
    widths = {
        layer.name: layer.input.shape[-1] for layer in generator.layers if "_resize_" in layer.name
    }
    assert widths == {
        "pc_block_up_resize_0": 16,
        "pc_block_up_resize_1": 16,
        "pc_block_up_resize_2": 16,
        "pc_block_up_64_resize_0": 8,
        "pc_block_up_128_resize_0": 4,
    }


@pytest.mark.slow
def test_upstream_keys_load(paper_medfe):
    model, state, ignored = paper_medfe
    generator = model.generator
    assert sorted(ignored) == sorted(key for key in state if key.endswith("mask_conv.weight"))
    assert len(ignored) == 15
    kernel = generator.get_layer("pc_block_cov_5_2_conv_input_conv").kernel.numpy()
    expected = np.transpose(state["pc_block.cov_5.2.conv.input_conv.weight"], (2, 3, 1, 0))
    np.testing.assert_array_equal(kernel, expected)
    norm = generator.get_layer("Encoder_3_model_2")
    np.testing.assert_array_equal(norm.gamma.numpy(), state["Encoder_3.model.2.weight"])
    se = generator.get_layer("pc_block_base_model_0")
    np.testing.assert_array_equal(se.fc_2.bias.numpy(), state["pc_block.base.model.0.fc.2.bias"])

    d_state = random_state_dict(read_keys(KEYS, "D (global"), np.random.default_rng(1))
    critic = MEDFEDiscriminator()
    assert load_state_dict(critic, d_state) == [f"model.{i}.weight_v" for i in (0, 2, 4, 6, 8)]
    layer = critic.get_layer("model_6")
    np.testing.assert_array_equal(layer.vector_u.numpy()[0], d_state["model.6.weight_u"])
    np.testing.assert_array_equal(
        layer.layer.kernel.numpy(), np.transpose(d_state["model.6.weight_orig"], (2, 3, 1, 0))
    )
    assert critic(tf.zeros([1, 256, 256, 3])).shape == (1, 8, 8, 1)
    assert critic(tf.zeros([1, 64, 64, 3])).shape == (1, 2, 2, 1)


@pytest.mark.slow
def test_only_hole_pixels_change_and_examples_are_independent(tiny_medfe):
    """Any batch size: each example's result is the same alone or in a batch (upstream
    equalizes only batch element 0)."""
    model = tiny_medfe
    image = smooth_images(2, 128, 128)
    mask = square_hole(2, 128, 128)
    mask[1] = square_hole(1, 128, 128, top=10, left=70, side=30)[0]
    restored = model.predict((image, mask), verbose=0)
    keep = mask[..., 0] == 0
    np.testing.assert_array_equal(restored[keep], image[keep])
    assert not np.allclose(restored[~keep], image[~keep])
    alone = model.predict((image[1:], mask[1:]), verbose=0)
    np.testing.assert_allclose(restored[1:], alone, atol=1e-5)


@pytest.mark.slow
def test_hole_content_is_ignored(tiny_medfe):
    model = tiny_medfe
    image = smooth_images(1, 128, 128)
    mask = square_hole(1, 128, 128)
    noisy = np.where(mask > 0, np.random.default_rng(0).random(image.shape), image)
    np.testing.assert_allclose(
        model.predict((image, mask), verbose=0),
        model.predict((noisy.astype("float32"), mask), verbose=0),
        atol=1e-6,
    )


@pytest.mark.slow
def test_small_images_and_missing_structure_are_clear_errors(tiny_medfe, paper_medfe):
    model = tiny_medfe
    assert model.min_size == 65 and paper_medfe[0].min_size == 129
    image, mask = smooth_images(1, 60, 128), square_hole(1, 60, 128, top=10, side=20)
    with pytest.raises(Exception, match="at least 65x65"):
        model.predict((image, mask), verbose=0)
    with pytest.raises(ValueError, match="structure"):
        model.unpack_batch(((image, mask), image))


@pytest.mark.slow
def test_loss_terms_on_known_values():
    model = MEDFE(**TINY)
    model.compile()
    (masked, mask), (target, structure) = TestMEDFE().make_batch()
    degraded = model.inputs_to_generator((masked, mask))
    _, target_g = model.unpack_batch(((masked, mask), (target, structure)))
    target_g = model.to_generator_range(target_g)
    restored = model.generate(degraded)
    terms = model.generator_losses(degraded, restored, target_g)
    image, texture, structure_image = (np.asarray(t) for t in restored)
    target_g = np.asarray(target_g)
    np.testing.assert_allclose(
        terms["g_l1"], np.abs(image - target_g[..., :3]).mean(axis=(1, 2, 3)), rtol=1e-5
    )
    small = tf.image.resize(target_g, texture.shape[1:3]).numpy()  # bilinear, as upstream
    branch = np.abs(texture - small[..., :3]).mean(axis=(1, 2, 3)) + np.abs(
        structure_image - small[..., 3:]
    ).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(terms["g_branch"], branch, rtol=1e-5)
    # The style term is 250 x the Gram L1 of the real relu2_2, 3_3, 4_3 and 5_2.
    vgg = model.vgg
    features = vgg(tf.concat([target_g[..., :3], image], axis=0))[5:]
    assert [layer for layer in vgg.feature_layers[5:]] == [
        "block2_conv2",
        "block3_conv3",
        "block4_conv3",
        "block5_conv2",
    ]
    style = 0.0
    for f in features:
        f = np.asarray(f, np.float64)
        b, h, w, c = f.shape
        flat = f.reshape(b, h * w, c)
        gram = np.einsum("bnc,bnd->bcd", flat, flat) / (h * w * c)
        style = style + np.abs(gram[2:] - gram[:2]).mean(axis=(1, 2))
    np.testing.assert_allclose(terms["g_style"], 250 * style, rtol=1e-4)
    assert set(terms) == set(model.generator_loss_names)


@pytest.mark.slow
@pytest.mark.exhaustive  # 35 s; the four other methods' replica checks run in `make test`
def test_two_replicas_equal_one():
    run_replica_check("test_medfe", "TestMEDFE", {})


@pytest.mark.slow
def test_zero_vgg_loss_weights_build_and_run_no_vgg():
    model = MEDFE(**TINY, perceptual_weight=0.0, style_weight=0.0)
    assert model.vgg is None
    model.compile()
    (masked, mask), (target, structure) = TestMEDFE().make_batch()
    degraded = model.inputs_to_generator((masked, mask))
    target_g = model.to_generator_range(np.concatenate([target, structure], axis=-1))
    terms = model.generator_losses(degraded, model.generate(degraded), target_g)
    assert "g_perceptual" not in terms and "g_style" not in terms
    assert float(np.min(terms["g_l1"])) > 0


@pytest.mark.slow
@pytest.mark.exhaustive
def test_upstream_layout_exports_to_tflite(tmp_path):
    from tfrestore import export

    model = MEDFE(**TINY, upstream_layout=True)
    assert model.generator.get_layer("pc_block_base_propagation").upstream_layout
    report = export.export_tflite(model, str(tmp_path / "model.tflite"))
    assert report.max_abs_error <= 1e-4


@pytest.mark.slow
def test_int8_export_fills_a_large_hole(tmp_path):
    # Partial convs divide by their count of valid pixels, or by 1 in windows without any.
    # Calibrated only on the probe's hole at 256x256, that 1 never occurred in some layers and
    # was quantized into a range of ~1e-6: on this 192x192 probe XNNPACK refused the graph
    # (paper width: LiteRT's int8 DIV stopped on a zero divisor). Calibration masks now
    # alternate with large holes.
    model = MEDFE(filters=4, vgg_weights=None)
    report = export.export_tflite(model, tmp_path / "m.tflite", quantize="int8", check=False)
    inputs = export.probe_inputs({"image": 3, "mask": 1}, (192, 192))
    keras_restorer = load_restorer(model)
    expected = keras_restorer(**inputs, tile=0)
    restorer = load_restorer(report.path)
    _, psnr = export.compare(expected, restorer(**inputs, tile=0))
    assert psnr > 35, psnr
    # Holes beyond the calibration's: the whole image, and scattered pixels. The divisor
    # count + (1 - new_mask) rounded to 0 in int8 there and LiteRT's DIV stopped.
    scattered = np.random.default_rng(0).random((1, 192, 192, 1)) < 0.5
    for mask in (np.ones((1, 192, 192, 1)), scattered):
        arrays = {"image": inputs["image"], "mask": mask.astype("float32")}
        restored = restorer(**arrays, tile=0)["restored"]
        assert restored.shape == (1, 192, 192, 3) and np.isfinite(restored).all()
        keras_restored = keras_restorer(**arrays, tile=0)["restored"]
        assert np.abs(restored - keras_restored).mean() < 0.1
