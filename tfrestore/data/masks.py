"""Inpainting masks: the Context Encoder's center hole, random rectangles, random regions and
free-form brush strokes.

Every mask is a float32 numpy array [H, W, 1] with 1 = missing pixel and 0 = known pixel.
`size` is an int (square) or a (height, width) pair; random masks take `rng`, a numpy
Generator, an int seed or None, so the same seed gives the same mask.

Recipes: `center_mask` and `random_region_mask` follow the Context Encoder code
(pathak22/context-encoder, `train.lua` and `train_random.lua`; Pathak et al., "Context
Encoders: Feature Learning by Inpainting", CVPR 2016); `free_form_mask` follows the free-form
stroke masks of DeepFill v2 (Yu et al., "Free-Form Image Inpainting with Gated Convolution",
ICCV 2019).
"""

import math

import numpy as np

from tfrestore.data.paired import positive_int
from tfrestore.data.sources import as_rng

__all__ = [
    "MASK_KINDS",
    "center_mask",
    "free_form_mask",
    "mask_fraction",
    "random_mask",
    "random_rectangle_mask",
    "random_region_mask",
]

MASK_KINDS = ("center", "rectangles", "regions", "free_form")


def _size_pair(size, name="size"):
    """(height, width) as positive ints from an int or a pair; ValueError naming `name`."""
    if isinstance(size, (tuple, list, np.ndarray)):
        if len(size) != 2:
            raise ValueError(f"{name} must be an int or a (height, width) pair, got {size!r}")
        return tuple(positive_int(side, name) for side in size)
    side = positive_int(size, name)
    return side, side


def _as_mask(holes):
    """A boolean [H, W] array as a float32 [H, W, 1] mask."""
    return holes.astype(np.float32)[:, :, None]


