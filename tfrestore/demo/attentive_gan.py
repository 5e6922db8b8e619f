"""AttentiveGAN demo (`tfrestore demo --model attentive_gan`, outputs/demo/attentive_gan/):
synthetic adherent raindrops on the sample photos; PSNR/SSIM of the rainy input and the
restored image (Keras and TFLite), and the final attention map in the grid."""

import os

import numpy as np

from tfrestore import data, models
from tfrestore.demo.common import (
    HELD_OUT,
    LinearDecayOverTime,
    save_and_export,
    scores,
    split_photos,
    train,
    verdict,
    write_report,
)
from tfrestore.demo.context_encoder import held_out_crops

# What a 5-minute run on 2 CPU cores can learn, and why it differs from the paper's recipe
# (training/configs/ has the paper's; README "Demo notes" lists the measured runs behind it).
# AttentiveGAN's output is the whole image: trained from scratch, the generator spends its few
# hundred steps learning to reproduce the photo and lands within 0.15 dB of the rainy input. So:
# - the generator starts as the identity (`AttentiveGANGenerator.start_as_identity`, not in the
#   paper; the architecture is unchanged) and training goes to the drops from the first step;
# - Adam at the paper's 2e-4, held for half the time, then decayed linearly to 0
#   (`LinearDecayOverTime`); 1e-3 shook the copy loose, 1e-4 learned the drops more slowly;
# - no perceptual term: ImageNet VGG weights cannot be downloaded offline, and a random VGG16
#   cost half of each step while its feature MSE swamped the pixel terms;
# - generator width 16 instead of 32 and discriminator width 1 instead of 8 (its 5x5 convs at
#   full resolution took most of a step, and at weight 0.01 it hardly moves the PSNR);
# - 128x128 crops (the discriminator's FC is built for them), batch 4;
# - larger, denser drops than `synthetic_raindrops`' defaults (28 % of the held-out pixels
#   instead of 13 %): at the default density the rest of the image drifted from the copy more
#   than the drops improved.
CROP_SIZE = 128
BATCH_SIZE = 4
MODEL_KWARGS = {
    "filters": 16,
    "discriminator_filters": 1,
    "crop_size": (CROP_SIZE, CROP_SIZE),
    "perceptual_weight": 0.0,
}
CONSTANT_FRACTION = 0.5
# Drops per 128x128 training crop (`drops_for_size` scales the count to other sizes).
DROPS = {"count": (5, 15), "radius": (6, 20)}
HELD_OUT_SIZE = 256
HELD_OUT_CROPS = 2  # per held-out photo
SEED = 1234


def drops_for_size(size, drops=None):
    """`drops` (default `DROPS`, set for `CROP_SIZE` crops) with the count scaled to
    size x size images, so drops cover the same fraction of the pixels."""
    drops = dict(DROPS if drops is None else drops)
    low, high = drops.get("count", (10, 40))  # synthetic_raindrops' default
    scale = (size / CROP_SIZE) ** 2
    drops["count"] = (round(low * scale), round(high * scale))
    return drops


def held_out_pairs(photos, size=HELD_OUT_SIZE, count=HELD_OUT_CROPS, seed=SEED):
    """`count` size x size crops of each held-out photo with fixed-seed synthetic raindrops.

    Returns:
        (rainy, clean, mask): [len(HELD_OUT) * count, size, size, C] each, C = 3, 3 and 1
        (1 under a drop).
    """
    rng = np.random.default_rng(seed)
    clean = held_out_crops([photos[name] for name in HELD_OUT], size=size, count=count)
    drops = drops_for_size(size)
    rainy, mask = zip(*(data.synthetic_raindrops(image, rng=rng, **drops) for image in clean))
    return np.stack(rainy), clean.astype(np.float32), np.stack(mask)


def grid(rainy, attention, restored, clean):
    """One row per image: rainy | attention map (gray, as RGB) | restored | clean.

    Args:
        rainy, restored, clean: [N, H, W, 3] in [0, 1].
        attention: [N, H, W, 1] in [0, 1].

    Returns:
        float32 [N * H, 4 * W, 3].
    """
    maps = np.repeat(np.clip(attention, 0.0, 1.0), 3, axis=-1)
    rows = [np.concatenate(row, axis=1) for row in zip(rainy, maps, restored, clean, strict=True)]
    return np.concatenate(rows, axis=0).astype(np.float32)


def run(minutes, output):
    from tfrestore.inference import load_restorer

    photos, train_photos = split_photos()
    dataset = data.synthetic_raindrop_dataset(
        train_photos, crop_size=CROP_SIZE, batch_size=BATCH_SIZE, seed=0, **DROPS
    )
    rainy, clean, drop_mask = held_out_pairs(photos)

    model = models.get("attentive_gan", vgg_weights=None, **MODEL_KWARGS)
    model.compile()  # Adam 2e-4, the paper's
    model.generator.start_as_identity()
    description = f"{len(train_photos)} sample photos"
    decay = LinearDecayOverTime(
        minutes * 60, [model.generator_optimizer, model.discriminator_optimizer], CONSTANT_FRACTION
    )
    budget = train("attentive_gan", model, dataset, minutes, output, description, [decay])
    outputs = model.serving_outputs(rainy)
    restored, attention = outputs["restored"].numpy(), outputs["attention"].numpy()
    psnr_in, ssim_in = scores(clean, rainy)
    psnr_out, ssim_out = scores(clean, restored)

    saved, tflite = save_and_export(model, output)
    restored_tflite = load_restorer(tflite.path)(image=rainy)["restored"]
    psnr_tflite, ssim_tflite = scores(clean, restored_tflite)

    grid_name = "held_out_rainy_attention_restored_clean.png"
    data.write_image(os.path.join(output, grid_name), grid(rainy, attention, restored, clean))
    size = HELD_OUT_SIZE
    write_report(
        output,
        [
            "# tfrestore demo: attentive_gan",
            "",
            f"Trained {budget.steps} generator steps in {minutes:g} min on {len(train_photos)} "
            f"scikit-image photos (crops {CROP_SIZE}x{CROP_SIZE}, batch {BATCH_SIZE}, synthetic "
            f"raindrops made on the fly: {DROPS['count'][0]}-{DROPS['count'][1]} per crop, "
            f"radius {DROPS['radius'][0]}-{DROPS['radius'][1]} px).",
            f"Generator width {MODEL_KWARGS['filters']}, discriminator width "
            f"{MODEL_KWARGS['discriminator_filters']}, no perceptual term (no ImageNet VGG "
            f"offline), generator started as the identity, Adam {model.learning_rate:g} decayed "
            "to 0 over the second half.",
            f"Held out: {', '.join(HELD_OUT)}, {len(clean)} crops {size}x{size} with fixed-seed "
            f"drops ({100 * drop_mask.mean():.0f} % of the pixels under a drop).",
            "",
            f"| held-out {size}x{size} | PSNR (dB) | SSIM |",
            "|---|---|---|",
            f"| rainy input | {psnr_in:.2f} | {ssim_in:.4f} |",
            f"| restored | {psnr_out:.2f} | {ssim_out:.4f} |",
            f"| restored (TFLite) | {psnr_tflite:.2f} | {ssim_tflite:.4f} |",
            "",
            f"SavedModel: {saved}",
            f"TFLite: {tflite}",
            f"Held-out crops, rainy | final attention map | restored | clean: {grid_name}",
        ],
    )
    return verdict("restored", psnr_out, "rainy input", psnr_in)
