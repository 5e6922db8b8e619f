"""DeblurGAN's ResNet generator (Kupyn et al., CVPR 2018)."""

import keras
import numpy as np
import tensorflow as tf

from tfrestore.layers import (
    ForwardGradientConv2D,
    InstanceNormalization,
    PhaseConv2D,
    ReflectionPadding2D,
    SubpixelConv2DTranspose,
    WinogradConv2D,
    upstream_normal,
)
from tfrestore.models.network import Network


def _conv_block(x, filters, kernel_size, name, strides=1, padding=0, reflect=False):
    """Padding (zero or reflection, as the PyTorch module pads) followed by a 'valid' conv.

    The full-resolution 7x7 convs are `PhaseConv2D`s (same weights and values): as
    plain CONV_2Ds, LiteRT's XNNPACK delegate kept 361 MB of indirection buffer for each at
    720x1280 (float32 `.tflite` peak RSS 1786 -> 1323 MB there, latency unchanged; 4% slower
    at 256x256). The 3x3 convs of the residual blocks (stride 1, `reflect`) are
    `WinogradConv2D`s: in float TFLite exports 16 multiplications per 2x2 tile instead of 36,
    where the generator does 88% of its work. The others are `ForwardGradientConv2D`s. All
    three compute their gradients as forward convolutions where TensorFlow convolves with
    Eigen (`tfrestore.layers.forward_gradients`).
    """
    if kernel_size == 7:
        conv = PhaseConv2D
    elif reflect and strides == 1:
        conv = WinogradConv2D
    else:
        conv = ForwardGradientConv2D
    if padding and reflect:
        x = ReflectionPadding2D(padding, name=f"{name}_pad")(x)
    elif padding:
        x = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
    return conv(
        filters, kernel_size, strides=strides, kernel_initializer=upstream_normal(), name=name
    )(x)


