"""The `tfrestore` command: train, evaluate, restore, export, demo, prepare-structure.

Usage errors exit with status 2 and one line saying what was wrong (`--debug` shows the
traceback); `restore` and `prepare-structure` exit 1 when some files failed, after processing
the others.

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
# LOL's folders (Wei et al., BMVC 2018): `evaluate` on an EnlightenGAN model also takes a
# plain folder of low-light images, so it reports one of these without the other as an error.
LOW_LIGHT_LAYOUT = ("low", "high")
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
    train.add_argument(
        "--strategy", default="default", choices=("default", "mirrored", "multiworker")
    )
    train.add_argument("--logdir", help="log/checkpoint directory (same one again resumes)")

    evaluate = commands.add_parser("evaluate", help="PSNR/SSIM on a paired folder")
    evaluate.add_argument("model", help=".keras file, SavedModel folder or .tflite file")
    evaluate.add_argument(
        "data",
        help="folder with degraded/ and target/ (or blurred/ sharp/, low/ high/, ...); for "
        "inpainting models images/ and masks/ (PSNR and L1 inside the holes); for an "
        "EnlightenGAN .keras model low/ and high/ or a folder of low-light images (adds mean "
        "brightness and colorfulness)",
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


def _check_inputs(restorer, image, mask=None):
    """ValueError when the model cannot take this image (and mask), [1, H, W, C] each: the
    Keras model's `check_inputs` (e.g. MEDFE's minimum size, the Context Encoder's hole
    extent). Exported graphs cannot tell and skip it."""
    model = getattr(restorer, "model", None)
    if model is not None:
        model.check_inputs(image if mask is None else (image, mask))


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
    masks = _mask_files(args.mask, files)
    restorer = _load(args.model)
    _check_mask_use(restorer, args.model, masks is not None, "--mask")

    def restore(index, path):
        image = data.read_image(path)
        inputs = {"image": image[None]}
        if masks is not None:
            if isinstance(masks[index], ValueError):
                raise masks[index]
            inputs["mask"] = read_mask(masks[index], image.shape[:2])[None]
        _check_inputs(restorer, **inputs)
        restored = restorer(**inputs)["restored"][0]
        data.write_image(os.path.join(args.output, f"{_stem(path)}.png"), restored)

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


def _find_layout(folder, layouts):
    """The first (a, b) of `layouts` whose two sub-folders exist in `folder`, as paths; or None."""
    for first, second in layouts:
        pair = os.path.join(folder, first), os.path.join(folder, second)
        if all(os.path.isdir(path) for path in pair):
            return pair
    return None


def _layout_names(layouts):
    return ", ".join(f"{a}/+{b}/" for a, b in layouts)


def _paired_dirs(folder):
    if not os.path.isdir(folder):
        raise UsageError(f"data folder not found: {folder}")
    pair = _find_layout(folder, PAIRED_LAYOUTS)
    if pair is None:
        raise UsageError(
            f"{folder} has no paired sub-folders; expected one of: {_layout_names(PAIRED_LAYOUTS)}"
        )
    return pair


def _inpainting_dirs(folder):
    pair = _find_layout(folder, INPAINTING_LAYOUTS)
    if pair is None:
        raise UsageError(
            f"{folder} has no image and mask sub-folders; expected one of: "
            f"{_layout_names(INPAINTING_LAYOUTS)}"
        )
    return pair


def _low_light_dirs(folder):
    """(low, high) sub-folders of paired low-light data (LOL's low/ + high/, or another of
    `PAIRED_LAYOUTS`), or None for a plain folder of low-light images.

    Raises:
        UsageError: only one of low/ and high/ exists (a half pair is not a plain folder).
    """
    pair = _find_layout(folder, PAIRED_LAYOUTS)
    if pair is not None:
        return pair
    low, high = LOW_LIGHT_LAYOUT
    present = [name for name in (low, high) if os.path.isdir(os.path.join(folder, name))]
    if present:
        (found,) = present
        missing = high if found == low else low
        raise UsageError(
            f"{folder} has {found}/ but no {missing}/: paired low-light data needs both "
            f"{low}/ and {high}/ (images matched by file name); for low-light images without "
            "targets give a folder of images only"
        )
    return None


def _run_evaluate(args):
    if not os.path.isdir(args.data):
        raise UsageError(f"data folder not found: {args.data}")
    restorer = _load(args.model)
    if "mask" in restorer.inputs:
        return _evaluate_inpainting(restorer, args)
    if _is_low_light(restorer):
        return _evaluate_low_light(restorer, args)
    pairs = _pairs(*_paired_dirs(args.data))
    print(f"{len(pairs)} pairs from {args.data}")
    _print_scores(_mean_scores(restorer, pairs), {"input": "input", "restored": "restored"})
    return 0


def _is_low_light(restorer):
    """True for an EnlightenGAN `.keras` model (SavedModel and TFLite files do not say which
    method they were exported from, so they get the paired evaluation)."""
    from tfrestore.models import EnlightenGAN

    return isinstance(getattr(restorer, "model", None), EnlightenGAN)


def _pairs(degraded_dir, target_dir):
    from tfrestore import data

    try:
        return data.paired_files(degraded_dir, target_dir)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _mean_scores(restorer, pairs, no_reference=False):
    """Scores of the input and restored images, averaged over `pairs`.

    Args:
        restorer: a single-input `Restorer`.
        pairs: (degraded path, target path or None) tuples.
        no_reference: bool, also the mean brightness and colorfulness of every image (the
            targets' too, when given).

    Returns:
        {(image, metric): mean} with image "input", "restored" or "target" and metric "psnr",
        "ssim" (against the target, when given), "brightness" or "colorfulness".

    Raises:
        UsageError: an unreadable image, or a target whose size differs from its input's.
    """
    import numpy as np

    from tfrestore import data, metrics
    from tfrestore.data.paired import size_mismatch

    scores = {}
    for degraded_path, target_path in pairs:
        try:
            degraded = data.read_image(degraded_path)[None]
            target = None if target_path is None else data.read_image(target_path)[None]
        except data.ImageReadError as error:
            raise UsageError(str(error)) from None
        if target is not None and target.shape != degraded.shape:
            sizes = [(image.shape[2], image.shape[1]) for image in (degraded, target)]
            mismatch = size_mismatch((degraded_path, sizes[0], target_path, sizes[1]))
            raise UsageError(f"{mismatch} (width x height)")
        images = {"input": degraded, "restored": restorer(image=degraded)["restored"]}
        if target is not None:
            images["target"] = target
        for name, batch in images.items():
            reference = None if name == "target" else target
            for metric, value in metrics.image_scores(batch, reference, no_reference).items():
                scores.setdefault((name, metric), []).append(float(value[0]))
    return {key: float(np.mean(values)) for key, values in scores.items()}


# How `_print_scores` shows each metric, in this order.
SCORE_FORMATS = {
    "psnr": "PSNR {:.2f} dB",
    "ssim": "SSIM {:.4f}",
    "brightness": "brightness {:.4f}",
    "colorfulness": "colorfulness {:.2f}",
}


def _print_scores(means, labels):
    """One line per image of `labels` ({image: label}) with its metrics from `_mean_scores`."""
    for image, label in labels.items():
        cells = [
            text.format(means[image, metric])
            for metric, text in SCORE_FORMATS.items()
            if (image, metric) in means
        ]
        print(f"{label:<8} {'  '.join(cells)}")


def _evaluate_low_light(restorer, args):
    """Low-light enhancement: PSNR/SSIM against the targets when DATA holds pairs (LOL's low/
    and high/), and the no-reference mean brightness and colorfulness of every image."""
    from tfrestore import data

    folders = _low_light_dirs(args.data)
    if folders is not None:
        pairs = _pairs(*folders)
        input_name, target_name = (os.path.basename(folder) for folder in folders)
        print(f"{len(pairs)} pairs from {args.data} ({input_name}/ vs {target_name}/)")
    else:
        names = data.list_images(args.data)
        if not names:
            raise UsageError(
                f"no images found in {args.data}; expected low-light images, or low/ and high/ "
                "sub-folders of images paired by file name"
            )
        pairs = [(os.path.join(args.data, name), None) for name in names]
        print(f"{len(pairs)} low-light images from {args.data} (no targets: no-reference scores)")
    means = _mean_scores(restorer, pairs, no_reference=True)
    labels = {"input": "input", "restored": "enhanced"}
    _print_scores(means, labels if folders is None else {**labels, "target": target_name})
    print(
        "brightness: mean BT.601 luma in [0, 1]; colorfulness: Hasler and Suesstrunk (2003), "
        "0-255 scale"
    )
    return 0


def _evaluate_inpainting(restorer, args):
    """PSNR and L1 inside the holes, of the mean-filled input and of the restored image."""
    import numpy as np

    from tfrestore import data, layers
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
            mask_path = mask_for(path)
            mask = read_mask(mask_path, target.shape[1:3])[None]
            if not mask.any():
                raise ValueError(f"mask {mask_path} marks no pixel as missing")
            _check_inputs(restorer, target, mask)
        except ValueError as error:
            raise UsageError(f"{path}: {error}") from None
        degraded = layers.fill_holes(target, mask)  # what the model sees: the dataset mean
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
    "prepare-structure": _run_prepare_structure,
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
