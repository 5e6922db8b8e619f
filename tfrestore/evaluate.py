"""Evaluating a restoration model on a folder of test images: mean PSNR, SSIM and more.

`evaluate(model, data_dir)` picks the evaluation from the model and what the folder holds:

- an inpainting model (one that takes a `mask`): `data_dir` has the complete photos in
  `images/` and their masks in `masks/` (`images/a.jpg` <-> `masks/a.png`, see
  `tfrestore.data.MaskFolder`); PSNR and L1 inside the holes, of the input filled with the
  dataset mean (what the model sees) and of the restored image;
- an EnlightenGAN `.keras` model: LOL's `low/` + `high/` (or another paired layout) adds PSNR
  and SSIM against the targets; a plain folder of low-light images gets the no-reference
  scores only (mean brightness and colorfulness, reported for every image either way);
- any other model: paired sub-folders (`degraded/` + `target/`, `blurred/` + `sharp/`, ... see
  `PAIRED_LAYOUTS`) matched by file name; PSNR and SSIM of the input and the restored image.

Example:
    >>> report = evaluate("deblurgan.keras", "data/test")  # data/test/{blurred,sharp}/
    >>> report.scores["restored"]["psnr"]
    27.31
    >>> print(report)  # what `tfrestore evaluate` prints
"""

import dataclasses
import os

import numpy as np

from tfrestore import data, layers, metrics
from tfrestore.data.paired import size_mismatch
from tfrestore.inference import Restorer, load_restorer
from tfrestore.models import EnlightenGAN
from tfrestore.restore import restore_image

__all__ = [
    "INPAINTING_LAYOUTS",
    "LOW_LIGHT_LAYOUT",
    "PAIRED_LAYOUTS",
    "EvaluationError",
    "EvaluationReport",
    "evaluate",
]

# Folder names recognised inside the data folder, as (degraded, target) pairs.
PAIRED_LAYOUTS = (
    ("degraded", "target"),
    ("blurred", "sharp"),
    ("blur", "sharp"),
    ("input", "target"),
    ("low", "high"),
    ("data", "gt"),
)
# LOL's folders (Wei et al., BMVC 2018): an EnlightenGAN model also takes a plain folder of
# low-light images, so one of these without the other is an error rather than a plain folder.
LOW_LIGHT_LAYOUT = ("low", "high")
# Folder names recognised inside the data folder for inpainting models, as (images, masks).
INPAINTING_LAYOUTS = (("images", "masks"), ("image", "mask"))

# How `EvaluationReport` prints each metric, in this order.
SCORE_FORMATS = {
    "psnr": "PSNR {:.2f} dB",
    "ssim": "SSIM {:.4f}",
    "l1": "L1 {:.4f}",
    "brightness": "brightness {:.4f}",
    "colorfulness": "colorfulness {:.2f}",
}


class EvaluationError(ValueError):
    """Test data that cannot be evaluated; the message names the folder or file and why."""


@dataclasses.dataclass
class EvaluationReport:
    """Mean scores of a model on a folder of test images; `str()` gives the printed report.

    Attributes:
        kind: "paired", "low_light" or "inpainting".
        data_dir: str, the folder evaluated.
        count: int, the number of pairs (or images) evaluated.
        scores: {image: {metric: mean over the images}}. Images are "input" (the degraded
            image; for inpainting the mean-filled one), "restored" and, for low-light pairs,
            "target". Metrics: "psnr" (dB) and "ssim" against the target; "brightness"
            (mean BT.601 luma in [0, 1]) and "colorfulness" (Hasler and Suesstrunk 2003,
            0-255 scale) for low-light data; for inpainting "psnr" and "l1" inside the holes.
        folders: (degraded, target) sub-folders the pairs came from, (images, masks) for
            inpainting, or None for a plain folder of low-light images.
        hole_fraction: float, the mean fraction of missing pixels (inpainting; else None).
    """

    kind: str
    data_dir: str
    count: int
    scores: dict
    folders: tuple | None = None
    hole_fraction: float | None = None

    def __str__(self):
        labels = {"input": "input", "restored": "restored"}
        footer = []
        if self.kind == "paired":
            header = f"{self.count} pairs from {self.data_dir}"
        elif self.kind == "inpainting":
            header = (
                f"{self.count} images with masks from {self.data_dir} "
                f"(holes: {100 * self.hole_fraction:.1f}% of the pixels); inside the holes:"
            )
        else:
            labels["restored"] = "enhanced"
            if self.folders is None:
                header = (
                    f"{self.count} low-light images from {self.data_dir} "
                    "(no targets: no-reference scores)"
                )
            else:
                input_name, target_name = (os.path.basename(folder) for folder in self.folders)
                header = (
                    f"{self.count} pairs from {self.data_dir} ({input_name}/ vs {target_name}/)"
                )
                labels["target"] = target_name
            footer = [
                "brightness: mean BT.601 luma in [0, 1]; colorfulness: Hasler and Suesstrunk "
                "(2003), 0-255 scale"
            ]
        lines = [header]
        for image, label in labels.items():
            scores = self.scores[image]
            cells = [
                text.format(scores[name]) for name, text in SCORE_FORMATS.items() if name in scores
            ]
            lines.append(f"{label:<8} {'  '.join(cells)}")
        if self.kind == "inpainting":
            lines[1] += "  (mean-filled)"
        return "\n".join(lines + footer)


