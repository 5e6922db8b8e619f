import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrestore.losses import (
    ADVERSARIAL_MODES,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
)


def softplus(x):
    return np.log1p(np.exp(x))


# D(real) = 0.5 and D(fake) = 0.25 everywhere; expected values worked out by hand.
KNOWN = {
    # 0.5 * (softplus(-0.5) + softplus(0.25)), softplus(-0.25)
    "vanilla": (0.5 * (softplus(-0.5) + softplus(0.25)), softplus(-0.25)),
    # 0.5 * ((0.5 - 1)^2 + 0.25^2), (0.25 - 1)^2
    "lsgan": (0.15625, 0.5625),
    # 0.25 - 0.5, -0.25
    "wgan": (-0.25, -0.25),
    # 0.5 * ((0.5 - 0.25 - 1)^2 + (0.25 - 0.5 + 1)^2),
    # 0.5 * ((0.5 - 0.25 + 1)^2 + (0.25 - 0.5 - 1)^2)
    "ragan_ls": (0.5625, 1.5625),
}


@pytest.mark.parametrize("mode", ADVERSARIAL_MODES)
def test_known_values_on_patchgan_logits(mode):
    real = tf.fill([3, 4, 5, 1], 0.5)
    fake = tf.fill([3, 4, 5, 1], 0.25)
    d_loss = discriminator_loss(mode, real, fake)
    g_loss = generator_loss(mode, fake, real)
    assert d_loss.shape == (3,) and g_loss.shape == (3,)
    assert d_loss.dtype == tf.float32
    np.testing.assert_allclose(d_loss, [KNOWN[mode][0]] * 3, rtol=1e-6)
    np.testing.assert_allclose(g_loss, [KNOWN[mode][1]] * 3, rtol=1e-6)


def reference(mode, real, fake):
    """Upstream-style batch losses (a mean over everything), written with numpy."""
    if mode == "vanilla":
        return 0.5 * (softplus(-real).mean() + softplus(fake).mean()), softplus(-fake).mean()
    if mode == "lsgan":
        return 0.5 * (((real - 1) ** 2).mean() + (fake**2).mean()), ((fake - 1) ** 2).mean()
    if mode == "wgan":
        return fake.mean() - real.mean(), -fake.mean()
    real_rel, fake_rel = real - fake.mean(), fake - real.mean()
    d = 0.5 * (((real_rel - 1) ** 2).mean() + ((fake_rel + 1) ** 2).mean())
    g = 0.5 * (((real_rel + 1) ** 2).mean() + ((fake_rel - 1) ** 2).mean())
    return d, g


@pytest.mark.parametrize("mode", ADVERSARIAL_MODES)
def test_per_example_values_average_to_the_batch_loss(mode):
    rng = np.random.default_rng(0)
    real = rng.normal(size=(4, 3, 3, 1)).astype("float32")
    fake = rng.normal(size=(4, 3, 3, 1)).astype("float32")
    d_loss = discriminator_loss(mode, real, fake).numpy()
    g_loss = generator_loss(mode, fake, real).numpy()
    assert d_loss.shape == (4,) and g_loss.shape == (4,)
    assert np.ptp(d_loss) > 0  # really per example, not a broadcast batch mean
    expected_d, expected_g = reference(mode, real.astype("float64"), fake.astype("float64"))
    np.testing.assert_allclose(d_loss.mean(), expected_d, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g_loss.mean(), expected_g, rtol=1e-5, atol=1e-6)


def test_per_example_value_is_the_mean_over_that_example():
    real = tf.constant([[1.0, 3.0], [0.0, 2.0]])  # [B=2, 2]
    fake = tf.constant([[0.0, 0.0], [2.0, 2.0]])
    np.testing.assert_allclose(discriminator_loss("wgan", real, fake), [-2.0, 1.0])
    # lsgan: 0.5 * (mean((real - 1)^2) + mean(fake^2))
    np.testing.assert_allclose(discriminator_loss("lsgan", real, fake), [1.0, 2.5])


def test_relativistic_targets_option_matches_enlightengan():
    real = tf.constant([[0.5], [1.5]])
    fake = tf.constant([[0.0], [1.0]])  # batch means: real 1.0, fake 0.5
    # EnlightenGAN: D = ((D(r) - mean D(f) - 1)^2 + (D(f) - mean D(r))^2) / 2.
    d_loss = discriminator_loss("ragan_ls", real, fake, relativistic_targets=(1.0, 0.0))
    np.testing.assert_allclose(d_loss, [0.5 * (1.0 + 1.0), 0.5 * (0.0 + 0.0)])
    # G swaps the targets: ((D(r) - mean D(f))^2 + (D(f) - mean D(r) - 1)^2) / 2.
    g_loss = generator_loss("ragan_ls", fake, real, relativistic_targets=(1.0, 0.0))
    np.testing.assert_allclose(g_loss, [0.5 * (0.0 + 4.0), 0.5 * (1.0 + 1.0)])


def test_ragan_generator_loss_needs_real_logits():
    with pytest.raises(ValueError, match="real_logits"):
        generator_loss("ragan_ls", tf.zeros([2, 1]))


@pytest.mark.parametrize("call", [discriminator_loss, lambda m, a, b: generator_loss(m, a, b)])
def test_bad_mode_names_mode_and_valid_ones(call):
    with pytest.raises(ValueError, match="'hinge'.*vanilla, lsgan, wgan, ragan_ls"):
        call("hinge", tf.zeros([2, 1]), tf.zeros([2, 1]))


