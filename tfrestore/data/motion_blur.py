"""DeblurGAN's synthetic motion blur: random camera-shake trajectories and their PSFs.

Kupyn et al., "DeblurGAN: Blind Motion Deblurring Using Conditional Adversarial Networks",
CVPR 2018, §3.1, after Boracchi & Foi, "Modeling the Performance of Image Restoration From
Motion Blur", IEEE TIP 2012. The trajectory, the PSF rasterisation and the blur recipe follow
the upstream scripts `motion_blur/generate_trajectory.py`, `generate_PSF.py` and
`blur_image.py` (KupynOrest/DeblurGAN), with the same parameters; differences are noted where
they occur (non-square images, image borders, random-number streams).

Pipeline: `random_trajectory` -> `trajectory_psfs` (cumulative kernels for growing exposure
fractions) -> `blur_image`. `random_psf` and `random_motion_blur` bundle the upstream recipe,
`motion_blur_dataset` makes (blurred, sharp) training pairs on the fly: the kernel in numpy,
the blur itself with TensorFlow ops (`blur_image_tensor`), which run in parallel.
"""

import functools
import math

import numpy as np
import tensorflow as tf

from tfrestore.data.paired import positive_int
from tfrestore.data.sources import (
    as_rng,
    degraded_dataset,
    seeded_numpy_function,
    synthetic_pair_dataset,
)

# The side of the square canvas trajectories and blur kernels are drawn on (upstream's 64).
PSF_CANVAS = 64

__all__ = [
    "EXPL_CHOICES",
    "PSF_PARTS",
    "random_trajectory",
    "trajectory_psfs",
    "blur_image",
    "blur_image_tensor",
    "random_psf",
    "random_motion_blur",
    "motion_blur_dataset",
]

# Upstream `blur_image.py` __main__: the exploration values it draws from, and the kernels
# (indices into the default fractions: 1/10, 1/2 and full exposure) it picks from.
EXPL_CHOICES = (0.01, 0.009, 0.008, 0.007, 0.005, 0.003)
PSF_PARTS = (1, 2, 3)
DEFAULT_FRACTIONS = (1 / 100, 1 / 10, 1 / 2, 1)


