"""Latency, size and parity of a tfrestore model in each exported form, on CPU.

    python export/benchmark.py [--model deblur_gan] [--filters N] [--kwargs '{"num_blocks": 9}']
        [--size 256 256] [--runs 5] [--threads 2] [--quantize float32 float16 dynamic]

Builds the model (random weights: latency does not depend on them; VGG-based models get no
VGG weights, as the loss network is not exported) at the given width, exports a SavedModel and
float32/float16/dynamic-range TFLite files to a temporary folder, and prints one row per form:
file size, median latency of `--runs` single-image runs after warm-up (the Keras serving graph,
the SavedModel signature, LiteRT with `--threads` threads; TensorFlow is limited to the same
number of threads), and the max abs error / PSNR against Keras at the benchmark size, worst over
the outputs. The inputs are `tfrestore.export.probe_inputs` at that size: a smooth random image,
and for inpainting models a mask with a centered square hole of half the shorter side.
"""

import argparse
import inspect
import json
import os
import re
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def median_ms(run, runs, warmup):
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def json_object(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f'expected a JSON object like {{"num_blocks": 9}}: {text}')
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="deblur_gan", help="a name in tfrestore.models.MODELS (deblur_gan)"
    )
    parser.add_argument("--filters", type=int, help="base width (default: the paper's)")
    parser.add_argument(
        "--kwargs",
        type=json_object,
        default={},
        help="other constructor arguments as a JSON object, e.g. '{\"num_blocks\": 9}'",
    )
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    parser.add_argument("--runs", type=int, default=5, help="timed runs per form (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument(
        "--quantize",
        nargs="+",
        choices=("float32", "float16", "dynamic"),
        default=("float32", "float16", "dynamic"),
        help="TFLite variants",
    )
    args = parser.parse_args(argv)
    if "filters" in args.kwargs and args.filters is not None:
        parser.error("give the width with --filters or in --kwargs, not both")
    if args.filters is not None:
        args.kwargs["filters"] = args.filters
    if args.runs < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--runs and --threads must be >= 1, --warmup >= 0")
    return args


def build_model(name, kwargs):
    """`tfrestore.models.get(name, **kwargs)`, without VGG weights for VGG-based models."""
    from tfrestore import models

    known = models.MODELS.get(name)  # an unknown name is left to `get`, which lists the valid ones
    if known is not None and "vgg_weights" in inspect.signature(known).parameters:
        kwargs = {"vgg_weights": None, **kwargs}
    return models.get(name, **kwargs)


def warn_if_rejected(restorer, inputs):
    """Warns when the model's own input checks, which exported graphs skip, reject `inputs`.

    E.g. a Context Encoder hole must fit in 64x64, and the probe's is half the shorter side:
    the latencies still hold, but the restored hole is partly black.
    """
    import tensorflow as tf

    arrays = [inputs[name] for name in restorer.inputs]
    try:
        restorer.model(arrays[0] if len(arrays) == 1 else tuple(arrays), training=False)
    except tf.errors.InvalidArgumentError as error:
        # Keras wraps the assertion's message between a header and (bold) terminal escapes.
        lines = re.sub(r"\x1b\[[0-9;]*m", "", error.message).splitlines()
        reason = next(line for line in lines[1:] + lines if line.strip())
        print(f"warning: the Keras model rejects these inputs: {reason}", file=sys.stderr)


def main(argv=None):
    args = parse_args(argv)

    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran in this process (e.g. under pytest)
        print("warning: TensorFlow already initialized, thread count unchanged", file=sys.stderr)

    from tfrestore import export
    from tfrestore.inference import load_restorer

    try:
        model = build_model(args.model, args.kwargs)
    except (TypeError, ValueError) as error:
        print(f"error: --model {args.model} with {args.kwargs}: {error}", file=sys.stderr)
        return 2
    keras_model = load_restorer(model)
    inputs = export.probe_inputs(keras_model.channels, tuple(args.size))
    warn_if_rejected(keras_model, inputs)
    expected = keras_model(**inputs)

    rows = []
    with tempfile.TemporaryDirectory(prefix="tfrestore-benchmark-") as folder:
        # The table measures parity at the benchmark size, so the exports' own checks on the
        # small probe are skipped: a form over their default bounds still gets its row.
        saved_model = os.path.join(folder, "saved_model")
        reports = [export.export_saved_model(model, saved_model, check=False)]
        for precision in args.quantize:
            reports.append(
                export.export_tflite(
                    model,
                    os.path.join(folder, f"model_{precision}.tflite"),
                    quantize=None if precision == "float32" else precision,
                    check=False,
                    saved_model_dir=saved_model,
                )
            )
        forms = [("keras", None, keras_model)]
        for report in reports:
            name = f"{report.format} {report.quantize or 'float32'}"
            forms.append((name, report.size_bytes, load_restorer(report.path, args.threads)))
        for name, size, restorer in forms:
            error, psnr = export.compare(expected, restorer(**inputs))
            latency = median_ms(lambda r=restorer: r(**inputs), args.runs, args.warmup)
            rows.append((name, size, latency, error, psnr))

    height, width = args.size
    settings = " ".join(f"{key}={value}" for key, value in args.kwargs.items() if key != "filters")
    print(
        f"{args.model} filters={model.get_config()['filters']} {settings}".rstrip()
        + f", {height}x{width}, {args.threads} threads, median of {args.runs} runs"
    )
    print(f"{'form':<20}{'size':>10}{'latency':>12}{'max abs err':>13}{'PSNR':>10}")
    for name, size, latency, error, psnr in rows:
        size_text = "-" if size is None else f"{size / 1e6:.1f} MB"
        print(f"{name:<20}{size_text:>10}{latency:>9.0f} ms{error:>13.1e}{psnr:>7.1f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
