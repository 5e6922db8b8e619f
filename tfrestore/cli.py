"""The `tfrestore` command: train, evaluate, restore, export, convert, demo, prepare-structure.

Each command parses its arguments and calls the library (`tfrestore.train`, `.evaluate`,
`.restore`, `.export`, ...). An error that ends a command is one line on stderr, and its exit
status comes from one table (`EXIT_STATUSES`): 2 when the command cannot run as given (a bad
argument, config, image or model file; fix it and run again), 1 when it ran and failed (an
export check; `restore` and `prepare-structure` when some files failed, after processing the
others), 130 when interrupted (Ctrl-C; the line says how to go on). `--debug` shows the
traceback instead.

TensorFlow's own log messages (C++ start-up and Grappler notes, Python warnings) are hidden
unless `--verbose` is given.

Inpainting models (those whose restorer takes a `mask`) need a mask per image: `restore
--mask` takes mask files in input order or one folder of masks named like the inputs
(`photo.jpg` <-> `masks/photo.png`), and `evaluate` takes a DATA folder with `images/` (the
complete photos) and `masks/`. Mask files are read as gray; pixels > 0.5 are missing.
"""

import argparse
import atexit
import os
import re
import sys
import warnings

from tfrestore.quiet import native_stderr_captured

QUANTIZE_CHOICES = ("float16", "dynamic", "int8")


class UsageError(Exception):
    """A user error: reported in one line, exit status 2."""


# How an exception that ends a command is reported: (module, class name in it, exit status),
# one line on stderr. The first match wins, so subclasses come before their bases. Classes are
# named, not imported: one whose module was never imported cannot have been raised, and the
# command must not import TensorFlow before `_quiet_tensorflow`.
EXIT_STATUSES = (
    ("builtins", "KeyboardInterrupt", 130),  # Ctrl-C: the line says how to go on
    ("tfrestore.cli", "UsageError", 2),
    ("tfrestore.export", "ExportError", 1),  # an export failed its parity check
    ("tfrestore.callbacks", "NonFiniteLossError", 2),  # training diverged; nothing saved
    ("tfrestore.losses.perceptual", "VGGWeightsUnavailable", 2),  # offline, no cached VGG
    # Bad values: arguments, configs, images, model files (ModelLoadError), data (the
    # library's errors derive from ValueError and name the file or key).
    ("builtins", "ValueError", 2),
    ("builtins", "OSError", 2),  # a file or folder that cannot be read or written
    ("tensorflow", "errors.OpError", 2),  # TensorFlow refused data
)

# What to do after Ctrl-C, by command.
RESUME_HINTS = {
    "train": "run the same command again (same --logdir) to resume after the last finished epoch",
    "restore": "run the same command again to go on: images already restored are skipped",
}


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


def _export_options(parser):
    """The export outputs and precision, shared by `export` and `convert`."""
    parser.add_argument("--saved-model", help="output SavedModel folder")
    parser.add_argument("--tflite", help="output .tflite file")
    parser.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        help="TFLite precision (default float32): float16 weights halve the size, for the GPU "
        "delegate; dynamic (int8 weights, float activations) and int8 (int8 weights and "
        "activations, calibrated on --representative, what int8 cannot hold kept float32) "
        "quarter it. Their speed depends on the CPU's int8 instructions: on an AVX-512 CPU "
        "with VNNI both ran faster than float32 for all five methods (dynamic 1.1-3.8x, int8 "
        "1.2-3.1x at paper width); on an AVX2 CPU without VNNI int8 was slower than float32 "
        "for DeblurGAN and EnlightenGAN (0.74x). Time them on your device "
        "(export/benchmark.py). "
        "Quantized files are checked on photos and refused below 35 dB PSNR against float32",
    )
    parser.add_argument(
        "--representative",
        nargs="+",
        metavar="IMAGES",
        help="image files or folders to calibrate --quantize int8 (center crops of 256 px; "
        "default: the sample photos), ideally what the model will restore",
    )
    parser.add_argument(
        "--float-layers",
        nargs="*",
        metavar="LAYER",
        help="with --quantize int8: the layers (names or paths such as generator/model_2; "
        "'not generator' for every operator outside the generator) to keep in float32 "
        "(default: those int8 cannot hold, which the report lists); given without names, "
        "every layer with an int8 kernel is quantized",
    )
    parser.add_argument(
        "--input-size",
        metavar="HxW",
        help="TFLite with a fixed input size (static [1, H, W, C] shapes, as GPU and NPU "
        "delegates want; with --quantize float16 for the GPU delegate), e.g. 256x256; default: "
        "any size",
    )


