"""Reusable Keras layers shared by the tfrestore models."""

from tfrestore.layers.bilateral_propagation import BilateralPropagation
from tfrestore.layers.channel_wise_dense import ChannelWiseDense
from tfrestore.layers.convolution import (
    DilatedConv2D,
    ForwardGradientConv2D,
    MatmulConv2D,
    PhaseConv2D,
    SubpixelConv2DTranspose,
    WinogradConv2D,
)
from tfrestore.layers.holes import DATASET_MEAN, DATASET_MEAN_FLOAT, fill_holes
from tfrestore.layers.initializers import upstream_normal
from tfrestore.layers.normalization import InstanceNormalization, batch_norm
from tfrestore.layers.padding import (
    ReflectionPadding2D,
    crop_to_size,
    pad_to_multiple,
    reflect_pad,
)
from tfrestore.layers.partial_conv import PartialConv2D
from tfrestore.layers.resize import BilinearUpsampling2D
from tfrestore.layers.squeeze_excitation import SqueezeExcitation

__all__ = [
    "BilateralPropagation",
    "BilinearUpsampling2D",
    "ChannelWiseDense",
    "DATASET_MEAN",
    "DATASET_MEAN_FLOAT",
    "DilatedConv2D",
    "ForwardGradientConv2D",
    "InstanceNormalization",
    "MatmulConv2D",
    "PartialConv2D",
    "PhaseConv2D",
    "ReflectionPadding2D",
    "SqueezeExcitation",
    "SubpixelConv2DTranspose",
    "batch_norm",
    "crop_to_size",
    "fill_holes",
    "pad_to_multiple",
    "reflect_pad",
    "upstream_normal",
    "WinogradConv2D",
]
