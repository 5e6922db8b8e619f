"""Adversarial losses: vanilla GAN, LSGAN, WGAN(-GP) and relativistic average LSGAN.

Every function takes raw discriminator outputs (logits, no sigmoid), of shape `[B]`, `[B, 1]`
or PatchGAN `[B, h, w, 1]`, and returns one float32 value per example, shape `[B]`: the mean
over all non-batch axes. Reduce with `tf.nn.compute_average_loss` (see `tfrestore.losses`).
"""

import keras
import tensorflow as tf

from tfrestore.losses._reduce import per_example_mean

ADVERSARIAL_MODES = ("vanilla", "lsgan", "wgan", "ragan_ls")

# Targets of the relativistic LSGAN for (real - mean fake, fake - mean real) in the
# discriminator loss; the generator loss swaps them. MEDFE uses +-1; EnlightenGAN uses (1, 0).
_RAGAN_TARGETS = (1.0, -1.0)


def _check_mode(mode):
    if mode not in ADVERSARIAL_MODES:
        raise ValueError(
            f"Unknown adversarial mode {mode!r}; expected one of {', '.join(ADVERSARIAL_MODES)}."
        )


def _bce(logits, target):
    # Binary cross-entropy with logits against a constant target (1 = real, 0 = fake).
    logits = tf.cast(logits, tf.float32)
    labels = tf.fill(tf.shape(logits), target)
    return per_example_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def _global_mean(logits):
    """Mean over the global batch: under a multi-replica strategy, over every replica's
    examples (a differentiable all-reduce), so N replicas compute what one replica with the
    whole batch computes, as upstream does with its batch."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tf.reduce_mean(logits)
    total, count = context.all_reduce(
        tf.distribute.ReduceOp.SUM,
        [tf.reduce_sum(logits), tf.cast(tf.size(logits), tf.float32)],
    )
    return total / count


def _relativistic(real_logits, fake_logits, real_target, fake_target):
    # Relativistic average LSGAN term; the average runs over the global batch.
    real_logits = tf.cast(real_logits, tf.float32)
    fake_logits = tf.cast(fake_logits, tf.float32)
    real_rel = real_logits - _global_mean(fake_logits)
    fake_rel = fake_logits - _global_mean(real_logits)
    return 0.5 * (
        per_example_mean(tf.square(real_rel - real_target))
        + per_example_mean(tf.square(fake_rel - fake_target))
    )


def discriminator_loss(mode, real_logits, fake_logits, *, relativistic_targets=_RAGAN_TARGETS):
    """Per-example discriminator (critic) loss, shape `[B]`.

    Args:
        mode: one of `ADVERSARIAL_MODES`.
            - `"vanilla"`: `0.5 * (BCE(D(real), 1) + BCE(D(fake), 0))` with logits (the 0.5 is
              DeblurGAN's; AttentiveGAN's TF port sums the two terms: multiply by 2).
            - `"lsgan"`: `0.5 * ((D(real) - 1)^2 + D(fake)^2)` (Mao et al.). DeblurGAN's "lsgan"
              path used an L1 distance by mistake; this is the paper's squared error.
            - `"wgan"`: `D(fake) - D(real)`, the WGAN critic loss; add
              `gradient_penalty_weight * gradient_penalty(...)` for WGAN-GP.
            - `"ragan_ls"`: relativistic average LSGAN (EnlightenGAN, MEDFE):
              `0.5 * ((D(real) - mean D(fake) - 1)^2 + (D(fake) - mean D(real) + 1)^2)`.
              The means run over the global batch: all replicas' examples under a
              multi-replica strategy (as upstream, which sees its whole batch).
        real_logits: discriminator output on real images, `[B, ...]`.
        fake_logits: discriminator output on restored images, same shape.
        relativistic_targets: `(real_target, fake_target)` of `"ragan_ls"`, default `(1, -1)`
            (MEDFE). EnlightenGAN's code uses `(1, 0)`.

    Returns:
        float32 `[B]`: each example's loss averaged over its logits (PatchGAN positions).

    Example:
        >>> per_example = discriminator_loss("lsgan", d(target), d(restored))
        >>> loss = tf.nn.compute_average_loss(per_example, global_batch_size=batch)
    """
    _check_mode(mode)
    if mode == "vanilla":
        return 0.5 * (_bce(real_logits, 1.0) + _bce(fake_logits, 0.0))
    if mode == "lsgan":
        real_logits = tf.cast(real_logits, tf.float32)
        fake_logits = tf.cast(fake_logits, tf.float32)
        return 0.5 * (
            per_example_mean(tf.square(real_logits - 1.0))
            + per_example_mean(tf.square(fake_logits))
        )
    if mode == "wgan":
        return per_example_mean(fake_logits) - per_example_mean(real_logits)
    real_target, fake_target = relativistic_targets
    return _relativistic(real_logits, fake_logits, real_target, fake_target)


def generator_loss(mode, fake_logits, real_logits=None, *, relativistic_targets=_RAGAN_TARGETS):
    """Per-example adversarial loss of the generator, shape `[B]`.

    Args:
        mode: one of `ADVERSARIAL_MODES`.
            - `"vanilla"`: `BCE(D(fake), 1)`, the non-saturating loss (AttentiveGAN's TF port
              minimises the saturating `log(1 - D(fake))` instead).
            - `"lsgan"`: `(D(fake) - 1)^2`.
            - `"wgan"`: `-D(fake)`.
            - `"ragan_ls"`: the discriminator's targets swapped, `0.5 * ((D(real) - mean D(fake)
              + 1)^2 + (D(fake) - mean D(real) - 1)^2)`; needs `real_logits`.
        fake_logits: discriminator output on restored images, `[B, ...]`.
        real_logits: discriminator output on real images; required for `"ragan_ls"`, ignored
            otherwise.
        relativistic_targets: as in `discriminator_loss`.

    Returns:
        float32 `[B]`.
    """
    _check_mode(mode)
    if mode == "vanilla":
        return _bce(fake_logits, 1.0)
    if mode == "lsgan":
        return per_example_mean(tf.square(tf.cast(fake_logits, tf.float32) - 1.0))
    if mode == "wgan":
        return -per_example_mean(fake_logits)
    if real_logits is None:
        raise ValueError(
            "generator_loss('ragan_ls', ...) needs real_logits: the relativistic loss compares "
            "D(fake) with the mean of D(real)."
        )
    real_target, fake_target = relativistic_targets
    return _relativistic(real_logits, fake_logits, fake_target, real_target)


def gradient_penalty(critic, real, fake, alpha=None, seed=None):
    """Per-example WGAN-GP gradient penalty, `(||grad critic(x_hat)||_2 - 1)^2`, shape `[B]`.

    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017:
    `x_hat = alpha * real + (1 - alpha) * fake` with one `alpha ~ U(0, 1)` per example, and the
    L2 norm of the gradient of `sum(critic(x_hat))` taken over all non-batch axes of each
    example. DeblurGAN's code differs: one scalar alpha for the whole batch and a per-pixel norm
    over channels; we follow the paper.

    The input gradient comes from a nested `tf.GradientTape`, so this works inside a replica
    function and inside an outer tape over the critic's weights (the penalty is differentiable
    with respect to them).

    Args:
        critic: callable mapping images `[B, H, W, C]` to scores `[B, ...]`; a Keras layer or
            model is called with `training=True`.
        real: real images `[B, H, W, C]`.
        fake: generated images, same shape (pass them without generator gradients).
        alpha: optional interpolation weights broadcastable to `real`, e.g. `[B, 1, 1, 1]`;
            drawn from U(0, 1) per example when None.
        seed: optional op-level seed for `tf.random.uniform` when alpha is drawn.

    Returns:
        float32 `[B]`. Multiply by the penalty weight (10 in the paper and DeblurGAN).
    """
    real = tf.cast(real, tf.float32)
    fake = tf.cast(fake, tf.float32)
    if alpha is None:
        shape = [tf.shape(real)[0]] + [1] * (real.shape.rank - 1)
        alpha = tf.random.uniform(shape, seed=seed)
    alpha = tf.cast(alpha, tf.float32)
    interpolated = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        if isinstance(critic, keras.layers.Layer):
            scores = critic(interpolated, training=True)
        else:
            scores = critic(interpolated)
        total = tf.reduce_sum(tf.cast(scores, tf.float32))
    grads = tape.gradient(total, interpolated)
    grads = tf.reshape(grads, [tf.shape(grads)[0], -1])  # [B, H*W*C]
    # The epsilon keeps the gradient of sqrt finite if a gradient is exactly zero.
    norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + 1e-12)
    return tf.square(norm - 1.0)
