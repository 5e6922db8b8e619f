"""The MEDFE generator: encoder, mutual texture/structure filling, equalization, decoder."""

import keras

from tfrestore.layers import (
    BilateralPropagation,
    BilinearUpsampling2D,
    DilatedConv2D,
    InstanceNormalization,
    PartialConv2D,
    ReflectionPadding2D,
    SqueezeExcitation,
    SubpixelConv2DTranspose,
    upstream_normal,
)
from tfrestore.models.network import Network

# Encoder widths as multiples of `filters` (Encoder_1 .. Encoder_6), and the decoder's.
ENCODER_MULTIPLES = (1, 2, 4, 8, 8, 8)
DECODER_MULTIPLES = (8, 8, 4, 2, 1)
PARTIAL_CONV_KERNELS = (3, 5, 7)
PARTIAL_CONV_LAYERS = 5
# Six stride-2 convs: H and W must be multiples of 64 inside the network.
DOWNSAMPLING = 64
# The texture and structure features are integrated at the third encoder scale (1/8).
FEATURE_SCALE = 8


def conv(filters, kernel_size, name, strides=1, use_bias=False, dilation_rate=1):
    """A Conv2D with upstream's N(0, 0.02) init and no padding (padding layers come first)."""
    return (DilatedConv2D if dilation_rate != 1 else keras.layers.Conv2D)(
        filters,
        kernel_size,
        strides=strides,
        dilation_rate=dilation_rate,
        use_bias=use_bias,
        kernel_initializer=upstream_normal(),
        name=name,
    )


def down_conv(x, filters, name, use_bias=False):
    """PyTorch Conv2d(k4, s2, p1): zero padding 1, then a 4x4 stride-2 conv."""
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return conv(filters, 4, name, strides=2, use_bias=use_bias)(x)


def leaky(name):
    return keras.layers.LeakyReLU(0.2, name=name)


class ConvNormActivation:
    """Upstream `ConvDown(kernel=1)`: a 1x1 conv (no bias), instance norm, LeakyReLU 0.2.

    Built once and called on several inputs when upstream reuses the module (`down`, `fuse`).
    """

    def __init__(self, filters, name):
        self.conv = conv(filters, 1, f"{name}_model_0")
        self.norm = InstanceNormalization(name=f"{name}_model_1")
        self.activation = leaky(f"{name}_model_2")

    def __call__(self, x):
        return self.activation(self.norm(self.conv(x)))


class ResizeConv:
    """Upstream `ConvUp`: bilinear resize by `scale`, 1x1 conv (no bias), instance norm,
    LeakyReLU 0.2 (`up` is shared by the three structure features, with different scales).

    The 1x1 conv runs before the resize here: both are linear and the conv has no bias, so the
    result is the same, for scale² times fewer multiplications and a resized map of the conv's
    channels (64 instead of 512 in `pc_block_up_128`)."""

    def __init__(self, filters, name):
        self.name = name
        self.conv = conv(filters, 1, f"{name}_conv")
        self.norm = InstanceNormalization(name=f"{name}_bn")
        self.activation = leaky(f"{name}_relu")
        self.calls = 0

    def __call__(self, x, scale):
        x = self.conv(x)
        if scale > 1:
            x = BilinearUpsampling2D(scale, name=f"{self.name}_resize_{self.calls}")(x)
        self.calls += 1
        return self.activation(self.norm(x))


def strided_stack(x, filters, num_convs, name):
    """Upstream `ConvDown(k4, s2, activ=False)`: `num_convs` stride-2 convs with instance norm,
    LeakyReLU between them, none after the last (`down_16`, `down_8`, `down_4`)."""
    for index in range(num_convs):
        x = down_conv(x, filters, f"{name}_model_{3 * index}")
        x = InstanceNormalization(name=f"{name}_model_{3 * index + 1}")(x)
        if index < num_convs - 1:
            x = leaky(f"{name}_model_{3 * index + 2}")(x)
    return x


