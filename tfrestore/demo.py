"""The demo behind `make demo`: train, evaluate and export on scikit-image's sample photos.

Every demo trains a reduced-width model for a bounded time on sample photos degraded on the
fly, scores held-out photos (degraded with a fixed seed), exports the model to SavedModel and
TFLite, and writes an image grid and `report.md` to its output folder.

- DeblurGAN (`tfrestore demo`, outputs/demo/): random-trajectory motion blur; PSNR/SSIM of the
  blurred input and the restored image; the TFLite model also restores scikit-image's real
  motion-blurred photo.
- Context Encoder (`tfrestore demo --model context_encoder`, outputs/demo/context_encoder/):
  the paper's center hole; PSNR and L1 inside the hole for the mean-filled input, the model
  and scikit-image's biharmonic inpainting (a classical baseline).
"""

import os
import time

import keras
import numpy as np

from tfrestore import data, metrics, models

HELD_OUT = ("astronaut", "coffee")
OUTPUT = os.path.join("outputs", "demo")
# What a 5-minute CPU run can learn, and why it differs from the paper's recipe
# (training/configs/ has the paper's).
# DeblurGAN: a narrower generator with 4 residual blocks; no dropout and a 10x learning rate,
# so a few hundred steps go far; an L1 term, because ImageNet VGG weights cannot be downloaded
# offline and a random VGG gives a weak content loss; blur trajectories of 20 px instead of 60,
# centred and brightness-preserving, so the pairs stay aligned (see `tfrestore.data.random_psf`).
# WGAN-GP with 5 critic steps is kept.
# Context Encoder: half the width and a 512-channel bottleneck instead of 4000 (5.6M generator
# parameters instead of 71M: about 6 steps of batch 16 per second on 2 cores); the paper's
# losses, overlap ring and learning rates (2e-3 G, 2e-4 D) are kept. Measured over 5 minutes
# (hole PSNR on the held-out crops): filters 16 (2.5M, 2,500 steps) 14.6 dB, filters 32 15.1 dB;
# learning rates 4x lower 15.2 dB, so the paper's stay.
DEMO_MODEL_KWARGS = {
    "deblur_gan": {"filters": 16, "num_blocks": 4, "dropout_rate": 0.0, "pixel_weight": 100.0},
    "context_encoder": {"filters": 32, "bottleneck_channels": 512},
}
DEMO_LEARNING_RATE = 1e-3
DEMO_BLUR = {"center": True, "normalize": False, "max_len": 20}
# The Context Encoder's generator sees a fixed 128x128 context, so photos are resized before
# cropping (upstream: shorter side 350 for Paris StreetView). Nine photos are far too few: a
# model trained on them at one scale (shorter side 192) memorizes them and pastes their
# textures into held-out holes (11.6 dB after 5 minutes, worse than after 1). So each training
# photo is used at several scales (each at most its own size) and transposed, which multiplies
# the distinct crops (15.1 dB); held-out photos are scored at one scale in that range.
INPAINTING_TRAIN_SIDES = (160, 224, 320, 448, 640)
INPAINTING_EVAL_SIDE = 224
INPAINTING_CROPS_PER_PHOTO = 3
INPAINTING_BATCH_SIZE = 16


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` have passed (checked after every batch); prints progress
    at each epoch end."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.steps = 0

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.monotonic() - self.start > self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        terms = "  ".join(f"{name} {value:.4g}" for name, value in sorted((logs or {}).items()))
        elapsed = time.monotonic() - self.start
        print(f"{elapsed:5.0f} s  step {self.steps:5d}  {terms}", flush=True)


def vgg_weights_or_none():
    """ImageNet VGG weights when Keras can get them (cached or downloadable), else None."""
    try:
        keras.applications.VGG19(include_top=False, weights="imagenet")
        return "imagenet"
    except Exception as error:  # offline: no download possible
        print(f"VGG19 ImageNet weights unavailable ({type(error).__name__}); the perceptual")
        print("loss uses a randomly initialised VGG19 for this demo.")
        return None


# -- shared steps ---------------------------------------------------------------------------


def _split_photos():
    """All sample photos by name, and the training ones (all but `HELD_OUT`) as a list."""
    photos = data.sample_images()
    return photos, [image for name, image in photos.items() if name not in HELD_OUT]


def _train(model_name, model, dataset, minutes, output, description):
    """Fits `model` on `dataset` until `minutes` have passed; returns the `TimeBudget`."""
    budget = TimeBudget(minutes * 60)
    print(
        f"training {model_name} ({model.generator.count_params():,} generator parameters) "
        f"for {minutes:g} minutes on {description}"
    )
    model.fit(
        dataset,
        epochs=10_000,  # the time budget ends training
        steps_per_epoch=25,
        callbacks=[budget, keras.callbacks.TensorBoard(os.path.join(output, "logs"))],
        verbose=0,
    )
    return budget


def _save_and_export(model, output):
    """Writes model.keras, saved_model/ and model.tflite; returns the two export reports."""
    from tfrestore import export

    model.save(os.path.join(output, "model.keras"))
    saved = export.export_saved_model(model, os.path.join(output, "saved_model"))
    tflite = export.export_tflite(model, os.path.join(output, "model.tflite"))
    return saved, tflite


def _write_report(output, lines):
    report = "\n".join(lines) + "\n"
    with open(os.path.join(output, "report.md"), "w") as handle:
        handle.write(report)
    print(report)


def _verdict(name, score, baseline_name, baseline):
    """Prints whether `score` (higher is better) beats the baseline; 0 if it does, else 1."""
    better = score > baseline
    print(
        f"{name} PSNR {score:.2f} dB vs {baseline_name} {baseline:.2f} dB: "
        f"{'better' if better else 'NOT better'}"
    )
    return 0 if better else 1


# -- DeblurGAN ------------------------------------------------------------------------------


def _held_out_pairs(photos, size=256, seed=1234):
    """Center 256x256 crops of the held-out photos and their fixed-seed motion-blurred copies."""
    rng = np.random.default_rng(seed)
    sharp, blurred = [], []
    for name in HELD_OUT:
        image = photos[name]
        top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        crop = image[top : top + size, left : left + size]
        sharp.append(crop)
        blurred.append(data.random_motion_blur(crop, rng=rng, **DEMO_BLUR).astype("float32"))
    return np.stack(blurred), np.stack(sharp)


def _scores(target, images):
    return float(np.mean(metrics.psnr(target, images))), float(
        np.mean(metrics.ssim(target, images))
    )


def _deblur_gan_demo(minutes, output):
    from tfrestore.inference import load_restorer

    photos, train_photos = _split_photos()
    dataset = data.motion_blur_dataset(
        train_photos, crop_size=128, batch_size=4, seed=0, **DEMO_BLUR
    )
    blurred, sharp = _held_out_pairs(photos)

    model = models.get(
        "deblur_gan", vgg_weights=vgg_weights_or_none(), **DEMO_MODEL_KWARGS["deblur_gan"]
    )
    model.learning_rate = DEMO_LEARNING_RATE
    model.compile()
    budget = _train(
        "deblur_gan", model, dataset, minutes, output, f"{len(train_photos)} sample photos"
    )
    restored = model.predict(blurred, verbose=0)
    psnr_in, ssim_in = _scores(sharp, blurred)
    psnr_out, ssim_out = _scores(sharp, restored)

    saved, tflite = _save_and_export(model, output)
    clock = data.clock_motion()
    clock_restored = load_restorer(tflite.path)(image=clock[None])["restored"][0]

    grid = np.concatenate(
        [np.concatenate([b, r, s], axis=1) for b, r, s in zip(blurred, restored, sharp)], axis=0
    )
    data.write_image(os.path.join(output, "held_out_blurred_restored_sharp.png"), grid)
    data.write_image(
        os.path.join(output, "clock_motion_before_after.png"),
        np.concatenate([clock, clock_restored], axis=1),
    )
    _write_report(
        output,
        [
            "# tfrestore demo: deblur_gan",
            "",
            f"Trained {budget.steps} generator steps in {minutes:g} min on {len(train_photos)} "
            "scikit-image photos (crops 128x128, batch 4, motion blur made on the fly,",
            f"{DEMO_BLUR['max_len']} px trajectories); held out: {', '.join(HELD_OUT)}.",
            "",
            "| held-out 256x256 | PSNR (dB) | SSIM |",
            "|---|---|---|",
            f"| blurred input | {psnr_in:.2f} | {ssim_in:.4f} |",
            f"| restored | {psnr_out:.2f} | {ssim_out:.4f} |",
            "",
            f"SavedModel: {saved}",
            f"TFLite: {tflite}",
            "Real blurred photo (scikit-image clock_motion.png), restored with the TFLite model:",
            "clock_motion_before_after.png",
        ],
    )
    return _verdict("restored", psnr_out, "blurred input", psnr_in)


# -- Context Encoder ------------------------------------------------------------------------


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


def biharmonic_inpaint(images, mask):
    """scikit-image's biharmonic inpainting of each image's holes (a classical baseline).

    Args:
        images: float [B, H, W, 3] in [0, 1]; hole pixels are ignored.
        mask: float [B, H, W, 1], 1 = hole.

    Returns:
        float32 [B, H, W, 3], known pixels unchanged.
    """
    from skimage.restoration import inpaint_biharmonic

    filled = [
        inpaint_biharmonic(image, holes[..., 0] > 0.5, channel_axis=-1)
        for image, holes in zip(np.asarray(images), np.asarray(mask), strict=True)
    ]
    return np.clip(np.stack(filled), 0.0, 1.0).astype(np.float32)


def inpainting_table(target, mask, results):
    """Markdown table lines of mean hole PSNR and L1 for each {row name: images}."""
    lines = ["| held-out, inside the hole | PSNR (dB) | L1 |", "|---|---|---|"]
    for name, images in results.items():
        psnr, l1 = hole_scores(target, images, mask)
        lines.append(f"| {name} | {np.mean(psnr):.2f} | {np.mean(l1):.4f} |")
    return lines


def resize_shorter_side(image, side):
    """`image` [H, W, 3] resized (antialiased bilinear) so its shorter side is `side`."""
    import tensorflow as tf

    height, width = image.shape[:2]
    scale = side / min(height, width)
    size = (max(side, round(height * scale)), max(side, round(width * scale)))
    resized = tf.image.resize(image, size, method="bilinear", antialias=True)
    return np.clip(resized.numpy(), 0.0, 1.0)


def held_out_crops(photos, size=128, count=INPAINTING_CROPS_PER_PHOTO):
    """`count` size x size crops per photo, spread evenly along its longer side, centred on
    the shorter one, as one [N, size, size, 3] array."""
    crops = []
    for image in photos:
        height, width = image.shape[:2]
        for position in np.linspace(0.0, 1.0, count):
            top = round((height - size) * (position if height > width else 0.5))
            left = round((width - size) * (position if height <= width else 0.5))
            crops.append(image[top : top + size, left : left + size])
    return np.stack(crops)


def scaled_photos(photos, sides=INPAINTING_TRAIN_SIDES):
    """Each photo resized to each shorter side in `sides` that is at most its own, and each
    of those transposed too (see `INPAINTING_TRAIN_SIDES`)."""
    scaled = [
        resize_shorter_side(image, side)
        for image in photos
        for side in sides
        if side <= min(image.shape[:2])
    ]
    return scaled + [image.transpose(1, 0, 2) for image in scaled]


def _context_encoder_demo(minutes, output):
    from tfrestore.inference import load_restorer

    photos, originals = _split_photos()
    train_photos = scaled_photos(originals)
    held_out = [resize_shorter_side(photos[name], INPAINTING_EVAL_SIDE) for name in HELD_OUT]
    dataset = data.inpainting_dataset(
        train_photos, crop_size=128, batch_size=INPAINTING_BATCH_SIZE, mask="center", seed=0
    )
    target = held_out_crops(held_out)
    mask = np.repeat(data.center_mask(128)[None], len(target), axis=0)
    masked = data.fill_holes(target, mask)  # what the model sees: holes at the dataset mean

    model = models.get("context_encoder", **DEMO_MODEL_KWARGS["context_encoder"])
    model.compile()
    sides = "/".join(str(side) for side in INPAINTING_TRAIN_SIDES)
    description = (
        f"{len(originals)} sample photos ({len(train_photos)} scaled and transposed copies)"
    )
    budget = _train("context_encoder", model, dataset, minutes, output, description)
    restored = model.predict((masked, mask), verbose=0)
    biharmonic = biharmonic_inpaint(masked, mask)

    saved, tflite = _save_and_export(model, output)
    restored_tflite = load_restorer(tflite.path)(image=masked, mask=mask)["restored"]
    results = {
        "mean-filled input": masked,
        "Context Encoder": restored,
        "Context Encoder (TFLite)": restored_tflite,
        "biharmonic (scikit-image)": biharmonic,
    }
    table = inpainting_table(target, mask, results)

    grid = np.concatenate(
        [np.concatenate(row, axis=1) for row in zip(masked, restored, biharmonic, target)],
        axis=0,
    )
    grid_name = "held_out_masked_model_biharmonic_original.png"
    data.write_image(os.path.join(output, grid_name), grid)
    hole = int(mask[0, :, :, 0].any(axis=1).sum())  # side of the square hole
    _write_report(
        output,
        [
            "# tfrestore demo: context_encoder",
            "",
            f"Trained {budget.steps} generator steps in {minutes:g} min on {len(originals)} "
            f"scikit-image photos, each resized to shorter sides of {sides} px (at most its",
            f"own) and transposed: {len(train_photos)} images; random 128x128 crops, batch "
            f"{INPAINTING_BATCH_SIZE}, the paper's center hole ({hole}x{hole} px, mean-filled).",
            f"Held out: {', '.join(HELD_OUT)} at shorter side {INPAINTING_EVAL_SIDE} px, "
            f"{len(target)} crops.",
            "",
            *table,
            "",
            f"SavedModel: {saved}",
            f"TFLite: {tflite}",
            f"Held-out crops, masked | model | biharmonic | original: {grid_name}",
        ],
    )
    psnr_model = float(np.mean(hole_scores(target, restored, mask)[0]))
    psnr_input = float(np.mean(hole_scores(target, masked, mask)[0]))
    return _verdict("Context Encoder", psnr_model, "mean-filled input", psnr_input)


DEMOS = {"deblur_gan": _deblur_gan_demo, "context_encoder": _context_encoder_demo}


def default_output(model_name):
    """outputs/demo for DeblurGAN (what `make demo` writes), outputs/demo/<name> otherwise."""
    return OUTPUT if model_name == "deblur_gan" else os.path.join(OUTPUT, model_name)


def run(model_name="deblur_gan", minutes=5.0, output=None):
    """Runs a demo; returns 0 when the model beats the degraded input (PSNR), else 1.

    Args:
        model_name: a key of `DEMOS` ("deblur_gan" or "context_encoder").
        minutes: float, training time budget.
        output: folder for everything written (default `default_output(model_name)`).
    """
    if model_name not in DEMOS:
        raise ValueError(f"no demo for {model_name!r} yet; available: {', '.join(DEMOS)}")
    output = output or default_output(model_name)
    os.makedirs(output, exist_ok=True)
    keras.utils.set_random_seed(0)
    return DEMOS[model_name](minutes, output)
