"""Images per second of each tfrestore input pipeline against what its method's training step
consumes, on CPU.

    python benchmarks/input_pipeline.py [--pipelines paired motion_blur ...]
        [--cache off memory] [--step-ms deblur_gan=2925 ...] [--max-step-batch 8]
        [--windows 5] [--seconds 2]

Each pipeline is built as training builds it (`tfrestore.train.build_dataset` from the `data`
section of its method's `training/configs/<method>.yaml`: crop, batch size, mask kind; the
synthetic kinds take their method's crop and batch) over scikit-image's 11 sample photos
written to a temporary folder in the format and at the image size of the method's dataset
(GoPro PNG 1280x720, Raindrop PNG 720x480, Paris StreetView JPEG resized to 610x350,
EnlightenGAN's PNG 600x400, Places2 JPEG 256x256), so decoding costs what it costs on the real
data. Each pipeline runs without a cache and with `cache: true` (decoded images in memory;
`--cache` picks). After `--warmup` batches (the shuffle buffer fills, the graph is traced),
`--windows` windows of at least `--seconds` each are timed; the table gives the median
images/s (pairs, or examples, per second).

The consumption is batch / float32 step time of the method (`benchmarks/train_step.py`'s
step, paper width): measured here at the config's batch, capped at `--max-step-batch` (one
EnlightenGAN step at batch 32 and 320 px takes about a minute on 2 cores), unless
`--step-ms METHOD=MS[@BATCH]` gives it. The ratio is pipeline / consumption; the target is at
least 4x. The pipeline and the step are timed one after the other, each with the whole CPU.
"""

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import train_step  # noqa: E402  (the training-step benchmark beside this file)

# name: (method whose step consumes it, data section, (width, height, extension) of the
# files). Folders are filled in by `write_folders`; crop and batch come from the method's config.
PIPELINES = {
    "paired": ("deblur_gan", {"kind": "paired"}, (1280, 720, "png")),
    "motion_blur": ("deblur_gan", {"kind": "motion_blur"}, (1280, 720, "png")),
    "raindrop": ("attentive_gan", {"kind": "raindrop"}, (720, 480, "png")),
    "synthetic_raindrop": ("attentive_gan", {"kind": "synthetic_raindrop"}, (720, 480, "png")),
    "inpainting": (
        "context_encoder",
        {"kind": "inpainting", "mask": "center"},
        (610, 350, "jpg"),
    ),
    "structure": ("medfe", {"kind": "inpainting", "mask": "free_form"}, (256, 256, "jpg")),
    "unpaired": ("enlighten_gan", {"kind": "unpaired"}, (600, 400, "png")),
    "synthetic_low_light": ("enlighten_gan", {"kind": "synthetic_low_light"}, (600, 400, "png")),
}
CACHES = {"off": False, "memory": True}
TARGET_RATIO = 4.0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=tuple(PIPELINES))
    parser.add_argument(
        "--cache", nargs="+", choices=CACHES, default=tuple(CACHES), help="data.cache settings"
    )
    parser.add_argument(
        "--step-ms",
        nargs="+",
        default=(),
        metavar="METHOD=MS[@BATCH]",
        help="float32 ms per training step instead of measuring it (at BATCH, default the "
        "config's batch)",
    )
    parser.add_argument("--max-step-batch", type=int, default=8, help="cap of the timed batch")
    parser.add_argument("--step-runs", type=int, default=2, help="timed steps (median)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches first")
    parser.add_argument("--windows", type=int, default=5, help="timed windows (median)")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum length of a window")
    parser.add_argument("--seed", type=int, default=0, help="pipeline seed (None: -1)")
    args = parser.parse_args(argv)
    if min(args.max_step_batch, args.step_runs, args.warmup, args.windows) < 1:
        parser.error("--max-step-batch, --step-runs, --warmup and --windows must be >= 1")
    if args.seconds <= 0:
        parser.error("--seconds must be > 0")
    try:
        args.step_ms = dict(_step_time(item) for item in args.step_ms)
    except ValueError as error:
        parser.error(f"--step-ms {error}")
    return args


def _step_time(item):
    """('method', (milliseconds, batch or None)) from 'method=ms[@batch]'."""
    name, _, value = item.partition("=")
    milliseconds, _, batch = value.partition("@")
    try:
        parsed = (float(milliseconds), int(batch) if batch else None)
    except ValueError:
        parsed = None
    if not name or parsed is None or parsed[0] <= 0 or (parsed[1] is not None and parsed[1] < 1):
        raise ValueError(f"takes METHOD=MS[@BATCH] with MS > 0, got {item!r}")
    return name, parsed


