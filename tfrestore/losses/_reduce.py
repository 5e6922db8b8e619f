"""Shared helpers for per-example losses."""

import tensorflow as tf


def per_example_mean(values):
    """Mean over every axis but the first: `[B, ...] -> [B]` float32 (a `[B]` input is kept)."""
    values = tf.cast(values, tf.float32)
    return tf.reduce_mean(tf.reshape(values, [tf.shape(values)[0], -1]), axis=1)
