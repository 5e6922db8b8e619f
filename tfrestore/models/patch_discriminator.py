"""The PatchGAN discriminator (pix2pix `NLayerDiscriminator`) shared by several methods."""

import keras

from tfrestore.layers import ForwardGradientConv2D, InstanceNormalization, upstream_normal
from tfrestore.models.network import Network

NORMALIZATIONS = ("instance", None)


@keras.saving.register_keras_serializable(package="tfrestore")
class PatchGANDiscriminator(Network):
    """PatchGAN: 4x4 convs with zero padding 2 scoring overlapping patches.

    The pix2pix `NLayerDiscriminator` family: a stride-2 conv with LeakyReLU 0.2, then
    `num_layers` convs of width `filters * min(2**n, 8)` (stride 2 except the last, stride 1),
    each followed by the optional normalization and LeakyReLU 0.2, then a stride-1 conv to one
    channel. No sigmoid (logits). Layers are named after the upstream `model.<i>` keys.
    Kernels start from N(0, 0.02) as upstream's `weights_init`.

    Args:
        filters: int, width of the first conv (default 64).
        num_layers: int (default 3).
        normalization: "instance" (DeblurGAN) or None (EnlightenGAN's `NoNormDiscriminator`).

    Inputs are images in [-1, 1], NHWC, of any size large enough for the strides.
    """

    config_names = ("filters", "num_layers", "normalization")

    def __init__(self, filters=64, num_layers=3, normalization="instance", **kwargs):
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
            )
        inputs = keras.Input(shape=(None, None, 3), name="image")
        x = inputs
        index = 0
        for n in range(num_layers + 1):
            x = keras.layers.ZeroPadding2D(2, name=f"model_{index}_pad")(x)
            x = ForwardGradientConv2D(
                filters * min(2**n, 8),
                4,
                strides=2 if n < num_layers else 1,
                kernel_initializer=upstream_normal(),
                name=f"model_{index}",
            )(x)
            if n > 0 and normalization == "instance":
                index += 1
                x = InstanceNormalization(name=f"model_{index}")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"model_{index + 1}")(x)
            index += 2
        x = keras.layers.ZeroPadding2D(2, name=f"model_{index}_pad")(x)
        outputs = ForwardGradientConv2D(
            1, 4, kernel_initializer=upstream_normal(), name=f"model_{index}"
        )(x)
        super().__init__(inputs, outputs, **kwargs)
        self.filters = filters
        self.num_layers = num_layers
        self.normalization = normalization
