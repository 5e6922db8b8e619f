"""Padding layers and the pad-to-a-multiple helpers shared by all size-constrained models."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfrestore")
class ReflectionPadding2D(keras.layers.Layer):
    """Reflection padding of the spatial axes, like PyTorch's `nn.ReflectionPad2d`.

    Built from slices and concatenations (`reflect_pad`) rather than `tf.pad(mode="REFLECT")`:
    the same values, but LiteRT's XNNPACK delegate runs STRIDED_SLICE and CONCATENATION and
    not MIRROR_PAD, which ran on the reference kernels between partitions (DeblurGAN's 21
    MIRROR_PADs split its float32 graph into 24 partitions).

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
        return reflect_pad(inputs, self.padding)

    def compute_output_shape(self, input_shape):
        def grow(size):
            return None if size is None else size + 2 * self.padding

        return (input_shape[0], grow(input_shape[1]), grow(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def _reflect_axis(images, axis, before, after):
    """Reflects `before` rows (or columns) at the start of `axis` and `after` at its end."""

    def row(start):  # one row as a slice with static bounds (negative from the end)
        index = [slice(None)] * 4
        index[axis] = slice(start, start + 1 if start != -1 else None)
        return images[tuple(index)]

    top = _concat([row(i) for i in range(before, 0, -1)], axis)
    bottom = _concat([row(-1 - i) for i in range(1, after + 1)], axis)
    return _concat([piece for piece in (top, images, bottom) if piece is not None], axis)


def _concat(pieces, axis, most=4):
    """`tf.concat` as a tree of concatenations of at most `most` tensors each (XNNPACK
    delegates CONCATENATION of up to 4 inputs only); None for no pieces."""
    if len(pieces) <= 1:
        return pieces[0] if pieces else None
    while len(pieces) > most:
        pieces = [_concat(pieces[i : i + most], axis) for i in range(0, len(pieces), most)]
    return tf.concat(pieces, axis)


def reflect_pad(images, padding):
    """`tf.pad(images, ..., mode="REFLECT")` of NHWC `images` on height and width, written as
    slices with static bounds and concatenations.

    Each slice takes one row or column (`images[:, i:i + 1]`, `images[:, -1 - i:-i]`), so the
    bounds are constants even when height and width are dynamic, which XNNPACK needs to
    delegate the slices. Like MIRROR_PAD, each amount must be smaller than the padded side.

    Args:
        images: [B, H, W, C] tensor.
        padding: int (the same on all four sides) or ((top, bottom), (left, right)).
    """
    if isinstance(padding, int):
        padding = ((padding, padding), (padding, padding))
    (top, bottom), (left, right) = padding
    return _reflect_axis(_reflect_axis(images, 1, top, bottom), 2, left, right)


def pad_to_multiple(images, multiple):
    """Reflect-pads NHWC `images` at the bottom and right so H and W are multiples of `multiple`.

    Returns the padded images and the original (height, width) for `crop_to_size`. Works with
    dynamic shapes inside `tf.function` and in exported graphs (TFLite MIRROR_PAD). Reflection
    needs the pad to be smaller than the image: any image of at least `multiple` pixels a side
    works.
    """
    static_height, static_width = images.shape[1:3]
    if static_height is not None and static_width is not None:
        # Known sizes (a fixed-size export): constant pads, as slices XNNPACK delegates, and
        # none of the shape arithmetic below in the graph.
        pad_h = -static_height % multiple
        pad_w = -static_width % multiple
        return reflect_pad(images, ((0, pad_h), (0, pad_w))), (static_height, static_width)
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
