"""Structure images: texture removed, edges kept, by Relative Total Variation (RTV).

MEDFE (Liu et al., ECCV 2020) supervises its structure branch with a structure image of each
training photo, made offline by RTV: Xu, Yan, Xia and Jia, "Structure Extraction from Texture
via Relative Total Variation", SIGGRAPH Asia 2012. `rtv_smooth` follows the algorithm of the
authors' released `tsmooth.m` with the arguments of MEDFE's
`data/Matlab/generate_structure_images.m` as defaults; `tfrestore prepare-structure` runs it
over a folder.

Each iteration solves `(Id + lam / 2 * L) s = image` for the structure `s`, where `L` is a
graph Laplacian over the 4-neighbour pixel grid whose edge weights are large in flat or
textured regions (smooth there) and small across strong, consistent edges (keep them):
    w_x = 1 / max(mean_c |d_x(G * s)|, 0.001) * 1 / max(mean_c |grad s|, sharpness)
(likewise w_y), with `G` a Gaussian of width sigma: texture's oscillating gradients cancel
under the blur, an edge's do not. `s` starts as the image and sigma halves every iteration,
down to 0.5.
"""

import math
import operator

import numpy as np

__all__ = ["rtv_smooth"]

# The floor of the blurred-gradient magnitude, `vareps` in tsmooth.m.
_BLURRED_GRADIENT_FLOOR = 0.001


def _positive_number(value, name):
    """`value` as a float > 0; ValueError naming `name` if it is not."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return number


def _checked_image(image):
    """`image` as float64 [H, W, C] (C = 1 for gray) and whether it was [H, W]; else ValueError."""
    array = np.asarray(image)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"image must have shape [H, W, 3] or [H, W], got {array.shape}")
    if array.size == 0:
        raise ValueError(f"image is empty (shape {array.shape})")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"image must be float in [0, 1], got dtype {array.dtype} (divide 8-bit images by 255)"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("image contains NaN or infinite values")
    if array.min() < 0.0 or array.max() > 1.0:
        raise ValueError(
            f"image values must be in [0, 1], got [{float(array.min()):g}, {float(array.max()):g}]"
        )
    gray = array.ndim == 2
    return array.astype(np.float64).reshape(array.shape[0], array.shape[1], -1), gray


def _gaussian_kernel(sigma):
    """tsmooth.m's normalised 1-D Gaussian: round(5 sigma) taps, made odd."""
    size = int(math.floor(5 * sigma + 0.5)) | 1  # MATLAB rounds halves away from zero
    offsets = np.arange(size) - (size - 1) / 2
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _forward_differences(image):
    """d/dx and d/dy of [H, W, C] as forward differences, 0 in the last column / row."""
    dx = np.zeros_like(image)
    dy = np.zeros_like(image)
    dx[:, :-1] = image[:, 1:] - image[:, :-1]
    dy[:-1] = image[1:] - image[:-1]
    return dx, dy


def _texture_weights(structure, sigma, sharpness):
    """Edge weights (w_x, w_y), each [H, W]: w_x[i, j] couples pixels (i, j) and (i, j + 1)."""
    from scipy import ndimage

    channels = structure.shape[2]
    dx, dy = _forward_differences(structure)
    gradient = np.sqrt(dx**2 + dy**2).sum(axis=2) / channels
    overall = 1 / np.maximum(gradient, sharpness)
    # tsmooth.m's conv2(..., 'same') pads with zeros, which darkens the blurred border and so
    # stops smoothing near it; mirroring the image at the border does not.
    kernel = _gaussian_kernel(sigma)
    blurred = ndimage.correlate1d(structure, kernel, axis=0, mode="reflect")
    blurred = ndimage.correlate1d(blurred, kernel, axis=1, mode="reflect")
    blurred_dx, blurred_dy = _forward_differences(blurred)
    weight_x = overall / np.maximum(
        np.abs(blurred_dx).sum(axis=2) / channels, _BLURRED_GRADIENT_FLOOR
    )
    weight_y = overall / np.maximum(
        np.abs(blurred_dy).sum(axis=2) / channels, _BLURRED_GRADIENT_FLOOR
    )
    weight_x[:, -1] = 0  # no neighbour to the right of the last column
    weight_y[-1, :] = 0
    return weight_x, weight_y


