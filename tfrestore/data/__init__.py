"""Image I/O, paired-folder pipelines, degradations and sample images.

Images are float32 RGB in [0, 1], HWC (NHWC when batched), everywhere in this package.
"""

from tfrestore.data.augment import crop_and_flip
from tfrestore.data.inpainting import inpainting_dataset
from tfrestore.data.io import (
    IMAGE_EXTENSIONS,
    WRITE_FORMATS,
    ImageReadError,
    ImageTooLargeError,
    Photo,
    check_quality,
    decode_image_tensor,
    image_size,
    list_images,
    pixel_limit,
    read_image,
    read_photo,
    upright_reader,
    write_image,
)
from tfrestore.data.low_light import (
    synthetic_low_light,
    synthetic_low_light_dataset,
    unpaired_dataset,
)
from tfrestore.data.mask_files import GRAY_WEIGHTS, MaskFolder, match_mask_files, read_mask
from tfrestore.data.masks import (
    MASK_KINDS,
    center_mask,
    free_form_mask,
    mask_fraction,
    random_mask,
    random_rectangle_mask,
    random_region_mask,
)
from tfrestore.data.motion_blur import (
    blur_image,
    blur_image_tensor,
    center_psf,
    motion_blur_dataset,
    random_motion_blur,
    random_psf,
    random_trajectory,
    trajectory_psfs,
)
from tfrestore.data.paired import (
    center_crop_pair,
    paired_dataset,
    paired_files,
    random_crop_pair,
    random_flip_pair,
)
from tfrestore.data.raindrops import (
    raindrop_dataset,
    raindrop_files,
    raindrop_key,
    synthetic_raindrop_dataset,
    synthetic_raindrops,
)
from tfrestore.data.samples import SAMPLE_NAMES, clock_motion, sample_images
from tfrestore.data.structure import rtv_smooth

__all__ = [
    "GRAY_WEIGHTS",
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "ImageTooLargeError",
    "MASK_KINDS",
    "MaskFolder",
    "Photo",
    "SAMPLE_NAMES",
    "WRITE_FORMATS",
    "blur_image",
    "blur_image_tensor",
    "center_psf",
    "center_crop_pair",
    "center_mask",
    "check_quality",
    "clock_motion",
    "crop_and_flip",
    "decode_image_tensor",
    "free_form_mask",
    "image_size",
    "inpainting_dataset",
    "list_images",
    "mask_fraction",
    "match_mask_files",
    "motion_blur_dataset",
    "paired_dataset",
    "paired_files",
    "pixel_limit",
    "raindrop_dataset",
    "raindrop_files",
    "raindrop_key",
    "random_crop_pair",
    "random_flip_pair",
    "random_mask",
    "random_motion_blur",
    "random_psf",
    "random_rectangle_mask",
    "random_region_mask",
    "random_trajectory",
    "read_image",
    "read_mask",
    "read_photo",
    "rtv_smooth",
    "sample_images",
    "synthetic_low_light",
    "synthetic_low_light_dataset",
    "synthetic_raindrop_dataset",
    "synthetic_raindrops",
    "trajectory_psfs",
    "unpaired_dataset",
    "upright_reader",
    "write_image",
]
