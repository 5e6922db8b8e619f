"""Training-step time of each tfrestore method in float32, mixed_bfloat16 and with XLA, on CPU.

    python benchmarks/train_step.py [--models deblur_gan medfe] [--size 128] [--batch 1]
        [--modes float32 mixed_bfloat16 xla] [--runs 5] [--warmup 2] [--threads 2]

Builds each method at paper width (its defaults; random weights, VGG-based losses with a
random VGG: step time does not depend on the weights), once per mode:

- `float32`: the default;
- `mixed_bfloat16` / `mixed_float16`: the networks built under that Keras dtype policy
  (`tfrestore.models.precision`; float16 adds dynamic loss scaling);
- `xla`: float32 compiled with `jit_compile=True`.

Each step is one `train_step` (the method's discriminator updates, then the generator's) on a
fixed synthetic batch at the crop and batch size of the method's shipped training config
(`training/configs/<method>.yaml`) unless `--size` / `--batch` override them (the Context
Encoder is 128x128 whatever `--size`; a size below a model's minimum, e.g. MEDFE's 129 at
paper width, becomes the next multiple of 64). After `--warmup` untimed steps per mode (the first
traces and compiles), `--runs` rounds each time one step of every mode in turn, so that a
load change on a shared machine hits every mode alike, and the table gives the median ms/step
of each mode and its speed-up over float32.
"""

import argparse
import gc
import inspect
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODES = ("float32", "mixed_bfloat16", "mixed_float16", "xla")
CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "training" / "configs"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=("deblur_gan", "attentive_gan", "context_encoder", "enlighten_gan", "medfe"),
        help="names in tfrestore.models.MODELS (default: all five)",
    )
    parser.add_argument("--size", type=int, help="square crop (default: each config's)")
    parser.add_argument("--batch", type=int, help="batch size (default: each config's)")
    parser.add_argument(
        "--modes", nargs="+", choices=MODES, default=("float32", "mixed_bfloat16", "xla")
    )
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per mode first")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 1 or args.threads < 1:
        parser.error("--runs, --warmup and --threads must be >= 1")
    if (args.size is not None and args.size < 32) or (args.batch is not None and args.batch < 1):
        parser.error("--size must be >= 32 and --batch >= 1")
    return args


def recipe(name, size, batch):
    """(crop size, batch size, extra model kwargs) for `name`: the shipped config's crop and
    batch unless overridden."""
    from tfrestore import models, train

    data = train.load_config(CONFIGS / f"{name}.yaml")["data"]
    crop = data.get("crop_size", 256)
    crop = crop[0] if isinstance(crop, list) else crop
    crop = 128 if name == "context_encoder" else size or crop
    parameters = inspect.signature(models.MODELS[name]).parameters
    kwargs = {"vgg_weights": None} if "vgg_weights" in parameters else {}
    if name == "attentive_gan":
        kwargs["crop_size"] = (crop, crop)  # its discriminator's FC is built for the crop
    return crop, batch or data.get("batch_size", 1), kwargs


def synthetic_batch(name, size, batch):
    """A fixed (degraded, target) batch of the structure `name` trains on, in [0, 1]."""
    import numpy as np

    from tfrestore.data import center_mask

    rng = np.random.default_rng(0)
    target = rng.random((batch, size, size, 3), np.float32)
    degraded = np.clip(target * 0.8 + 0.1, 0, 1)
    if name not in ("context_encoder", "medfe"):
        return degraded, target
    mask = np.broadcast_to(center_mask(size), (batch, size, size, 1)).copy()
    degraded = (target * (1 - mask), mask)
    if name == "medfe":  # the target carries the structure image
        return degraded, (target, rng.random((batch, size, size, 3), np.float32))
    return degraded, target


def build(name, mode, kwargs):
    """A model of `name` compiled for `mode`."""
    from tfrestore import models
    from tfrestore.models.precision import dtype_policy

    policy = mode if mode.startswith("mixed") else "float32"
    with dtype_policy(policy):
        model = models.get(name, **kwargs)
    model.compile(jit_compile=mode == "xla")
    return model


def step_function(model, data):
    """One training step of `model` on `data` (the same batch every time), as a callable."""
    import tensorflow as tf

    model.make_train_function()
    iterator = iter(tf.data.Dataset.from_tensors(data).repeat())
    return lambda: model.train_function(iterator)


def timed(step):
    start = time.perf_counter()
    logs = step()
    float(logs["g_loss"])  # waits for the step to finish
    return time.perf_counter() - start


def benchmark(name, args):
    """(crop, batch, {mode: median seconds per step}) of one method."""
    size, batch, kwargs = recipe(name, args.size, args.batch)
    built = {mode: build(name, mode, kwargs) for mode in args.modes}
    min_size = getattr(next(iter(built.values())), "min_size", 1)
    if size < min_size:  # MEDFE at paper width needs 129: the next multiple of 64
        size = -(-min_size // 64) * 64
    data = synthetic_batch(name, size, batch)
    steps = {}
    for mode, model in built.items():
        step = step_function(model, data)
        for _ in range(args.warmup):
            timed(step)
        steps[mode] = step
    times = {mode: [] for mode in steps}
    for _ in range(args.runs):
        for mode, step in steps.items():
            times[mode].append(timed(step))
    return size, batch, {mode: statistics.median(values) for mode, values in times.items()}


def main(argv=None):
    args = parse_args(argv)

    from tfrestore.cli import use_bfc_cpu_allocator

    use_bfc_cpu_allocator()  # as the `tfrestore` command trains
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran in this process
        print("warning: TensorFlow already initialized, thread count unchanged", file=sys.stderr)

    from tfrestore import models

    unknown = [name for name in args.models if name not in models.MODELS]
    if unknown:
        print(f"error: unknown --models {unknown}; valid: {sorted(models.MODELS)}", file=sys.stderr)
        return 2
    print(
        f"ms per training step (median of {args.runs} interleaved rounds after {args.warmup} "
        f"warm-up steps), paper width, {args.threads} threads"
    )
    header = f"{'method':<17}{'crop':>6}{'batch':>6}"
    header += "".join(f"{mode:>16}" for mode in args.modes)
    print(header)
    for name in args.models:
        size, batch, medians = benchmark(name, args)
        row = f"{name:<17}{size:>6}{batch:>6}"
        for mode in args.modes:
            cell = f"{1000 * medians[mode]:.0f}"
            if mode != "float32" and "float32" in medians:
                cell += f" ({medians['float32'] / medians[mode]:.2f}x)"
            row += f"{cell:>16}"
        print(row, flush=True)
        keras.backend.clear_session()  # free this method's models before the next
        gc.collect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
