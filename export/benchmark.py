"""Latency, size and parity of DeblurGAN in each exported form, on CPU.

    python export/benchmark.py [--filters 64] [--size 256 256] [--runs 5] [--threads 2]

Builds DeblurGAN (random weights: latency does not depend on them) at the given width,
exports a SavedModel and float32/float16/dynamic-range TFLite files to a temporary folder,
and prints one row per form: file size, median latency of `--runs` single-image runs after
warm-up (Keras `predict`, the SavedModel signature, LiteRT with `--threads` threads; TensorFlow
is limited to the same number of threads), and the max abs error / PSNR against Keras at the
benchmark size.
"""

import argparse
import os
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filters", type=int, default=64, help="base width (paper: 64)")
    parser.add_argument("--num-blocks", type=int, default=9, help="residual blocks (paper: 9)")
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

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    import tfrestore
    from tfrestore import export
    from tfrestore.inference import load_restorer

    model = tfrestore.models.DeblurGAN(
        filters=args.filters, num_blocks=args.num_blocks, vgg_weights=None
    )
    inputs = export.probe_inputs(model.serving_inputs, tuple(args.size))
    ordered = [inputs[name] for name in model.serving_inputs]
    expected = {"restored": model.predict(ordered[0] if len(ordered) == 1 else ordered, verbose=0)}

    rows = []
    with tempfile.TemporaryDirectory(prefix="tfrestore-benchmark-") as folder:
        keras_ms = median_ms(
            lambda: model.predict(ordered[0] if len(ordered) == 1 else ordered, verbose=0),
            args.runs,
            args.warmup,
        )
        rows.append(("keras predict", None, keras_ms, 0.0, float("inf")))
        saved_model = os.path.join(folder, "saved_model")
        reports = [export.export_saved_model(model, saved_model)]
        for precision in args.quantize:
            quantize = None if precision == "float32" else precision
            path = os.path.join(folder, f"model_{precision}.tflite")
            reports.append(
                export.export_tflite(model, path, quantize=quantize, saved_model_dir=saved_model)
            )
        for report in reports:
            restorer = load_restorer(report.path, num_threads=args.threads)
            error, psnr = export.compare(expected, restorer(**inputs))
            latency = median_ms(lambda r=restorer: r(**inputs), args.runs, args.warmup)
            name = report.format if report.format == "saved_model" else "tflite"
            rows.append(
                (f"{name} {report.quantize or 'float32'}", report.size_bytes, latency, error, psnr)
            )

    height, width = args.size
    print(
        f"DeblurGAN filters={args.filters} num_blocks={args.num_blocks}, {height}x{width}, "
        f"{args.threads} threads, median of {args.runs} runs"
    )
    print(f"{'form':<20}{'size':>10}{'latency':>12}{'max abs err':>13}{'PSNR':>10}")
    for name, size, latency, error, psnr in rows:
        size_text = "-" if size is None else f"{size / 1e6:.1f} MB"
        print(f"{name:<20}{size_text:>10}{latency:>9.0f} ms{error:>13.1e}{psnr:>7.1f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
