"""Tiled inference: a large image cut into overlapping windows, each restored, blended back.

Memory then stays bounded by the window size and time grows with the pixel count, whatever
the photo's size. `tiled_apply(function, arrays, ...)` runs any batch function this way;
`tfrestore.inference.Restorer` uses it for every model form (`restorer(x, tile=N,
overlap=M)`).

The grid (`TileGrid`, `plan_tiles`):
- Inputs are first reflect-padded at the bottom and right to a multiple of the model's size
  multiple (8 for DeblurGAN, 4 for AttentiveGAN, 16 for EnlightenGAN, 64 for MEDFE), exactly as
  the models pad a whole image inside, and every window starts at a multiple of it and has a
  size that is a multiple of it. A network whose operations are local (convolutions, with
  strides dividing the multiple) then computes in each window what it computes there on the
  whole image, away from the window's inner borders.
- Windows are at most `tile` pixels a side (rounded up to the multiple and to the model's
  minimum size), with at least `overlap` pixels in common with their neighbours: along each
  axis as few windows as that allows, made just large enough to cover it, spread evenly so
  the last one ends at the image's edge. An image no larger than a window along an axis gets
  one window of its size there: an image smaller than a tile runs whole.

Blending (`axis_weights`): along each axis a window's weight is 0 on the outer quarter of the
overlap at its inner borders (the pixels a convolution sees past the window's edge are
missing there), then rises as a raised cosine (sin^2) over the middle half of the overlap to 1;
image edges are not inner borders. Weights are divided by their sum, so at every pixel the
windows' weights add up to one; with an overlap of exactly `overlap` the two ramps already
add up to one (sin^2 + cos^2). The 2-D weight is the product of the two axes' weights.

Inpainting models (`passthrough`): a window without hole pixels is not run; its output is the
input, as the model's own (it pastes its prediction into the holes only).
"""

import dataclasses
import math

import numpy as np

# Windows of at most `DEFAULT_TILE` pixels a side with `DEFAULT_OVERLAP` in common, for models
# whose input limits recommend no window of their own (their `tile`, see
# `tfrestore.models.limits`). Memory decides: at paper width DeblurGAN restores a 512 x 512
# image in 0.9 GiB peak RSS with Keras and 1.5 GiB with LiteRT (whole process, measured), a
# 1024 x 1024 one in 1.9 and 3.9 GiB, and a 4000 x 3000 photo in 512 px windows in 2.0 GiB with
# LiteRT: 448 px keeps that under 2 GiB. Windows are shrunk to cover the image evenly, so a
# 4000 x 3000 photo computes 16% more pixels than it has; 8 px at each inner border are
# discarded, 16 px cross-faded.
DEFAULT_TILE = 448
DEFAULT_OVERLAP = 32
# `tile=None` tiles images of more pixels than this (the square of the model's own window when
# it recommends one) and runs smaller ones whole.
AUTO_TILE_PIXELS = DEFAULT_TILE * DEFAULT_TILE
# Windows of one call are batched together up to this many pixels (at least one window); the
# Restorer passes the square of the model's own window when it recommends one.
BATCH_PIXELS = DEFAULT_TILE * DEFAULT_TILE


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


def tile_starts(length, tile, overlap, multiple=1):
    """Start offsets of windows of `tile` pixels covering `length` pixels along one axis.

    Args:
        length: int, the axis' length, a multiple of `multiple`.
        tile: int, the window size, a multiple of `multiple` (a window longer than the axis is
            cut to it: one window).
        overlap: int, the fewest pixels two neighbouring windows share.
        multiple: int, every start is a multiple of it.

    Returns:
        list of ints, increasing, the first 0 and the last `length - min(tile, length)`.

    Example:
        >>> tile_starts(1000, 512, 64)
        [0, 488]
    """
    if length <= tile:
        return [0]
    if tile - overlap < multiple:
        raise ValueError(
            f"overlap ({overlap}) must leave at least {multiple} px of each {tile} px tile"
        )
    count = max(2, math.ceil((length - overlap) / (tile - overlap)))
    span = (length - tile) // multiple  # the last start, in multiples
    while True:
        starts = [multiple * round(k * span / (count - 1)) for k in range(count)]
        if max(b - a for a, b in zip(starts, starts[1:], strict=False)) <= tile - overlap:
            return starts
        count += 1  # rounding to the multiple widened a gap: one more window


def _ramp(distance, overlap):
    """Weight of a pixel `distance` px inside a window's inner border (numpy array of ints)."""
    if overlap == 0:
        return np.ones(distance.shape, np.float64)
    margin = overlap // 4
    width = overlap - 2 * margin
    position = np.clip((distance - margin + 0.5) / width, 0.0, 1.0)
    return np.sin(0.5 * np.pi * position) ** 2


