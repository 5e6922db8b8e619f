"""Scores inside inpainting holes."""

import numpy as np


def hole_scores(target, images, mask):
    """Per-example PSNR (dB) and mean absolute error (L1) over the hole pixels only.

    Args:
        target: float [B, H, W, C] in [0, 1], the complete images.
        images: float [B, H, W, C], the inpainted (or mean-filled) images.
        mask: float [B, H, W, 1], 1 = hole; every example needs at least one hole pixel.

    Returns:
        (psnr, l1): float64 numpy arrays [B]; PSNR is inf where the holes match exactly.

    Example:
        >>> psnr, l1 = hole_scores(photos, model.predict((masked, masks)), masks)
    """
    target, images = (np.asarray(array, np.float64) for array in (target, images))
    mask = np.asarray(mask, np.float64)
    count = mask.sum(axis=(1, 2, 3)) * target.shape[-1]
    if np.any(count == 0):
        raise ValueError("every mask needs at least one hole pixel (mask = 1)")
    difference = (images - target) * mask
    l1 = np.abs(difference).sum(axis=(1, 2, 3)) / count
    mse = np.square(difference).sum(axis=(1, 2, 3)) / count
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(1.0 / mse)
    return psnr, l1
