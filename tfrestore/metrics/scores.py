"""Several metrics of one batch at once, for evaluation reports."""

import numpy as np

from tfrestore.metrics.image_quality import psnr, ssim
from tfrestore.metrics.no_reference import colorfulness, mean_brightness


def image_scores(images, target=None, no_reference=True):
    """Per-example scores of a batch: against a target, and without one.

    Args:
        images: float [B, H, W, 3] RGB in [0, 1].
        target: float [B, H, W, 3] or None (default). Given: "psnr" (dB) and "ssim" of
            `images` against it.
        no_reference: bool (default True), also "brightness" (`mean_brightness`) and
            "colorfulness".

    Returns:
        {metric: float numpy [B]}, in the order psnr, ssim, brightness, colorfulness.

    Example:
        >>> image_scores(enhanced, high)["psnr"]  # one PSNR per image
    """
    scores = {}
    if target is not None:
        scores["psnr"] = psnr(target, images)
        scores["ssim"] = ssim(target, images)
    if no_reference:
        scores["brightness"] = mean_brightness(images)
        scores["colorfulness"] = colorfulness(images)
    return {name: np.asarray(values) for name, values in scores.items()}
