"""Normalization layers, and image-wide statistics for instance norm on tiles."""

import contextlib
import threading

import keras
import tensorflow as tf

_statistics = threading.local()  # .recorded: list, or .fixed: [B, K] tensor and .offset


@contextlib.contextmanager
def recording_statistics():
    """Every `InstanceNormalization` called (or traced) inside records its statistics.

    Yields a list that receives one (mean, variance) pair of [B, 1, 1, C] tensors per call, in
    call order; `pack_statistics` turns it into the [B, K] rows `fixed_statistics` takes.
    """
    recorded = []
    _statistics.recorded, previous = recorded, getattr(_statistics, "recorded", None)
    try:
        yield recorded
    finally:
        _statistics.recorded = previous


@contextlib.contextmanager
def fixed_statistics(statistics):
    """Every `InstanceNormalization` called (or traced) inside uses the given statistics
    instead of its input's: the next 2C columns of `statistics` ([B, K], as
    `pack_statistics` packs them), in call order, are its mean and variance per channel.

    Tiles of a large image normalized with the statistics of the whole image (or of a
    downscaled copy) give what the whole image gives (`tfrestore.tiling`).
    """
    previous = getattr(_statistics, "fixed", None), getattr(_statistics, "offset", 0)
    _statistics.fixed, _statistics.offset = statistics, 0
    try:
        yield
    finally:
        _statistics.fixed, _statistics.offset = previous


def pack_statistics(recorded, batch_size):
    """[B, K] float32 rows from recorded (mean, variance) pairs: per layer, C means then C
    variances (K = 0 for a model without instance norm)."""
    if not recorded:
        return tf.zeros([batch_size, 0], tf.float32)
    parts = []
    for mean, variance in recorded:
        channels = mean.shape[-1]
        parts += [tf.reshape(mean, [-1, channels]), tf.reshape(variance, [-1, channels])]
    return tf.concat(parts, axis=1)


def _moments(inputs):
    """(mean, variance) [B, 1, 1, C] for instance norm: the input's own, unless
    `fixed_statistics` is active; recorded when `recording_statistics` is."""
    fixed = getattr(_statistics, "fixed", None)
    if fixed is not None:
        channels, offset = inputs.shape[-1], _statistics.offset
        _statistics.offset = offset + 2 * channels
        mean = tf.reshape(fixed[:, offset : offset + channels], [-1, 1, 1, channels])
        variance = fixed[:, offset + channels : offset + 2 * channels]
        return mean, tf.reshape(variance, [-1, 1, 1, channels])
    mean, variance = tf.nn.moments(inputs, axes=[1, 2], keepdims=True)
    recorded = getattr(_statistics, "recorded", None)
    if recorded is not None:
        recorded.append((mean, variance))
    return mean, variance


@keras.saving.register_keras_serializable(package="tfrestore")
class InstanceNormalization(keras.layers.Layer):
    """Instance normalization: each image and channel normalized over height and width.

    Written by hand (mean and variance over H, W, then rsqrt) rather than as
    `keras.layers.GroupNormalization(groups=-1)`, whose reshapes cost DeblurGAN's TFLite graph
    30% of its latency (256x256, 2 threads: 1.27 s with it, 0.89 s with this). Matches PyTorch
    `nn.InstanceNorm2d` (biased variance).

    Args:
        epsilon: float, added to the variance (default 1e-5, PyTorch's default; Keras' norms
            use 1e-3).
        affine: bool, learn a per-channel scale and offset (default False, as PyTorch's
            `InstanceNorm2d` and DeblurGAN).

    Inside `fixed_statistics(rows)` it normalizes with given statistics instead of its
    input's, and inside `recording_statistics()` it records them: tiles of a large image then
    use the whole image's (`tfrestore.tiling`).

    Example:
        >>> y = InstanceNormalization()(tf.random.normal([2, 16, 16, 8]))
    """

    def __init__(self, epsilon=1e-5, affine=False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.affine = bool(affine)

    def build(self, input_shape):
        if self.affine:
            channels = input_shape[-1]
            self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
            self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, inputs):
        # Statistics in float32 under a mixed policy: a float16 variance overflows past 65504
        # and its epsilon rounds away.
        x = tf.cast(inputs, tf.float32)
        mean, variance = _moments(x)
        outputs = tf.cast((x - mean) * tf.math.rsqrt(variance + self.epsilon), inputs.dtype)
        if self.affine:
            outputs = outputs * self.gamma + self.beta
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "affine": self.affine}


def batch_norm(name, synchronized=True):
    """BatchNorm with PyTorch's defaults (eps 1e-5, momentum 0.1 = Keras 0.9) and pix2pix/DCGAN
    `weights_init` (gamma ~ N(1, 0.02)); `synchronized` averages statistics over replicas."""
    return keras.layers.BatchNormalization(
        momentum=0.9,
        epsilon=1e-5,
        gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
        synchronized=synchronized,
        name=name,
    )
