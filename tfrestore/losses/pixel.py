"""Pixel losses: per-example mean absolute and mean squared error, with optional weights."""

import tensorflow as tf

from tfrestore.losses._reduce import per_example_mean


def _weighted_mean(errors, weights):
    if weights is not None:
        errors = errors * tf.cast(weights, tf.float32)
    return per_example_mean(errors)


def l1_loss(y_true, y_pred, weights=None):
    """Per-example mean absolute error, shape `[B]`.

    Args:
        y_true: target images `[B, H, W, C]` (any value range; any rank >= 1).
        y_pred: predictions, same shape.
        weights: optional per-element weights broadcastable to `y_true`, e.g. `[B, H, W, 1]`.
            The result is `mean(weights * |y_pred - y_true|)` over the elements of each example
            (not divided by `sum(weights)`), the semantics of upstream weighted losses.

    Returns:
        float32 `[B]`.
    """
    errors = tf.abs(tf.cast(y_pred, tf.float32) - tf.cast(y_true, tf.float32))
    return _weighted_mean(errors, weights)


def l2_loss(y_true, y_pred, weights=None):
    """Per-example mean squared error, shape `[B]`.

    Args:
        y_true: target images `[B, H, W, C]` (any value range; any rank >= 1).
        y_pred: predictions, same shape.
        weights: optional per-element weights broadcastable to `y_true`; the result is
            `mean(weights * (y_pred - y_true)^2)` over the elements of each example, as in
            Context Encoders (weight 10 on the ring that overlaps the context, 1 inside).

    Returns:
        float32 `[B]`.
    """
    errors = tf.square(tf.cast(y_pred, tf.float32) - tf.cast(y_true, tf.float32))
    return _weighted_mean(errors, weights)
