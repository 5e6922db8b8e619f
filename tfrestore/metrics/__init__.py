"""Image quality metrics: PSNR and SSIM.

`psnr` and `ssim` return per-example values, shape `[B]`; `PSNR` and `SSIM` are Keras metrics
(`keras.metrics.Mean` subclasses) that average them over every example seen.
"""

from tfrestore.metrics.image_quality import PSNR, SSIM, psnr, ssim

__all__ = ["PSNR", "SSIM", "psnr", "ssim"]