def _pixels(text):
    """argparse type: a whole number of pixels >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels >= 0, got {text!r}")
    return value


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
    train.add_argument(
        "--profile-steps",
        metavar="A,B",
        help="write a TensorFlow profiler trace of training steps A to B of this run (from 1) "
        "to LOGDIR/train for TensorBoard's profile tab",
    )
    train.add_argument(
        "--cache",
        nargs="?",
        const=True,
        metavar="PATH",
        help="keep the decoded training images after the first epoch: in memory, or in cache "
        "files at PATH (the config's data.cache)",
    )

    evaluate = commands.add_parser("evaluate", parents=options, help="PSNR/SSIM on a paired folder")
    evaluate.add_argument("model", help=".keras file, SavedModel folder or .tflite file")
    evaluate.add_argument(
        "data",
        help="folder with degraded/ and target/ (or blurred/ sharp/, low/ high/, ...); for "
        "inpainting models images/ and masks/ (PSNR and L1 inside the holes); for an "
        "EnlightenGAN .keras model low/ and high/ or a folder of low-light images (adds mean "
        "brightness and colorfulness)",
    )

    restore = commands.add_parser(
        "restore",
        parents=options,
        help="restore image files or folders",
        description="Restores each image into OUTDIR as an image of the same size, in the "
        "input's format (a JPEG gives a JPEG at --jpeg-quality, a PNG a PNG; a GIF gives a "
        "PNG), upright (EXIF orientation applied), with the input's ICC profile, EXIF "
        "(without the orientation tag) and alpha; gray stays gray, and 16-bit PNGs are restored at "
        "full precision into 16-bit PNGs. Output names: a folder's images keep their path "
        "relative to it (IN/a/1.jpg -> OUTDIR/a/1.jpg), a file given by name keeps its name "
        "(x/1.jpg -> OUTDIR/1.jpg). Inputs that would share an output keep their extension in "
        "its name (same.gif -> same.gif.png, while same.png stays same.png); the same name "
        "from two places gets _2, _3, ... in input order (1.jpg, 1_2.jpg). An output that "
        "exists is skipped (--overwrite replaces it), so running the same command again "
        "after an interruption goes on where it stopped. "
        "OUTDIR is never read as input, and it is checked for writing before the model loads. "
        "A file that fails is reported by path and the others still run (exit status 1).",
    )
    restore.add_argument("model", help=".keras file, SavedModel folder or .tflite file")
    restore.add_argument("inputs", nargs="+", help="image files or folders")
    restore.add_argument("-o", "--output", metavar="OUTDIR", required=True, help="output folder")
    restore.add_argument(
        "--overwrite", action="store_true", help="replace existing outputs instead of skipping"
    )
    restore.add_argument(
        "--jpeg-quality",
        type=int,
        default=95,
        metavar="Q",
        help="quality of JPEG (and WebP) outputs, 1-100 (default %(default)s)",
    )
    restore.add_argument(
        "--mask",
        nargs="+",
        metavar="MASK",
        help="inpainting models: mask files in input order, or one folder of masks named like "
        "the inputs (photo.jpg <-> FOLDER/photo.png); gray > 0.5 = missing",
    )

    restore.add_argument(
        "--tile",
        type=_pixels,
        metavar="N",
        help="restore in overlapping tiles of at most N x N pixels (bounded memory for large "
        "photos); default: the model's window (448; EnlightenGAN 768) for "
        "images above its square, whole below; 0: never tile",
    )
    restore.add_argument(
        "--overlap",
        type=_pixels,
        metavar="M",
        help="pixels neighbouring tiles share, blended smoothly (default 32, at most N/4)",
    )

    export = commands.add_parser(
        "export",
        parents=options,
        help="export to SavedModel and/or TFLite",
        description="Exports a .keras model. Each export is checked against the Keras model "
        "(max abs error and PSNR are printed) and written only if the check passes.",
    )
    export.add_argument("model", help=".keras file saved from a tfrestore model")
    _export_options(export)
    export.add_argument("--no-check", action="store_true", help="skip the parity checks")

    convert = commands.add_parser(
        "convert",
        parents=options,
        help="convert official PyTorch weights to .keras (and SavedModel/TFLite)",
        description="Reads an official PyTorch checkpoint (without torch, without running code "
        "from it), builds the METHOD model with the options the file was trained with, and "
        "writes OUT.keras; --saved-model and --tflite run the parity-checked exports. Nothing "
        "is written when the file fits no architecture of METHOD.",
    )
    convert.add_argument(
        "method", help="deblur_gan, enlighten_gan, attentive_gan, context_encoder or medfe"
    )
    convert.add_argument(
        "checkpoints",
        nargs="+",
        metavar="CHECKPOINT",
        help="generator file (medfe: EN.pkl DE.pkl MEDEF.pkl)",
    )
    convert.add_argument(
        "-o", "--output", metavar="OUT.keras", required=True, help="output .keras file"
    )
    convert.add_argument("--discriminator", metavar="FILE", help="discriminator checkpoint")
    _export_options(convert)
    convert.set_defaults(no_check=False)

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


def _process_files(files, work):
    """Calls `work(index, path)` on each file under a progress bar (for more than one file).

    A file whose `work` raises is reported on stderr by path and the others go on. Returns
    the number of files that failed.
    """
    from tfrestore.progress import Progress

    failed = 0
    progress = Progress(len(files), "images") if len(files) > 1 else None
    for index, path in enumerate(files):
        try:
            work(index, path)
        except Exception as error:  # one bad file must not stop the others
            failed += 1
            if progress is not None:
                progress.message(f"error: {path}: {error}")
            else:
                print(f"error: {path}: {error}", file=sys.stderr)
        if progress is not None:
            progress.update(index + 1, os.path.basename(path))
    if progress is not None:
        progress.close()
    return failed


def _run_restore(args):
    from tfrestore import restore
    from tfrestore.progress import Progress

    progress = None

    def bar(total):
        nonlocal progress
        progress = progress or Progress(total, "images")
        return progress

    def show(index, total, job, outcome):
        if outcome not in ("written", "skipped"):
            bar(total).message(f"error: {job.source}: {outcome}")  # on stderr
        if total > 1:
            bar(total).update(index + 1, f"{os.path.basename(job.source)} {outcome}")

    def show_tiles(index, total, job, done, tiles):
        name = os.path.basename(job.source)
        bar(total).detail(job.source, done, tiles, f"{name}: tiles {done}/{tiles}")

    report = restore.restore_files(
        args.model,
        args.inputs,
        args.output,
        masks=args.mask,
        overwrite=args.overwrite,
        on_file=show,
        jpeg_quality=args.jpeg_quality,
        tile=args.tile,
        overlap=args.overlap,
        on_tile=show_tiles,
    )
    if progress is not None:
        progress.close()
    print(report)
    return 1 if report.failed else 0


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

    print(evaluate.evaluate(args.model, args.data))
    return 0


def _run_export(args):
    from tfrestore import export
    from tfrestore.inference import load_keras_model
    from tfrestore.restore import check_output_folder

    if not (args.saved_model or args.tflite):
        raise UsageError("export needs --saved-model DIR and/or --tflite FILE")
    if os.path.isdir(args.model) or not args.model.endswith(".keras"):
        raise UsageError(f"export takes a .keras model file, got {args.model}")
    _int8_options(args)
    args.input_size = _input_size(args)
    for path in (args.saved_model, args.tflite):
        if path:  # before the model loads: the folder the export is renamed into
            check_output_folder(os.path.dirname(os.path.abspath(path)))
    _export(export, load_keras_model(args.model), args)
    return 0


def _int8_options(args):
    """UsageError for --representative or --float-layers without --quantize int8."""
    for option, value in (
        ("--representative", args.representative),
        ("--float-layers", args.float_layers),
    ):
        if value is not None and args.quantize != "int8":
            raise UsageError(f"{option} goes with --quantize int8")


def _input_size(args):
    """--input-size as (height, width), None when not given; UsageError when malformed or
    given without --tflite."""
    if args.input_size is None:
        return None
    match = re.fullmatch(r"(\d+)x(\d+)", args.input_size.strip().lower())
    if not match or min(int(v) for v in match.groups()) < 1:
        raise UsageError(
            f"--input-size must be HEIGHTxWIDTH, e.g. 256x256; got {args.input_size!r}"
        )
    if not args.tflite:
        raise UsageError("--input-size needs --tflite FILE (a SavedModel keeps any size)")
    return int(match.group(1)), int(match.group(2))


def _export(export, model, args):
    check = not args.no_check
    if args.saved_model:
        print(export.export_saved_model(model, args.saved_model, check=check))
    if args.tflite:
        representative = None
        if args.representative:
            representative = export.representative_images(args.representative)
        report = export.export_tflite(
            model,
            args.tflite,
            quantize=args.quantize,
            representative_data=representative,
            check=check,
            saved_model_dir=args.saved_model,
            input_size=args.input_size,  # parsed by _input_size
            float_layers=args.float_layers,
        )
        print(report)
        print(export.integration_snippet(args.tflite))


def _run_convert(args):
    from tfrestore import export
    from tfrestore.callbacks import save_atomically
    from tfrestore.convert import convert_pytorch
    from tfrestore.restore import check_output_folder

    if not args.output.endswith(".keras"):
        raise UsageError(f"-o must name a .keras file, got {args.output}")
    if args.quantize and not args.tflite:
        raise UsageError("--quantize needs --tflite FILE")
    _int8_options(args)
    args.input_size = _input_size(args)
    conversion = convert_pytorch(args.method, *args.checkpoints, discriminator=args.discriminator)
    for path in (args.output, args.saved_model, args.tflite):  # once the file is known good
        if path:
            check_output_folder(os.path.dirname(os.path.abspath(path)))
    print(conversion.summary())
    save_atomically(conversion.model, args.output)
    print(f"keras {args.output}")
    _export(export, conversion.model, args)
    return 0


def _step_range(text):
    """(first, last) from "A,B" with 1 <= A <= B, else UsageError naming --profile-steps."""
    parts = text.split(",")
    try:
        first, last = (int(part) for part in parts)
    except ValueError:
        first = last = 0  # not two integers
    if not 1 <= first <= last:
        raise UsageError(f"--profile-steps must be A,B with integers 1 <= A <= B, got {text!r}")
    return first, last


def _run_train(args):
    from tfrestore import train

    profile_steps = None if args.profile_steps is None else _step_range(args.profile_steps)
    config = train.load_config(args.config)
    if args.cache is not None:
        config["data"]["cache"] = args.cache
    train.train(
        config,
        strategy=args.strategy,
        logdir=args.logdir,
        profile_steps=profile_steps,
    )
    return 0


def _run_demo(args):
    from tfrestore import demo

    if args.minutes <= 0:
        raise UsageError(f"--minutes must be > 0, got {args.minutes}")
    return demo.run(model_name=args.model, minutes=args.minutes, output=args.output)


COMMANDS = {
    "train": _run_train,
    "evaluate": _run_evaluate,
    "restore": _run_restore,
    "export": _run_export,
    "convert": _run_convert,
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
    with native_stderr_captured():
        import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_logging.set_verbosity(absl_logging.ERROR)


def use_bfc_cpu_allocator():
    """Makes TensorFlow keep its CPU memory in a pool (its BFC allocator) instead of taking
    each tensor from malloc and giving it back.

    TensorFlow reads `TF_CPU_ALLOCATOR_USE_BFC` when it first creates its CPU allocator. Where
    oneDNN is on (TensorFlow's default on CPUs with AVX-512 and the like) it pools already;
    elsewhere (AVX2-only CPUs) every large tensor is a fresh mmap whose pages fault in at
    first touch and go back at free. A DeblurGAN training step at 256x256 took 1.0 million
    page faults and 3.6 s of kernel time that way on a 2-core AMD EPYC, 13.9 s against
    10.5 s pooled (README, "Training speed"). A value the user set is kept. Does nothing when
    TensorFlow is loaded already (`main` called from a Python program): its allocator may
    exist, and that program's settings are its own.
    """
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")


def _quiet_native_exit():
    """Keeps native libraries' log lines at process exit off the terminal: LiteRT's global
    accelerator registry logs each accelerator it destroys ("INFO: ... DestroyAccelerator")
    from a static destructor, after Python has finished. Registered first, this runs after
    every other exit handler, so their output still shows. Like `_quiet_tensorflow`, only for
    the `tfrestore` process itself."""
    if "tensorflow" in sys.modules:
        return

    def silence():
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    atexit.register(silence)


def exit_status(error):
    """The exit status of an exception that ends a command (`EXIT_STATUSES`), or None for one
    that is not ours to report (a bug: its traceback is shown)."""
    for module, name, status in EXIT_STATUSES:
        kind = sys.modules.get(module)
        for attribute in name.split("."):
            kind = getattr(kind, attribute, None)
        if kind is not None and isinstance(error, kind):
            return status
    return None


def error_line(command, error, args):
    """The one line that reports `error`, which ended `command` (`args` are its arguments)."""
    if isinstance(error, KeyboardInterrupt):
        hint = RESUME_HINTS.get(command)
        if command == "restore" and args.overwrite:
            hint = "run it again without --overwrite to go on: images already restored are skipped"
        return f"tfrestore {command}: interrupted" + (f"; {hint}" if hint else "")
    if isinstance(error, UsageError):
        return f"tfrestore {command}: error: {error}"
    from tfrestore.restore import error_reason

    return f"tfrestore {command}: error: {error_reason(error)}"


def main(argv=None):
    """Runs the `tfrestore` command on `argv` (default: the process arguments).

    Args:
        argv: list of str, the arguments after `tfrestore`, e.g. ["evaluate", "m.keras", "d/"].

    Returns:
        int, the exit status: 0 done, 1 some files or an export check failed, 2 the command
        cannot run as given, 130 interrupted (see `EXIT_STATUSES`).
    """
    args = _parser().parse_args(argv)
    # Keras warns that tf.data inputs ignore fit's `shuffle`; ours are shuffled by the pipeline.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    use_bfc_cpu_allocator()
    try:
        if not args.verbose:
            _quiet_native_exit()
            _quiet_tensorflow()  # importing TensorFlow takes seconds: Ctrl-C may come here
        return COMMANDS[args.command](args)
    except BaseException as error:
        status = exit_status(error)
        if status is None or args.debug:
            raise
        if isinstance(error, KeyboardInterrupt) and sys.stdout.isatty():
            print(file=sys.stdout)  # end the progress bar's line
        print(error_line(args.command, error, args), file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
