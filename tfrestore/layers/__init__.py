"""Reusable Keras layers shared by the tfrestore models."""

from tfrestore.layers.channel_wise_dense import ChannelWiseDense
from tfrestore.layers.initializers import upstream_normal
from tfrestore.layers.normalization import InstanceNormalization, batch_norm
from tfrestore.layers.padding import ReflectionPadding2D, crop_to_size, pad_to_multiple
from tfrestore.layers.resize import BilinearUpsampling2D

__all__ = [
    "BilinearUpsampling2D",
    "ChannelWiseDense",
    "InstanceNormalization",
    "ReflectionPadding2D",
    "batch_norm",
    "crop_to_size",
    "pad_to_multiple",
    "upstream_normal",
]
