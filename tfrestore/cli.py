"""The `tfrestore` command: train, evaluate, restore, export, demo.

Usage errors exit with status 2 and one line saying what was wrong (`--debug` shows the
traceback); `restore` exits 1 when some files failed, after processing the others.

Inpainting models (those whose restorer takes a `mask`) need a mask per image: `restore
--mask` takes mask files in input order or one folder of masks named like the inputs
(`photo.jpg` <-> `masks/photo.png`), and `evaluate` takes a DATA folder with `images/` (the
complete photos) and `masks/`. Mask files are read as gray; pixels > 0.5 are missing.
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
# Folder names `evaluate` recognises inside DATA for inpainting models, as (images, masks).
INPAINTING_LAYOUTS = (("images", "masks"), ("image", "mask"))
QUANTIZE_CHOICES = ("float16", "dynamic", "int8")
# ITU-R BT.601 luma, as PIL's convert("L"): how a colour mask file is read as gray.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)


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
        "data",
        help="folder with degraded/ and target/ (or blurred/ sharp/, low/ high/, ...); for "
        "inpainting models images/ and masks/ (PSNR and L1 inside the holes)",
    )

    restore = commands.add_parser("restore", help="restore image files or folders")
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
    demo.add_argument("--output", help="output folder (default outputs/demo[/MODEL])")
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


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


class MaskFolder:
    """The masks of one folder (searched recursively), found by the stem of an image's name."""

    def __init__(self, folder):
        from tfrestore import data

        self.folder = folder
        self.by_stem = {}
        for name in data.list_images(folder):
            self.by_stem.setdefault(_stem(name), []).append(os.path.join(folder, name))

    def __call__(self, image_path):
        """The mask file for `image_path`; ValueError if there is none or several."""
        found = self.by_stem.get(_stem(image_path), [])
        if not found:
            raise ValueError(
                f"no mask for it in {self.folder} (expected {_stem(image_path)}.png or another "
                "image file with that name)"
            )
        if len(found) > 1:
            raise ValueError(f"several masks match its name: {', '.join(found)}")
        return found[0]


def _mask_files(masks, files):
    """The mask file of each input from `--mask` (None without it), or the ValueError that
    says why it has none; UsageError for a missing mask path or a count that does not match.
    """
    if not masks:
        return None
    if len(masks) == 1 and os.path.isdir(masks[0]):
        folder = MaskFolder(masks[0])
        found = []
        for path in files:
            try:
                found.append(folder(path))
            except ValueError as error:
                found.append(error)
        return found
    for path in masks:
        if os.path.isdir(path):
            raise UsageError(
                f"--mask takes mask files or one folder, got folder {path} among others"
            )
        if not os.path.exists(path):
            raise UsageError(f"mask not found: {path}")
    if len(masks) != len(files):
        raise UsageError(
            f"--mask got {len(masks)} file(s) for {len(files)} input image(s); give one mask per "
            "image in input order, or one folder of masks named like the inputs"
        )
    return list(masks)


def read_mask(path, size=None):
    """A mask file as float32 [H, W, 1], 1 where its gray value is > 0.5 (missing).

    Args:
        path: image file; colour is read as gray (BT.601 luma), alpha is ignored.
        size: (height, width) the mask must have, or None.

    Raises:
        ValueError: the file cannot be read, or its size is not `size` (both sizes named).
    """
    import numpy as np

    from tfrestore import data

    gray = data.read_image(path) @ np.asarray(GRAY_WEIGHTS, np.float32)
    if size is not None and gray.shape != tuple(size):
        raise ValueError(
            f"mask {path} is {gray.shape[1]}x{gray.shape[0]} but the image is "
            f"{size[1]}x{size[0]} (width x height)"
        )
    return (gray > 0.5).astype(np.float32)[:, :, None]


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


