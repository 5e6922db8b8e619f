"""EnlightenGAN's attention-guided U-Net generator (`Unet_resize_conv`)."""

import keras
import tensorflow as tf

from tfrestore.layers import (
    BilinearUpsampling2D,
    ForwardGradientConv2D,
    WinogradConv2D,
    batch_norm,
    upstream_normal,
)
from tfrestore.models.network import Network

# The U-Net levels (1: full scale, ..., 5: 1/16) whose 3x3 convs, encoder and decoder, are
# `WinogradConv2D`s, which float TFLite exports compute with Winograd's algorithm: 128 and
# 256 channels at 1/4 and 1/8 scale, even as the input is a multiple of 16. Full and 1/2 scale
# (32 and 64 channels on large maps) run faster as plain convolutions in XNNPACK, and 1/16
# can be odd (720 px: 45).
WINOGRAD_LEVELS = (3, 4)


def gray_attention(images):
    """EnlightenGAN's self-regularized attention map from [-1, 1] RGB: 1 - luma in [0, 1].

    `1 - (0.299 (r + 1) + 0.587 (g + 1) + 0.114 (b + 1)) / 2`, [B, H, W, 1]: dark pixels get
    values near 1, so they are enhanced most. Upstream computes it in its data loader.
    """
    weights = tf.constant([0.299, 0.587, 0.114], images.dtype)
    return 1.0 - tf.reduce_sum((images + 1.0) * weights, axis=-1, keepdims=True) / 2.0


def _conv(x, filters, name, kernel_size=3, winograd=False):
    return (WinogradConv2D if winograd else ForwardGradientConv2D)(
        filters,
        kernel_size,
        padding="same",  # stride 1, padding 1: the same as PyTorch for any size
        kernel_initializer=upstream_normal(),
        name=name,
    )(x)


def _conv_block(x, filters, name, synchronized, normalize=True, winograd=False):
    """Conv 3x3 -> LeakyReLU 0.2 -> BatchNorm: upstream's order (BN after the activation)."""
    x = _conv(x, filters, f"conv{name}", winograd=winograd)
    x = keras.layers.LeakyReLU(0.2, name=f"LReLU{name}")(x)
    return batch_norm(f"bn{name}", synchronized)(x) if normalize else x


@keras.saving.register_keras_serializable(package="tfrestore")
class EnlightenGANGenerator(Network):
    """EnlightenGAN's generator as the release recipe configures `Unet_resize_conv`.

    Jiang et al., "EnlightenGAN: Deep Light Enhancement without Paired Supervision", IEEE TIP
    2021 (https://arxiv.org/abs/1906.06972); VITA-Group/EnlightenGAN `sid_unet_resize` with
    `--self_attention --use_norm 1 --times_residual --skip 1`: a 4-level U-Net of 3x3 convs in
    conv -> LeakyReLU 0.2 -> BatchNorm order, its input the image and the gray attention map
    (`gray_attention`); the bottleneck features and every skip connection multiplied by the
    attention map max-pooled to their scale; bilinear x2 upsampling then a 3x3 conv
    (resize-conv) in the decoder; a 1x1 conv to the latent, which is multiplied by the
    attention map and added to the input. No tanh and no clamp, as upstream (the wrapper clips
    to [0, 1]). 8,636,675 parameters at the defaults. Layers are named after the upstream
    `state_dict` keys (strip the `module.` prefix of the released DataParallel file).

    Args:
        filters: int, width of the first level (default 32); levels use 1, 2, 4, 8, 16 times.
        align_corners: bool (default True, as PyTorch 0.3's bilinear upsampling that the
            release was trained with); False for modern PyTorch behaviour.
        synchronized_bn: bool (default True), BatchNorm statistics over all replicas.

    Inputs are RGB in [-1, 1] with H and W multiples of 16 (the `EnlightenGAN` wrapper
    reflect-pads any size); outputs the enhanced image, unclipped, same shape.

    Example:
        >>> generator = EnlightenGANGenerator(filters=4)
        >>> generator(tf.zeros([1, 32, 48, 3])).shape
        TensorShape([1, 32, 48, 3])
    """

    config_names = ("filters", "align_corners", "synchronized_bn")

    def __init__(self, filters=32, align_corners=True, synchronized_bn=True, **kwargs):
        sync = synchronized_bn
        inputs = keras.Input(shape=(None, None, 3), name="low_light")
        gray = keras.layers.Lambda(gray_attention, name="gray")(inputs)
        grays = [gray]  # the attention map at 1, 1/2, 1/4, 1/8, 1/16 scale
        for level in range(4):
            grays.append(keras.layers.MaxPooling2D(2, name=f"gray_{level + 2}")(grays[-1]))

        x = keras.layers.Concatenate(name="input_gray")([inputs, gray])
        skips = []
        for level in range(1, 5):
            winograd = level in WINOGRAD_LEVELS
            x = _conv_block(x, filters * 2 ** (level - 1), f"{level}_1", sync, winograd=winograd)
            x = _conv_block(x, filters * 2 ** (level - 1), f"{level}_2", sync, winograd=winograd)
            skips.append(x)
            x = keras.layers.MaxPooling2D(2, name=f"max_pool{level}")(x)
        x = _conv_block(x, filters * 16, "5_1", sync)
        x = keras.layers.Multiply(name="attention5")([x, grays[4]])
        x = _conv_block(x, filters * 16, "5_2", sync)

        for level in range(4, 0, -1):  # decoder: conv6 (1/8 scale) ... conv9 (full scale)
            width = filters * 2 ** (level - 1)
            stage = 10 - level
            winograd = level in WINOGRAD_LEVELS
            x = BilinearUpsampling2D(align_corners=align_corners, name=f"up{stage}")(x)
            x = _conv(x, width, f"deconv{stage - 1}", winograd=winograd)
            skip = keras.layers.Multiply(name=f"attention{level}")(
                [skips[level - 1], grays[level - 1]]
            )
            x = keras.layers.Concatenate(name=f"cat{stage}")([x, skip])
            x = _conv_block(x, width, f"{stage}_1", sync, winograd=winograd)
            x = _conv_block(x, width, f"{stage}_2", sync, normalize=stage != 9, winograd=winograd)

        latent = _conv(x, 3, "conv10", kernel_size=1)
        # Residual and output in float32 under a mixed policy (`tfrestore.models.precision`).
        latent = keras.layers.Multiply(dtype="float32", name="times_residual")([latent, gray])
        outputs = keras.layers.Add(dtype="float32", name="skip")([latent, inputs])
        super().__init__(inputs, outputs, **kwargs)
        self.filters = filters
        self.align_corners = align_corners
        self.synchronized_bn = synchronized_bn
