"""PSNR and SSIM: per-example functions and Keras metrics that average them."""

import keras
import tensorflow as tf

# tf.image.ssim's Gaussian window (Wang et al. 2004): 11x11, sigma 1.5.
_SSIM_FILTER_SIZE = 11


def psnr(y_true, y_pred, max_val=1.0):
    """Per-example peak signal-to-noise ratio in dB, shape `[B]`.

    `10 * log10(max_val^2 / MSE)` with the MSE over all pixels and channels of each example
    (`tf.image.psnr`). Identical images give `inf` (as TensorFlow and scikit-image do), and so
    does a `PSNR` metric that averages them.

    Args:
        y_true: target images `[B, H, W, C]`.
        y_pred: restored images, same shape.
        max_val: dynamic range of the images; 1.0 for the [0, 1] public convention.

    Returns:
        float32 `[B]`.
    """
    return tf.image.psnr(tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32), max_val)


def ssim(y_true, y_pred, max_val=1.0):
    """Per-example structural similarity, shape `[B]`.

    Wang et al., "Image Quality Assessment: From Error Visibility to Structural Similarity",
    IEEE TIP 2004, via `tf.image.ssim`: 11x11 Gaussian window with sigma 1.5, k1 = 0.01,
    k2 = 0.03, population (not sample) covariances, mean over the valid positions and the
    channels. Equals `skimage.metrics.structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=max_val, channel_axis=-1)`.

    Args:
        y_true: target images `[B, H, W, C]`, H and W >= 11.
        y_pred: restored images, same shape.
        max_val: dynamic range of the images; 1.0 for the [0, 1] public convention.

    Returns:
        float32 `[B]`.
    """
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    height, width = y_true.shape[-3], y_true.shape[-2]
    if (height is not None and height < _SSIM_FILTER_SIZE) or (
        width is not None and width < _SSIM_FILTER_SIZE
    ):
        raise ValueError(
            f"SSIM needs images of at least {_SSIM_FILTER_SIZE}x{_SSIM_FILTER_SIZE} pixels "
            f"(its Gaussian window); got {height}x{width}."
        )
    return tf.image.ssim(
        y_true, y_pred, max_val, filter_size=_SSIM_FILTER_SIZE, filter_sigma=1.5, k1=0.01, k2=0.03
    )


@keras.saving.register_keras_serializable(package="tfrestore")
class PSNR(keras.metrics.Mean):
    """Mean per-example PSNR in dB over everything seen since the last reset.

    Args:
        name: metric name, default `"psnr"`.
        max_val: dynamic range of the images, default 1.0.
        dtype: metric dtype.

    Example:
        >>> metric = PSNR()
        >>> metric.update_state(target, restored)
        >>> metric.result()
    """

    def __init__(self, name="psnr", max_val=1.0, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.max_val = float(max_val)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(psnr(y_true, y_pred, self.max_val), sample_weight)

    def get_config(self):
        return {**super().get_config(), "max_val": self.max_val}


@keras.saving.register_keras_serializable(package="tfrestore")
class SSIM(keras.metrics.Mean):
    """Mean per-example SSIM over everything seen since the last reset (images >= 11x11).

    Args:
        name: metric name, default `"ssim"`.
        max_val: dynamic range of the images, default 1.0.
        dtype: metric dtype.

    Example:
        >>> metric = SSIM()
        >>> metric.update_state(target, restored)
        >>> metric.result()
    """

    def __init__(self, name="ssim", max_val=1.0, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.max_val = float(max_val)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(ssim(y_true, y_pred, self.max_val), sample_weight)

    def get_config(self):
        return {**super().get_config(), "max_val": self.max_val}