def axis_weights(length, starts, size, overlap):
    """Blending weights along one axis: [len(starts), size], adding up to one at each pixel.

    Args:
        length: int, the axis' length.
        starts: window starts (`tile_starts`); size: int, the window size along this axis.
        overlap: int, the overlap the windows were planned with.
    """
    index = np.arange(size)
    raw = []
    for start in starts:
        distance = np.full(size, np.inf)
        if start > 0:  # an inner border at the window's start
            distance = np.minimum(distance, index)
        if start + size < length:
            distance = np.minimum(distance, size - 1 - index)
        raw.append(np.where(np.isinf(distance), 1.0, _ramp(np.minimum(distance, size), overlap)))
    raw = np.stack(raw)
    total = np.zeros(length)
    for start, weight in zip(starts, raw, strict=True):
        total[start : start + size] += weight
    if not np.all(total > 0):  # every pixel lies in some window's middle (see tile_starts)
        raise AssertionError(f"tiles {starts} of {size} px leave pixels of {length} unweighted")
    return np.stack(
        [weight / total[start : start + size] for start, weight in zip(starts, raw, strict=True)]
    ).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class TileGrid:
    """Where the windows of one (padded) image lie and how they are blended.

    Attributes:
        height, width: the padded image's size (multiples of `multiple`).
        tile_size: (height, width) of every window.
        overlap: int; multiple: int.
        rows, cols: window starts along height and width.
        row_weights, col_weights: [len(rows), tile height] and [len(cols), tile width]
            float32 blending weights (`axis_weights`).
    """

    height: int
    width: int
    tile_size: tuple
    overlap: int
    multiple: int
    rows: list
    cols: list
    row_weights: np.ndarray
    col_weights: np.ndarray

    @property
    def windows(self):
        """[(top, left, row index, col index)] in row-major order."""
        return [(y, x, i, j) for i, y in enumerate(self.rows) for j, x in enumerate(self.cols)]

    def __len__(self):
        return len(self.rows) * len(self.cols)

    def weight(self, i, j):
        """[tile height, tile width, 1] weights of window (i, j)."""
        return (self.row_weights[i][:, None] * self.col_weights[j][None, :])[..., None]


def plan_tiles(height, width, tile, overlap, multiple=1, min_size=None, exact=False):
    """The `TileGrid` of an image of `height` x `width` pixels.

    Args:
        height, width: ints, the image's size (before padding to `multiple`).
        tile: int >= 1, the largest window size; rounded up to `multiple` and to
            `min_size`. Windows are made as small as covering the image with as few allows.
            With `exact`, an int or (height, width): the size of every window, as is.
        overlap: int >= 0, the fewest pixels neighbouring windows share (4x the receptive
            field's radius for a local network to give what it gives on the whole image).
        multiple: int or (height, width), the model's size multiple (default 1).
        min_size: optional (height, width), the model's smallest input.
        exact: bool (default False), windows of exactly `tile` (a fixed-size model's input
            size); the image must be at least that large. Window starts are aligned to
            `multiple` along an axis whose window size is a multiple of it.

    Raises:
        ValueError: a tile or overlap out of range, naming it.
    """
    multiples = (multiple, multiple) if isinstance(multiple, int) else tuple(multiple)
    tiles = (tile, tile) if isinstance(tile, (int, np.integer)) else tuple(tile)
    if min(int(t) for t in tiles) < 1:
        raise ValueError(f"tile must be >= 1 pixel (or 0: no tiling), got {tile}")
    if int(overlap) < 0:
        raise ValueError(f"overlap must be >= 0 pixels, got {overlap}")
    if overlap >= min(tiles):
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile ({min(tiles)})")
    size, rows_cols, weights, paddeds = [], [], [], []
    for length, m, smallest, wanted in zip(
        (height, width), multiples, min_size or (1, 1), tiles, strict=True
    ):
        if exact:
            if length < wanted:
                raise ValueError(f"an image of {height}x{width} is smaller than the window")
            m = m if wanted % m == 0 else 1  # starts at multiples of a size's divisor only
            padded = _round_up(length, m)
            side = int(wanted)
        else:
            padded = _round_up(length, m)
            least = _round_up(smallest, m)
            side = min(_round_up(max(int(wanted), least), m), padded)
            if side < padded and side - overlap >= m:  # as few windows, just large enough
                count = math.ceil((padded - overlap) / (side - overlap))
                side = max(_round_up(math.ceil((padded + (count - 1) * overlap) / count), m), least)
        starts = tile_starts(padded, side, int(overlap), m)
        size.append(side)
        paddeds.append(padded)
        rows_cols.append(starts)
        weights.append(axis_weights(padded, starts, side, int(overlap)))
    return TileGrid(
        *paddeds,
        tuple(size),
        int(overlap),
        multiples,
        *rows_cols,
        *weights,
    )


