"""The `tfrestore` command: train, evaluate, restore, export, demo.

Usage errors exit with status 2 and one line saying what was wrong (`--debug` shows the
traceback); `restore` exits 1 when some files failed, after processing the others.
"""

import argparse
import os
import sys
import warnings

# TensorFlow's C++ logging (start-up chatter, grappler notes) is noise for a command-line
# user; Python errors still surface as exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Folder names `evaluate` recognises inside DATA, as (degraded, target) pairs.
PAIRED_LAYOUTS = (
    ("degraded", "target"),
    ("blurred", "sharp"),
    ("blur", "sharp"),
    ("input", "target"),
    ("low", "high"),
    ("data", "gt"),
)
QUANTIZE_CHOICES = ("float16", "dynamic", "int8")


class UsageError(Exception):
    """A user error: reported in one line, exit status 2."""


def _parser():
    parser = argparse.ArgumentParser(prog="tfrestore", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model from a YAML config")
    train.add_argument("config")
    train.add_argument("--strategy", default="default", choices=("default", "mirrored"))
    train.add_argument("--logdir", help="log/checkpoint directory (same one again resumes)")

    evaluate = commands.add_parser("evaluate", help="PSNR/SSIM on a paired folder")
    evaluate.add_argument("model", help=".keras file, SavedModel folder or .tflite file")
    evaluate.add_argument(
        "data", help="folder with degraded/ and target/ (or blurred/ sharp/, low/ high/, ...)"
    )

    restore = commands.add_parser("restore", help="restore image files or folders")
    restore.add_argument("model", help=".keras file, SavedModel folder or .tflite file")
    restore.add_argument("inputs", nargs="+", help="image files or folders")
    restore.add_argument("-o", "--output", required=True, help="output folder for PNGs")

    export = commands.add_parser("export", help="export to SavedModel and/or TFLite")
    export.add_argument("model", help=".keras file")
    export.add_argument("--saved-model", help="output SavedModel folder")
    export.add_argument("--tflite", help="output .tflite file")
    export.add_argument("--quantize", choices=QUANTIZE_CHOICES, help="TFLite quantization")
    export.add_argument(
        "--representative", nargs="+", help="images or folders for int8 calibration"
    )

    demo = commands.add_parser("demo", help="train, evaluate and export on sample photos")
    demo.add_argument("--model", default="deblur_gan", help="method to demonstrate")
    demo.add_argument("--minutes", type=float, default=5.0, help="training time budget")
    demo.add_argument("--output", default=os.path.join("outputs", "demo"))
    return parser


def _expand_inputs(paths):
    """Image files from files and folders (folders recursively), in order."""
    from tfrestore import data

    files = []
    for path in paths:
        if os.path.isdir(path):
            files += [os.path.join(path, name) for name in data.list_images(path)]
        elif os.path.exists(path):
            files.append(path)
        else:
            raise UsageError(f"input not found: {path}")
    if not files:
        raise UsageError(f"no images found in: {' '.join(paths)}")
    return files


def _load(path):
    from tfrestore.inference import load_restorer

    try:
        return load_restorer(path)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(str(error)) from None


def _run_restore(args):
    import keras

    from tfrestore import data

    files = _expand_inputs(args.inputs)
    restorer = _load(args.model)
    failed = 0
    progress = keras.utils.Progbar(len(files), unit_name="image") if len(files) > 1 else None
    for index, path in enumerate(files):
        try:
            image = data.read_image(path)
            restored = restorer(image=image[None])["restored"][0]
            stem = os.path.splitext(os.path.basename(path))[0]
            data.write_image(os.path.join(args.output, f"{stem}.png"), restored)
        except Exception as error:  # one bad file must not stop the others
            failed += 1
            print(f"\nerror: {path}: {error}", file=sys.stderr)
        if progress is not None:
            progress.update(index + 1)
    print(f"restored {len(files) - failed} of {len(files)} images into {args.output}")
    return 1 if failed else 0


def _paired_dirs(folder):
    if not os.path.isdir(folder):
        raise UsageError(f"data folder not found: {folder}")
    for degraded, target in PAIRED_LAYOUTS:
        pair = os.path.join(folder, degraded), os.path.join(folder, target)
        if all(os.path.isdir(path) for path in pair):
            return pair
    names = ", ".join(f"{a}/+{b}/" for a, b in PAIRED_LAYOUTS)
    raise UsageError(f"{folder} has no paired sub-folders; expected one of: {names}")


def _run_evaluate(args):
    import numpy as np

    from tfrestore import data, metrics

    degraded_dir, target_dir = _paired_dirs(args.data)
    try:
        pairs = data.paired_files(degraded_dir, target_dir)
    except ValueError as error:
        raise UsageError(str(error)) from None
    restorer = _load(args.model)
    scores = {"psnr_input": [], "psnr": [], "ssim_input": [], "ssim": []}
    for degraded_path, target_path in pairs:
        degraded = data.read_image(degraded_path)[None]
        target = data.read_image(target_path)[None]
        restored = restorer(image=degraded)["restored"]
        scores["psnr_input"].append(float(metrics.psnr(target, degraded)[0]))
        scores["psnr"].append(float(metrics.psnr(target, restored)[0]))
        scores["ssim_input"].append(float(metrics.ssim(target, degraded)[0]))
        scores["ssim"].append(float(metrics.ssim(target, restored)[0]))
    means = {name: float(np.mean(values)) for name, values in scores.items()}
    print(f"{len(pairs)} pairs from {args.data}")
    print(f"input    PSNR {means['psnr_input']:.2f} dB  SSIM {means['ssim_input']:.4f}")
    print(f"restored PSNR {means['psnr']:.2f} dB  SSIM {means['ssim']:.4f}")
    return 0


def _run_export(args):
    import keras

    from tfrestore import export

    if not (args.saved_model or args.tflite):
        raise UsageError("export needs --saved-model DIR and/or --tflite FILE")
    if not args.model.endswith(".keras") or not os.path.isfile(args.model):
        raise UsageError(f"export takes a .keras model file, got {args.model}")
    if args.quantize == "int8" and not args.representative:
        raise UsageError("--quantize int8 needs --representative IMAGES")
    model = keras.models.load_model(args.model)
    try:
        _export(export, model, args)
    except export.ExportError as error:
        print(f"tfrestore export: failed: {error}", file=sys.stderr)
        return 1
    return 0


def _export(export, model, args):
    if args.saved_model:
        print(export.export_saved_model(model, args.saved_model))
    if args.tflite:
        representative = None
        if args.quantize == "int8":
            representative = export.representative_images(args.representative)
        report = export.export_tflite(
            model,
            args.tflite,
            quantize=args.quantize,
            representative_data=representative,
            saved_model_dir=args.saved_model,
        )
        print(report)


def _run_train(args):
    from tfrestore import train

    try:
        config = train.load_config(args.config)
        train.train(config, strategy=args.strategy, logdir=args.logdir)
    except train.ConfigError as error:
        raise UsageError(str(error)) from None
    return 0


def _run_demo(args):
    from tfrestore import demo

    if args.minutes <= 0:
        raise UsageError(f"--minutes must be > 0, got {args.minutes}")
    try:
        return demo.run(model_name=args.model, minutes=args.minutes, output=args.output)
    except ValueError as error:
        raise UsageError(str(error)) from None


COMMANDS = {
    "train": _run_train,
    "evaluate": _run_evaluate,
    "restore": _run_restore,
    "export": _run_export,
    "demo": _run_demo,
}


def main(argv=None):
    args = _parser().parse_args(argv)
    # Keras warns that tf.data inputs ignore fit's `shuffle`; ours are shuffled by the pipeline.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    try:
        return COMMANDS[args.command](args)
    except UsageError as error:
        if args.debug:
            raise
        print(f"tfrestore {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
