"""DeblurGAN demo (`tfrestore demo`, outputs/demo/): random-trajectory motion blur; PSNR/SSIM
of the blurred input and the restored image; the TFLite model also restores scikit-image's real
motion-blurred photo."""

import os

import numpy as np

from tfrestore import data, models
from tfrestore.demo.common import (
    HELD_OUT,
    save_and_export,
    scores,
    split_photos,
    train,
    verdict,
    vgg_weights_or_none,
    write_report,
)

# What a 5-minute CPU run can learn, and why it differs from the paper's recipe
# (training/configs/deblur_gan.yaml has the paper's): a narrower generator with 4 residual
# blocks; no dropout and a 10x learning rate, so a few hundred steps go far; an L1 term, because
# ImageNet VGG weights cannot be downloaded offline and a random VGG gives a weak content loss;
# blur trajectories of 20 px instead of 60, centred and brightness-preserving, so the pairs stay
# aligned (see `tfrestore.data.random_psf`). WGAN-GP with 5 critic steps is kept.
MODEL_KWARGS = {"filters": 16, "num_blocks": 4, "dropout_rate": 0.0, "l1_weight": 100.0}
LEARNING_RATE = 1e-3
BLUR = {"center": True, "normalize": False, "max_len": 20}


def _held_out_pairs(photos, size=256, seed=1234):
    """Center 256x256 crops of the held-out photos and their fixed-seed motion-blurred copies."""
    rng = np.random.default_rng(seed)
    sharp, blurred = [], []
    for name in HELD_OUT:
        image = photos[name]
        top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        crop = image[top : top + size, left : left + size]
        sharp.append(crop)
        blurred.append(data.random_motion_blur(crop, rng=rng, **BLUR).astype("float32"))
    return np.stack(blurred), np.stack(sharp)


def run(minutes, output):
    from tfrestore.inference import load_restorer

    photos, train_photos = split_photos()
    dataset = data.motion_blur_dataset(train_photos, crop_size=128, batch_size=4, seed=0, **BLUR)
    blurred, sharp = _held_out_pairs(photos)

    model = models.get("deblur_gan", vgg_weights=vgg_weights_or_none(), **MODEL_KWARGS)
    model.compile(learning_rate=LEARNING_RATE)
    budget = train(
        "deblur_gan", model, dataset, minutes, output, f"{len(train_photos)} sample photos"
    )
    restored = model.predict(blurred, verbose=0)
    psnr_in, ssim_in = scores(sharp, blurred)
    psnr_out, ssim_out = scores(sharp, restored)

    saved, tflite = save_and_export(model, output)
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
    write_report(
        output,
        [
            "# tfrestore demo: deblur_gan",
            "",
            f"Trained {budget.steps} generator steps in {minutes:g} min on {len(train_photos)} "
            "scikit-image photos (crops 128x128, batch 4, motion blur made on the fly,",
            f"{BLUR['max_len']} px trajectories); held out: {', '.join(HELD_OUT)}.",
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
    return verdict("restored", psnr_out, "blurred input", psnr_in)