def _check_holes(restorer, mask):
    """ValueError when the model cannot fill all of `mask` ([1, H, W, 1]).

    Only Keras models can tell (the Context Encoder's `hole_outside_center`); exported graphs
    skip the check and leave such pixels unfilled.
    """
    outside = getattr(getattr(restorer, "model", None), "hole_outside_center", None)
    count = 0 if outside is None else int(outside(mask)[0])
    if count:
        raise ValueError(
            f"{count} hole pixels fall outside the region the model fills "
            "(the Context Encoder fills holes that fit in 64x64)"
        )


def _run_restore(args):
    import keras

    from tfrestore import data

    files = _expand_inputs(args.inputs)
    masks = _mask_files(args.mask, files)
    restorer = _load(args.model)
    _check_mask_use(restorer, args.model, masks is not None, "--mask")
    failed = 0
    progress = keras.utils.Progbar(len(files), unit_name="image") if len(files) > 1 else None
    for index, path in enumerate(files):
        try:
            image = data.read_image(path)
            inputs = {"image": image[None]}
            if masks is not None:
                if isinstance(masks[index], ValueError):
                    raise masks[index]
                inputs["mask"] = read_mask(masks[index], image.shape[:2])[None]
                _check_holes(restorer, inputs["mask"])
            restored = restorer(**inputs)["restored"][0]
            data.write_image(os.path.join(args.output, f"{_stem(path)}.png"), restored)
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


def _inpainting_dirs(folder):
    for images, masks in INPAINTING_LAYOUTS:
        pair = os.path.join(folder, images), os.path.join(folder, masks)
        if all(os.path.isdir(path) for path in pair):
            return pair
    names = ", ".join(f"{a}/+{b}/" for a, b in INPAINTING_LAYOUTS)
    raise UsageError(f"{folder} has no image and mask sub-folders; expected one of: {names}")


def _run_evaluate(args):
    import numpy as np

    from tfrestore import data, metrics

    if not os.path.isdir(args.data):
        raise UsageError(f"data folder not found: {args.data}")
    restorer = _load(args.model)
    if "mask" in restorer.inputs:
        return _evaluate_inpainting(restorer, args)
    degraded_dir, target_dir = _paired_dirs(args.data)
    try:
        pairs = data.paired_files(degraded_dir, target_dir)
    except ValueError as error:
        raise UsageError(str(error)) from None
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


def _evaluate_inpainting(restorer, args):
    """PSNR and L1 inside the holes, of the mean-filled input and of the restored image."""
    import numpy as np

    from tfrestore import data
    from tfrestore.metrics import hole_scores

    images_dir, masks_dir = _inpainting_dirs(args.data)
    mask_for = MaskFolder(masks_dir)
    names = data.list_images(images_dir)
    if not names:
        raise UsageError(f"no images found in {images_dir}")
    scores = {"psnr_input": [], "l1_input": [], "psnr": [], "l1": []}
    hole_fraction = []
    for name in names:
        path = os.path.join(images_dir, name)
        try:
            target = data.read_image(path)[None]
            mask = read_mask(mask_for(path), target.shape[1:3])[None]
            if not mask.any():
                raise ValueError(f"mask {mask_for(path)} marks no pixel as missing")
            _check_holes(restorer, mask)
        except ValueError as error:
            raise UsageError(f"{path}: {error}") from None
        degraded = data.fill_holes(target, mask)  # what the model sees: the dataset mean
        restored = restorer(image=degraded, mask=mask)["restored"]
        for suffix, images in (("_input", degraded), ("", restored)):
            psnr, l1 = hole_scores(target, images, mask)
            scores[f"psnr{suffix}"].append(float(psnr[0]))
            scores[f"l1{suffix}"].append(float(l1[0]))
        hole_fraction.append(float(mask.mean()))
    means = {name: float(np.mean(values)) for name, values in scores.items()}
    print(
        f"{len(names)} images with masks from {args.data} "
        f"(holes: {100 * np.mean(hole_fraction):.1f}% of the pixels); inside the holes:"
    )
    print(f"input    PSNR {means['psnr_input']:.2f} dB  L1 {means['l1_input']:.4f}  (mean-filled)")
    print(f"restored PSNR {means['psnr']:.2f} dB  L1 {means['l1']:.4f}")
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
