"""Peak memory and time of restoring large photos (tiled by default), per model and form, on CPU.

    python export/tiled_benchmark.py [--models deblur_gan enlighten_gan attentive_gan]
        [--forms keras tflite] [--sizes 866x1155 3000x4000] [--runs 3] [--threads 2]
        [--tile N] [--overlap M]

For each model (paper width, random weights: time and memory do not depend on them) the model
is saved as `.keras` and exported to float32 TFLite in a temporary folder; then each form
restores one synthetic 4:3 photo of each size (`synthetic_photo`: smooth random waves plus
noise, made strip by strip so that making it takes little memory) in a fresh process, `--runs`
times after one untimed 256x256 warm-up run, with the defaults a user gets (`tile=None`: whole
up to 448 x 448 pixels, tiles of at most 448 px above; or `--tile`). Printed per row: the
process's peak RSS before restoring (TensorFlow, the model, the warm-up, the photo) and at the
end (everything, the result too), the median wall time of the runs and the time per
megapixel; then the ratio of time per megapixel at the largest size to that at the smallest.
TensorFlow and LiteRT get `--threads` threads.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FULL_IMAGE_MODELS = ("deblur_gan", "enlighten_gan", "attentive_gan")


def size(text):
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW like 3000x4000, got {text!r}") from None
    return height, width


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=FULL_IMAGE_MODELS)
    parser.add_argument(
        "--forms", nargs="+", choices=("keras", "tflite"), default=("keras", "tflite")
    )
    parser.add_argument("--sizes", nargs="+", type=size, default=[(866, 1155), (3000, 4000)])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per row (median)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--tile", type=int, help="tile size (default: the library's choice)")
    parser.add_argument("--overlap", type=int, help="tile overlap (default: the library's)")
    parser.add_argument(
        "--measure", nargs=3, metavar=("MODEL_FILE", "H", "W"), help=argparse.SUPPRESS
    )
    parser.add_argument("--prepare", nargs=2, metavar=("MODEL", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.threads < 1:
        parser.error("--runs and --threads must be >= 1")
    return args


def limit_threads(threads):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def prepare(name, folder, threads):
    """Saves model `name` at paper width as FOLDER/model.keras and FOLDER/model.tflite."""
    limit_threads(threads)
    from tfrestore import export, models

    model = models.get(name, vgg_weights=None)
    model(export.probe_inputs(model.serving_inputs, (64, 64))["image"])
    model.save(os.path.join(folder, "model.keras"))
    export.export_tflite(model, os.path.join(folder, "model.tflite"), check=False)


def synthetic_photo(height, width, seed=0, strip=256):
    """float32 [1, H, W, 3] in [0, 1]: a few random waves per channel plus noise, made in strips
    of `strip` rows, so the peak memory is the image's plus one strip's."""
    import numpy as np

    rng = np.random.default_rng(seed)
    waves = rng.uniform([0.002, 0.002, 0.0], [0.05, 0.05, 6.3], size=(3, 4, 3)).astype(np.float32)
    image = np.empty([1, height, width, 3], np.float32)
    x = np.arange(width, dtype=np.float32)[None, :]
    for top in range(0, height, strip):
        y = np.arange(top, min(top + strip, height), dtype=np.float32)[:, None]
        for channel in range(3):
            value = np.full((len(y), width), 0.5, np.float32)
            for fx, fy, phase in waves[channel]:
                value += 0.12 * np.sin(fx * x + fy * y + phase)
            value += rng.standard_normal(value.shape, dtype=np.float32) * 0.03
            image[0, top : top + len(y), :, channel] = np.clip(value, 0.0, 1.0)
    return image


def measure(path, height, width, args):
    """Restores one height x width photo `args.runs` times; prints {"rss": bytes, "times": s}."""
    import resource

    limit_threads(args.threads)
    from tfrestore import export
    from tfrestore.inference import load_restorer

    restorer = load_restorer(path, num_threads=args.threads)
    options = {"tile": args.tile, "overlap": args.overlap}
    restorer(**export.probe_inputs(restorer.channels, (256, 256)), **options)  # warm-up
    inputs = {"image": synthetic_photo(height, width)}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        restorer(**inputs, **options)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB
    print(json.dumps({"rss": peak, "before": before, "times": times}))


def child(argv):
    result = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr else "failed")
    return json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else None


def main(argv=None):
    args = parse_args(argv)
    common = ["--threads", str(args.threads), "--runs", str(args.runs)]
    for key in ("tile", "overlap"):
        if getattr(args, key) is not None:
            common += [f"--{key}", str(getattr(args, key))]
    if args.prepare:
        prepare(*args.prepare, args.threads)
        return 0
    if args.measure:
        path, height, width = args.measure
        measure(path, int(height), int(width), args)
        return 0

    tiling = f"tile {args.tile}" if args.tile is not None else "default tiling"
    print(f"{args.threads} threads, median of {args.runs} runs, {tiling}")
    print(
        f"{'model':<15}{'form':<8}{'size':>11}{'MP':>6}{'RSS before':>13}{'peak RSS':>11}"
        f"{'time':>10}{'s/MP':>8}"
    )
    for name in args.models:
        with tempfile.TemporaryDirectory(prefix="tfrestore-tiled-benchmark-") as folder:
            child(["--prepare", name, folder, *common])
            for form in args.forms:
                per_megapixel = []
                for height, width in args.sizes:
                    path = os.path.join(folder, f"model.{form}")
                    try:
                        row = child(["--measure", path, str(height), str(width), *common])
                    except RuntimeError as error:
                        print(f"{name:<15}{form:<8}{height}x{width}: failed: {error}")
                        continue
                    megapixels = height * width / 1e6
                    seconds = statistics.median(row["times"])
                    per_megapixel.append(seconds / megapixels)
                    rss, before = row["rss"] / 2**30, row["before"] / 2**30
                    print(
                        f"{name:<15}{form:<8}{f'{height}x{width}':>11}{megapixels:>6.1f}"
                        f"{before:>9.2f} GiB{rss:>7.2f} GiB{seconds:>8.1f} s"
                        f"{seconds / megapixels:>8.2f}",
                        flush=True,
                    )
                if len(per_megapixel) > 1:
                    ratio = per_megapixel[-1] / per_megapixel[0]
                    print(f"{name:<15}{form:<8} time per MP, largest / smallest: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
