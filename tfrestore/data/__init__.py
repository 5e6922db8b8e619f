"""Image I/O, paired-folder pipelines, degradations and sample images.

Images are float32 RGB in [0, 1], HWC (NHWC when batched), everywhere in this package.
"""

from tfrestore.data.augment import crop_and_flip
from tfrestore.data.inpainting import (
    DATASET_MEAN,
    DATASET_MEAN_FLOAT,
    fill_holes,
    inpainting_dataset,
)
from tfrestore.data.io import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    decode_image_tensor,
    list_images,
    read_image,
    write_image,
)
from tfrestore.data.low_light import (
    synthetic_low_light,
    synthetic_low_light_dataset,
    unpaired_dataset,
)
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
    elliptical_kernel,
    raindrop_dataset,
    raindrop_files,
    raindrop_key,
    raindrop_mask,
    synthetic_raindrop_dataset,
    synthetic_raindrops,
)
from tfrestore.data.samples import SAMPLE_NAMES, clock_motion, sample_images
from tfrestore.data.structure import rtv_smooth

__all__ = [
    "DATASET_MEAN",
    "DATASET_MEAN_FLOAT",
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "MASK_KINDS",
    "SAMPLE_NAMES",
    "blur_image",
    "center_psf",
    "center_crop_pair",
    "center_mask",
    "clock_motion",
    "crop_and_flip",
    "decode_image_tensor",
    "elliptical_kernel",
    "fill_holes",
    "free_form_mask",
    "inpainting_dataset",
    "list_images",
    "mask_fraction",
    "motion_blur_dataset",
    "paired_dataset",
    "paired_files",
    "raindrop_dataset",
    "raindrop_files",
    "raindrop_key",
    "raindrop_mask",
    "random_crop_pair",
    "random_flip_pair",
    "random_mask",
    "random_motion_blur",
    "random_psf",
    "random_rectangle_mask",
    "random_region_mask",
    "random_trajectory",
    "read_image",
    "rtv_smooth",
    "sample_images",
    "synthetic_low_light",
    "synthetic_low_light_dataset",
    "synthetic_raindrop_dataset",
    "synthetic_raindrops",
    "trajectory_psfs",
    "unpaired_dataset",
    "write_image",
]
