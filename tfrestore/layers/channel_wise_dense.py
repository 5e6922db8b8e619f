"""The channel-wise fully connected layer of Context Encoders."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfrestore")
class ChannelWiseDense(keras.layers.Layer):
    """Fully connects all spatial positions of each channel, channel by channel.

    Pathak et al., "Context Encoders: Feature Learning by Inpainting", CVPR 2016, §3.1: each of
    the m feature maps of size n x n gets its own n² x n² dense map (m·n⁴ weights instead of a
    full layer's m²·n⁴), so distant positions inform each other without mixing channels; a
    stride-1 convolution after it mixes channels. Needs static height and width.

    Args:
        use_bias: bool (default True), a bias per channel and output position.
        kernel_initializer: initializer of the [C, HW, HW] kernel (default glorot_uniform).

    Example:
        >>> ChannelWiseDense()(tf.zeros([2, 4, 4, 512])).shape
        TensorShape([2, 4, 4, 512])
    """

    def __init__(self, use_bias=True, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        _, height, width, channels = input_shape
        if height is None or width is None:
            raise ValueError(f"{self.name} needs a static height and width, got {input_shape}")
        positions = height * width
        self.kernel = self.add_weight(
            shape=(channels, positions, positions),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(channels, positions), initializer="zeros", name="bias"
            )

    def call(self, inputs):
        shape = tf.shape(inputs)
        batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
        # [B, H, W, C] -> [C, B, HW]: one matmul per channel, batched over channels.
        x = tf.reshape(tf.transpose(inputs, [3, 0, 1, 2]), [channels, batch, height * width])
        y = tf.matmul(x, self.kernel)  # [C, B, HW] @ [C, HW, HW]
        if self.use_bias:
            y = y + self.bias[:, None, :]
        return tf.transpose(tf.reshape(y, [channels, batch, height, width]), [1, 2, 3, 0])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
