"""DeblurGAN demo (`tfrestore demo`, outputs/demo/): random-trajectory motion blur; PSNR/SSIM
of the blurred input and the restored image; the TFLite model also restores scikit-image's real
motion-blurred photo, with a sharpness and a periodic-artifact measure before and after."""

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
from tfrestore.models.precision import dtype_policy

# Five minutes on 2 CPU cores give about 700 to 3,000 generator steps (fewer when other processes
# share the cores), so the recipe spends them on the blur: the generator starts as the
# identity (from scratch it first has to learn to copy the photo), one critic step per generator
# step, an L1 content loss instead of the perceptual one (ImageNet VGG weights cannot be
# downloaded offline, and a random VGG cost most of each step), and a narrow generator. The
# report tabulates it against the paper's (`PAPER`); the README's demo notes list the runs.
MODEL_KWARGS = {
    "filters": 16,
    "num_blocks": 4,
    "dropout_rate": 0.0,
    "perceptual_weight": 0.0,
    "l1_weight": 100.0,
    "discriminator_steps": 1,
}
LEARNING_RATE = 5e-4
CONSTANT_FRACTION = 0.5  # of the time budget at LEARNING_RATE, then linear decay to 0
CROP_SIZE = 128
BATCH_SIZE = 4
# Centred, brightness-preserving kernels keep blurred and sharp aligned (`data.random_psf`).
BLUR = {"center": True, "normalize": False, "max_len": 20}
HELD_OUT_SIZE = 256
SEED = 1234
# The Keras dtype policy the networks are built under. This CPU has AVX512-BF16: one training
# step of this recipe took 331 ms in mixed_bfloat16 against 414 ms in float32 (1.25x; medians
# of 7 interleaved rounds of 10 steps, 2 cores shared with other jobs), and 1-minute demos
# ended at a median held-out PSNR of 23.75 dB against 23.61 (4 interleaved runs each; README).
PRECISION = "mixed_bfloat16"

# The paper's recipe (Kupyn et al., CVPR 2018; training/configs/deblur_gan.yaml), in the keys
# of `recipe`.
PAPER = {
    "filters": 64,
    "num_blocks": 9,
    "dropout_rate": 0.5,
    "identity_start": False,
    "perceptual_weight": 100.0,
    "l1_weight": 0.0,
    "gradient_penalty_weight": 10.0,
    "discriminator_steps": 5,
    "learning_rate": 1e-4,
    "constant_fraction": 0.5,
    "crop_size": 256,
    "batch_size": 1,
    "max_len": 60,
    "precision": "float32",
}


def build_model(precision=None, **overrides):
    """The demo's DeblurGAN (`MODEL_KWARGS` updated with `overrides`) built under the dtype
    policy `precision` (default `PRECISION`), compiled with Adam at `LEARNING_RATE`, its
    generator started as the identity."""
    with dtype_policy(precision or PRECISION):
        model = models.get("deblur_gan", vgg_weights=None, **{**MODEL_KWARGS, **overrides})
    model.compile(learning_rate=LEARNING_RATE)
    model.generator.start_as_identity()
    return model


def recipe(model):
    """What the report states, read from `model` (before training) and this module's data
    settings, in the keys of `PAPER`."""
    generator = model.generator
    last_conv = generator.get_layer(generator.output_conv_name(generator.num_blocks))
    names = ("filters", "num_blocks", "dropout_rate", "perceptual_weight", "l1_weight")
    return {
        **{name: getattr(model, name) for name in names},
        "identity_start": not any(weight.any() for weight in last_conv.get_weights()),
        "gradient_penalty_weight": model.gradient_penalty_weight,
        "discriminator_steps": model.discriminator_steps,
        "learning_rate": float(model.generator_optimizer.learning_rate),
        "constant_fraction": CONSTANT_FRACTION,
        "crop_size": CROP_SIZE,
        "batch_size": BATCH_SIZE,
        "max_len": BLUR["max_len"],
        "precision": generator.dtype_policy.name,
    }


def recipe_table(demo, paper=PAPER):
    """Markdown rows comparing two `recipe` dicts: this demo's and the paper's."""

    def generator(r):
        dropout = f"dropout {r['dropout_rate']:g}" if r["dropout_rate"] else "no dropout"
        return f"width {r['filters']}, {r['num_blocks']} residual blocks, {dropout}"

    def content(r):
        terms = [f"VGG19 conv3_3 MSE x {r['perceptual_weight']:g}"] * bool(r["perceptual_weight"])
        terms += [f"L1 x {r['l1_weight']:g}"] * bool(r["l1_weight"])
        return " + ".join(terms) or "none"

    def critic(r):
        steps = r["discriminator_steps"]
        return (
            f"WGAN-GP (lambda {r['gradient_penalty_weight']:g}), {steps} critic "
            f"step{'s' * (steps != 1)} per generator step"
        )

    def optimizer(r):
        return (
            f"Adam {r['learning_rate']:g}, constant for {100 * r['constant_fraction']:.0f} % "
            "of the run, then linear decay to 0"
        )

    def crops(r):
        return (
            f"{r['crop_size']}x{r['crop_size']} crops, batch {r['batch_size']}, "
            f"blur trajectories {r['max_len']:g} px"
        )

    rows = {
        "generator": generator,
        "start": lambda r: "identity (last conv zeroed)" if r["identity_start"] else "random",
        "content loss": content,
        "adversarial": critic,
        "optimizer": optimizer,
        "data": crops,
        "precision": lambda r: r["precision"],
    }
    return [
        "| | this demo | paper |",
        "|---|---|---|",
        *(f"| {name} | {row(demo)} | {row(paper)} |" for name, row in rows.items()),
    ]


