"""Padding layers and the pad-to-a-multiple helpers shared by all size-constrained models."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfrestore")
class ReflectionPadding2D(keras.layers.Layer):
    """Reflection padding of the spatial axes, like PyTorch's `nn.ReflectionPad2d`.

    Exports to TFLite as the builtin MIRROR_PAD op.

    Args:
        padding: int, pixels added on each side of height and width (default 1). Must be
            smaller than the input's height and width.

    Example:
        >>> ReflectionPadding2D(3)(tf.zeros([1, 8, 8, 3])).shape
        TensorShape([1, 14, 14, 3])
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if int(padding) < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        self.padding = int(padding)

    def call(self, inputs):
        p = self.padding
        return tf.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def compute_output_shape(self, input_shape):
        def grow(size):
            return None if size is None else size + 2 * self.padding

        return (input_shape[0], grow(input_shape[1]), grow(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def pad_to_multiple(images, multiple):
    """Reflect-pads NHWC `images` at the bottom and right so H and W are multiples of `multiple`.

    Returns the padded images and the original (height, width) for `crop_to_size`. Works with
    dynamic shapes inside `tf.function` and in exported graphs (TFLite MIRROR_PAD). Reflection
    needs the pad to be smaller than the image: any image of at least `multiple` pixels a side
    works.
    """
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    pad_h = (multiple - height % multiple) % multiple
    pad_w = (multiple - width % multiple) % multiple
    padded = tf.pad(images, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT")
    # Computed paddings lose the static channel count, which TFLite's CONV_2D needs (without
    # it the converter asks for a Flex Conv2D); a reshape restores it.
    padded = tf.reshape(padded, [shape[0], height + pad_h, width + pad_w, images.shape[-1]])
    return padded, (height, width)


def crop_to_size(images, size):
    """Crops NHWC `images` back to `size` = (height, width) from the top-left corner."""
    height, width = size
    return images[:, :height, :width, :]
