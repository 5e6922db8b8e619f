"""EnlightenGAN demo (`tfrestore demo --model enlighten_gan`, outputs/demo/enlighten_gan/):
unpaired training on sample photos darkened synthetically; PSNR/SSIM of the dark input and the
enhanced image against the original photos, and the no-reference mean brightness and
colorfulness of dark, enhanced and original images."""

import os

import numpy as np
import tensorflow as tf

from tfrestore import data, metrics, models
from tfrestore.data.sources import photo_dataset
from tfrestore.demo.common import (
    HELD_OUT,
    LinearDecayOverTime,
    resize_shorter_side,
    save_and_export,
    split_photos,
    train,
    verdict,
    write_report,
)

# What a 5-minute CPU run can learn, and why it differs from the paper's recipe
# (training/configs/enlighten_gan.yaml has the paper's). Figures are held-out PSNR; the dark
# input scores 7.93 dB, this recipe 17.1 dB after 5 minutes (1,080-1,140 steps in two runs;
# the TFLite model the same), mean brightness 0.49-0.51 (originals 0.42, dark 0.08).
# - The self feature-preserving loss compares instance-normalized pixels
#   (`feature_network="pixels"`, weight 0.1) instead of VGG16 relu5_1 features: offline there
#   are no ImageNet weights (see `common.vgg_weights_or_none`), a random VGG16 is no measure of
#   content, and its passes take most of a step (61 steps in 2 minutes at 64x64 crops, which
#   barely brighten: 8.3 dB). With no such loss the GAN brightens but repaints the photos from
#   the training photos' colours (11.9 dB after 5 minutes: faces orange, the white cup red);
#   with the pixel loss at weight 1 it hardly brightens (9.3 dB after 2 minutes), at 0.1 it
#   keeps the content (16.1 dB after 2 minutes).
# - Width 8 (0.54M generator parameters instead of 8.6M), 128x128 crops and batch 4 (paper:
#   320, 32): about 1,000 steps in 5 minutes on 2 shared cores.
# - Learning rate 2e-4 (paper 1e-4), constant for half the time budget, then decaying linearly
#   to 0 (the paper's schedule, over time: `LinearDecayOverTime`). At a constant rate the
#   result swings from epoch to epoch (without the feature loss, 2 minutes: 6 to 15 dB at 2e-4,
#   4 to 12 dB at 1e-3); the decay lets it settle.
MODEL_KWARGS = {"filters": 8, "feature_network": "pixels", "perceptual_weight": 0.1}
LEARNING_RATE = 2e-4
CROP_SIZE = 128
BATCH_SIZE = 4
HELD_OUT_SIDE = 256  # held-out photos resized to this shorter side, then centre-cropped square
HELD_OUT_SEED = 1234


def unpaired_low_light_dataset(photos, crop_size=CROP_SIZE, batch_size=BATCH_SIZE, seed=0):
    """EnlightenGAN's unpaired `(low, normal)` batches made from one set of normal photos.

    The low-light side is the photos darkened on the fly (`synthetic_low_light`, its default
    ranges); the normal side is the photos themselves from a second stream with its own order,
    crops and flips, so which normal crop meets which dark crop is left to chance, as with
    unpaired photos (`tfrestore.data.unpaired_dataset` takes two fixed sets instead).

    Args:
        photos: list of float32 [H, W, 3] arrays in [0, 1] (or a folder, or file paths).
        crop_size: int (default `CROP_SIZE`).
        batch_size: int (default `BATCH_SIZE`).
        seed: int; the normal stream uses `seed + 1`.

    Returns:
        Dataset of `(low, normal)`, each float32 [batch, crop, crop, 3], repeated forever.
    """
    low = data.synthetic_low_light_dataset(photos, crop_size, batch_size, seed=seed)
    normal = photo_dataset(photos, crop_size, batch_size, seed=seed + 1)
    normal = normal.map(lambda photo, _: photo).batch(batch_size, drop_remainder=True)
    dataset = tf.data.Dataset.zip(low.map(lambda dark, _: dark), normal)
    return dataset.prefetch(tf.data.AUTOTUNE)


