"""The Context Encoder generator: 128x128 context in, 64x64 center out."""

import keras

from tfrestore.layers import (
    ChannelWiseDense,
    MatmulConv2D,
    SubpixelConv2DTranspose,
    batch_norm,
    upstream_normal,
)
from tfrestore.models.network import Network

BOTTLENECKS = ("conv", "channel_wise")


def down_block(x, filters, index, synchronized, normalize=True):
    """Conv 4x4 stride 2 padding 1 (no bias), [BN], LeakyReLU 0.2, named `main_<index>...`."""
    x = keras.layers.ZeroPadding2D(1, name=f"main_{index}_pad")(x)
    x = keras.layers.Conv2D(
        filters,
        4,
        strides=2,
        use_bias=False,
        kernel_initializer=upstream_normal(),
        name=f"main_{index}",
    )(x)
    if normalize:
        index += 1
        x = batch_norm(f"main_{index}", synchronized)(x)
    return keras.layers.LeakyReLU(0.2, name=f"main_{index + 1}")(x)


@keras.saving.register_keras_serializable(package="tfrestore")
class ContextEncoderGenerator(Network):
    """Context Encoder generator (Pathak et al., CVPR 2016), as the released center model.

    https://arxiv.org/abs/1604.07379; layer for layer as pathak22/context-encoder `train.lua`
    and its PyTorch port BoyuanJiang/context_encoder_pytorch `_netG` (layers named after its
    `main.<i>` keys): five 4x4 stride-2 convs (64, 64, 128, 256, 512; BatchNorm and LeakyReLU
    0.2 after all but the first's norm), a 4x4 conv to a 1x1 bottleneck of 4000 channels, then
    five transposed convs to the 64x64 center, tanh. No biases (upstream zeroes them every
    step). 71,124,544 trainable parameters at the defaults.

    `bottleneck="channel_wise"` swaps the 1x1 bottleneck for the paper's channel-wise fully
    connected layer on the 4x4x512 features followed by a 1x1 conv that mixes channels (the
    paper's design; not in the released code).

    Args:
        filters: int, base width (default 64); the encoder uses 1, 1, 2, 4, 8 times it.
        bottleneck_channels: int, channels of the conv bottleneck (default 4000, the README
            command; the option default upstream is 100).
        bottleneck: "conv" (default, the released model) or "channel_wise" (the paper's).
        synchronized_bn: bool (default True), BatchNorm statistics over all replicas.

    Inputs: the 128x128 masked context in [-1, 1] (hole filled with the dataset mean); outputs
    the 64x64 center in [-1, 1]. The input size is fixed (the `ContextEncoder` wrapper crops a
    128x128 window around the hole of larger images).

    Example:
        >>> generator = ContextEncoderGenerator(filters=8, bottleneck_channels=16)
        >>> generator(tf.zeros([1, 128, 128, 3])).shape
        TensorShape([1, 64, 64, 3])
    """

    config_names = ("filters", "bottleneck_channels", "bottleneck", "synchronized_bn")

    def __init__(
        self,
        filters=64,
        bottleneck_channels=4000,
        bottleneck="conv",
        synchronized_bn=True,
        **kwargs,
    ):
        if bottleneck not in BOTTLENECKS:
            raise ValueError(f"bottleneck must be one of {BOTTLENECKS}, got {bottleneck!r}")
        sync = synchronized_bn
        inputs = keras.Input(shape=(128, 128, 3), name="context")
        x = down_block(inputs, filters, 0, sync, normalize=False)  # main.0, main.1
        for index, multiple in zip((2, 5, 8, 11), (1, 2, 4, 8)):
            x = down_block(x, filters * multiple, index, sync)  # 64 -> 4 px
        if bottleneck == "conv":
            x = MatmulConv2D(
                bottleneck_channels,
                4,
                use_bias=False,
                kernel_initializer=upstream_normal(),
                name="main_14",
            )(x)  # 4x4 -> 1x1
            x = batch_norm("main_15", sync)(x)
            x = keras.layers.LeakyReLU(0.2, name="main_16")(x)
            x = SubpixelConv2DTranspose(
                filters * 8,
                4,
                use_bias=False,
                kernel_initializer=upstream_normal(),
                name="main_17",
            )(x)  # 1x1 -> 4x4
        else:
            x = ChannelWiseDense(kernel_initializer=upstream_normal(), name="channel_wise_fc")(x)
            x = keras.layers.Conv2D(
                filters * 8,
                1,
                use_bias=False,
                kernel_initializer=upstream_normal(),
                name="channel_mix",
            )(x)
        x = batch_norm("main_18", sync)(x)
        x = keras.layers.ReLU(name="main_19")(x)
        for index, multiple in zip((20, 23, 26), (4, 2, 1)):
            # PyTorch ConvTranspose2d(k4, s2, p1) equals Keras 'same' (checked numerically).
            x = SubpixelConv2DTranspose(
                filters * multiple,
                4,
                strides=2,
                padding="same",
                use_bias=False,
                kernel_initializer=upstream_normal(),
                name=f"main_{index}",
            )(x)
            x = batch_norm(f"main_{index + 1}", sync)(x)
            x = keras.layers.ReLU(name=f"main_{index + 2}")(x)
        x = SubpixelConv2DTranspose(
            3,
            4,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=upstream_normal(),
            name="main_29",
        )(x)
        # float32 under a mixed policy, as every generator's output (`tfrestore.models.precision`).
        outputs = keras.layers.Activation("tanh", dtype="float32", name="main_30")(x)
        super().__init__(inputs, outputs, **kwargs)
        self.filters = filters
        self.bottleneck_channels = bottleneck_channels
        self.bottleneck = bottleneck
        self.synchronized_bn = synchronized_bn
