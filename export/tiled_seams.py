"""Seams of tiled restore: the tiled result against the whole-image result on a real photo.

    python export/tiled_seams.py MODEL [--photo retina] [--size 1536 2048]
        [--tiles 256 512] [--overlap 32] [--statistics-pixels N]

Restores the centre crop (`--size`, H W) of a scikit-image sample photo whole (`tile=0`), then
in tiles (first with the model's default window, `tile=None`, then each of `--tiles`, which may
be given empty), and prints the PSNR (dB, peak 1) of each tiled result against the whole one:
for models with instance norm both with image-wide statistics (the default) and with naive
tiles that each normalize with their own. A photo smaller than `--size` is first enlarged
(bicubic) just enough to cover it (no sample photo has 1536 x 2048 pixels: `retina`, 1411 x
1411, is enlarged 1.45x).
Inpainting models get a mask of 24 random 48 px squares (seed 0) spread over the photo.
MODEL is a .keras file, SavedModel folder or .tflite file.
"""

import argparse
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def psnr(a, b):
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help=".keras file, SavedModel folder or .tflite file")
    parser.add_argument("--photo", default="retina", help="scikit-image sample name")
    parser.add_argument("--size", type=int, nargs=2, default=(1536, 2048), metavar=("H", "W"))
    parser.add_argument("--tiles", type=int, nargs="*", default=(256, 512))
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument(
        "--statistics-pixels",
        type=int,
        help="size of the instance-norm statistics pass (default inference.STATISTICS_PIXELS)",
    )
    args = parser.parse_args(argv)

    import numpy as np

    from tfrestore import inference, tiling
    from tfrestore.data import sample_images
    from tfrestore.inference import load_restorer

    if args.statistics_pixels:
        inference.STATISTICS_PIXELS = args.statistics_pixels

    photo = sample_images([args.photo])[args.photo]
    scale = max(s / p for s, p in zip(args.size, photo.shape[:2], strict=True))
    if scale > 1:
        import tensorflow as tf

        enlarged = [math.ceil(p * scale) for p in photo.shape[:2]]
        photo = tf.clip_by_value(tf.image.resize(photo, enlarged, method="bicubic"), 0, 1).numpy()
        print(f"{args.photo} enlarged {scale:.2f}x to {enlarged[1]}x{enlarged[0]} (bicubic)")
    height, width = args.size
    top, left = (photo.shape[0] - height) // 2, (photo.shape[1] - width) // 2
    inputs = {"image": photo[None, top : top + height, left : left + width]}
    restorer = load_restorer(args.model)
    if "mask" in restorer.inputs:
        rng = np.random.default_rng(0)
        mask = np.zeros([1, height, width, 1], np.float32)
        for _ in range(24):
            y, x = rng.integers(0, height - 48), rng.integers(0, width - 48)
            mask[0, y : y + 48, x : x + 48] = 1
        inputs["mask"] = mask
    whole = restorer(**inputs, tile=0)["restored"]
    print(
        f"{restorer.describe()}, {args.photo} {width}x{height}, overlap {args.overlap}, "
        f"statistics from at most {inference.STATISTICS_PIXELS or 'one tile of'} px"
    )
    print("| tile | tiles | PSNR vs whole (dB) |")
    print("|---|---|---|")
    variants = [("image-wide statistics", True), ("naive tiles", False)]
    if not restorer.has_statistics:
        variants = [("", False)]
    for tile in [None, *args.tiles]:
        for label, statistics in variants:
            if len(variants) > 1:
                restorer.has_statistics = statistics
            counted = []
            tiled = restorer(
                **inputs,
                tile=tile,
                overlap=args.overlap,
                on_tile=lambda d, t, c=counted: c.append(t),
            )["restored"]
            default = (restorer.limits or {}).get("tile", tiling.DEFAULT_TILE)
            name = (f"{tile}" if tile else f"{default} (default)") + (f", {label}" if label else "")
            print(f"| {name} | {counted[-1] if counted else 1} | {psnr(tiled, whole):.2f} |")
        if len(variants) > 1:
            restorer.has_statistics = True
    return 0


if __name__ == "__main__":
    sys.exit(main())