def random_trajectory(canvas=PSF_CANVAS, iters=2000, max_len=60, expl=None, rng=None):
    """A random camera-shake trajectory: complex positions of a particle on a 2-D canvas.

    The particle moves at constant speed `max_len / (iters - 1)` per step. At each step its
    velocity gets a Gaussian kick, an inertial pull back towards the start point and, with
    small probability, an impulsive near-reversal (a "big shake"). The path is then shifted to
    sit in the middle of a `canvas` x `canvas` square (real part = column, imaginary = row).
    Parameters as upstream: centripetal 0.7·U, big-shake probability 0.2·U·expl, Gaussian
    shake 10·U, initial angle U(0, 2π). `expl=0` gives a straight line.

    Differs from upstream only in how random numbers are drawn (all up front from one numpy
    Generator, instead of the global `np.random` inside the loop), which keeps the same
    distributions.

    Args:
        canvas: int, side of the square domain in pixels (default 64).
        iters: int >= 2, number of positions (default 2000).
        max_len: float, total path length in pixels (default 60).
        expl: float >= 0 or None (default None = 0.1·U(0, 1) as upstream), "exploration":
            scales the random kicks and the big-shake probability. Upstream's recipe draws it
            from `EXPL_CHOICES`.
        rng: numpy Generator, int seed or None.

    Returns:
        complex128 array of shape (iters,).

    Example:
        >>> x = random_trajectory(expl=0.005, rng=0)
        >>> np.allclose(np.abs(np.diff(x)), 60 / 1999)
        True
    """
    iters = int(iters)
    if iters < 2:
        raise ValueError(f"iters must be >= 2, got {iters}")
    if max_len <= 0:
        raise ValueError(f"max_len must be > 0, got {max_len}")
    rng = as_rng(rng)
    if expl is None:
        expl = 0.1 * rng.uniform()
    if expl < 0:
        raise ValueError(f"expl must be >= 0 or None, got {expl}")
    centripetal = 0.7 * rng.uniform()
    prob_big_shake = 0.2 * rng.uniform()
    gaussian_shake = 10.0 * rng.uniform()
    init_angle = 2.0 * np.pi * rng.uniform()

    step = max_len / (iters - 1)
    steps = iters - 1
    big_shake = (rng.uniform(size=steps) < prob_big_shake * expl).tolist()
    # A big shake turns the velocity by pi + U(-0.5, 0.5) radians and doubles it.
    shake_turn = (2.0 * np.exp(1j * (np.pi + rng.uniform(size=steps) - 0.5))).tolist()
    noise = rng.standard_normal((steps, 2))
    kick = (expl * gaussian_shake * step * (noise[:, 0] + 1j * noise[:, 1])).tolist()
    pull = expl * centripetal * step

    # Upstream starts with speed `step`, then overwrites it with `expl` whenever expl > 0; the
    # first normalisation below brings it back to `step` either way.
    v = complex(math.cos(init_angle), math.sin(init_angle)) * (expl if expl > 0 else step)
    position = 0j
    positions = [0j] * iters
    # Sequential by nature (each step depends on the last position); plain Python complex
    # arithmetic is about ten times faster here than numpy scalars.
    for t in range(steps):
        dv = kick[t] - pull * position
        if big_shake[t]:
            dv += shake_turn[t] * v
        new_v = v + dv
        speed = abs(new_v)
        if speed > 0.0:  # upstream divides by zero here; keep the old direction instead
            v = new_v * (step / speed)
        else:
            v = v * (step / abs(v))
        position += v
        positions[t + 1] = position

    x = np.asarray(positions, dtype=np.complex128)
    # Center as upstream: move to the origin, keep the first point's sub-pixel offset, start
    # near (1, 1), then shift by half the free space of the canvas (rounded up).
    x = x - complex(x.real.min(), x.imag.min())
    x = x - complex(x[0].real % 1.0, x[0].imag % 1.0) + (1 + 1j)
    x = x + complex(math.ceil((canvas - x.real.max()) / 2), math.ceil((canvas - x.imag.max()) / 2))
    return x


def _sample_weights(fraction, previous, iters):
    """Upstream's `t_proportion`: how much of sample t falls in the exposure (previous, fraction].

    Vectorised over t = 0..iters-1 with upstream's case order (np.select takes the first
    true condition, like its if/elif chain).
    """
    t = np.arange(iters, dtype=np.float64)
    end, start = fraction * iters, previous * iters
    conditions = [
        (end >= t) & (start < t - 1),
        (end >= t - 1) & (start < t - 1),
        (end >= t) & (start < t),
        (end >= t - 1) & (start < t),
    ]
    choices = [np.ones_like(t), end - (t - 1), t - start, np.full_like(t, end - start)]
    return np.select(conditions, choices, default=0.0)


