"""No-reference statistics for low-light enhancement: mean brightness and colorfulness.

Low-light methods are judged without a target (EnlightenGAN's maintainers: "PSNR/SSIM is not
suitable for low light"), so these take only the restored images: float32 RGB in [0, 1],
NHWC, and return one value per example, shape `[B]`. They are TensorFlow functions (they run
eagerly and inside `tf.function`/`tf.data`).

NIQE, the score EnlightenGAN reports, is not implemented: its natural-scene model parameters
come from the authors' MATLAB release, whose licence cannot be checked here, and a NIQE with
other parameters would not be comparable with published numbers.
"""

import tensorflow as tf

__all__ = ["LUMA_WEIGHTS", "colorfulness", "mean_brightness"]

# ITU-R BT.601 luma weights, the same ones EnlightenGAN's attention map uses.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _rgb_batch(images, caller):
    """`images` as a float32 tensor, with a ValueError if its static shape is not [B, H, W, 3]."""
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        raise ValueError(f"{caller}: images must be float in [0, 1], got dtype {images.dtype.name}")
    images = tf.cast(images, tf.float32)
    if images.shape.rank not in (None, 4) or images.shape[-1] not in (None, 3):
        raise ValueError(f"{caller}: images must be [B, H, W, 3] RGB, got shape {images.shape}")
    return images


def mean_brightness(images):
    """Per-example mean luma, `0.299 R + 0.587 G + 0.114 B` averaged over the pixels.

    Args:
        images: float [B, H, W, 3] RGB in [0, 1].

    Returns:
        float32 `[B]` in [0, 1].

    Example:
        >>> mean_brightness(tf.fill([2, 8, 8, 3], 0.5))  # [0.5, 0.5]
    """
    images = _rgb_batch(images, "mean_brightness")
    luma = tf.tensordot(images, tf.constant(LUMA_WEIGHTS, tf.float32), axes=[[3], [0]])
    return tf.reduce_mean(luma, axis=[1, 2])


def colorfulness(images):
    """Per-example colorfulness of Hasler & Süsstrunk (2003), on the 0..255 scale.

    Hasler and Süsstrunk, "Measuring colourfulness in natural images", SPIE Human Vision and
    Electronic Imaging 2003 (their metric M^(3)): with `rg = R - G` and
    `yb = (R + G) / 2 - B` over the pixels of one image,
    `C = sqrt(std_rg^2 + std_yb^2) + 0.3 * sqrt(mean_rg^2 + mean_yb^2)`, with population
    standard deviations. The paper works on 8-bit values, so the [0, 1] images are scaled by
    255 first: C is 0 for any gray image, and the paper's anchors (15 "slightly", 33
    "moderately", 59 "quite", 82 "highly", 109 "extremely colourful") apply.

    Args:
        images: float [B, H, W, 3] RGB in [0, 1].

    Returns:
        float32 `[B]`, >= 0.

    Example:
        >>> colorfulness(tf.fill([1, 8, 8, 3], 0.5))  # [0.0]
    """
    images = _rgb_batch(images, "colorfulness") * 255.0
    red, green, blue = tf.unstack(images, axis=-1)
    rg = red - green
    yb = 0.5 * (red + green) - blue
    mean_rg, var_rg = tf.nn.moments(rg, axes=[1, 2])
    mean_yb, var_yb = tf.nn.moments(yb, axes=[1, 2])
    return tf.sqrt(var_rg + var_yb) + 0.3 * tf.sqrt(tf.square(mean_rg) + tf.square(mean_yb))
