"""DeblurGAN's 70x70 PatchGAN critic."""

import keras

from tfrestore.models.patch_discriminator import PatchGANDiscriminator


@keras.saving.register_keras_serializable(package="tfrestore")
class DeblurGANDiscriminator(PatchGANDiscriminator):
    """The 70x70 PatchGAN critic of DeblurGAN (upstream `NLayerDiscriminator`, n_layers=3).

    Kupyn et al., CVPR 2018 (https://arxiv.org/abs/1711.07064), as upstream commit a6f4ad0:
    4x4 convs with zero padding 2, strides 2, 2, 2, 1, 1; instance norm (no affine) after all
    but the first and last conv; LeakyReLU 0.2; no sigmoid (WGAN-GP critic). 2,764,737
    parameters at the defaults. Layers are named after the upstream `state_dict` keys.

    Args:
        filters: int, width of the first conv (default 64), doubled per layer up to 8x.
        num_layers: int, stride-2 layers (default 3).

    Inputs are images in [-1, 1], NHWC, any size >= 16 px; outputs are per-patch scores
    (a 256x256 input gives 35x35x1). Kernels start from N(0, 0.02) as upstream.

    Example:
        >>> critic = DeblurGANDiscriminator(filters=8)
        >>> critic(tf.zeros([2, 64, 64, 3])).shape
        TensorShape([2, 11, 11, 1])
    """

    def __init__(self, filters=64, num_layers=3, **kwargs):
        kwargs.pop("normalization", None)
        super().__init__(filters=filters, num_layers=num_layers, normalization="instance", **kwargs)
