"""Inpainting masks stored as image files: reading them, and finding the mask of each image.

A mask file is read as gray (BT.601 luma, alpha ignored); pixels whose gray value is > 0.5 are
missing. Masks go with images either one file per image, in order, or as one folder of masks
named like the images (`photos/a.jpg` <-> `masks/a.png`, searched recursively). Returned masks
are float32 [H, W, 1] with 1 = missing pixel, as everywhere in tfrestore.
"""

import os

import numpy as np

from tfrestore.data.io import list_images, read_image

__all__ = ["GRAY_WEIGHTS", "MaskFolder", "match_mask_files", "read_mask"]

# ITU-R BT.601 luma, as PIL's convert("L"): how a colour mask file is read as gray.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


class MaskFolder:
    """The masks of one folder (searched recursively), found by the stem of an image's name.

    Args:
        folder: str, a folder of mask images; `a.png` is the mask of any image named `a.*`.

    Example:
        >>> mask_for = MaskFolder("masks/")
        >>> mask_for("photos/sub/a.jpg")  # "masks/a.png"; ValueError if none or several
    """

    def __init__(self, folder):
        self.folder = folder
        self.by_stem = {}
        for name in list_images(folder):
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


def match_mask_files(masks, images, name="masks"):
    """The mask file of each image: `masks` is one folder, or one mask file per image.

    With one folder, an image without exactly one mask there gets the ValueError that says why
    in its place (so the other images can still be processed); any other problem is raised.

    Args:
        masks: list of str, mask files in the order of `images`, or a list with one folder
            (see `MaskFolder`); None or empty: no masks.
        images: list of str, the image files.
        name: str (default "masks"), what error messages call `masks` (the CLI says "--mask").

    Returns:
        None without masks; else a list as long as `images` of mask paths (or ValueErrors).

    Raises:
        FileNotFoundError: a mask file does not exist.
        ValueError: a folder given among files, or a number of files other than one per image.

    Example:
        >>> match_mask_files(["masks/"], ["in/a.jpg", "in/b.jpg"])
        ['masks/a.png', 'masks/b.png']
    """
    if not masks:
        return None
    if len(masks) == 1 and os.path.isdir(masks[0]):
        folder = MaskFolder(masks[0])
        found = []
        for path in images:
            try:
                found.append(folder(path))
            except ValueError as error:
                found.append(error)
        return found
    for path in masks:
        if os.path.isdir(path):
            raise ValueError(
                f"{name} takes mask files or one folder, got folder {path} among others"
            )
        if not os.path.exists(path):
            raise FileNotFoundError(f"mask not found: {path}")
    if len(masks) != len(images):
        raise ValueError(
            f"{name} got {len(masks)} file(s) for {len(images)} input image(s); give one mask per "
            "image in input order, or one folder of masks named like the inputs"
        )
    return list(masks)


def read_mask(path, size=None):
    """A mask file as float32 [H, W, 1], 1 where its gray value is > 0.5 (missing).

    Args:
        path: str, an image file; colour is read as gray (BT.601 luma), alpha is ignored.
        size: (height, width) the mask must have, or None (default: any).

    Returns:
        float32 numpy [H, W, 1] of 0 and 1.

    Raises:
        ValueError: the file cannot be read (`ImageReadError`), or its size is not `size`
            (both sizes named).

    Example:
        >>> mask = read_mask("masks/a.png", image.shape[:2])
    """
    gray = read_image(path) @ np.asarray(GRAY_WEIGHTS, np.float32)
    if size is not None and gray.shape != tuple(size):
        raise ValueError(
            f"mask {path} is {gray.shape[1]}x{gray.shape[0]} but the image is "
            f"{size[1]}x{size[0]} (width x height)"
        )
    return (gray > 0.5).astype(np.float32)[:, :, None]
