"""Latency, size, parity, memory and delegation of tfrestore models in each exported form, on CPU.

    python export/benchmark.py [--model deblur_gan] [--filters N] [--kwargs '{"num_blocks": 9}']
        [--size 256 256] [--runs 5] [--threads 2] [--quantize float32 float16 dynamic int8]
    python export/benchmark.py --all [--sizes 256x256 720x1280] [--filters N] [--runs 5] ...
        [--exports DIR]
    PYTHONPATH=/path/to/torch:. python export/benchmark.py --all --pytorch-upstream ../upstream

Builds the model (random weights: latency does not depend on them; VGG-based models get no
VGG weights, as the loss network is not exported) at the given width, exports a SavedModel and
the TFLite files (`--quantize`; int8 with `export_tflite`'s defaults: calibrated on the
sample photos, instance norms kept in float32) to a temporary folder (`--exports DIR`: to
DIR/MODEL, kept, and reused by later runs), once for all sizes, and prints one row per form and
size:
- size: the file (or SavedModel folder);
- latency: median of `--runs` single-image runs after warm-up, the forms interleaved run by
  run so that a change in the machine's load hits them alike (the Keras serving graph, the
  SavedModel signature, LiteRT with `--threads` threads; TensorFlow gets the same number),
  each on the whole image (never tiled, whatever its size);
- max abs error / PSNR against the Keras float32 output at the benchmark size, worst over the
  outputs (a quality floor for quantized modes, not a quality measure: the weights are random);
- peak RSS: the peak resident memory of a fresh process that loads that form alone and runs
  it once on the same inputs (`--no-rss` skips it); it includes the runtime itself
  (TensorFlow for Keras and SavedModel, only LiteRT for TFLite);
- partitions: for TFLite, LiteRT's XNNPACK delegate partitions and the operators left outside
  them (`tfrestore.export.Delegation`);
- with `--pytorch-upstream ROOT` (paper width only), a row for the official PyTorch generator
  built by upstream's own code from the checkouts under ROOT
  (`tests/fixtures/pytorch/compare_official.py` builds it; torch must be importable, it is
  never a tfrestore dependency), timed in the same interleaved runs with `--threads` threads
  (`torch.set_num_threads`), on a random input of the benchmark size (no error or memory
  figures: its weights are not ours), or a line saying why it fails at that size.
The inputs are `tfrestore.export.probe_inputs` at that size: a smooth random image, and for
inpainting models a mask with a centered square hole of half the shorter side. `--all` runs
every model of `tfrestore.models.MODELS` at each `--sizes` (the Context Encoder too: it takes
any size of at least 64x64 whose hole fits in 64x64, and the probe's hole does).
"""

import argparse
import contextlib
import inspect
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

QUANTIZE = ("float32", "float16", "dynamic", "int8")


def interleaved_median_ms(runs_by_name, runs, warmup):
    """{name: median ms} of calling each function `runs` times, the functions taking turns."""
    for run in runs_by_name.values():
        for _ in range(warmup):
            run()
    times = {name: [] for name in runs_by_name}
    for _ in range(runs):
        for name, run in runs_by_name.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def json_object(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f'expected a JSON object like {{"num_blocks": 9}}: {text}')
    return value


