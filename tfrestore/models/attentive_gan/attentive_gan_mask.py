"""AttentiveGAN's attention target: the binary raindrop mask M of a rainy/clean pair.

The model computes M inside its train and test steps from each `(degraded, target)` batch, so
any paired raindrop data (the Raindrop dataset, `tfrestore.data.synthetic_raindrop_dataset`)
trains the attention maps without stored masks.
"""

import numpy as np
import tensorflow as tf

__all__ = ["elliptical_kernel", "raindrop_mask"]


def elliptical_kernel(size):
    """A binary (size, size) ellipse like OpenCV's `getStructuringElement(MORPH_ELLIPSE)`."""
    radius = size // 2
    kernel = np.zeros((size, size), bool)
    for row in range(size):
        offset = (row - radius) / radius if radius else 0.0
        half = int(round(radius * np.sqrt(max(0.0, 1.0 - offset**2))))
        kernel[row, radius - half : radius + half + 1] = True
    return kernel


def _morphology(mask, kernel, operation):
    """Flat binary dilation or erosion of a {0, 1} mask by a symmetric kernel.

    For a binary mask, dilation is "some pixel under the kernel is set" and erosion "no pixel
    under the kernel is unset", so a convolution with the kernel counting them gives both
    exactly. Pixels outside the image count as neither (as `tf.nn.dilation2d` and
    `erosion2d` with SAME padding): zero padding of `mask` and of `1 - mask` does that. A
    convolution, not those ops: XLA has no Dilation2D kernel, so they stop `jit_compile`.
    """
    weights = tf.constant(kernel[:, :, None, None], tf.float32)
    if operation == "dilate":
        return tf.cast(tf.nn.conv2d(mask, weights, 1, "SAME") > 0.5, tf.float32)
    return tf.cast(tf.nn.conv2d(1.0 - mask, weights, 1, "SAME") < 0.5, tf.float32)


def raindrop_mask(rainy, clean, threshold=35 / 255, kernel_size=5):
    """The binary raindrop mask M of a rainy/clean pair, as AttentiveGAN's TF port makes it.

    `sum_c |rainy - clean| >= threshold`, then a morphological closing and opening with an
    elliptical kernel (MaybeShewill-CV/attentive-gan-derainnet `morph_process`: threshold 35 on
    the 3-channel sum of 8-bit differences, 5x5 ellipse). The unofficial PyTorch code thresholds
    the per-channel maximum at 30/255 instead; the paper leaves it open (upstream issue #88).

    Args:
        rainy, clean: float32 [B, H, W, 3] in [0, 1].
        threshold: float, on the channel-summed absolute difference (default 35/255).
        kernel_size: int, odd ellipse size for closing and opening (default 5; 0 or 1: none).

    Returns:
        float32 [B, H, W, 1] in {0, 1}, 1 = raindrop.
    """
    difference = tf.reduce_sum(tf.abs(rainy - clean), axis=-1, keepdims=True)
    mask = tf.cast(difference >= threshold, tf.float32)
    if kernel_size and kernel_size > 1:
        kernel = elliptical_kernel(kernel_size)
        for first, second in (("dilate", "erode"), ("erode", "dilate")):  # close, then open
            mask = _morphology(_morphology(mask, kernel, first), kernel, second)
    return tf.clip_by_value(mask, 0.0, 1.0)
