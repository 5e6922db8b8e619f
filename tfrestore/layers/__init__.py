"""Reusable Keras layers shared by the tfrestore models."""

from tfrestore.layers.channel_wise_dense import ChannelWiseDense
from tfrestore.layers.initializers import upstream_normal
from tfrestore.layers.normalization import InstanceNormalization
from tfrestore.layers.padding import ReflectionPadding2D, crop_to_size, pad_to_multiple

__all__ = [
    "ChannelWiseDense",
    "InstanceNormalization",
    "ReflectionPadding2D",
    "crop_to_size",
    "pad_to_multiple",
    "upstream_normal",
]
