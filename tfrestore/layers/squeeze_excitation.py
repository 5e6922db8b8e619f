"""Squeeze-and-excitation: channels reweighted by a gate computed from their global mean."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfrestore")
class SqueezeExcitation(keras.layers.Layer):
    """Scales each channel by a sigmoid gate computed from the channels' global averages.

    Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018, as MEDFE's `SELayer` (first step
    of feature equalization): global average pool, 1x1 conv C -> C // reduction (bias) + ReLU,
    1x1 conv -> C (bias) + sigmoid, times the input.

    The two convolutions are `keras.layers.Conv2D` sublayers named `f"{name}_fc_0"` and
    `f"{name}_fc_2"` after upstream's `fc.0` and `fc.2`, so a layer named `base_model_0` takes
    the PyTorch keys `base.model.0.fc.{0,2}.{weight,bias}` in `load_state_dict`.

    Args:
        reduction: int (default 16), channel reduction of the bottleneck; C // reduction
            must be at least 1.
        kernel_initializer: initializer of both 1x1 kernels (default glorot_uniform; MEDFE
            uses `tfrestore.layers.upstream_normal()`).

    Shapes: [B, H, W, C] -> [B, H, W, C], any B, H, W.

    Example:
        >>> SqueezeExcitation(reduction=16, name="base_model_0")(tf.zeros([2, 32, 32, 512])).shape
        TensorShape([2, 32, 32, 512])

    Differs from upstream: nothing numerically; the pool is a mean over H, W rather than
    `AdaptiveAvgPool2d(1)`, the same thing.
    """

    def __init__(self, reduction=16, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if int(reduction) != reduction or reduction < 1:
            raise ValueError(
                f"SqueezeExcitation reduction must be a positive int, got {reduction!r}"
            )
        self.reduction = int(reduction)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        # Filters are set in build() once the channel count is known.
        self.fc_0 = None
        self.fc_2 = None

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels // self.reduction < 1:
            raise ValueError(
                f"{self.name} needs a static channel count of at least reduction="
                f"{self.reduction}, got input shape {input_shape}"
            )
        initializer = keras.initializers.serialize(self.kernel_initializer)
        self.fc_0 = keras.layers.Conv2D(
            channels // self.reduction,
            1,
            activation="relu",
            kernel_initializer=keras.initializers.deserialize(initializer),
            name=f"{self.name}_fc_0",
        )
        self.fc_2 = keras.layers.Conv2D(
            channels,
            1,
            activation="sigmoid",
            kernel_initializer=keras.initializers.deserialize(initializer),
            name=f"{self.name}_fc_2",
        )
        self.fc_0.build((None, 1, 1, channels))
        self.fc_2.build((None, 1, 1, channels // self.reduction))

    def call(self, inputs):
        squeezed = tf.reduce_mean(inputs, axis=[1, 2], keepdims=True)  # [B, 1, 1, C]
        return inputs * self.fc_2(self.fc_0(squeezed))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "reduction": self.reduction,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