# Gradient penalty ---------------------------------------------------------------------------


def test_gradient_penalty_of_linear_critic_is_known():
    # critic(x) = sum(w * x) per example: the input gradient is w, whatever alpha is.
    w = tf.Variable(tf.random.stateless_normal([4, 4, 3], seed=[1, 2]) * 0.2)

    def critic(x):
        return tf.reduce_sum(w * x, axis=[1, 2, 3])

    real = tf.random.stateless_uniform([3, 4, 4, 3], seed=[3, 4])
    fake = tf.random.stateless_uniform([3, 4, 4, 3], seed=[5, 6])
    norm = tf.norm(w)
    with tf.GradientTape() as tape:
        penalty = gradient_penalty(critic, real, fake)
        total = tf.reduce_sum(penalty)
    np.testing.assert_allclose(penalty, [float((norm - 1.0) ** 2)] * 3, rtol=1e-5)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||, for each of the 3 examples.
    expected = 3 * 2.0 * (norm - 1.0) * w / norm
    np.testing.assert_allclose(tape.gradient(total, w), expected, rtol=1e-4, atol=1e-6)


def test_gradient_penalty_uses_alpha_and_a_per_example_norm():
    # critic(x) = sum(x^2): gradient 2 x_hat, norm over all pixels and channels of an example.
    real = tf.ones([2, 2, 2, 3])
    fake = tf.zeros([2, 2, 2, 3])
    alpha = tf.constant([0.25, 0.5])[:, None, None, None]
    penalty = gradient_penalty(lambda x: tf.square(x), real, fake, alpha=alpha)
    n = np.sqrt(2 * 2 * 3)
    np.testing.assert_allclose(
        penalty, [(2 * 0.25 * n - 1) ** 2, (2 * 0.5 * n - 1) ** 2], rtol=1e-5
    )


def test_gradient_penalty_draws_one_alpha_per_example():
    real, fake = tf.ones([6, 2, 2, 1]), tf.zeros([6, 2, 2, 1])
    penalty = gradient_penalty(lambda x: tf.square(x), real, fake, seed=7)
    assert penalty.shape == (6,)
    assert len(np.unique(penalty.numpy())) == 6


def test_gradient_penalty_in_replica_function_with_keras_critic():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        critic = keras.Sequential(
            [
                keras.Input((8, 8, 3)),
                keras.layers.Conv2D(4, 3, strides=2, padding="same"),
                keras.layers.LeakyReLU(0.2),
                keras.layers.Conv2D(1, 3, padding="same"),
            ]
        )

    @tf.function
    def step(real, fake):
        def replica_fn(real, fake):
            with tf.GradientTape() as tape:
                per_example = discriminator_loss("wgan", critic(real), critic(fake))
                per_example += 10.0 * gradient_penalty(critic, real, fake)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=2)
            return tape.gradient(loss, critic.trainable_variables)

        return strategy.run(replica_fn, args=(real, fake))

    grads = step(tf.random.uniform([2, 8, 8, 3]), tf.random.uniform([2, 8, 8, 3]))
    assert all(g is not None and np.all(np.isfinite(g)) for g in grads)


def test_gradient_penalty_in_tf_function_equals_eager_for_padded_leaky_critic():
    # [ZeroPadding2D -> Conv2D (bias) -> LeakyReLU] x 2 -> ZeroPadding2D -> Conv2D is the
    # PatchGAN pattern. With oneDNN on (TF 2.21's CPU default), Grappler's second remapper pass
    # folds the first LeakyRelu into the _FusedConv2D whose output LeakyReluGrad still reads,
    # logs "remapper failed: ... LeakyReluGrad exist for missing node ... BiasAdd" and drops
    # that pass. The penalty and its weight gradients must still equal the eager computation.
    keras.utils.set_random_seed(3)
    critic = keras.Sequential([keras.Input((None, None, 3))])
    for _ in range(2):
        critic.add(keras.layers.ZeroPadding2D(2))
        critic.add(keras.layers.Conv2D(4, 4, strides=2))
        critic.add(keras.layers.LeakyReLU(0.2))
    critic.add(keras.layers.ZeroPadding2D(2))
    critic.add(keras.layers.Conv2D(1, 4))
    real = tf.random.stateless_uniform([2, 16, 16, 3], seed=[7, 8], minval=-1.0)
    fake = tf.random.stateless_uniform([2, 16, 16, 3], seed=[9, 10], minval=-1.0)
    alpha = tf.constant([0.3, 0.8])[:, None, None, None]

    def step(real, fake):
        with tf.GradientTape() as tape:
            penalty = gradient_penalty(critic, real, fake, alpha=alpha)
            total = tf.reduce_sum(penalty)
        return penalty, tape.gradient(total, critic.trainable_variables)

    eager_penalty, eager_grads = step(real, fake)
    graph_penalty, graph_grads = tf.function(step)(real, fake)
    np.testing.assert_allclose(graph_penalty, eager_penalty, rtol=1e-5)
    assert [g is None for g in graph_grads] == [g is None for g in eager_grads]
    for graph, eager in zip(graph_grads, eager_grads):
        if eager is not None:
            scale = float(tf.reduce_max(tf.abs(eager)))
            np.testing.assert_allclose(graph, eager, rtol=1e-5, atol=1e-5 * scale)