def _pixels(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a whole number of pixels >= 0, got {value!r}")
    return int(value)


def checked_overlap(overlap, tile):
    """`overlap` in pixels for windows of `tile` pixels a side (None: `DEFAULT_OVERLAP`, at most
    a quarter of the tile); ValueError unless a whole number smaller than a nonzero tile."""
    if overlap is None:
        overlap = min(DEFAULT_OVERLAP, tile // 4)
    overlap = _pixels(overlap, "overlap")
    if tile and overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile ({tile})")
    return overlap


def choose_tiling(height, width, tile=None, overlap=None, default=None):
    """(tile, overlap) to restore a `height` x `width` image with, or None to run it whole.

    Args:
        tile: None (default: `default` for images of more than `default`^2 pixels, else
            whole), 0 (whole) or the window size in pixels.
        overlap: None (`DEFAULT_OVERLAP`, at most a quarter of the tile) or pixels.
        default: the model's window size (its input limits' `tile`), or None: `DEFAULT_TILE`
            above `AUTO_TILE_PIXELS`.

    An image that fits in one window runs whole: the result is the same.

    Raises:
        ValueError: a tile or overlap that is not a whole number >= 0, or an overlap not
            smaller than the tile.
    """
    auto = tile is None
    budget = AUTO_TILE_PIXELS if default is None else default * default
    tile = (default or DEFAULT_TILE) if auto else _pixels(tile, "tile")
    overlap = checked_overlap(overlap, tile)
    if tile == 0 or (auto and height * width <= budget):
        return None
    if height <= tile and width <= tile:
        return None
    return tile, overlap


def reflect_pad(array, height, width):
    """Pads [B, H, W, C] at the bottom and right to `height` x `width` by reflection (as
    `tfrestore.layers.pad_to_multiple`, TensorFlow's REFLECT: the edge pixel not repeated)."""
    pad_h, pad_w = height - array.shape[1], width - array.shape[2]
    if pad_h == 0 and pad_w == 0:
        return array
    return np.pad(array, [(0, 0), (0, pad_h), (0, pad_w), (0, 0)], mode="reflect")


def tiled_apply(
    function,
    arrays,
    tile,
    overlap,
    multiple=1,
    min_size=None,
    batch_pixels=BATCH_PIXELS,
    passthrough=None,
    extra=None,
    on_tile=None,
    exact=False,
):
    """Applies a batch `function` window by window and blends the windows' outputs.

    Args:
        function: callable({name: [N, h, w, C]} [, extra rows]) -> {name: [N, h, w, C']},
            every output the size of its input.
        arrays: {name: float32 [B, H, W, C]}, all of one batch size, height and width.
        tile, overlap, multiple, min_size, exact: see `plan_tiles`.
        batch_pixels: int, windows run together up to this many pixels per call.
        passthrough: optional callable({name: [h, w, C]}) -> {name: [h, w, C']} or None: a
            window's outputs without running `function` (None: run it); inpainting models
            return the image for windows without holes.
        extra: optional [B, ...] array passed to `function` as a second argument, the rows of
            each window's image (per-image statistics, say).
        on_tile: optional callable(done, total) after each batch of windows.

    Returns:
        {name: float32 [B, H, W, C']}, the blended outputs.
    """
    first = next(iter(arrays.values()))
    batch, height, width = first.shape[:3]
    grid = plan_tiles(height, width, tile, overlap, multiple, min_size, exact)
    padded = {name: reflect_pad(value, grid.height, grid.width) for name, value in arrays.items()}
    tile_h, tile_w = grid.tile_size
    jobs = [(b, *window) for b in range(batch) for window in grid.windows]
    outputs = {}

    def add(job, results):
        b, y, x, i, j = job
        weight = grid.weight(i, j)
        for name, value in results.items():
            if name not in outputs:
                outputs[name] = np.zeros(
                    (batch, grid.height, grid.width, value.shape[-1]), np.float32
                )
            outputs[name][b, y : y + tile_h, x : x + tile_w] += weight * value

    def window(job):
        b, y, x = job[:3]
        return {name: value[b, y : y + tile_h, x : x + tile_w] for name, value in padded.items()}

    pending = []
    for job in jobs:
        given = passthrough(window(job)) if passthrough is not None else None
        if given is None:
            pending.append(job)
        else:
            add(job, given)
    per_call = max(1, batch_pixels // (tile_h * tile_w))
    done = len(jobs) - len(pending)
    for begin in range(0, len(pending), per_call):
        chunk = pending[begin : begin + per_call]
        windows = [window(job) for job in chunk]
        inputs = {name: np.stack([w[name] for w in windows]) for name in arrays}
        if extra is None:
            results = function(inputs)
        else:
            results = function(inputs, extra[[job[0] for job in chunk]])
        for k, job in enumerate(chunk):
            add(job, {name: np.asarray(value[k]) for name, value in results.items()})
        done += len(chunk)
        if on_tile is not None:
            on_tile(done, len(jobs))
    return {name: value[:, :height, :width] for name, value in outputs.items()}
