"""Context Encoder: inpainting a 64x64 center from its 128x128 context (Pathak et al., 2016)."""

import keras
import tensorflow as tf

from tfrestore import losses
from tfrestore.layers import fill_holes
from tfrestore.models.base import RestorationGAN
from tfrestore.models.context_encoder.context_encoder_discriminator import (
    ContextEncoderDiscriminator,
)
from tfrestore.models.context_encoder.context_encoder_generator import ContextEncoderGenerator

CONTEXT = 128  # the generator's input window
CENTER = 64  # its output, the window's central region
OFFSET = (CONTEXT - CENTER) // 2


def _pad(images, mode):
    return tf.pad(images, [[0, 0], [OFFSET, OFFSET], [OFFSET, OFFSET], [0, 0]], mode=mode)


def _unpad(images):
    return images[:, OFFSET:-OFFSET, OFFSET:-OFFSET, :]


def _placement(start, length, size):
    """One-hot [B, length, size] matrices selecting rows start..start+length-1 of `size`.

    Cropping and pasting per-example windows as matrix products keeps the exported graph to
    TFLite builtins (BATCH_MATMUL) with dynamic image sizes.
    """
    return tf.one_hot(start[:, None] + tf.range(length)[None, :], size, dtype=tf.float32)


def _window_origin(mask, size):
    """Top (or left) of the 128 window centred on each example's hole along axis 1 of `mask`
    ([B, size, ...] reduced to [B, size]), clipped to the image."""
    rows = tf.reduce_max(tf.reshape(mask, [tf.shape(mask)[0], size, -1]), axis=2)
    first = tf.argmax(rows, axis=1, output_type=tf.int32)
    last = size - 1 - tf.argmax(tf.reverse(rows, [1]), axis=1, output_type=tf.int32)
    center = (first + last + 1) // 2
    return tf.clip_by_value(center - CONTEXT // 2, 0, size - CONTEXT)


@keras.saving.register_keras_serializable(package="tfrestore")
class ContextEncoder(RestorationGAN):
    """Context Encoder inpainting with reconstruction + adversarial loss (CVPR 2016).

    Pathak et al., "Context Encoders: Feature Learning by Inpainting"
    (https://arxiv.org/abs/1604.07379), as the released center-region model: the generator sees
    a 128x128 context whose hole is filled with the dataset mean and predicts the 64x64 center;
    loss `(1 - w) BCE + w L2` with w = 0.999, the L2 weighted 10x on the 4 px overlap ring of
    the center; one discriminator step (vanilla GAN) per generator step; Adam(beta_1 = 0.5),
    2e-4 for the discriminator and 10x that for the generator, as the official `train.lua`
    (the PyTorch port uses 2e-4 for both).

    BatchNorm is upstream's: moving statistics start at mean 0 and variance 1 and move 10% of
    the way to each training batch's (PyTorch momentum 0.1), so after n steps the starting 1
    still weighs 0.9**n in each moving variance (0.35 after 10 steps), against batch variances
    near 1e-3 in the first layers of a fresh generator. Trained only a few tens of steps, the
    model therefore shrinks its activations in inference mode and fills holes with near-uniform
    gray (measured at filters=8, 10 steps of batch 2: hole std 0.002 with `predict` against
    0.04 with `training=True`; upstream's PyTorch model trained the same way does the same).
    Train longer (after 50 steps the two modes differed by 0.014 on average), or refresh the
    statistics before `predict` by calling the model with `training=True` on ~150 training
    batches (weights do not change).

    Takes `(image, mask)`: float32 [B, H, W, 3] in [0, 1] and [B, H, W, 1] with 1 = missing,
    H and W >= 64. Returns the image with only its hole pixels replaced. The generator's input
    is fixed at 128x128: per example, the 128x128 window centred on the hole (the image is
    reflect-padded by 32 px, so holes at the border work too) is inpainted and its center
    pasted back. The hole's bounding box must fit in 64x64 (`input_limits`): `call` and
    `check_inputs` refuse a larger one, and so do exported models run with
    `tfrestore.inference`, which read the limits recorded at export.

    Args:
        filters: int, base width of both networks (default 64).
        bottleneck_channels: int (default 4000), see `ContextEncoderGenerator`.
        bottleneck: "conv" (default, released) or "channel_wise" (the paper's).
        reconstruction_weight: float in (0, 1), w above (default 0.999).
        overlap: int, width of the overlap ring with 10x L2 weight (default 4).
        overlap_weight: float (default 10).
        synchronized_bn: bool (default True), BatchNorm statistics over all replicas.

    Example:
        >>> model = ContextEncoder(filters=8, bottleneck_channels=32)
        >>> model.compile()
        >>> model.fit(tfrestore.data.inpainting_dataset(photos, mask="center"), epochs=1)
        >>> filled = model.predict((images, masks))
    """

    config_names = (
        "filters",
        "bottleneck_channels",
        "bottleneck",
        "reconstruction_weight",
        "overlap",
        "overlap_weight",
        "synchronized_bn",
    )
    generator_loss_names = ("g_adv", "g_l2")
    discriminator_loss_names = ("d_adv",)
    serving_inputs = {"image": 3, "mask": 1}
    serving_size = (CONTEXT, CONTEXT)  # export parity probe: a 64x64 hole in a 128x128 image
    learning_rate = 2e-4
    generator_learning_rate_scale = 10.0
    constant_fraction = 1.0  # no decay upstream

    def __init__(
        self,
        filters=64,
        bottleneck_channels=4000,
        bottleneck="conv",
        reconstruction_weight=0.999,
        overlap=4,
        overlap_weight=10.0,
        synchronized_bn=True,
        **kwargs,
    ):
        if not 0.0 < reconstruction_weight < 1.0:
            raise ValueError(
                f"reconstruction_weight must be in (0, 1), got {reconstruction_weight}"
            )
        super().__init__(
            generator=ContextEncoderGenerator(
                filters=filters,
                bottleneck_channels=bottleneck_channels,
                bottleneck=bottleneck,
                synchronized_bn=synchronized_bn,
                name="generator",
            ),
            discriminator=ContextEncoderDiscriminator(
                filters=filters, synchronized_bn=synchronized_bn, name="discriminator"
            ),
            **kwargs,
        )
        self.filters = filters
        self.bottleneck_channels = bottleneck_channels
        self.bottleneck = bottleneck
        self.reconstruction_weight = float(reconstruction_weight)
        self.overlap = int(overlap)
        self.overlap_weight = float(overlap_weight)
        self.synchronized_bn = synchronized_bn
        inner = tf.pad(tf.ones([CENTER - 2 * self.overlap] * 2), [[self.overlap, self.overlap]] * 2)
        # [1, 64, 64, 1]: overlap_weight on the ring, 1 inside.
        self._pixel_weights = (inner + (1.0 - inner) * self.overlap_weight)[None, :, :, None]

    # -- windows -----------------------------------------------------------------------------
    # Images are reflect-padded by 32 px, so a window can reach past the border and any hole of
    # up to 64x64 fits in some window's center, even at a corner (the released code only fills
    # the center of a 128x128 image).

    def _windows(self, padded_mask):
        """Origins and [B, 128, size] placement matrices of each example's window."""
        shape = tf.shape(padded_mask)
        top = _window_origin(padded_mask, shape[1])
        left = _window_origin(tf.transpose(padded_mask, [0, 2, 1, 3]), shape[2])
        return (top, _placement(top, CONTEXT, shape[1])), (
            left,
            _placement(left, CONTEXT, shape[2]),
        )

    def _center_placement(self, padded_mask):
        """Placement matrices of each window's 64x64 center in padded coordinates."""
        shape = tf.shape(padded_mask)
        (top, _), (left, _) = self._windows(padded_mask)
        return (
            _placement(top + OFFSET, CENTER, shape[1]),
            _placement(left + OFFSET, CENTER, shape[2]),
        )

    def inputs_to_generator(self, inputs):
        image, mask = (tf.convert_to_tensor(t, tf.float32) for t in inputs)
        filled = self.to_generator_range(fill_holes(image, mask))
        return _pad(filled, "REFLECT"), _pad(mask, "CONSTANT")

    def generate(self, degraded, training=False):
        image, mask = degraded  # padded
        (_, rows), (_, cols) = self._windows(mask)
        window = tf.einsum("bih,bhwc,bjw->bijc", rows, image, cols)
        return self.generator(window, training=training)

    def compose(self, degraded, restored):
        image, mask = (tf.convert_to_tensor(t, tf.float32) for t in degraded)
        rows, cols = self._center_placement(_pad(mask, "CONSTANT"))
        center = self.from_generator_range(restored)
        pasted = _unpad(tf.einsum("bih,bijc,bjw->bhwc", rows, center, cols))
        return image * (1.0 - mask) + pasted * mask

    def input_limits(self):
        # A hole whose bounding box fits in 64x64 lies inside the center of the window centred
        # on it (images are padded by 32 px, so even at a corner); a larger one would leave
        # pixels outside the center, which would come out black.
        return {"min_size": [CENTER, CENTER], "max_hole": [CENTER, CENTER]}

    # -- losses ------------------------------------------------------------------------------

    def _target_center(self, degraded, target):
        _, mask = degraded  # padded
        rows, cols = self._center_placement(mask)
        return tf.einsum("bih,bhwc,bjw->bijc", rows, _pad(target, "REFLECT"), cols)

    def generator_losses(self, degraded, restored, target):
        real_center = self._target_center(degraded, target)
        weight = self.reconstruction_weight
        return {
            "g_adv": (1.0 - weight)
            * losses.generator_loss("vanilla", self.discriminator(restored, training=True)),
            "g_l2": weight * losses.l2_loss(real_center, restored, weights=self._pixel_weights),
        }

    def discriminator_losses(self, degraded, restored, target):
        real = self.discriminator(self._target_center(degraded, target), training=True)
        fake = self.discriminator(restored, training=True)
        return {"d_adv": losses.discriminator_loss("vanilla", real, fake)}