def evaluate(model, data_dir):
    """Mean scores of `model` on the test images of `data_dir` (see the module docstring).

    Images are evaluated one at a time at their own size, so sizes may differ between pairs.

    Args:
        model: a `.keras` file, SavedModel folder or `.tflite` file (str or path-like), a
            Keras model in memory, or a `tfrestore.inference.Restorer`. SavedModel and
            TFLite files do not record their method, so a low-light model in those forms
            gets the plain paired evaluation.
        data_dir: str, the folder of test data, laid out as the model's kind needs.

    Returns:
        An `EvaluationReport`.

    Raises:
        EvaluationError: `data_dir` is missing or has no recognised layout; unmatched,
            unreadable or differently sized files; a missing or empty mask; an image the
            model cannot take (e.g. smaller than MEDFE's minimum, or than its padding). The
            message names them.
        FileNotFoundError, ValueError: `model` is a path that cannot be opened
            (`tfrestore.inference.load_restorer`; `ModelLoadError` for a damaged file).

    Example:
        >>> report = evaluate("out/model.tflite", "data/test")
        >>> report.scores["input"]["psnr"], report.scores["restored"]["psnr"]
    """
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise EvaluationError(f"data folder not found: {data_dir}")
    restorer = model if isinstance(model, Restorer) else load_restorer(model)
    if "mask" in restorer.inputs:
        return _evaluate_inpainting(restorer, data_dir)
    if isinstance(getattr(restorer, "model", None), EnlightenGAN):
        return _evaluate_low_light(restorer, data_dir)
    folders = _paired_dirs(data_dir)
    pairs = _pairs(*folders)
    scores = _mean_scores(restorer, pairs)
    return EvaluationReport("paired", data_dir, len(pairs), scores, folders)


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
    pair = _find_layout(folder, PAIRED_LAYOUTS)
    if pair is None:
        raise EvaluationError(
            f"{folder} has no paired sub-folders; expected one of: {_layout_names(PAIRED_LAYOUTS)}"
        )
    return pair


def _inpainting_dirs(folder):
    pair = _find_layout(folder, INPAINTING_LAYOUTS)
    if pair is None:
        raise EvaluationError(
            f"{folder} has no image and mask sub-folders; expected one of: "
            f"{_layout_names(INPAINTING_LAYOUTS)}"
        )
    return pair


def _low_light_dirs(folder):
    """(low, high) sub-folders of paired low-light data (LOL's low/ + high/, or another of
    `PAIRED_LAYOUTS`), or None for a plain folder of low-light images.

    Raises:
        EvaluationError: only one of low/ and high/ exists (a half pair is not a plain folder).
    """
    pair = _find_layout(folder, PAIRED_LAYOUTS)
    if pair is not None:
        return pair
    low, high = LOW_LIGHT_LAYOUT
    present = [name for name in (low, high) if os.path.isdir(os.path.join(folder, name))]
    if present:
        (found,) = present
        missing = high if found == low else low
        raise EvaluationError(
            f"{folder} has {found}/ but no {missing}/: paired low-light data needs both "
            f"{low}/ and {high}/ (images matched by file name); for low-light images without "
            "targets give a folder of images only"
        )
    return None