def center_mask(size=128, hole=None, overlap=4):
    """The Context Encoder's center hole: the central region shrunk by `overlap` per side.

    Upstream (`train.lua`) predicts the central region rows/cols [size/4, 3·size/4) of a
    128x128 crop, i.e. 64x64 at [32, 96), but blanks only its interior: the region shrunk by
    `overlapPred` = 4 px on each side, so the hole is 56x56, rows/cols 36..91 inclusive. The
    4-px ring is visible context that the generator also predicts (its L2 weight is 10x).

    Args:
        size: int or (height, width) (default 128).
        hole: int or (height, width), side of the central region, or None (default) for half
            the size (upstream's fineSize/2: 64 at 128). Placed at ((H - hole) // 2, ...).
        overlap: int >= 0 (default 4 = upstream's overlapPred), pixels of the region kept
            visible on each side; must be less than half the region.

    Returns:
        float32 [H, W, 1], 1 inside the hole.

    Example:
        >>> mask = center_mask()  # [128, 128, 1]; mask[36:92, 36:92] == 1, zero elsewhere
        >>> int(center_mask(overlap=0).sum())
        4096
    """
    height, width = _size_pair(size)
    if hole is None:
        hole_height, hole_width = height // 2, width // 2
    else:
        hole_height, hole_width = _size_pair(hole, "hole")
    if hole_height > height or hole_width > width:
        raise ValueError(f"hole must fit in size {(height, width)}, got {hole!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or overlap < 0:
        raise ValueError(f"overlap must be an int >= 0, got {overlap!r}")
    if 2 * overlap >= min(hole_height, hole_width):
        raise ValueError(
            f"overlap must be less than half the hole ({hole_height}x{hole_width}), got {overlap}"
        )
    top = (height - hole_height) // 2 + overlap
    left = (width - hole_width) // 2 + overlap
    holes = np.zeros((height, width), bool)
    holes[top : top + hole_height - 2 * overlap, left : left + hole_width - 2 * overlap] = True
    return _as_mask(holes)


def random_rectangle_mask(size, rng=None, min_size=None, max_size=None, count=1):
    """`count` random axis-aligned rectangles (possibly overlapping), each inside the image.

    Each rectangle's height and width are drawn uniformly from [min_size, max_size] and its
    position uniformly among those that keep it inside the image.

    Args:
        size: int or (height, width).
        rng: numpy Generator, int seed or None.
        min_size: int >= 1 or None (default None = 1/8 of each side, at least 1).
        max_size: int or None (default None = 1/2 of each side); at least min_size and at most
            the image's height and width.
        count: int >= 1 (default 1), number of rectangles.

    Returns:
        float32 [H, W, 1].

    Example:
        >>> mask = random_rectangle_mask(128, rng=0, count=3)
    """
    height, width = _size_pair(size)
    count = positive_int(count, "count")
    sides = (height, width)
    low = [max(1, side // 8) for side in sides]
    high = [max(1, side // 2) for side in sides]
    if min_size is not None:
        low = [positive_int(min_size, "min_size")] * 2
    if max_size is not None:
        high = [positive_int(max_size, "max_size")] * 2
        if high[0] > min(sides):
            raise ValueError(
                f"max_size must be at most the image's height and width {sides}, got {max_size}"
            )
    if any(lo > hi for lo, hi in zip(low, high, strict=True)):
        raise ValueError(
            f"min_size must not exceed max_size, got min_size={min_size!r} "
            f"and max_size={max_size!r} (sizes {low[0]}x{low[1]} to {high[0]}x{high[1]})"
        )
    rng = as_rng(rng)
    holes = np.zeros(sides, bool)
    for _ in range(count):
        box_height = int(rng.integers(low[0], high[0] + 1))
        box_width = int(rng.integers(low[1], high[1] + 1))
        top = int(rng.integers(0, height - box_height + 1))
        left = int(rng.integers(0, width - box_width + 1))
        holes[top : top + box_height, left : left + box_width] = True
    return _as_mask(holes)


def _smooth_noise_window(height, width, rng, noise_scale):
    """A random window of uniform noise upscaled bicubically to 1/noise_scale px per sample.

    The canvas keeps a margin of 2 noise samples around every window (bicubic reads 2 samples
    either side, so the window never sees the canvas border) and one sample period of slack,
    so the window's phase against the noise grid is uniform, as for a window taken anywhere
    in upstream's huge image.
    """
    from PIL import Image

    period = 1.0 / noise_scale  # pixels per noise sample
    margin = math.ceil(2 * period)
    slack = math.ceil(period)
    samples_y = math.ceil((height + 2 * margin + slack) * noise_scale)
    samples_x = math.ceil((width + 2 * margin + slack) * noise_scale)
    canvas_height, canvas_width = round(samples_y * period), round(samples_x * period)
    noise = rng.random((samples_y, samples_x), dtype=np.float32)
    smooth = Image.fromarray(noise, mode="F").resize((canvas_width, canvas_height), Image.BICUBIC)
    top = int(rng.integers(margin, canvas_height - margin - height + 1))
    left = int(rng.integers(margin, canvas_width - margin - width + 1))
    return np.asarray(smooth)[top : top + height, left : left + width]


def random_region_mask(
    size=128, rng=None, fraction=(0.2, 0.3), noise_scale=0.06, threshold=0.25, max_tries=100
):
    """Random blob-shaped regions: the Context Encoder's `train_random.lua` recipe.

    Upstream makes a 600x600 uniform-noise image, upscales it bicubically to 10000x10000,
    thresholds it (`< 0.25`) and takes random 128x128 windows, keeping one only if 20-30% of
    its pixels are masked. That is 600/10000 = 0.06 noise samples per pixel, so a 128-pixel
    window spans about 7.7 samples. Here a window is made directly: uniform noise at
    `noise_scale` samples per pixel covering the window plus a margin, bicubically upscaled
    (PIL), cropped at a random offset and thresholded. Blob size relative to the window, the
    threshold and the acceptance rule are upstream's, so the masks have the same statistics
    (not the same pixels) at a tiny fraction of the cost. About 1 window in 4 is accepted at
    the defaults. Upstream uses one mask for a whole batch; `inpainting_dataset` draws one
    per example.

    Args:
        size: int or (height, width) (default 128).
        rng: numpy Generator, int seed or None.
        fraction: (low, high) with 0 <= low <= high <= 1 (default (0.2, 0.3)), the accepted
            range of the masked fraction.
        noise_scale: float > 0 (default 0.06), noise samples per pixel; smaller gives bigger
            blobs.
        threshold: float (default 0.25), pixels whose smoothed noise is below it are masked.
        max_tries: int >= 1 (default 100), windows drawn before giving up.

    Returns:
        float32 [H, W, 1].

    Raises:
        ValueError: bad arguments, or no window had an accepted fraction in max_tries tries.

    Example:
        >>> mask = random_region_mask(128, rng=0)
        >>> 0.2 <= mask_fraction(mask) <= 0.3
        True
    """
    height, width = _size_pair(size)
    try:
        low, high = (float(bound) for bound in fraction)
    except (TypeError, ValueError):
        raise ValueError(f"fraction must be a (low, high) pair, got {fraction!r}") from None
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"fraction must satisfy 0 <= low <= high <= 1, got {fraction!r}")
    if not (isinstance(noise_scale, (int, float)) and noise_scale > 0):
        raise ValueError(f"noise_scale must be a number > 0, got {noise_scale!r}")
    max_tries = positive_int(max_tries, "max_tries")
    rng = as_rng(rng)
    for _ in range(max_tries):
        holes = _smooth_noise_window(height, width, rng, noise_scale) < threshold
        if low <= holes.mean() <= high:
            return _as_mask(holes)
    raise ValueError(
        f"random_region_mask: no {height}x{width} window had a masked fraction in "
        f"[{low}, {high}] in max_tries={max_tries} tries (threshold={threshold}, "
        f"noise_scale={noise_scale}); widen fraction, change threshold or raise max_tries"
    )


def free_form_mask(
    size,
    rng=None,
    max_strokes=4,
    min_vertices=4,
    max_vertices=12,
    min_width=None,
    max_width=None,
):
    """Free-form brush strokes: thick zig-zag random walks, in the style of DeepFill v2.

    Each of 1..max_strokes strokes starts at a random pixel and makes min_vertices..
    max_vertices moves. Move angles alternate around 2π/5 and its mirror 2π - 2π/5 (±2π/15),
    so strokes zig-zag; move lengths are normal with mean diagonal/8 and std diagonal/16,
    clipped to [0, diagonal/4]; vertices are clipped to the image. Each stroke has one random
    width, drawn as thick lines with round joints. The mask is then flipped left-right and
    up-down, each with probability 1/2.

    Args:
        size: int or (height, width).
        rng: numpy Generator, int seed or None.
        max_strokes: int >= 1 (default 4).
        min_vertices, max_vertices: ints, 1 <= min <= max (defaults 4 and 12).
        min_width, max_width: ints, stroke width range in pixels, or None (default) for
            DeepFill v2's 12 and 40 at 256 px, scaled to the shorter side (6 and 20 at 128,
            at least 1).

    Returns:
        float32 [H, W, 1], never empty.

    Example:
        >>> mask = free_form_mask(256, rng=0)
    """
    from PIL import Image, ImageDraw

    height, width = _size_pair(size)
    max_strokes = positive_int(max_strokes, "max_strokes")
    min_vertices = positive_int(min_vertices, "min_vertices")
    max_vertices = positive_int(max_vertices, "max_vertices")
    if min_vertices > max_vertices:
        raise ValueError(
            f"min_vertices must not exceed max_vertices, got {min_vertices} > {max_vertices}"
        )
    scale = min(height, width) / 256
    if min_width is None:
        min_width = max(1, round(12 * scale))
    if max_width is None:
        max_width = max(1, round(40 * scale))
    min_width, max_width = (
        positive_int(min_width, "min_width"),
        positive_int(max_width, "max_width"),
    )
    if min_width > max_width:
        raise ValueError(f"min_width must not exceed max_width, got {min_width} > {max_width}")

    rng = as_rng(rng)
    mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
    radius = math.hypot(height, width) / 8
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(1, max_strokes + 1))):
        moves = int(rng.integers(min_vertices, max_vertices + 1))
        stroke_width = int(rng.integers(min_width, max_width + 1))
        angles = rng.uniform(mean_angle - angle_range, mean_angle + angle_range, moves)
        angles[::2] = 2 * math.pi - angles[::2]  # alternate sides: a zig-zag
        lengths = np.clip(rng.normal(radius, radius / 2, moves), 0, 2 * radius)
        x, y = float(rng.integers(0, width)), float(rng.integers(0, height))
        points = [(x, y)]
        for angle, length in zip(angles, lengths, strict=True):
            x = float(np.clip(x + length * math.cos(angle), 0, width - 1))
            y = float(np.clip(y + length * math.sin(angle), 0, height - 1))
            points.append((x, y))
        draw.line(points, fill=255, width=stroke_width)
        half = stroke_width / 2
        for px, py in points:  # round joints and ends
            draw.ellipse((px - half, py - half, px + half, py + half), fill=255)
    holes = np.asarray(canvas) > 0
    if rng.random() < 0.5:
        holes = holes[:, ::-1]
    if rng.random() < 0.5:
        holes = holes[::-1, :]
    return _as_mask(holes)


_GENERATORS = {
    "center": lambda size, rng, **options: center_mask(size, **options),
    "rectangles": random_rectangle_mask,
    "regions": random_region_mask,
    "free_form": free_form_mask,
}


def random_mask(kind, size, rng=None, **options):
    """A mask of the given kind: "center", "rectangles", "regions" or "free_form".

    Args:
        kind: one of `MASK_KINDS` ("center" ignores `rng`).
        size: int or (height, width).
        rng: numpy Generator, int seed or None.
        **options: keyword arguments of that kind's function (`center_mask`,
            `random_rectangle_mask`, `random_region_mask`, `free_form_mask`).

    Raises:
        ValueError: unknown kind (the message lists `MASK_KINDS`).

    Example:
        >>> mask = random_mask("regions", 128, rng=0)
    """
    if not isinstance(kind, str) or kind not in _GENERATORS:
        raise ValueError(f"unknown mask kind {kind!r}; use one of {', '.join(MASK_KINDS)}")
    return _GENERATORS[kind](size, rng=rng, **options)


def mask_fraction(mask):
    """The fraction of missing pixels (mean of the mask), as a Python float.

    Example:
        >>> mask_fraction(center_mask(overlap=0))
        0.25
    """
    mask = np.asarray(mask, dtype=np.float64)
    if mask.size == 0:
        raise ValueError("mask is empty")
    return float(mask.mean())