def held_out_pairs(photos, side=HELD_OUT_SIDE, seed=HELD_OUT_SEED):
    """(dark, original) [N, side, side, 3] float32: each photo resized to shorter side `side`,
    centre-cropped square, and darkened by `synthetic_low_light` from one seeded generator."""
    rng = np.random.default_rng(seed)
    originals = []
    for image in photos:
        image = resize_shorter_side(image, side)
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        originals.append(image[top : top + side, left : left + side].astype(np.float32))
    dark = [data.synthetic_low_light(image, rng=rng) for image in originals]
    return np.stack(dark), np.stack(originals)


def low_light_scores(images, target=None):
    """`metrics.image_scores` averaged over the batch: {name: float}."""
    return {
        name: float(np.mean(values))
        for name, values in metrics.image_scores(images, target).items()
    }


def low_light_table(target, results):
    """Markdown table lines: PSNR and SSIM against `target` of each {row name: images}, and
    the mean brightness and colorfulness of each and of the target (last row, "original")."""
    lines = [
        "| held-out | PSNR (dB) | SSIM | mean brightness | colorfulness |",
        "|---|---|---|---|---|",
    ]
    for name, images in results.items():
        s = low_light_scores(images, target)
        lines.append(
            f"| {name} | {s['psnr']:.2f} | {s['ssim']:.4f} | {s['brightness']:.4f} "
            f"| {s['colorfulness']:.2f} |"
        )
    s = low_light_scores(target)
    lines.append(f"| original | - | - | {s['brightness']:.4f} | {s['colorfulness']:.2f} |")
    return lines


def run(minutes, output):
    from tfrestore.inference import load_restorer

    photos, train_photos = split_photos()
    dataset = unpaired_low_light_dataset(train_photos, seed=0)
    dark, original = held_out_pairs([photos[name] for name in HELD_OUT])

    model = models.get("enlighten_gan", vgg_weights=None, **MODEL_KWARGS)
    model.compile(learning_rate=LEARNING_RATE)
    decay = LinearDecayOverTime(
        minutes * 60, [model.generator_optimizer, model.discriminator_optimizer]
    )
    description = (
        f"{len(train_photos)} sample photos, unpaired: darkened copies vs the photos themselves"
    )
    budget = train("enlighten_gan", model, dataset, minutes, output, description, [decay])
    enhanced = model.predict(dark, verbose=0)

    saved, tflite = save_and_export(model, output)
    enhanced_tflite = load_restorer(tflite.path)(image=dark)["restored"]
    results = {
        "dark input": dark,
        "EnlightenGAN": enhanced,
        "EnlightenGAN (TFLite)": enhanced_tflite,
    }
    table = low_light_table(original, results)

    grid = np.concatenate(
        [np.concatenate(row, axis=1) for row in zip(dark, enhanced, original)], axis=0
    )
    grid_name = "held_out_dark_enhanced_original.png"
    data.write_image(os.path.join(output, grid_name), grid)
    write_report(
        output,
        [
            "# tfrestore demo: enlighten_gan",
            "",
            f"Trained {budget.steps} generator steps in {minutes:g} min on {len(train_photos)} "
            f"scikit-image photos, unpaired (random {CROP_SIZE}x{CROP_SIZE} crops, batch "
            f"{BATCH_SIZE}): low-light side darkened on the fly by `synthetic_low_light`",
            "(exposure 0.1-0.3, gamma 1.5-2.5, noise sigma 0-0.02), normal-light side the photos "
            "themselves, drawn independently.",
            f"Generator width {MODEL_KWARGS['filters']}; feature-preserving loss on "
            f"instance-normalized pixels (weight {MODEL_KWARGS['perceptual_weight']:g}) "
            f"instead of VGG16 features; learning rate {LEARNING_RATE:g}, constant for half the "
            "time, then linear decay to 0.",
            f"Held out: {', '.join(HELD_OUT)} (shorter side {HELD_OUT_SIDE} px, centre square), "
            f"darkened with seed {HELD_OUT_SEED}.",
            "",
            *table,
            "",
            "Colorfulness: Hasler and Susstrunk (2003), 0-255 scale; brightness: mean BT.601 luma.",
            f"SavedModel: {saved}",
            f"TFLite: {tflite}",
            f"Held-out photos, dark | enhanced | original: {grid_name}",
        ],
    )
    psnr_dark = low_light_scores(dark, original)["psnr"]
    psnr_enhanced = low_light_scores(enhanced, original)["psnr"]
    return verdict("EnlightenGAN", psnr_enhanced, "dark input", psnr_dark)
