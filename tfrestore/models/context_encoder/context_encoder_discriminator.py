"""The Context Encoder discriminator on the 64x64 center."""

import keras

from tfrestore.layers import upstream_normal
from tfrestore.models.context_encoder.context_encoder_generator import down_block
from tfrestore.models.network import Network


@keras.saving.register_keras_serializable(package="tfrestore")
class ContextEncoderDiscriminator(Network):
    """The Context Encoder's discriminator of the 64x64 center (upstream `_netlocalD`).

    Pathak et al., CVPR 2016 (https://arxiv.org/abs/1604.07379): four 4x4 stride-2 convs (64,
    128, 256, 512; BatchNorm after all but the first, LeakyReLU 0.2), a 4x4 conv to one score.
    No biases. 2,765,568 trainable parameters at the defaults. Returns logits: upstream ends in
    a sigmoid, which the vanilla loss (`tfrestore.losses`, BCE with logits) applies itself.

    Args:
        filters: int, base width (default 64).
        synchronized_bn: bool (default True).

    Inputs: 64x64 images in [-1, 1]; outputs [B, 1, 1, 1] logits.
    """

    config_names = ("filters", "synchronized_bn")

    def __init__(self, filters=64, synchronized_bn=True, **kwargs):
        inputs = keras.Input(shape=(64, 64, 3), name="center")
        x = down_block(inputs, filters, 0, synchronized_bn, normalize=False)
        for index, multiple in zip((2, 5, 8), (2, 4, 8)):
            x = down_block(x, filters * multiple, index, synchronized_bn)
        outputs = keras.layers.Conv2D(
            1, 4, use_bias=False, kernel_initializer=upstream_normal(), name="main_11"
        )(x)
        super().__init__(inputs, outputs, **kwargs)
        self.filters = filters
        self.synchronized_bn = synchronized_bn
