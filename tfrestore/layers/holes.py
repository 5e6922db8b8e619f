"""Filling the holes of a masked image: what the inpainting models feed their generators.

The Context Encoder and MEDFE fill the missing pixels (mask = 1) with a mean pixel before the
generator sees them; `tfrestore.data.inpainting_dataset` makes its training inputs the same way.
"""

import numpy as np
import tensorflow as tf

__all__ = ["DATASET_MEAN", "DATASET_MEAN_FLOAT", "fill_holes"]

# The Context Encoder fills holes with this mean pixel (R, G, B in 0..255; `train.lua` writes
# it as 2*v/255 - 1 in its [-1, 1] range). MEDFE and our wrappers use the same fill.
DATASET_MEAN = (117, 104, 123)
DATASET_MEAN_FLOAT = tuple(value / 255 for value in DATASET_MEAN)


def _check_fill_shapes(image_shape, mask_shape, value_shape):
    """ValueErrors for static shapes that cannot be an image, its mask and a fill value."""
    if image_shape.rank is not None and image_shape.rank not in (3, 4):
        raise ValueError(f"image must be [H, W, C] or [N, H, W, C], got shape {image_shape}")
    if mask_shape.rank is not None and image_shape.rank is not None:
        if mask_shape.rank != image_shape.rank or mask_shape[-1] not in (None, 1):
            raise ValueError(
                f"mask must have the image's shape with 1 channel ({image_shape[:-1]} + [1]), "
                f"got {mask_shape}"
            )
        if not mask_shape[:-1].is_compatible_with(image_shape[:-1]):
            raise ValueError(
                f"mask {mask_shape} and image {image_shape} must match in batch, height and width"
            )
    if value_shape.rank not in (0, 1) or (
        value_shape.rank == 1 and not value_shape.is_compatible_with(image_shape[-1:])
    ):
        raise ValueError(
            f"value must be a number or one value per image channel, got shape {value_shape}"
        )


def fill_holes(image, mask, value=DATASET_MEAN_FLOAT):
    """`image * (1 - mask) + value * mask`: the holes (mask = 1) take the fill value.

    Known pixels (mask = 0) are kept exactly and hole pixels become exactly `value`; soft
    masks blend. Works on numpy arrays (returns float32 numpy) and on TensorFlow tensors
    (returns a tensor, graph-safe), batched or not.

    Args:
        image: [H, W, C] or [N, H, W, C], float in [0, 1].
        mask: same shape with C = 1, 1 = missing pixel.
        value: a number or C numbers (default `DATASET_MEAN_FLOAT`, the Context Encoder's
            mean pixel).

    Example:
        >>> masked = fill_holes(image, center_mask())  # the Context Encoder's input
    """
    if tf.is_tensor(image) or tf.is_tensor(mask):
        image = tf.convert_to_tensor(image)
        dtype = image.dtype if image.dtype.is_floating else tf.float32
        image = tf.cast(image, dtype)
        mask = tf.cast(mask, dtype)
        value = tf.cast(value, dtype)
        _check_fill_shapes(image.shape, mask.shape, value.shape)
        return image * (1 - mask) + value * mask
    image = np.asarray(image, dtype=np.float32)
    mask = np.asarray(mask, dtype=np.float32)
    value = np.asarray(value, dtype=np.float32)
    _check_fill_shapes(
        tf.TensorShape(image.shape), tf.TensorShape(mask.shape), tf.TensorShape(value.shape)
    )
    return image * (1 - mask) + value * mask