def trajectory_psfs(trajectory, canvas=PSF_CANVAS, fractions=DEFAULT_FRACTIONS):
    """Rasterises a trajectory into blur kernels (PSFs) for growing exposure fractions.

    Each trajectory sample is splatted bilinearly into a `canvas` x `canvas` kernel (row from
    the imaginary part, column from the real part, indices clamped to [1, canvas - 1] as
    upstream). As upstream, the kernels are cumulative: kernel j holds the samples of the
    first `fractions[j]` of the exposure, and every kernel is divided by the number of samples,
    so kernel j sums to about `fractions[j]` (exactly, up to the first sample, which upstream
    gives weight 0, and any mass clamped off the canvas).

    Differs from upstream in one edge case: a sample whose lower index clamps to canvas - 1
    would write one pixel past the kernel (IndexError upstream); that weight is dropped here.

    Args:
        trajectory: complex array (iters,), e.g. from `random_trajectory`.
        canvas: int, kernel side in pixels (default 64).
        fractions: increasing exposure fractions in (0, 1] (default (1/100, 1/10, 1/2, 1)).

    Returns:
        float32 array (len(fractions), canvas, canvas).

    Example:
        >>> psfs = trajectory_psfs(random_trajectory(rng=0))
        >>> psfs.shape, round(float(psfs[-1].sum()), 2)
        ((4, 64, 64), 1.0)
    """
    x = np.asarray(trajectory)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"trajectory must be a 1-D complex array of >= 2 samples, got {x.shape}")
    canvas = int(canvas)
    if canvas < 3:
        raise ValueError(f"canvas must be >= 3, got {canvas}")
    fractions = [float(f) for f in fractions]
    if not fractions:
        raise ValueError("fractions must not be empty")
    iters = x.size
    real, imag = x.real.astype(np.float64), x.imag.astype(np.float64)

    col0 = np.clip(np.floor(real), 1, canvas - 1).astype(np.int64)
    row0 = np.clip(np.floor(imag), 1, canvas - 1).astype(np.int64)

    def triangle(d):
        return np.maximum(0.0, 1.0 - np.abs(d))

    # The four bilinear corners; a (canvas + 1)-wide grid catches the index `canvas` that
    # upstream would write out of bounds, and is cropped away below.
    side = canvas + 1
    corners = []
    for row in (row0, row0 + 1):
        for col in (col0, col0 + 1):
            corners.append((row * side + col, triangle(real - col) * triangle(imag - row)))

    kernels = []
    previous = 0.0
    for fraction in fractions:
        weights = _sample_weights(fraction, previous, iters)
        flat = np.zeros(side * side)
        for index, bilinear in corners:
            flat += np.bincount(index, weights=weights * bilinear, minlength=side * side)
        kernels.append(flat.reshape(side, side)[:canvas, :canvas])
        previous = fraction
    # Upstream never resets its accumulator between fractions: the kernels are cumulative.
    return (np.cumsum(kernels, axis=0) / iters).astype(np.float32)


def _fast_length(n):
    """Smallest 2^a 3^b 5^c >= n (a fast FFT size)."""
    best = 1 << max(0, (n - 1).bit_length())
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35
            while candidate < n:
                candidate *= 2
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


def _min_max(array):
    """(array - min) / (max - min), or None when the array is constant."""
    low, high = float(array.min()), float(array.max())
    if not high > low:
        return None
    return (array - low) / (high - low)