def _pairs(degraded_dir, target_dir):
    try:
        return data.paired_files(degraded_dir, target_dir)
    except ValueError as error:
        raise EvaluationError(str(error)) from None


def _mean_scores(restorer, pairs, no_reference=False):
    """Scores of the input and restored images (and the targets), averaged over `pairs`.

    Args:
        restorer: a single-input `Restorer`.
        pairs: (degraded path, target path or None) tuples.
        no_reference: bool, also the mean brightness and colorfulness of every image (the
            targets' too, when given).

    Returns:
        {image: {metric: mean}}, as `EvaluationReport.scores`.

    Raises:
        EvaluationError: an unreadable image, a target whose size differs from its input's,
            or an image the model cannot take.
    """
    scores = {}
    for degraded_path, target_path in pairs:
        try:
            degraded = data.read_image(degraded_path)[None]
            target = None if target_path is None else data.read_image(target_path)[None]
        except data.ImageReadError as error:
            raise EvaluationError(str(error)) from None
        if target is not None and target.shape != degraded.shape:
            sizes = [(image.shape[2], image.shape[1]) for image in (degraded, target)]
            mismatch = size_mismatch((degraded_path, sizes[0], target_path, sizes[1]))
            raise EvaluationError(f"{mismatch} (width x height)")
        try:
            restored = restore_image(restorer, degraded[0])[None]
        except ValueError as error:  # outside the model's limits, or the model fails on it
            raise EvaluationError(f"{degraded_path}: {error}") from None
        images = {"input": degraded, "restored": restored}
        if target is not None:
            images["target"] = target
        for name, batch in images.items():
            reference = None if name == "target" else target
            for metric, value in metrics.image_scores(batch, reference, no_reference).items():
                scores.setdefault(name, {}).setdefault(metric, []).append(float(value[0]))
    return _means(scores)


def _means(scores):
    """{image: {metric: [values]}} -> {image: {metric: mean}}."""
    return {
        image: {metric: float(np.mean(values)) for metric, values in by_metric.items()}
        for image, by_metric in scores.items()
    }


def _evaluate_low_light(restorer, data_dir):
    """Low-light enhancement: PSNR/SSIM against the targets when the folder holds pairs (LOL's
    low/ and high/), and the no-reference mean brightness and colorfulness of every image."""
    folders = _low_light_dirs(data_dir)
    if folders is not None:
        pairs = _pairs(*folders)
    else:
        names = data.list_images(data_dir)
        if not names:
            raise EvaluationError(
                f"no images found in {data_dir}; expected low-light images, or low/ and high/ "
                "sub-folders of images paired by file name"
            )
        pairs = [(os.path.join(data_dir, name), None) for name in names]
    scores = _mean_scores(restorer, pairs, no_reference=True)
    return EvaluationReport("low_light", data_dir, len(pairs), scores, folders)


def _evaluate_inpainting(restorer, data_dir):
    """PSNR and L1 inside the holes, of the mean-filled input and of the restored image."""
    folders = _inpainting_dirs(data_dir)
    images_dir, masks_dir = folders
    mask_for = data.MaskFolder(masks_dir)
    names = data.list_images(images_dir)
    if not names:
        raise EvaluationError(f"no images found in {images_dir}")
    scores = {"input": {"psnr": [], "l1": []}, "restored": {"psnr": [], "l1": []}}
    hole_fraction = []
    for name in names:
        path = os.path.join(images_dir, name)
        try:
            target = data.read_image(path)[None]
            mask_path = mask_for(path)
            mask = data.read_mask(mask_path, target.shape[1:3])[None]
            if not mask.any():
                raise ValueError(f"mask {mask_path} marks no pixel as missing")
            degraded = layers.fill_holes(target, mask)  # what the model sees: the dataset mean
            restored = restore_image(restorer, degraded[0], mask[0])[None]
        except ValueError as error:
            raise EvaluationError(f"{path}: {error}") from None
        for image, batch in (("input", degraded), ("restored", restored)):
            psnr, l1 = metrics.hole_scores(target, batch, mask)
            scores[image]["psnr"].append(float(psnr[0]))
            scores[image]["l1"].append(float(l1[0]))
        hole_fraction.append(float(mask.mean()))
    return EvaluationReport(
        "inpainting", data_dir, len(names), _means(scores), folders, float(np.mean(hole_fraction))
    )
