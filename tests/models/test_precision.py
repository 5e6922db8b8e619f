"""Mixed precision: every method trains under mixed_float16 (with dynamic loss scaling) and
mixed_bfloat16 close to float32; sensitive parts and exports stay float32."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from method_harnesses import HARNESSES
from model_harness import smooth_images

import tfrestore
from tfrestore.layers import InstanceNormalization
from tfrestore.models.precision import compute_dtypes, dtype_policy, float32_copy

MIXED = ("mixed_float16", "mixed_bfloat16")
TINY_DEBLUR = {"filters": 4, "num_blocks": 1, "discriminator_steps": 1, "vgg_weights": None}


@pytest.fixture(autouse=True)
def _restore_policy():
    """Every test leaves the global dtype policy as it found it, even when it fails."""
    previous = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(previous)


def build(name, policy, **kwargs):
    with dtype_policy(policy):
        return tfrestore.models.get(name, **kwargs)


@pytest.mark.parametrize("policy", MIXED)
def test_networks_compute_in_the_policy_and_the_boundary_stays_float32(policy):
    model = build("deblur_gan", policy, **TINY_DEBLUR)
    assert keras.config.dtype_policy().name == "float32"  # dtype_policy restored it
    assert model.generator.compute_dtype == policy.split("_")[1]
    assert model.compute_dtype == "float32"  # the wrapper: float32 in, float32 out
    images = smooth_images(2, 32, 32)
    assert model(images).dtype == tf.float32
    assert model.generator(images * 2 - 1).dtype == tf.float32  # the output layers
    assert model.discriminator(images).dtype == policy.split("_")[1]


def test_instance_norm_statistics_stay_float32():
    # Values around 400 have a variance of ~1.6e5: past float16's largest number (65504).
    x = tf.constant(400.0 * smooth_images(1, 8, 8, seed=3), tf.float32)
    expected = InstanceNormalization()(x)
    with dtype_policy("mixed_float16"):
        norm = InstanceNormalization()
    result = norm(x)
    assert result.dtype == tf.float16
    np.testing.assert_allclose(result.numpy().astype("float32"), expected, atol=4e-3)


def test_only_mixed_float16_scales_losses():
    for policy, scaled in (("float32", False), ("mixed_float16", True), ("mixed_bfloat16", False)):
        model = build("deblur_gan", policy, **TINY_DEBLUR)
        model.compile()
        for optimizer in (model.generator_optimizer, model.discriminator_optimizer):
            assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == scaled, policy
        assert model.optimizer is model.generator_optimizer


@pytest.mark.parametrize("network", ["generator", "discriminator"])
def test_non_finite_gradient_skips_the_step_and_halves_the_scale(network):
    """A loss term that is 0 but whose gradient is NaN (d sqrt(x)/dx at 0 is infinite, times
    0) makes that network's gradients non-finite: its update is skipped, its loss scale halved
    (and logged so), and the other network's update still applies. The next clean step
    applies."""
    model = build("deblur_gan", "mixed_float16", **TINY_DEBLUR)
    model.compile(  # a loss scale small enough for clean steps to apply (see `_optimizer`)
        generator_optimizer=_optimizer("mixed_float16"),
        discriminator_optimizer=_optimizer("mixed_float16"),
    )
    hook_name = f"{network}_losses"
    hook = getattr(model, hook_name)
    inject = [True]

    def poisoned(degraded, restored, target):
        terms = hook(degraded, restored, target)
        if inject[0]:
            image = restored if network == "generator" else model.discriminator(restored)
            zero = tf.reduce_mean(tf.sqrt(tf.cast(image, tf.float32) * 0.0), axis=[1, 2, 3])
            terms = {**terms, next(iter(terms)): terms[next(iter(terms))] + zero}
        return terms

    setattr(model, hook_name, poisoned)
    optimizer = getattr(model, f"{network}_optimizer")
    other = model.discriminator if network == "generator" else model.generator
    net = getattr(model, network)
    scale = float(optimizer.dynamic_scale.numpy())
    other_scale = float(getattr(model, f"{other.name}_optimizer").dynamic_scale.numpy())
    before = [w.numpy().copy() for w in net.trainable_weights]
    other_before = [w.numpy().copy() for w in other.trainable_weights]
    degraded, target = HARNESSES["deblur_gan"]().make_batch(2)
    logs = model.train_step((tf.constant(degraded), tf.constant(target)))

    assert all(np.isfinite(float(value)) for value in logs.values())  # the losses are fine
    assert float(optimizer.dynamic_scale.numpy()) == scale / 2
    logged = {name: float(logs[f"{name[0]}_loss_scale"]) for name in ("generator", "discriminator")}
    assert logged == {network: scale / 2, other.name: other_scale}
    assert int(optimizer.iterations) == 0
    for a, b in zip(before, net.trainable_weights):
        np.testing.assert_array_equal(a, b.numpy())
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(other_before, other.trainable_weights))

    inject[0] = False
    model.train_step((tf.constant(degraded), tf.constant(target)))
    assert int(optimizer.iterations) == 1
    assert float(optimizer.dynamic_scale.numpy()) == scale / 2  # grows after 2000 clean steps
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before, net.trainable_weights))


def test_float32_copy_has_float32_layers_and_the_same_weights():
    model = build("deblur_gan", "mixed_bfloat16", **TINY_DEBLUR)
    copy = float32_copy(model)
    assert compute_dtypes(model) == {"float32", "bfloat16"}
    assert compute_dtypes(copy) == {"float32"}
    for a, b in zip(model.weights, copy.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    images = smooth_images(1, 36, 36)
    # bfloat16 keeps 8 significant bits: the mixed model is close to its float32 copy
    np.testing.assert_allclose(model(images), copy(images), atol=5e-2)
    assert float32_copy(copy) is copy


@pytest.mark.slow
def test_export_of_a_mixed_model_is_float32(tmp_path):
    from tfrestore import export

    model = build("deblur_gan", "mixed_float16", **TINY_DEBLUR)
    report = export.export_saved_model(model, str(tmp_path / "saved_model"))
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    function = loaded.signatures["serving_default"]
    graph = str(function.graph.as_graph_def())  # with the nested functions' nodes
    assert "DT_FLOAT" in graph and "DT_HALF" not in graph  # a float16 graph casts to DT_HALF
    images = smooth_images(1, 36, 36)
    restored = function(image=tf.constant(images))["restored"]
    np.testing.assert_allclose(restored, float32_copy(model)(images), atol=1e-5)
    assert report.max_abs_error <= 1e-4


# -- a few training steps under each policy against float32 ----------------------------------

STEPS = 2
# Tolerances against float32 after STEPS steps on the same batch from the same weights.
# Measured worst over the five tiny methods and both policies: restored images 0.11 max (a few
# MEDFE pixels under bfloat16) and 5.2e-3 mean abs (DeblurGAN, bfloat16), losses 3.6e-2
# relative (DeblurGAN's gradient penalty, bfloat16). Adam's first steps move each weight by
# about the learning rate whatever the gradient's size, so a rounding difference can flip a
# tiny gradient's sign: the restored images and the loss values are compared, not the weights.
IMAGE_MAX, IMAGE_MEAN, LOSS_RTOL, LOSS_ATOL = 0.15, 1e-2, 0.1, 5e-2


def _optimizer(policy):
    """Adam for both runs; under float16 with an initial loss scale of 2^5, low enough that no
    step of these is skipped. Keras' default 2^15 skips the first steps while the scale comes
    down: the tiny critics' gradient-penalty weight gradients reach ~500, and 2^15 times that
    overflows float16 (65504); AttentiveGAN's random-VGG perceptual loss is ~230. Skipping is
    tested on its own (`test_non_finite_gradient_skips_the_step_and_halves_the_scale`)."""
    adam = keras.optimizers.Adam(1e-4, beta_1=0.5)
    if policy == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(adam, initial_scale=2.0**5)
    return adam


@pytest.fixture(scope="module")
def trained():
    """{(method, policy): (history, restored)} after STEPS steps, computed on first use."""
    cache = {}

    def run(method, policy):
        if (method, policy) not in cache:
            harness = HARNESSES[method]()
            kwargs = dict(harness.kwargs)
            if method == "deblur_gan":
                kwargs["dropout_rate"] = 0.0  # no random masks: the same network in both runs
            keras.utils.set_random_seed(0)
            model = build(method, "float32", **kwargs)
            weights = model.get_weights()
            if policy != "float32":
                model = build(method, policy, **kwargs)
                model.set_weights(weights)
            model.compile(
                generator_optimizer=_optimizer(policy), discriminator_optimizer=_optimizer(policy)
            )
            degraded, target = harness.make_batch(2)
            inputs = harness.inputs(degraded)
            data = tf.data.Dataset.from_tensors((inputs, target)).repeat()
            history = model.fit(data, steps_per_epoch=STEPS, verbose=0).history
            # none skipped: every update of both networks applied
            assert int(model.generator_optimizer.iterations) == STEPS
            assert (
                int(model.discriminator_optimizer.iterations) == STEPS * model.discriminator_steps
            )
            cache[method, policy] = (history, model.predict(inputs, verbose=0))
        return cache[method, policy]

    return run


# DeblurGAN under mixed_float16 (loss scaling, instance norm, WGAN-GP, 5 critic steps) stands
# for all in `make test`; every method under each policy, minutes in all: `--exhaustive`.
EXHAUSTIVE = pytest.mark.exhaustive


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "policy"),
    [
        (m, p)
        if (m, p) == ("deblur_gan", "mixed_float16")
        else pytest.param(m, p, marks=EXHAUSTIVE)
        for m in sorted(HARNESSES)
        for p in MIXED
    ],
)
def test_few_steps_match_float32(trained, method, policy):
    history, restored = trained(method, policy)
    reference_history, reference = trained(method, "float32")
    assert restored.dtype == np.float32
    difference = np.abs(restored - reference)
    assert difference.max() <= IMAGE_MAX and difference.mean() <= IMAGE_MEAN, difference.max()
    # mixed_float16 adds each optimizer's loss scale to the logs
    scales = {"g_loss_scale", "d_loss_scale"} if policy == "mixed_float16" else set()
    assert set(history) == set(reference_history) | scales
    for name, values in history.items():
        assert np.isfinite(values[-1]), name
        if name in scales:
            continue
        np.testing.assert_allclose(
            values[-1], reference_history[name][-1], rtol=LOSS_RTOL, atol=LOSS_ATOL, err_msg=name
        )