def blur_image(image, psf, boundary="reflect", normalize=True):
    """Blurs an RGB image with a PSF using DeblurGAN's recipe.

    Upstream recipe (`blur_image.py`, `normalize=True`): the PSF, zero-padded to the image
    size, is min-max normalised to [0, 1] (so its peak is 1, not its sum); the image is min-max
    normalised to [0, 1]; each channel is convolved with the PSF ('same' size, FFT); the result
    is min-max normalised to [0, 1] again. Those stretches change the tones of the result
    relative to the input (on 128 px crops of the sample photos the mean brightness moves by
    0.06 ± 0.08); `normalize=False` instead divides the PSF by its sum and keeps the image's
    own range, i.e. a plain physical blur.

    Differences from upstream:
      * any H x W works (upstream requires square images no smaller than the PSF); the PSF
        keeps its center, exactly as upstream's symmetric zero-padding puts it.
      * `boundary="reflect"` (default) mirrors the image at its borders before convolving;
        upstream zero-pads (`boundary="zero"`), which darkens a band as wide as the blur along
        every border and, after the final min-max step, shifts the tones of the whole image.
        That matters on training crops, so the default reflects.
      * a constant image is returned unchanged (upstream's normalisation turns it black).

    Args:
        image: array [H, W, C] (C = 3 for RGB), float values in [0, 1] (any range when
            normalize=True, which min-max normalises it).
        psf: array [kh, kw], non-negative, not all zero (e.g. from `trajectory_psfs`).
        boundary: "reflect" (default) or "zero" (upstream).
        normalize: bool (default True = upstream's min-max recipe).

    Returns:
        float32 [H, W, C] in [0, 1].

    Example:
        >>> blurred = blur_image(sample_images(["astronaut"])["astronaut"], random_psf(rng=0))
    """
    if boundary not in ("reflect", "zero"):
        raise ValueError(f"boundary must be 'reflect' or 'zero', got {boundary!r}")
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or min(image.shape) < 1:
        raise ValueError(f"image must have shape [H, W, C], got {image.shape}")
    psf = np.asarray(psf, dtype=np.float64)
    if psf.ndim != 2 or min(psf.shape) < 1:
        raise ValueError(f"psf must be a 2-D array, got shape {psf.shape}")
    if not np.all(np.isfinite(psf)) or psf.min() < 0 or not psf.max() > 0:
        raise ValueError("psf must be finite, non-negative and not all zero")

    height, width, _ = image.shape
    kh, kw = psf.shape
    if normalize:
        source = _min_max(image)
        if source is None:
            return image.copy()  # blurring a constant gives the same constant
        # Upstream pads the PSF with zeros to the image size before normalising it, so the
        # zeros count towards its minimum whenever the image is larger than the PSF.
        padded_psf = height > kh or width > kw
        low = min(float(psf.min()), 0.0) if padded_psf else float(psf.min())
        high = float(psf.max())
        if not high > low:
            raise ValueError("psf must not be constant (its min-max normalisation is undefined)")
        kernel = (psf - low) / (high - low)
    else:
        source = image
        kernel = psf / psf.sum()

    # 'same' convolution as a 'valid' one over a padded image. Output pixel (i, j) sees image
    # rows i + (kh-1)//2 - k for k in [0, kh): pad kh//2 above and (kh-1)//2 below (likewise
    # for columns). The FFT is circular, but the valid outputs never wrap.
    pads = ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2), (0, 0))
    if boundary == "reflect":
        padded = np.pad(source, pads, mode="reflect" if min(height, width) > 1 else "edge")
    else:
        padded = np.pad(source, pads, mode="constant")
    fft_shape = (_fast_length(padded.shape[0]), _fast_length(padded.shape[1]))
    spectrum = np.fft.rfft2(padded, s=fft_shape, axes=(0, 1))
    spectrum *= np.fft.rfft2(kernel, s=fft_shape)[:, :, None]
    full = np.fft.irfft2(spectrum, s=fft_shape, axes=(0, 1))
    blurred = full[kh - 1 : kh - 1 + height, kw - 1 : kw - 1 + width, :]

    if normalize:
        blurred = _min_max(blurred)
        if blurred is None:
            return np.zeros_like(image)
    return np.clip(blurred, 0.0, 1.0).astype(np.float32)


def _min_max_tensor(tensor):
    """(tensor - min) / (max - min), and whether max > min (else the tensor is constant)."""
    low, high = tf.reduce_min(tensor), tf.reduce_max(tensor)
    spread = high - low
    return (tensor - low) / tf.where(spread > 0, spread, 1.0), spread > 0