def image_size(text):
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match or min(int(v) for v in match.groups()) < 1:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH like 256x256, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="deblur_gan", help="a name in tfrestore.models.MODELS (deblur_gan)"
    )
    parser.add_argument("--all", action="store_true", help="every model, at each of --sizes")
    parser.add_argument("--filters", type=int, help="base width (default: the paper's)")
    parser.add_argument(
        "--kwargs",
        type=json_object,
        default={},
        help="other constructor arguments as a JSON object, e.g. '{\"num_blocks\": 9}'",
    )
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    parser.add_argument(
        "--sizes", type=image_size, nargs="+", metavar="HxW", help="with --all (256x256)"
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs per form (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument(
        "--quantize",
        nargs="+",
        choices=QUANTIZE,
        default=QUANTIZE,
        help="TFLite variants (all by default)",
    )
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-memory processes")
    parser.add_argument(
        "--exports",
        metavar="DIR",
        help="keep each model's exports in DIR/MODEL and reuse those already there (the int8 "
        "calibration of a paper-width model takes long), as they are: after a change to the "
        "code, give a new DIR; default: a temporary folder",
    )
    parser.add_argument(
        "--pytorch-upstream",
        metavar="ROOT",
        help="also time the official PyTorch generator built from the upstream checkouts "
        "under ROOT (paper width; needs torch on PYTHONPATH)",
    )
    parser.add_argument("--rss-of", nargs=3, help=argparse.SUPPRESS)  # worker: FORM PATH INPUTS.npz
    args = parser.parse_args(argv)
    if "filters" in args.kwargs and args.filters is not None:
        parser.error("give the width with --filters or in --kwargs, not both")
    if args.filters is not None:
        args.kwargs["filters"] = args.filters
    if args.runs < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--runs and --threads must be >= 1, --warmup >= 0")
    if args.sizes and not args.all:
        parser.error("--sizes goes with --all (one model: --size H W)")
    if args.pytorch_upstream and args.kwargs:
        parser.error("--pytorch-upstream compares paper widths: no --filters or --kwargs")
    if args.pytorch_upstream and not os.path.isdir(args.pytorch_upstream):
        parser.error(f"--pytorch-upstream {args.pytorch_upstream}: not a directory")
    return args


def build_model(name, kwargs):
    """`tfrestore.models.get(name, **kwargs)`, without VGG weights for VGG-based models."""
    from tfrestore import models

    known = models.MODELS.get(name)  # an unknown name is left to `get`, which lists the valid ones
    if known is not None and "vgg_weights" in inspect.signature(known).parameters:
        kwargs = {"vgg_weights": None, **kwargs}
    return models.get(name, **kwargs)


def constructor_defaults(name):
    """{argument: default} of model `name`'s constructor (weights-free arguments only)."""
    from tfrestore import models

    parameters = inspect.signature(models.MODELS[name]).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.default is not inspect.Parameter.empty and p.name != "vgg_weights"
    }


def warn_if_rejected(restorer, inputs):
    """Warns when the model's own input checks, which exported graphs skip, reject `inputs`.

    E.g. a Context Encoder hole must fit in 64x64, and the probe's is half the shorter side:
    the latencies still hold, but the restored hole is partly black.
    """
    arrays = [inputs[name] for name in restorer.inputs]
    try:
        # The checks alone: an eager run of the model at 720x1280 held every intermediate
        # tensor (AttentiveGAN: over 16 GB).
        restorer.model.check_inputs(arrays[0] if len(arrays) == 1 else tuple(arrays))
    except ValueError as error:
        print(f"warning: the Keras model rejects these inputs: {error}", file=sys.stderr)


def pytorch_runner(name, root, size, threads):
    """A no-argument function running the official PyTorch generator of method `name` (paper
    width, upstream's init, inference as upstream runs it) once on a random input of `size`:
    `tests/fixtures/pytorch/benchmark_official.py`'s `official_runner`."""
    import importlib.util
    from pathlib import Path

    # Idle OpenMP threads sleep instead of spinning: while the other forms run (and on a loaded
    # machine) spinning threads slowed PyTorch 50x (DeblurGAN 64x64: 5-10 s, 105 ms passive).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    script = Path(__file__).resolve().parents[1] / "tests/fixtures/pytorch/benchmark_official.py"
    spec = importlib.util.spec_from_file_location("benchmark_official", script)
    official = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(official)
    torch.set_num_threads(threads)
    return official.official_runner(name, Path(root), tuple(size))


def peak_rss_worker(form, path, inputs_file, threads):
    """Worker process: loads one form, runs it once on the inputs saved in `inputs_file` (the
    parent's probe, `.npz`), prints its peak RSS in MB.

    A `.tflite` file runs on LiteRT alone (no TensorFlow import), as on a phone.
    """
    import numpy as np

    with np.load(inputs_file) as saved:
        inputs = {name: saved[name] for name in saved.files}
    if form == "tflite":
        from tfrestore.litert import LiteRTModel  # imports no TensorFlow

        # `tfrestore.inference.SIGNATURE_KEY`, named here to keep TensorFlow out of this
        # process (instance-norm models' files hold two more signatures for tiling).
        LiteRTModel(path, num_threads=threads)("serving_default", inputs)
    else:
        from tfrestore.inference import load_restorer

        load_restorer(path)(**inputs, tile=0)
    print(peak_rss_of_this_process_mb())


def peak_rss_of_this_process_mb():
    """This process's peak resident memory in MB: Linux's VmHWM, which starts afresh at
    exec (`ru_maxrss` does not: a child started from a large parent inherits its peak)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def peak_rss_mb(form, path, inputs_file, threads):
    """Peak RSS in MB of a fresh process running `form` once on the inputs in `inputs_file`
    (None if it failed)."""
    command = [sys.executable, os.path.abspath(__file__), "--rss-of", form, path, inputs_file]
    command += ["--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"warning: peak RSS of {path} failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return float(done.stdout.split()[-1])


def export_forms(name, kwargs, folder, args):
    """The model and its forms {form: (file size in bytes or None, path, restorer)}, exported
    into `folder`. Files already there are reused (`--exports`): the `.keras` file holds the
    weights the exports were made from, so a later run measures the same model."""
    import keras

    from tfrestore import export
    from tfrestore.inference import load_restorer

    keras_file = os.path.join(folder, "model.keras")
    if os.path.exists(keras_file):
        model = keras.models.load_model(keras_file, compile=False)
        # As JSON on both sides: a default tuple is a list in the saved config.
        wanted = json.loads(json.dumps({**constructor_defaults(name), **kwargs}))
        config = json.loads(json.dumps(model.get_config(), default=str))
        other = {
            key: config[key] for key, value in wanted.items() if config.get(key, value) != value
        }
        if other:
            raise ValueError(
                f"{keras_file} holds the model with {other}, not {kwargs or 'the paper width'}: "
                "give each configuration its own --exports folder"
            )
    else:
        model = build_model(name, kwargs)
        model.save(keras_file)
    # The table measures parity at the benchmark sizes, so the exports' own checks on the
    # small probe are skipped: a form over their default bounds still gets its row.
    saved_model = os.path.join(folder, "saved_model")
    if not os.path.exists(saved_model):
        export.export_saved_model(model, saved_model, check=False)
    paths = {"saved_model float32": saved_model}
    for precision in args.quantize:
        path = os.path.join(folder, f"model_{precision}.tflite")
        if not os.path.exists(path):
            quantize = None if precision == "float32" else precision
            export.export_tflite(
                model, path, quantize=quantize, check=False, saved_model_dir=saved_model
            )
        paths[f"tflite {precision}"] = path
    forms = {"keras": (None, keras_file, load_restorer(model))}
    for form, path in paths.items():
        size_bytes = export.path_size(path)
        forms[form] = (size_bytes, path, load_restorer(path, args.threads))
    return model, forms


def benchmark(name, forms, size, args):
    """Rows (form, size bytes, ms, max abs error, PSNR, peak RSS MB, delegation) of a model's
    forms (`export_forms`) at `size`."""
    import numpy as np

    from tfrestore import export

    keras_model = forms["keras"][2]
    inputs = export.probe_inputs(keras_model.channels, size)
    warn_if_rejected(keras_model, inputs)
    # The partition count does not depend on the size: counted at the exports' small probe.
    probe = export.probe_inputs(keras_model.channels, export.probe_size_of(keras_model))
    expected = keras_model(**inputs, tile=0)
    whole = {**inputs, "tile": 0}  # every run on the whole image, never tiled
    runs, outputs = {}, {}
    for form, (_, _, restorer) in forms.items():
        outcome = first_run(restorer, whole, f"{form} fails at {size[0]}x{size[1]}")
        if outcome is not None:
            runs[form] = lambda r=restorer: r(**whole)
            outputs[form] = outcome
    if args.pytorch_upstream:  # e.g. an upstream network with hard-coded sizes fails
        official = pytorch_runner(name, args.pytorch_upstream, size, args.threads)
        if first_run(official, {}, f"pytorch official fails at {size[0]}x{size[1]}") is not None:
            runs["pytorch official"] = official
    latency = interleaved_median_ms(runs, args.runs, args.warmup)
    rows = []
    if "pytorch official" in latency:
        rows.append(("pytorch official", None, latency["pytorch official"], *[None] * 4))
    with tempfile.TemporaryDirectory(prefix="tfrestore-benchmark-") as scratch:
        inputs_file = os.path.join(scratch, "inputs.npz")  # the memory processes' inputs
        np.savez(inputs_file, **inputs)
        for form, (size_bytes, path, restorer) in forms.items():
            if form not in outputs:
                continue
            error, psnr = export.compare(expected, outputs[form])
            kind = form.split()[0]
            rss = None if args.no_rss else peak_rss_mb(kind, path, inputs_file, args.threads)
            split = None
            if restorer.form == "tflite":
                arguments = {"path": path, "inputs": probe}
                split = first_run(export.delegation, arguments, f"{form} fails at the probe")
            rows.append((form, size_bytes, latency[form], error, psnr, rss, split))
    return rows


def first_run(function, inputs, failure):
    """`function(**inputs)`, or None after printing `failure` and the error's first line (the
    table goes on without that form: e.g. a file LiteRT cannot run at that size)."""
    try:
        outcome = function(**inputs)
    except Exception as error:  # noqa: BLE001 (any runtime's failure)
        reason = (str(error).strip().splitlines() or [""])[0][:160]
        print(f"{failure}: {type(error).__name__}: {reason}")
        return None
    return True if outcome is None else outcome


def print_table(title, rows):
    print(title)
    print(
        f"{'form':<20}{'size':>10}{'latency':>12}{'max abs err':>13}{'PSNR':>10}"
        f"{'peak RSS':>11}  partitions"
    )
    for form, size, latency, error, psnr, rss, split in rows:
        size_text = "-" if size is None else f"{size / 1e6:.1f} MB"
        rss_text = "-" if rss is None else f"{rss:.0f} MB"
        split_text = "-" if split is None else f"{split.partitions} ({split.ops_outside} ops out)"
        error_text = "-" if error is None else f"{error:.1e}"
        psnr_text = "-" if psnr is None else f"{psnr:.1f} dB"
        print(
            f"{form:<20}{size_text:>10}{latency:>9.0f} ms{error_text:>13}{psnr_text:>10}"
            f"{rss_text:>11}  {split_text}"
        )


def title(name, model, size, args):
    settings = " ".join(f"{key}={value}" for key, value in args.kwargs.items() if key != "filters")
    text = f"{name} filters={model.get_config()['filters']} {settings}".rstrip()
    return text + f", {size[0]}x{size[1]}, {args.threads} threads"


def main(argv=None):
    args = parse_args(argv)
    if args.rss_of:
        peak_rss_worker(*args.rss_of, args.threads)
        return 0

    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran in this process (e.g. under pytest)
        print("warning: TensorFlow already initialized, thread count unchanged", file=sys.stderr)

    from tfrestore import models

    names = sorted(models.MODELS) if args.all else [args.model]
    sizes = (args.sizes or [(256, 256)]) if args.all else [tuple(args.size)]
    for name in names:
        if args.exports:
            kept = contextlib.nullcontext(os.path.join(args.exports, name))
        else:
            kept = tempfile.TemporaryDirectory(prefix="tfrestore-benchmark-")
        with kept as folder:
            os.makedirs(folder, exist_ok=True)
            try:
                model, forms = export_forms(name, dict(args.kwargs), folder, args)
                for size in sizes:
                    rows = benchmark(name, forms, size, args)
                    print_table(
                        f"{title(name, model, size, args)}, median of {args.runs} interleaved runs",
                        rows,
                    )
                    sys.stdout.flush()
            except (TypeError, ValueError) as error:
                print(f"error: --model {name} with {args.kwargs}: {error}", file=sys.stderr)
                if not args.all:
                    return 2
                # e.g. a size below one model's minimum: the other models still run
    return 0


if __name__ == "__main__":
    sys.exit(main())