def write_folders(root, size):
    """The folders every pipeline reads, of the sample photos resized to `size` (width,
    height, extension)."""
    from PIL import Image

    from tfrestore.data import sample_images

    folders = {
        name: os.path.join(root, name)
        for name in ("photos", "structure", "raindrop/data", "raindrop/gt")
    }
    for folder in folders.values():
        os.makedirs(folder)
    width, height, extension = size
    for index, photo in enumerate(sample_images().values()):
        image = Image.fromarray((photo * 255 + 0.5).astype("uint8")).resize((width, height))
        # Content does not change the cost: the same image serves as every partner.
        for folder, name in (
            ("photos", index),
            ("structure", index),
            ("raindrop/data", f"{index}_rain"),
            ("raindrop/gt", f"{index}_clean"),
        ):
            image.save(os.path.join(folders[folder], f"{name}.{extension}"), quality=95)
    return folders


def build_pipeline(name, root, crop, batch, cache, seed):
    """The endless dataset of pipeline `name` over the files under `root`."""
    from tfrestore import data, train

    _, section, _ = PIPELINES[name]
    kind = section["kind"]
    photos = os.path.join(root, "photos")
    common = {"crop_size": crop, "batch_size": batch, "seed": seed, "cache": cache}
    if kind == "synthetic_raindrop":
        return data.synthetic_raindrop_dataset(photos, **common)
    if kind == "synthetic_low_light":
        return data.synthetic_low_light_dataset(photos, **common)
    folders = {
        "paired": {"degraded_dir": photos, "target_dir": photos},
        "motion_blur": {"sharp_dir": photos},
        "raindrop": {"root": os.path.join(root, "raindrop")},
        "inpainting": {"image_dir": photos, "repeat": True},
        "unpaired": {"low_dir": photos, "normal_dir": photos, "repeat": True},
    }[kind]
    if name == "structure":
        folders["structure_dir"] = os.path.join(root, "structure")
    spec = {**section, **folders, "crop_size": crop, "batch_size": batch, "cache": cache}
    return train.build_dataset(spec, seed=seed).repeat()


def images_per_second(dataset, batch, args):
    """Median images/s over `args.windows` windows after `args.warmup` batches."""
    iterator = iter(dataset)
    for _ in range(args.warmup):
        next(iterator)
    rates = []
    for _ in range(args.windows):
        start, count = time.perf_counter(), 0
        while (elapsed := time.perf_counter() - start) < args.seconds or count == 0:
            next(iterator)
            count += 1
        rates.append(count * batch / elapsed)
    return statistics.median(rates)


def step_seconds(method, batch, args):
    """(seconds per float32 training step, the batch it was timed at) of `method`."""
    if method in args.step_ms:
        milliseconds, given_batch = args.step_ms[method]
        return milliseconds / 1000, given_batch or batch
    import gc

    import keras

    timed_batch = min(batch, args.max_step_batch)
    options = SimpleNamespace(
        size=None, batch=timed_batch, modes=("float32",), runs=args.step_runs, warmup=1
    )
    _, _, medians = train_step.benchmark(method, options)
    keras.backend.clear_session()
    gc.collect()
    return medians["float32"], timed_batch


def main(argv=None):
    args = parse_args(argv)
    seed = None if args.seed == -1 else args.seed
    print(
        f"images/s of each input pipeline (median of {args.windows} windows of >= "
        f"{args.seconds:g} s after {args.warmup} batches) against the float32 training step "
        f"at paper width ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the "
        "start); ratio = images/s / step images/s"
    )
    header = f"{'pipeline':<21}{'method':<17}{'crop':>5}{'batch':>6}"
    header += "".join(f"{f'cache {cache}':>14}{'ratio':>7}" for cache in args.cache)
    print(header + f"{'step s (batch)':>16}{'step images/s':>15}", flush=True)
    steps = {}
    lowest = dict.fromkeys(args.cache, float("inf"))
    with tempfile.TemporaryDirectory() as root:
        written = {}
        for name in args.pipelines:
            method, _, size = PIPELINES[name]
            if size not in written:
                written[size] = os.path.join(root, "x".join(map(str, size)))
                write_folders(written[size], size)
            crop, batch, _ = train_step.recipe(method, None, None)
            produced = {}
            for cache in args.cache:
                dataset = build_pipeline(name, written[size], crop, batch, CACHES[cache], seed)
                produced[cache] = images_per_second(dataset, batch, args)
                del dataset
            if method not in steps:
                steps[method] = step_seconds(method, batch, args)
            seconds, step_batch = steps[method]
            consumed = step_batch / seconds
            row = f"{name:<21}{method:<17}{crop:>5}{batch:>6}"
            for cache, rate in produced.items():
                lowest[cache] = min(lowest[cache], rate / consumed)
                row += f"{rate:>14.1f}{rate / consumed:>6.0f}x"
            row += f"{f'{seconds:.2f} ({step_batch})':>16}{consumed:>15.2f}"
            print(row, flush=True)
    print(
        "lowest ratio: "
        + ", ".join(f"cache {cache} {ratio:.1f}x" for cache, ratio in lowest.items())
        + f" (target >= {TARGET_RATIO:g}x)"
    )
    return 0 if max(lowest.values()) >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