def _solve(image, weight_x, weight_y, smoothness):
    """Solves (Id + smoothness * L) s = image per channel, L the weighted grid Laplacian.

    A sparse direct solve (SuperLU), factored once for all channels. tsmooth.m approximates
    the same solution with preconditioned conjugate gradients stopped at a relative residual
    of 0.1 (or MATLAB's direct `A \\ b` when `ichol` is missing).
    """
    from scipy import sparse
    from scipy.sparse import linalg

    height, width, channels = image.shape
    count = height * width
    # L = Dx^T Wx Dx + Dy^T Wy Dy, with pixels numbered row by row, so that the right
    # neighbour of pixel p is p + 1 and the one below p + width. The weights of the last
    # column (row) are 0, so the differences that wrap around or run off the end do not count.
    matrix = sparse.identity(count, format="csc")
    for weights, step, size in ((weight_x, 1, width), (weight_y, width, height)):
        if size > 1:
            difference = sparse.diags(
                [-np.ones(count), np.ones(count - step)], [0, step], shape=(count, count)
            )
            laplacian = difference.T @ sparse.diags(weights.ravel()) @ difference
            matrix = matrix + smoothness * laplacian
    factor = linalg.splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A")
    solution = factor.solve(image.reshape(count, channels))
    return solution.reshape(height, width, channels)


def rtv_smooth(image, lam=0.015, sigma=3.0, sharpness=0.001, iterations=3):
    """The structure of `image`: its texture smoothed away and its main edges kept (RTV).

    Relative Total Variation, Xu et al., "Structure Extraction from Texture via Relative Total
    Variation", SIGGRAPH Asia 2012, as in the authors' `tsmooth.m`; the defaults are MEDFE's
    call `tsmooth(I, 0.015, 3, 0.001, 3)`, which made its structure images. Each iteration
    solves a sparse linear system (SuperLU): 1 to 2 s for a 256x256 RGB image on one CPU
    core. We differ from `tsmooth.m` in two details: the Gaussian blur mirrors the image at
    its border instead of padding with zeros, and the system is solved exactly instead of by
    conjugate gradients to a residual of 0.1.

    Args:
        image: float [H, W, 3] or [H, W] (gray), values in [0, 1].
        lam: smoothness weight > 0 (default 0.015; tsmooth.m suggests (0, 0.05]). Larger
            removes coarser texture and blurs more. Used as lam / 2, as tsmooth.m does.
        sigma: width > 0 of the Gaussian, about the largest texture element in pixels
            (default 3.0). It halves every iteration, down to 0.5.
        sharpness: > 0 (default 0.001, tsmooth.m's epsilon_s); smaller keeps edges sharper.
        iterations: int >= 1 (default 3).

    Returns:
        float32 array of the shape of `image`, values in [0, 1].

    Raises:
        ValueError: a shape other than [H, W, 3] or [H, W], an empty image, a non-float
            dtype, values outside [0, 1] or not finite, or a bad parameter (named).

    Example:
        >>> structure = rtv_smooth(read_image("photo.jpg"))
        >>> write_image("structure/photo.png", structure)
    """
    source, gray = _checked_image(image)
    lam = _positive_number(lam, "lam")
    sigma = _positive_number(sigma, "sigma")
    sharpness = _positive_number(sharpness, "sharpness")
    try:
        count = None if isinstance(iterations, bool) else operator.index(iterations)
    except TypeError:
        count = None
    if count is None or count < 1:
        raise ValueError(f"iterations must be a positive int, got {iterations!r}")

    structure = source
    for _ in range(count):
        weight_x, weight_y = _texture_weights(structure, sigma, sharpness)
        structure = _solve(source, weight_x, weight_y, lam / 2)
        sigma = max(sigma / 2, 0.5)
    structure = np.clip(structure, 0.0, 1.0).astype(np.float32)
    return structure[:, :, 0] if gray else structure