@keras.saving.register_keras_serializable(package="tfrestore")
class DeblurGANGenerator(Network):
    """DeblurGAN's ResNet generator, layer for layer as upstream commit a6f4ad0.

    Kupyn et al., "DeblurGAN: Blind Motion Deblurring Using Conditional Adversarial Networks",
    CVPR 2018 (https://arxiv.org/abs/1711.07064). Upstream: `ResnetGenerator` of
    KupynOrest/DeblurGAN, `resnet_9blocks`, instance norm without affine parameters, dropout
    0.5 in the residual blocks, `learn_residual`. 11,378,179 parameters at the defaults.

    Layers are named after the upstream `state_dict` keys (`model.10.conv_block.6` is
    `model_10_conv_block_6`), so official weights map by name.

    Differences from upstream: the paper architecture by default; `block_convs=1` builds
    HEAD's instead (an operator-precedence bug there drops the second conv of every residual
    block: 6,067,459 parameters; the file committed upstream has it). Dropout is active only with
    `training=True` (upstream never calls `.eval()`, so its outputs are random); instance norm
    uses instance statistics as PyTorch 0.4 did (the released weights' running stats are unused).
    Kernels start from N(0, 0.02), upstream's `weights_init`.

    Args:
        filters: int, width of the first conv (default 64); the network uses 1x, 2x, 4x.
        num_blocks: int, residual blocks at the bottleneck (default 9).
        dropout_rate: float in [0, 1), dropout between the two convs of each block (default 0.5).
        learn_residual: bool, add the input to the output and clamp to [-1, 1] (default True,
            as upstream's training commands).
        block_convs: 2 (default, the paper's residual block: conv, norm, ReLU, dropout, conv,
            norm) or 1 (upstream HEAD's: conv, norm, ReLU, dropout).

    Inputs are images in [-1, 1], NHWC, with H and W multiples of 4, and of 8 in a graph with
    dynamic sizes traced within `xnnpack_forms()` (float TFLite exports), whose
    residual blocks need even sizes at 1/4 scale (the `DeblurGAN` wrapper pads any size to a
    multiple of 8); outputs have the same shape, in [-1, 1].

    Example:
        >>> generator = DeblurGANGenerator(filters=8, num_blocks=2)
        >>> generator(tf.zeros([1, 64, 96, 3])).shape
        TensorShape([1, 64, 96, 3])
    """

    config_names = ("filters", "num_blocks", "dropout_rate", "learn_residual", "block_convs")

    def __init__(
        self,
        filters=64,
        num_blocks=9,
        dropout_rate=0.5,
        learn_residual=True,
        block_convs=2,
        **kwargs,
    ):
        if block_convs not in (1, 2):
            raise ValueError(f"block_convs must be 1 (upstream HEAD) or 2, got {block_convs!r}")
        inputs = keras.Input(shape=(None, None, 3), name="degraded")
        x = _conv_block(inputs, filters, 7, "model_1", padding=3, reflect=True)
        x = InstanceNormalization(name="model_2")(x)
        x = keras.layers.ReLU(name="model_3")(x)
        for i, index in enumerate((4, 7)):  # two stride-2 downsamplings: k3 s2 p1 (zeros)
            x = _conv_block(x, filters * 2 ** (i + 1), 3, f"model_{index}", strides=2, padding=1)
            x = InstanceNormalization(name=f"model_{index + 1}")(x)
            x = keras.layers.ReLU(name=f"model_{index + 2}")(x)
        width = filters * 4
        for block in range(num_blocks):
            name = f"model_{10 + block}_conv_block"
            y = _conv_block(x, width, 3, f"{name}_1", padding=1, reflect=True)
            y = InstanceNormalization(name=f"{name}_2")(y)
            y = keras.layers.ReLU(name=f"{name}_3")(y)
            y = keras.layers.Dropout(dropout_rate, name=f"{name}_4")(y)
            if block_convs == 2:
                y = _conv_block(y, width, 3, f"{name}_6", padding=1, reflect=True)
                y = InstanceNormalization(name=f"{name}_7")(y)
            x = keras.layers.Add(name=f"model_{10 + block}")([x, y])
        index = 10 + num_blocks
        for i in range(2):
            # PyTorch ConvTranspose2d(k3, s2, p1, output_padding=1) == Keras 'valid' transposed
            # conv (2H + 1 rows) without its first row and column.
            x = SubpixelConv2DTranspose(
                filters * 2 ** (1 - i),
                3,
                strides=2,
                kernel_initializer=upstream_normal(),
                name=f"model_{index}",
            )(x)
            x = keras.layers.Cropping2D(((1, 0), (1, 0)), name=f"model_{index}_crop")(x)
            x = InstanceNormalization(name=f"model_{index + 1}")(x)
            x = keras.layers.ReLU(name=f"model_{index + 2}")(x)
            index += 3
        x = _conv_block(x, 3, 7, self.output_conv_name(num_blocks), padding=3, reflect=True)
        # The output layers compute in float32 under a mixed policy (`tfrestore.models.precision`).
        outputs = keras.layers.Activation("tanh", dtype="float32", name=f"model_{index + 2}")(x)
        if learn_residual:
            outputs = keras.layers.Add(dtype="float32", name="residual")([inputs, outputs])
            outputs = keras.layers.Lambda(
                lambda t: tf.clip_by_value(t, -1.0, 1.0), dtype="float32", name="clamp"
            )(outputs)
        super().__init__(inputs, outputs, **kwargs)
        self.filters = filters
        self.num_blocks = num_blocks
        self.dropout_rate = dropout_rate
        self.learn_residual = learn_residual
        self.block_convs = block_convs

    @staticmethod
    def output_conv_name(num_blocks):
        """Name of the last conv (upstream `model.26` with 9 blocks), before the tanh."""
        return f"model_{num_blocks + 17}"

    def start_as_identity(self):
        """Zeroes the last conv (kernel and bias) so that the residual generator returns its
        input exactly: a warm start for short training runs (not in the paper or upstream).

        With `learn_residual` the output is `clamp(input + tanh(last_conv(features)))`, so a
        zero last conv makes the untrained generator the identity on [-1, 1] images and
        training starts from the blurred image instead of from noise. The zero kernel passes
        no gradient back, so the first update changes only this layer; from the second on,
        gradients reach every layer (tested). All other weights keep their initialization.

        Raises:
            ValueError: the generator was built with `learn_residual=False` (no input to
                return).
        """
        if not self.learn_residual:
            raise ValueError("start_as_identity needs learn_residual=True")
        layer = self.get_layer(self.output_conv_name(self.num_blocks))
        layer.set_weights([np.zeros_like(weight) for weight in layer.get_weights()])
