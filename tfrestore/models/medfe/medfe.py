"""MEDFE: inpainting with a mutual encoder-decoder and feature equalizations (ECCV 2020)."""

import keras
import tensorflow as tf

from tfrestore import losses
from tfrestore.layers import crop_to_size, fill_holes, pad_to_multiple
from tfrestore.models.base import RestorationGAN
from tfrestore.models.medfe.medfe_discriminator import MEDFEDiscriminator
from tfrestore.models.medfe.medfe_generator import DOWNSAMPLING, MEDFEGenerator

# Upstream fills holes with this mean pixel (R, G, B in 0..255; the Context Encoder's order
# is 117, 104, 123).
MEDFE_FILL = (123 / 255, 104 / 255, 117 / 255)
# VGG16 layers (Keras names; a Keras conv layer's output is after its ReLU): the perceptual
# loss uses relu1_1 .. relu5_1, the style loss relu2_2, relu3_3, relu4_3, relu5_2.
PERCEPTUAL_LAYERS = (
    "block1_conv1",
    "block2_conv1",
    "block3_conv1",
    "block4_conv1",
    "block5_conv1",
)
STYLE_LAYERS = ("block2_conv2", "block3_conv3", "block4_conv3", "block5_conv2")


@keras.saving.register_keras_serializable(package="tfrestore")
class MEDFE(RestorationGAN):
    """MEDFE inpainting with the paper's losses (Liu et al., ECCV 2020).

    Liu, Jiang, Song, Huang, Yang: "Rethinking Image Inpainting via a Mutual Encoder-Decoder
    with Feature Equalizations" (https://arxiv.org/abs/2007.06929), trained as
    KumapowerLIU/Rethinking-Inpainting-MEDFE `models/MEDFE.py`:
    - generator loss: L1 (weight 1) + perceptual L1 over VGG16 relu1_1 .. relu5_1 (0.2) +
      style L1 between Gram matrices of relu2_2, relu3_3, relu4_3, relu5_2 (250) + the
      relativistic-average LSGAN loss (targets 1, -1) of a global discriminator on the whole
      image and a local one on a random `local_size` crop (the same crop of real and fake),
      each 0.2 + the branch losses: L1 between the texture branch image and the target, and
      between the structure branch image and the structure (RTV) image, both resized to the
      branch's 1/8 scale (weight `branch_weight`);
    - the discriminators' relativistic LSGAN losses, summed; one update of both per
      generator update; Adam(2e-4, beta_1 = 0.5) for all networks; a constant learning rate
      for the first third of the run then linear decay (upstream niter 20, niter_decay 40).
    The VGG16 sees [-1, 1] images as they are (no ImageNet normalization), as upstream.

    Differences from upstream: the style loss uses the real relu5_2 (upstream applies its
    relu5_1 slice twice, so its "relu5_2" is conv5_1 of relu5_1); the branch losses count
    once (upstream backpropagates them about three times and logs them twice); every example
    gets the masks and crops of its own batch (upstream trains with batch size 1).

    Takes `(image, mask)`: float32 [B, H, W, 3] in [0, 1] and [B, H, W, 1] with 1 = missing,
    any H x W of at least `min_size` (`64 * dilation + 1`, 129 by default); images are
    reflect-padded to a multiple of 64 inside. Returns the image with only its hole pixels
    replaced. `fit` takes `((masked, mask), (target, structure))` batches, e.g.
    `tfrestore.data.inpainting_dataset(..., structures=...)`.

    Args:
        filters: int, base width of the generator and discriminators (default 64).
        num_blocks: int (default 4), dilation: int (default 2), upstream_layout: bool
            (default False; True for upstream's released weights): see `MEDFEGenerator`.
        local_size: int, side of the local discriminator's crop (default 64).
        l1_weight, perceptual_weight, style_weight, adversarial_weight, branch_weight: floats
            (defaults 1, 0.2, 250, 0.2, 1).
        vgg_weights: "imagenet" (default; Keras downloads them when training starts),
            a local VGG16 weights file, or None (random: tests only). With perceptual and
            style weights 0 no VGG is built or run.

    Example:
        >>> model = MEDFE(filters=4, dilation=1, vgg_weights=None)
        >>> model.compile()
        >>> model.fit(tfrestore.data.inpainting_dataset(photos, crop_size=128,
        ...           mask="free_form", structures=structures), epochs=1)
        >>> filled = model.predict((images, masks))
    """

    config_names = (
        "filters",
        "num_blocks",
        "dilation",
        "upstream_layout",
        "local_size",
        "l1_weight",
        "perceptual_weight",
        "style_weight",
        "adversarial_weight",
        "branch_weight",
        "vgg_weights",
    )
    generator_loss_names = ("g_l1", "g_perceptual", "g_style", "g_adv", "g_local", "g_branch")
    discriminator_loss_names = ("d_adv", "d_local")
    serving_inputs = {"image": 3, "mask": 1}
    pad_multiple = DOWNSAMPLING
    learning_rate = 2e-4
    constant_fraction = 1.0 / 3.0

    def __init__(
        self,
        filters=64,
        num_blocks=4,
        dilation=2,
        upstream_layout=False,
        local_size=64,
        l1_weight=1.0,
        perceptual_weight=0.2,
        style_weight=250.0,
        adversarial_weight=0.2,
        branch_weight=1.0,
        vgg_weights="imagenet",
        **kwargs,
    ):
        super().__init__(
            generator=MEDFEGenerator(
                filters=filters,
                num_blocks=num_blocks,
                dilation=dilation,
                upstream_layout=upstream_layout,
                name="generator",
            ),
            discriminator=MEDFEDiscriminator(filters, name="discriminator"),
            local_discriminator=MEDFEDiscriminator(filters, name="local_discriminator"),
            **kwargs,
        )
        self.filters = filters
        self.num_blocks = num_blocks
        self.dilation = dilation
        self.upstream_layout = upstream_layout
        self.local_size = int(local_size)
        self.l1_weight = float(l1_weight)
        self.perceptual_weight = float(perceptual_weight)
        self.style_weight = float(style_weight)
        self.adversarial_weight = float(adversarial_weight)
        self.branch_weight = float(branch_weight)
        self.vgg_weights = vgg_weights
        self.vgg = None
        if self.perceptual_weight or self.style_weight:
            self.vgg = losses.VGGFeatures(
                network="vgg16",
                layers=PERCEPTUAL_LAYERS + STYLE_LAYERS,
                weights=vgg_weights,
                input_range=(-1.0, 1.0),
                name="vgg_features",
            )

    @property
    def min_size(self):
        """Smallest height and width. Images are padded to a multiple of 64, and the innermost
        features (1/64 of that) must be larger than the dilated convs' reflection padding."""
        return DOWNSAMPLING * self.dilation + 1

    @property
    def serving_size(self):
        # Export parity probe: not a multiple of 64, so the in-graph padding is exercised.
        return (self.min_size + 13, self.min_size + 30)

    # -- inputs and outputs ------------------------------------------------------------------

    def inputs_to_generator(self, inputs):
        image, mask = (tf.convert_to_tensor(t, tf.float32) for t in inputs)
        holes = tf.cast(mask > 0.5, tf.float32)
        return self.to_generator_range(fill_holes(image, holes, MEDFE_FILL)), holes

    def generate(self, degraded, training=False):
        """(restored, texture image, structure image); only `restored` is cropped back."""
        image, mask = degraded
        image, size = pad_to_multiple(image, self.pad_multiple)
        mask, _ = pad_to_multiple(mask, self.pad_multiple)
        restored, texture, structure = self.generator([image, mask], training=training)
        return crop_to_size(restored, size), texture, structure

    def compose(self, degraded, restored):
        image, mask = (tf.convert_to_tensor(t, tf.float32) for t in degraded)
        return image * (1.0 - mask) + self.from_generator_range(restored[0]) * mask

    def input_limits(self):
        return {"min_size": [self.min_size, self.min_size]}

    def unpack_batch(self, data):
        """((masked, mask), (target, structure)) -> ((masked, mask), [B, H, W, 6] target)."""
        degraded, target = super().unpack_batch(data)
        if not isinstance(target, (tuple, list)) or len(target) != 2:
            raise ValueError(
                "MEDFE trains on ((masked_image, mask), (target, structure)) batches: the "
                "structure (RTV) image is the texture branch's target; see "
                "tfrestore.data.inpainting_dataset(structures=...)"
            )
        return degraded, tf.concat([tf.cast(t, tf.float32) for t in target], axis=-1)

    # -- losses ------------------------------------------------------------------------------

    def _local_crops(self, *images):
        return self.same_random_patches(images, 1, self.local_size)

    def _vgg_terms(self, target, restored):
        """{"g_perceptual": [B], "g_style": [B]} from one VGG pass; the terms whose weight is 0
        are left out (and the VGG is not run when both are)."""
        if self.vgg is None:
            return {}
        real, fake = losses.paired_features(self.vgg, target, restored)
        split = len(PERCEPTUAL_LAYERS)
        terms = {}
        if self.perceptual_weight:
            terms["g_perceptual"] = self.perceptual_weight * losses.perceptual_loss(
                real[:split], fake[:split], distance="l1"
            )
        if self.style_weight:
            terms["g_style"] = self.style_weight * losses.style_loss(real[split:], fake[split:])
        return terms

    def generator_losses(self, degraded, restored, target):
        restored, texture, structure = restored
        target, structure_target = target[..., :3], target[..., 3:]
        fake_local, real_local = self._local_crops(restored, target)
        branch_size = tf.shape(texture)[1:3]
        return {
            **self._vgg_terms(target, restored),
            "g_l1": self.l1_weight * losses.l1_loss(target, restored),
            "g_adv": self.adversarial_weight
            * losses.generator_loss(
                "ragan_ls",
                self.discriminator(restored, training=True),
                self.discriminator(target, training=True),
            ),
            "g_local": self.adversarial_weight
            * losses.generator_loss(
                "ragan_ls",
                self.local_discriminator(fake_local, training=True),
                self.local_discriminator(real_local, training=True),
            ),
            "g_branch": self.branch_weight
            * (
                losses.l1_loss(tf.image.resize(target, branch_size), texture)
                + losses.l1_loss(tf.image.resize(structure_target, branch_size), structure)
            ),
        }

    def discriminator_losses(self, degraded, restored, target):
        restored, target = restored[0], target[..., :3]
        fake_local, real_local = self._local_crops(restored, target)
        return {
            "d_adv": losses.discriminator_loss(
                "ragan_ls",
                self.discriminator(target, training=True),
                self.discriminator(restored, training=True),
            ),
            "d_local": losses.discriminator_loss(
                "ragan_ls",
                self.local_discriminator(real_local, training=True),
                self.local_discriminator(fake_local, training=True),
            ),
        }
