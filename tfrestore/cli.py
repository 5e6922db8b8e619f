"""The `tfrestore` command: train, evaluate, restore, export, demo, prepare-structure.

Usage errors exit with status 2 and one line saying what was wrong (`--debug` shows the
traceback); `restore` and `prepare-structure` exit 1 when some files failed, after processing
the others.

TensorFlow's own log messages (C++ start-up and Grappler notes, Python warnings) are hidden
unless `--verbose` is given.

Inpainting models (those whose restorer takes a `mask`) need a mask per image: `restore
--mask` takes mask files in input order or one folder of masks named like the inputs
(`photo.jpg` <-> `masks/photo.png`), and `evaluate` takes a DATA folder with `images/` (the
complete photos) and `masks/`. Mask files are read as gray; pixels > 0.5 are missing.
"""

import argparse
import os
import sys
import tempfile
import warnings

QUANTIZE_CHOICES = ("float16", "dynamic", "int8")


class UsageError(Exception):
    """A user error: reported in one line, exit status 2."""


def _global_options(default):
    """A parent parser with --debug and --verbose. They are accepted before the command and
    after it; the commands' copies default to SUPPRESS so that they do not reset a flag given
    before the command."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--debug", action="store_true", default=default, help="show tracebacks of errors"
    )
    options.add_argument(
        "--verbose",
        action="store_true",
        default=default,
        help="show TensorFlow's own log messages (start-up notes, Grappler, Python warnings)",
    )
    return options


def _parser():
    parser = argparse.ArgumentParser(
        prog="tfrestore", description=__doc__.splitlines()[0], parents=[_global_options(False)]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    options = [_global_options(argparse.SUPPRESS)]

    train = commands.add_parser("train", parents=options, help="train a model from a YAML config")
    train.add_argument("config")
    train.add_argument(
        "--strategy", default="default", choices=("default", "mirrored", "multiworker")
    )
    train.add_argument("--logdir", help="log/checkpoint directory (same one again resumes)")

    evaluate = commands.add_parser("evaluate", parents=options, help="PSNR/SSIM on a paired folder")
    evaluate.add_argument("model", help=".keras file, SavedModel folder or .tflite file")
    evaluate.add_argument(
        "data",
        help="folder with degraded/ and target/ (or blurred/ sharp/, low/ high/, ...); for "
        "inpainting models images/ and masks/ (PSNR and L1 inside the holes); for an "
        "EnlightenGAN .keras model low/ and high/ or a folder of low-light images (adds mean "
        "brightness and colorfulness)",
    )

    restore = commands.add_parser("restore", parents=options, help="restore image files or folders")
    restore.add_argument("model", help=".keras file, SavedModel folder or .tflite file")
    restore.add_argument("inputs", nargs="+", help="image files or folders")
    restore.add_argument("-o", "--output", required=True, help="output folder for PNGs")
    restore.add_argument(
        "--mask",
        nargs="+",
        metavar="MASK",
        help="inpainting models: mask files in input order, or one folder of masks named like "
        "the inputs (photo.jpg <-> FOLDER/photo.png); gray > 0.5 = missing",
    )

    export = commands.add_parser(
        "export",
        parents=options,
        help="export to SavedModel and/or TFLite",
        description="Exports a .keras model. Each export is checked against the Keras model "
        "(max abs error and PSNR are printed) and written only if the check passes.",
    )
    export.add_argument("model", help=".keras file saved from a tfrestore model")
    export.add_argument("--saved-model", help="output SavedModel folder")
    export.add_argument("--tflite", help="output .tflite file")
    export.add_argument(
        "--quantize", choices=QUANTIZE_CHOICES, help="TFLite quantization (default float32)"
    )
    export.add_argument(
        "--representative",
        nargs="+",
        metavar="IMAGES",
        help="image files or folders to calibrate --quantize int8 (center crops of 256 px)",
    )
    export.add_argument("--no-check", action="store_true", help="skip the parity checks")

    demo = commands.add_parser(
        "demo", parents=options, help="train, evaluate and export on sample photos"
    )
    demo.add_argument(
        "--model",
        default="deblur_gan",
        help="method to demonstrate: deblur_gan (default), attentive_gan, context_encoder, "
        "enlighten_gan or medfe",
    )
    demo.add_argument("--minutes", type=float, default=5.0, help="training time budget")
    demo.add_argument("--output", help="output folder (default outputs/demo[/MODEL])")

    structure = commands.add_parser(
        "prepare-structure",
        parents=options,
        help="write the structure images MEDFE trains on (RTV smoothing)",
        description="Writes the structure image of every image of IN (searched recursively): "
        "its texture smoothed away by Relative Total Variation (Xu et al. 2012), as MEDFE "
        "trains on; 1-2 s per 256x256 image. Each goes to OUT as a PNG with the same "
        "relative path and name (IN/a/1.jpg -> OUT/a/1.png). Images whose output exists are "
        "skipped, so an interrupted run resumes where it stopped. Defaults are MEDFE's.",
    )
    structure.add_argument("input", metavar="IN", help="folder of photos")
    structure.add_argument("output", metavar="OUT", help="output folder (not inside IN)")
    structure.add_argument(
        "--lam", type=float, default=0.015, help="smoothness weight (default %(default)s)"
    )
    structure.add_argument(
        "--sigma",
        type=float,
        default=3.0,
        help="size of the texture to remove, in pixels (default %(default)s)",
    )
    structure.add_argument(
        "--sharpness",
        type=float,
        default=0.001,
        help="smaller keeps edges sharper (default %(default)s)",
    )
    structure.add_argument(
        "--iterations", type=int, default=3, help="RTV iterations (default %(default)s)"
    )
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


def _check_mask_use(restorer, model_path, masks_given, option):
    """UsageError unless masks are given exactly when the model inpaints."""
    takes_mask = "mask" in restorer.inputs
    if takes_mask and not masks_given:
        raise UsageError(
            f"{model_path} is an inpainting model (inputs: {', '.join(restorer.inputs)}): "
            f"give each image a mask with {option}"
        )
    if masks_given and not takes_mask:
        raise UsageError(
            f"{model_path} takes no mask (inputs: {', '.join(restorer.inputs)}); "
            f"{option} is for inpainting models"
        )


def _process_files(files, work):
    """Calls `work(index, path)` on each file under a progress bar (for more than one file).

    A file whose `work` raises is reported on stderr by path and the others go on. Returns
    the number of files that failed.
    """
    import keras

    failed = 0
    progress = keras.utils.Progbar(len(files), unit_name="image") if len(files) > 1 else None
    for index, path in enumerate(files):
        try:
            work(index, path)
        except Exception as error:  # one bad file must not stop the others
            failed += 1
            print(f"\nerror: {path}: {error}", file=sys.stderr)
        if progress is not None:
            progress.update(index + 1)
    return failed


def _run_restore(args):
    from tfrestore import data

    files = _expand_inputs(args.inputs)
    try:
        masks = data.match_mask_files(args.mask, files, name="--mask")
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(str(error)) from None
    restorer = _load(args.model)
    _check_mask_use(restorer, args.model, masks is not None, "--mask")

    def restore(index, path):
        image = data.read_image(path)
        inputs = {"image": image[None]}
        if masks is not None:
            if isinstance(masks[index], ValueError):
                raise masks[index]
            inputs["mask"] = data.read_mask(masks[index], image.shape[:2])[None]
        restorer.check_inputs(**inputs)
        restored = restorer(**inputs)["restored"][0]
        stem = os.path.splitext(os.path.basename(path))[0]
        data.write_image(os.path.join(args.output, f"{stem}.png"), restored)

    failed = _process_files(files, restore)
    print(f"restored {len(files) - failed} of {len(files)} images into {args.output}")
    return 1 if failed else 0


def _run_prepare_structure(args):
    from tfrestore import data

    for name in ("lam", "sigma", "sharpness", "iterations"):
        value = getattr(args, name)
        if not value > 0 or value == float("inf"):
            raise UsageError(f"--{name} must be > 0, got {value}")
    if not os.path.isdir(args.input):
        raise UsageError(f"input folder not found: {args.input}")
    source, output = os.path.realpath(args.input), os.path.realpath(args.output)
    if os.path.commonpath([source, output]) == source:
        raise UsageError(f"OUT ({args.output}) must not be IN ({args.input}) or inside it")
    names = data.list_images(args.input)
    if not names:
        raise UsageError(f"no images found in {args.input}")
    written_from = {}  # output path -> input path, to catch a.jpg and a.png in one folder
    existed = []

    def prepare(index, path):
        target = os.path.join(args.output, f"{os.path.splitext(names[index])[0]}.png")
        if target in written_from:
            raise ValueError(f"its output {target} is also the output of {written_from[target]}")
        written_from[target] = path
        if os.path.exists(target):
            existed.append(target)
            return
        structure = data.rtv_smooth(
            data.read_image(path), args.lam, args.sigma, args.sharpness, args.iterations
        )
        data.write_image(target, structure)  # atomic: an interrupted run leaves no partial file

    paths = [os.path.join(args.input, name) for name in names]
    failed = _process_files(paths, prepare)
    print(
        f"wrote {len(names) - failed - len(existed)} structure images into {args.output}; "
        f"{len(existed)} existed already, {failed} failed"
    )
    return 1 if failed else 0


def _run_evaluate(args):
    from tfrestore import evaluate

    try:
        report = evaluate.evaluate(args.model, args.data)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(str(error)) from None
    print(report)
    return 0


def _run_export(args):
    from tfrestore import export
    from tfrestore.inference import load_keras_model

    if not (args.saved_model or args.tflite):
        raise UsageError("export needs --saved-model DIR and/or --tflite FILE")
    if not args.model.endswith(".keras") or not os.path.isfile(args.model):
        raise UsageError(f"export takes a .keras model file, got {args.model}")
    if args.quantize == "int8" and not args.representative:
        raise UsageError("--quantize int8 needs --representative IMAGES")
    try:
        model = load_keras_model(args.model)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot load {args.model}: {error}") from None
    try:
        _export(export, model, args)
    except export.ExportError as error:
        print(f"tfrestore export: failed: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # an output path in the way, no calibration images
        raise UsageError(str(error)) from None
    return 0


def _export(export, model, args):
    check = not args.no_check
    if args.saved_model:
        print(export.export_saved_model(model, args.saved_model, check=check))
    if args.tflite:
        representative = None
        if args.quantize == "int8":
            representative = export.representative_images(args.representative)
        report = export.export_tflite(
            model,
            args.tflite,
            quantize=args.quantize,
            representative_data=representative,
            check=check,
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
    "prepare-structure": _run_prepare_structure,
}


def _quiet_tensorflow():
    """Keeps TensorFlow's own log messages off the terminal.

    TensorFlow reads its C++ log level (`TF_CPP_MIN_LOG_LEVEL`, 3 hides all but fatal errors:
    cuInit failures, CPU-feature notes, Grappler messages) once, when it loads, and writes a
    few notes while loading before any level applies (oneDNN, CUDA drivers). So TensorFlow is
    imported here, before any command, with stderr going to a temporary file that is shown
    only if the import fails. Its Python loggers then keep errors only. Does nothing when
    TensorFlow is loaded already (`main` called from a Python program): the level can no
    longer change, and that program's logging is its own.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
        except BaseException:
            os.dup2(saved_stderr, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
    tf.get_logger().setLevel("ERROR")
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_logging.set_verbosity(absl_logging.ERROR)


def main(argv=None):
    """Runs the `tfrestore` command on `argv` (default: the process arguments).

    Args:
        argv: list of str, the arguments after `tfrestore`, e.g. ["evaluate", "m.keras", "d/"].

    Returns:
        int, the exit status: 0 done, 1 some files or an export check failed, 2 usage error.
    """
    args = _parser().parse_args(argv)
    if not args.verbose:
        _quiet_tensorflow()
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
