"""Image quality metrics: PSNR and SSIM; no-reference brightness and colorfulness.

`psnr` and `ssim` return per-example values, shape `[B]`; `PSNR` and `SSIM` are Keras metrics
(`keras.metrics.Mean` subclasses) that average them over every example seen.
`mean_brightness` and `colorfulness` need no target (for low-light enhancement), also `[B]`.
`hole_scores` scores inpainting inside the holes only (numpy); `image_scores` gives a batch's
PSNR, SSIM, brightness and colorfulness at once (numpy).
"""

from tfrestore.metrics.holes import hole_scores
from tfrestore.metrics.image_quality import PSNR, SSIM, psnr, ssim
from tfrestore.metrics.no_reference import LUMA_WEIGHTS, colorfulness, mean_brightness
from tfrestore.metrics.scores import image_scores

__all__ = [
    "LUMA_WEIGHTS",
    "PSNR",
    "SSIM",
    "colorfulness",
    "hole_scores",
    "image_scores",
    "mean_brightness",
    "psnr",
    "ssim",
]