def partial_conv_stack(kernel_size, filters, name, mask_kernel):
    """Upstream `cov_<k>`: 5 x (partial conv k x k, no bias; instance norm (affine); LeakyReLU).

    Returns a function of (features, valid mask), applied to both branches with shared weights.
    `mask_kernel`: the partial convs count valid pixels under upstream's mask weights.
    """
    layers = [
        (
            PartialConv2D(
                filters,
                kernel_size,
                mask_kernel=mask_kernel,
                name=f"{name}_{index}_conv_input_conv",
            ),
            InstanceNormalization(affine=True, name=f"{name}_{index}_bn"),
            leaky(f"{name}_{index}_activation"),
        )
        for index in range(PARTIAL_CONV_LAYERS)
    ]

    def apply(x, valid):
        for partial, norm, activation in layers:
            x, valid = partial(x, valid)
            x = activation(norm(x))
        return x

    return apply


@keras.saving.register_keras_serializable(package="tfrestore")
class MEDFEGenerator(Network):
    """MEDFE generator: mutual encoder-decoder with feature equalizations (ECCV 2020).

    Liu et al., "Rethinking Image Inpainting via a Mutual Encoder-Decoder with Feature
    Equalizations" (https://arxiv.org/abs/2007.06929), layer for layer as
    KumapowerLIU/Rethinking-Inpainting-MEDFE: its three networks `EN`, `DE` and `MEDFE`
    (`pc_block` and the branch head `loss.0`) in one model whose layers carry their
    `state_dict` names, so `load_state_dict(generator, {**en, **de, **medfe})` imports them.

    - Encoder: a 4x4 stride-2 conv (6 -> f), four [LeakyReLU, 4x4 stride-2 conv, instance
      norm (affine)] (2f, 4f, 8f, 8f), [LeakyReLU, 4x4 stride-2 conv] (8f), then
      `num_blocks` residual blocks whose first 3x3 conv is dilated by `dilation`.
    - Texture (encoder scales 1-3) and structure (scales 4-6) features are brought to 1/8
      of the image and 4f channels, each branch's holes filled by partial convolutions with
      kernels 3, 5 and 7 (5 layers each, weights shared by both branches), projected to RGB
      by a shared 1x1 conv + tanh (the branch outputs, trained against the image and its
      structure image), fused, equalized channel-wise (squeeze-excitation) and spatially
      (bilateral propagation), and added back to the six encoder features.
    - Decoder: U-Net of transposed convs with skips; tanh output in [-1, 1].

    Differences from upstream, which are bugs or GPU-only code there:
    - Any batch size: upstream equalizes only batch element 0 (its issue #6).
    - Any H x W that is a multiple of 64 and larger than 64 * dilation (the innermost
      features must be larger than the reflection padding); upstream is fixed at 256x256.
      The `MEDFE` wrapper pads other sizes.
    - The 1/8-scale hole mask marks a feature cell as a hole if any of its 8x8 pixels is
      missing. Upstream's current code (`cal_feat_mask(mask, 3, 1)`) averages the mask and
      compares it with a threshold (1) that it can never exceed, which leaves no hole at all.
    - Partial convolutions count valid pixels with all-ones weights and scale by window
      size / count (the paper's, Liu et al. 2018). Upstream counts them under the random
      signed `mask_conv` weights its init leaves in every released file and divides by that
      raw count (`PartialConv2D(mask_kernel=True)`).
    - Upstream's feature equalization reshapes its [H*W, C] propagation sums to [C, H, W]
      with `.view` instead of a transpose, which scrambles pixels and channels.

    The paper's behaviour is the default. `upstream_layout=True` reproduces upstream's three
    behaviours above (no feature holes, the file's mask weights, the `.view`), so that
    released weights, which were trained with them, compute what the official code computes
    (`tfrestore convert medfe` builds it).
    - Upstream's encoder LeakyReLUs run in place, so the encoder features that the other
      networks receive (scales 1-5) have already been through LeakyReLU 0.2; this model
      passes them on the same way, so imported weights see what they were trained on.

    Args:
        filters: int, base width f (default 64, upstream `ngf`).
        num_blocks: int, dilated residual blocks in the middle (default 4).
        dilation: int, dilation of their first conv (default 2; upstream's later 5 does not
            run at 256x256).
        upstream_layout: bool (default False), upstream's computation (see above).

    Inputs: `image` [B, H, W, 3] in [-1, 1] with holes already filled, `mask` [B, H, W, 1]
    with 1 = missing pixel. Outputs: the inpainted image [B, H, W, 3] in [-1, 1] and the
    texture and structure branch images [B, H/8, W/8, 3] in [-1, 1].

    Example:
        >>> generator = MEDFEGenerator(filters=4, dilation=1)
        >>> image, texture, structure = generator([tf.zeros([1, 128, 128, 3]),
        ...                                        tf.zeros([1, 128, 128, 1])])
    """

    config_names = ("filters", "num_blocks", "dilation", "upstream_layout")

    def __init__(self, filters=64, num_blocks=4, dilation=2, upstream_layout=False, **kwargs):
        f = filters
        image = keras.Input(shape=(None, None, 3), name="image")
        mask = keras.Input(shape=(None, None, 1), name="mask")
        # The network sees the filled image and the valid-pixel map repeated over 3 channels.
        valid = 1.0 - mask
        x = keras.layers.Concatenate(name="input")([image, valid, valid, valid])

        # -- encoder (upstream EN) ----------------------------------------------------------
        x = down_conv(x, f, "Encoder_1_model_0", use_bias=True)
        features = []
        for index, multiple in enumerate(ENCODER_MULTIPLES[1:], start=2):
            x = leaky(f"Encoder_{index}_model_0")(x)
            features.append(x)  # upstream's in-place LeakyReLU changes the previous output
            x = down_conv(x, f * multiple, f"Encoder_{index}_model_1", use_bias=True)
            if index < len(ENCODER_MULTIPLES):
                x = InstanceNormalization(affine=True, name=f"Encoder_{index}_model_2")(x)
        for block in range(num_blocks):
            name = f"middle_{block}_conv_block"
            y = ReflectionPadding2D(dilation, name=f"{name}_0")(x)
            y = conv(f * 8, 3, f"{name}_1", dilation_rate=dilation)(y)
            y = InstanceNormalization(name=f"{name}_2")(y)
            y = keras.layers.ReLU(name=f"{name}_3")(y)
            y = ReflectionPadding2D(1, name=f"{name}_4")(y)
            y = conv(f * 8, 3, f"{name}_5")(y)
            y = InstanceNormalization(name=f"{name}_6")(y)
            x = keras.layers.Add(name=f"middle_{block}")([x, y])
        features.append(x)

        # -- mutual texture / structure filling (upstream MEDFE pc_block) ---------------------
        texture, structure = self._fill(features, mask, f, upstream_layout)
        branch_head = conv(3, 1, "loss_0_down_model_0", use_bias=True)
        # The outputs are float32 under a mixed policy (`tfrestore.models.precision`).
        branch_tanh = keras.layers.Activation("tanh", dtype="float32", name="loss_0_down_model_1")
        texture_image = branch_tanh(branch_head(texture))
        structure_image = branch_tanh(branch_head(structure))
        skips = self._equalize(features, texture, structure, f, upstream_layout)

        # -- decoder (upstream DE) ----------------------------------------------------------
        x = skips[-1]
        for index, multiple in enumerate(DECODER_MULTIPLES, start=1):
            if index > 1:
                x = keras.layers.Concatenate(name=f"Decoder_{index}_cat")([x, skips[-index]])
            x = keras.layers.ReLU(name=f"Decoder_{index}_model_0")(x)
            x = self._up_conv(f * multiple, f"Decoder_{index}_model_1")(x)
            x = InstanceNormalization(affine=True, name=f"Decoder_{index}_model_2")(x)
        x = keras.layers.Concatenate(name="Decoder_6_cat")([x, skips[0]])
        x = keras.layers.ReLU(name="Decoder_6_model_0")(x)
        x = self._up_conv(3, "Decoder_6_model_1")(x)
        restored = keras.layers.Activation("tanh", dtype="float32", name="Decoder_6_model_2")(x)

        super().__init__([image, mask], [restored, texture_image, structure_image], **kwargs)
        self.filters = filters
        self.num_blocks = num_blocks
        self.dilation = dilation
        self.upstream_layout = upstream_layout

    @staticmethod
    def _up_conv(filters, name):
        # PyTorch ConvTranspose2d(k4, s2, p1) equals Keras 'same' (checked numerically).
        return SubpixelConv2DTranspose(
            filters, 4, strides=2, padding="same", kernel_initializer=upstream_normal(), name=name
        )

    @staticmethod
    def _fill(features, mask, f, upstream_layout):
        """Texture and structure features at 1/8 scale (4f channels), holes filled."""
        activated = [leaky(f"pc_block_activation_{i}")(x) for i, x in enumerate(features)]
        x1, x2, x3, x4, x5, x6 = activated
        # Texture: scales 1/2, 1/4, 1/8 brought to 1/8.
        x1 = down_conv(x1, f * 2, "pc_block_down_128_model_0")
        x1 = InstanceNormalization(name="pc_block_down_128_model_1")(x1)
        x1 = leaky("pc_block_down_128_model_2")(x1)
        x1 = down_conv(x1, f * 4, "pc_block_down_128_model_3")
        x1 = InstanceNormalization(name="pc_block_down_128_model_4")(x1)
        x1 = leaky("pc_block_down_128_model_5")(x1)
        x2 = down_conv(x2, f * 4, "pc_block_down_64_model_0")
        x2 = InstanceNormalization(name="pc_block_down_64_model_1")(x2)
        x2 = leaky("pc_block_down_64_model_2")(x2)
        x3 = ConvNormActivation(f * 4, "pc_block_down_32")(x3)
        # Structure: scales 1/16, 1/32, 1/64 upsampled to 1/8 by one shared module.
        up = ResizeConv(f * 4, "pc_block_up")
        x4, x5, x6 = up(x4, 2), up(x5, 4), up(x6, 8)
        down = ConvNormActivation(f * 4, "pc_block_down")  # shared: 4 uses
        texture = down(keras.layers.Concatenate(name="pc_block_texture")([x1, x2, x3]))
        structure = down(keras.layers.Concatenate(name="pc_block_structure")([x4, x5, x6]))

        # A feature cell is known only if none of its 8x8 pixels is missing (upstream: every
        # cell is known, its thresholded average never marks one).
        holes = keras.layers.MaxPooling2D(FEATURE_SCALE, name="pc_block_feature_holes")(mask)
        valid = keras.ops.ones_like(holes) if upstream_layout else 1.0 - holes
        stacks = [
            partial_conv_stack(k, f * 4, f"pc_block_cov_{k}", mask_kernel=upstream_layout)
            for k in PARTIAL_CONV_KERNELS
        ]
        filled = []
        for branch, x in (("texture", texture), ("structure", structure)):
            scales = [stack(x, valid) for stack in stacks]
            merged = keras.layers.Concatenate(name=f"pc_block_{branch}_scales")(scales)
            filled.append(down(merged))
        return filled

    @staticmethod
    def _equalize(features, texture, structure, f, upstream_layout):
        """Fused, equalized features added back to the six encoder scales."""
        fused = keras.layers.Concatenate(name="pc_block_cat")([structure, texture])
        fused = ConvNormActivation(f * 8, "pc_block_fuse")(fused)
        x = SqueezeExcitation(reduction=16, name="pc_block_base_model_0")(fused)
        x = BilateralPropagation(upstream_layout=upstream_layout, name="pc_block_base_propagation")(
            x
        )
        x = conv(f * 8, 1, "pc_block_base_down_0")(x)
        x = InstanceNormalization(name="pc_block_base_down_1")(x)
        x = leaky("pc_block_base_down_2")(x)
        skips = [
            ResizeConv(f, "pc_block_up_128")(x, 4),
            ResizeConv(f * 2, "pc_block_up_64")(x, 2),
            ResizeConv(f * 4, "pc_block_up_32")(x, 1),
            strided_stack(x, f * 8, 1, "pc_block_down_16"),
            strided_stack(x, f * 8, 2, "pc_block_down_8"),
            strided_stack(x, f * 8, 3, "pc_block_down_4"),
        ]
        return [
            keras.layers.Add(name=f"pc_block_skip_{i}")([skip, feature])
            for i, (skip, feature) in enumerate(zip(skips, features, strict=True))
        ]