def _luma(image):
    return np.asarray(image, np.float64)[..., :3] @ np.array([0.299, 0.587, 0.114])


def gradient_energy(image):
    """Mean squared luma gradient (forward differences, 8-bit levels squared) of an [H, W, 3]
    image in [0, 1]: higher is sharper (or noisier: read it with `periodic_artifacts`)."""
    luma = 255.0 * _luma(image)
    return float(np.mean(np.diff(luma, axis=0)[:, :-1] ** 2 + np.diff(luma, axis=1)[:-1] ** 2))


def periodic_artifacts(image, period=4):
    """RMS (8-bit levels) of what repeats every `period` pixels in the luma detail of an
    [H, W, 3] image in [0, 1]: the mean of each of the period x period pixel phases, less their
    mean, of the luma minus its 3x3 mean (so smooth shading has no pattern).

    Natural content averages out over the phases; the checkerboard of stride-2 transposed
    convolutions (DeblurGAN upsamples twice: periods 2 and 4) does not.
    """
    luma = 255.0 * _luma(image)
    height, width = luma.shape
    box = sum(luma[i : height - 2 + i, j : width - 2 + j] for i in range(3) for j in range(3))
    detail = luma[1:-1, 1:-1] - box / 9
    height, width = (size - size % period for size in detail.shape)
    phases = detail[:height, :width].reshape(height // period, period, width // period, period)
    pattern = phases.mean(axis=(0, 2))
    return float(np.sqrt(np.mean((pattern - pattern.mean()) ** 2)))


def held_out_pairs(photos, size=HELD_OUT_SIZE, seed=SEED):
    """Centre size x size crops of the held-out photos and their fixed-seed blurred copies."""
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
    dataset = data.motion_blur_dataset(
        train_photos, crop_size=CROP_SIZE, batch_size=BATCH_SIZE, seed=0, **BLUR
    )
    blurred, sharp = held_out_pairs(photos)

    model = build_model()
    settings = recipe(model)
    decay = LinearDecayOverTime(
        minutes * 60, [model.generator_optimizer, model.discriminator_optimizer], CONSTANT_FRACTION
    )
    description = f"{len(train_photos)} sample photos"
    budget = train("deblur_gan", model, dataset, minutes, output, description, [decay])
    # Other processes on the cores leave fewer steps in the same minutes: say how busy they were.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    restored = model.predict(blurred, verbose=0)
    psnr_in, ssim_in = scores(sharp, blurred)
    psnr_out, ssim_out = scores(sharp, restored)

    saved, tflite = save_and_export(model, output)
    restorer = load_restorer(tflite.path)
    psnr_tflite, ssim_tflite = scores(sharp, restorer(image=blurred)["restored"])
    clock = data.clock_motion()
    clock_restored = np.asarray(restorer(image=clock[None])["restored"][0])

    grid = np.concatenate(
        [np.concatenate([b, r, s], axis=1) for b, r, s in zip(blurred, restored, sharp)], axis=0
    )
    data.write_image(os.path.join(output, "held_out_blurred_restored_sharp.png"), grid)
    data.write_image(
        os.path.join(output, "clock_motion_before_after.png"),
        np.concatenate([clock, clock_restored], axis=1),
    )
    size = HELD_OUT_SIZE
    write_report(
        output,
        [
            "# tfrestore demo: deblur_gan",
            "",
            f"Trained {budget.steps} generator steps in {minutes:g} min (load average "
            f"{load:.1f} at the end, this run included, on {os.cpu_count()} cores) on "
            f"{len(train_photos)} "
            "scikit-image photos, motion blur made on the fly; held out: "
            f"{', '.join(HELD_OUT)} (centre {size}x{size} crops, fixed-seed blur).",
            "",
            *recipe_table(settings),
            "",
            "The paper's perceptual loss needs ImageNet VGG19 weights, which cannot be downloaded "
            "offline; the paper trains 300 epochs on GoPro (days on a GPU).",
            "",
            f"| held-out {size}x{size} | PSNR (dB) | SSIM |",
            "|---|---|---|",
            f"| blurred input | {psnr_in:.2f} | {ssim_in:.4f} |",
            f"| restored | {psnr_out:.2f} | {ssim_out:.4f} |",
            f"| restored (TFLite) | {psnr_tflite:.2f} | {ssim_tflite:.4f} |",
            "",
            "Real blurred photo (scikit-image clock_motion.png) restored with the TFLite model "
            "(clock_motion_before_after.png):",
            "",
            "| clock_motion.png | gradient energy | periodic artifacts (period 4) |",
            "|---|---|---|",
            f"| input | {gradient_energy(clock):.2f} | {periodic_artifacts(clock):.3f} |",
            f"| restored | {gradient_energy(clock_restored):.2f} | "
            f"{periodic_artifacts(clock_restored):.3f} |",
            "",
            "Gradient energy: mean squared luma gradient (8-bit levels^2), higher is sharper. "
            "Periodic artifacts: RMS (8-bit levels) of the luma detail's mean over each 4x4 pixel "
            "phase, the checkerboard of the transposed convolutions.",
            "",
            f"SavedModel: {saved}",
            f"TFLite: {tflite}",
        ],
    )
    return verdict("restored", psnr_out, "blurred input", psnr_in)