def blur_image_tensor(image, psf, normalize=True):
    """`blur_image` with TensorFlow ops (`boundary="reflect"`), for `tf.data` maps.

    Graph ops release the Python interpreter, so a parallel map blurs several images at once
    (the numpy `blur_image` holds it). Matches `blur_image` within 2e-6 on random images
    (float32 FFTs against float64).

    Args:
        image: float32 [H, W, C] tensor; H and W larger than half the PSF's side (the reflected
            border must fit in the image).
        psf: float32 [kh, kw] tensor, non-negative, not all zero.
        normalize: bool (default True), see `blur_image`.

    Returns:
        float32 [H, W, C] in [0, 1].
    """
    image = tf.convert_to_tensor(image, tf.float32)
    psf = tf.convert_to_tensor(psf, tf.float32)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    kh, kw = tf.shape(psf)[0], tf.shape(psf)[1]
    if normalize:
        source, varies = _min_max_tensor(image)
        # As `blur_image`: zero-padding the PSF to the image size puts zeros in its minimum.
        padded_psf = tf.logical_or(height > kh, width > kw)
        low = tf.where(padded_psf, tf.minimum(tf.reduce_min(psf), 0.0), tf.reduce_min(psf))
        kernel = (psf - low) / (tf.reduce_max(psf) - low)
    else:
        source, kernel = image, psf / tf.reduce_sum(psf)
    pads = [[kh // 2, (kh - 1) // 2], [kw // 2, (kw - 1) // 2], [0, 0]]
    padded = tf.transpose(tf.pad(source, pads, mode="REFLECT"), [2, 0, 1])  # [C, H', W']
    # The circular convolution of the padded size wraps only into the rows and columns
    # cropped away below (the 'valid' part starts at kh - 1, kw - 1).
    fft_length = tf.shape(padded)[1:]
    spectrum = tf.signal.rfft2d(padded, fft_length) * tf.signal.rfft2d(kernel, fft_length)
    full = tf.signal.irfft2d(spectrum, fft_length)
    blurred = tf.transpose(full[:, kh - 1 : kh - 1 + height, kw - 1 : kw - 1 + width], [1, 2, 0])
    if normalize:
        stretched, _ = _min_max_tensor(blurred)
        # A constant image stays itself (as `blur_image`).
        blurred = tf.where(varies, stretched, image)
    return tf.ensure_shape(tf.clip_by_value(blurred, 0.0, 1.0), image.shape)


def center_psf(psf):
    """Shifts a kernel (by whole pixels) so its centre of mass is the canvas centre.

    Upstream centres the trajectory's bounding box, so its partial-exposure kernels (1/10,
    1/2 of the path) sit off-centre and shift the blurred image against its sharp target by
    up to about 12 px (measured on 64 px kernels); a generator trained on such pairs must
    guess the shift. Centring keeps the pairs aligned.
    """
    psf = np.asarray(psf)
    rows, cols = np.indices(psf.shape)
    total = psf.sum()
    if total <= 0:
        return psf
    shift_row = int(round((psf.shape[0] - 1) / 2 - (rows * psf).sum() / total))
    shift_col = int(round((psf.shape[1] - 1) / 2 - (cols * psf).sum() / total))
    return np.roll(psf, (shift_row, shift_col), axis=(0, 1))


def random_psf(rng=None, canvas=PSF_CANVAS, center=False, max_len=60):
    """A random motion-blur kernel drawn with DeblurGAN's recipe (`blur_image.py` __main__).

    `expl` is drawn from `EXPL_CHOICES`, the trajectory has 2000 samples and length 60, and
    the kernel is one of the 1/10, 1/2 or full-exposure PSFs (`PSF_PARTS`), uniformly.

    Args:
        rng: numpy Generator, int seed or None.
        canvas: int, kernel side (default 64; the path is 60 px long, so keep it >= 62).
        center: bool (default False = upstream), centre the kernel on its centre of mass
            (`center_psf`), so blurred and sharp images stay aligned.
        max_len: float, trajectory length in pixels (default 60 = upstream; < canvas - 2).

    Returns:
        float32 (canvas, canvas), non-negative.

    Example:
        >>> random_psf(rng=1).shape
        (64, 64)
    """
    rng = as_rng(rng)
    expl = float(rng.choice(EXPL_CHOICES))
    trajectory = random_trajectory(canvas=canvas, iters=2000, max_len=max_len, expl=expl, rng=rng)
    psf = trajectory_psfs(trajectory, canvas=canvas)[int(rng.choice(PSF_PARTS))]
    return center_psf(psf) if center else psf


def random_motion_blur(image, rng=None, normalize=True, center=False, max_len=60):
    """Blurs `image` (float [H, W, 3] in [0, 1]) with a `random_psf`; see `blur_image`.

    Args:
        image: float array [H, W, 3] in [0, 1].
        rng: numpy Generator, int seed or None.
        normalize: bool (default True = upstream's min-max recipe), see `blur_image`.
        center: bool (default False = upstream), see `random_psf`.
        max_len: float, trajectory length in pixels (default 60 = upstream), see `random_psf`.

    Example:
        >>> blurred = random_motion_blur(np.random.rand(128, 96, 3).astype("float32"), rng=0)
    """
    rng = as_rng(rng)
    psf = random_psf(rng, center=center, max_len=max_len)
    return blur_image(image, psf, normalize=normalize)


def _point_psf(canvas):
    """A kernel that blurs nothing: 1 at the centre of a canvas x canvas square."""
    psf = np.zeros((canvas, canvas), np.float32)
    psf[canvas // 2, canvas // 2] = 1.0
    return psf


def motion_blur_dataset(
    images,
    crop_size=256,
    batch_size=1,
    seed=None,
    repeat=True,
    augment=True,
    normalize=True,
    center=False,
    max_len=60,
    cache=False,
):
    """(blurred, sharp) training pairs made on the fly with DeblurGAN's synthetic motion blur.

    Each sharp photo is cropped (and flipped) with the shared `crop_and_flip`, then blurred as
    `random_motion_blur` does, with a fresh random PSF per example: the PSF drawn by
    `random_psf` inside `tf.numpy_function`, the blur by `blur_image_tensor` (graph ops, in
    parallel; the numpy `blur_image` for crop_size None or <= 32).
    With `augment=True` the photo order is shuffled and crops and flips are random; with
    `augment=False` the order is fixed and the crop is central (the blur is still random).

    Unlike upstream, which blurs whole photos once offline, crops are blurred here, so every
    epoch sees new blur; `blur_image` reflects at the borders for that reason.

    Args:
        images: a folder of sharp photos (searched recursively), a list of file paths, or a
            list of float32 [H, W, 3] arrays in [0, 1].
        crop_size: int or None (default 256). None keeps full images (batch_size 1 unless all
            have one size).
        batch_size: int >= 1 (default 1). With a crop, incomplete batches are dropped.
        seed: int or None (default None). An int makes order, crops, flips and blur
            reproducible.
        repeat: bool (default True), cycle forever.
        augment: bool (default True).
        normalize: bool (default True = upstream's min-max recipe, which also changes the
            blurred image's tones); False gives a plain blur that keeps the sharp image's
            brightness (see `blur_image`).
        center: bool (default False = upstream), centre each PSF on its centre of mass so
            blurred and sharp crops stay aligned (see `random_psf`).
        max_len: float, blur trajectory length in pixels (default 60 = upstream); shorter
            blur suits small photos and short demos.
        cache: False (default), True (keep the decoded photos in memory) or a file path
            prefix (in `tf.data` cache files); see `tfrestore.data.augment.cropped_dataset`.

    Returns:
        Dataset of `(blurred, sharp)`, each float32 [batch, crop, crop, 3] in [0, 1].

    Raises:
        ValueError: an image smaller than crop_size (named with its size), bad arrays, an
            empty folder, or bad arguments.

    Example:
        >>> ds = motion_blur_dataset(list(sample_images().values()), crop_size=128,
        ...                          batch_size=4, seed=0)
        >>> blurred, sharp = next(iter(ds))  # each [4, 128, 128, 3]
    """
    crop_size = positive_int(crop_size, "crop_size", allow_none=True)
    batch_size = positive_int(batch_size, "batch_size")
    canvas = PSF_CANVAS
    if crop_size is None or crop_size <= canvas // 2:
        # Full images may be smaller than the kernel's reflected border: blur in numpy.
        blur = functools.partial(
            random_motion_blur, normalize=normalize, center=center, max_len=max_len
        )
        return synthetic_pair_dataset(
            images, blur, crop_size, batch_size, seed, repeat, augment, cache
        )
    # The kernel is drawn in numpy (a sequential random walk), the blur is graph ops.
    draw_psf = seeded_numpy_function(
        lambda rng: random_psf(rng, canvas=canvas, center=center, max_len=max_len),
        on_exit=lambda: _point_psf(canvas),
    )

    def make_pair(photo, blur_seed):
        psf = tf.ensure_shape(tf.numpy_function(draw_psf, [blur_seed], tf.float32), [canvas] * 2)
        return blur_image_tensor(photo, psf, normalize), photo

    return degraded_dataset(
        images, make_pair, crop_size, batch_size, seed, repeat, augment, cache=cache
    )
