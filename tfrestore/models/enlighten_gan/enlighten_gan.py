"""EnlightenGAN: low-light enhancement trained on unpaired photos (Jiang et al., TIP 2021)."""

import keras
import tensorflow as tf

from tfrestore import losses
from tfrestore.models.base import RestorationGAN
from tfrestore.models.enlighten_gan.enlighten_gan_generator import EnlightenGANGenerator
from tfrestore.models.patch_discriminator import PatchGANDiscriminator

# EnlightenGAN's relativistic LSGAN uses targets 1 and 0 (MEDFE's uses 1 and -1).
RAGAN_TARGETS = (1.0, 0.0)
FEATURE_NETWORKS = ("vgg16", "pixels")
# Tiled restore's default window with align_corners=True (`input_limits`).
TILE_ALIGN_CORNERS = 768


def pixel_feature_loss(images, restored):
    """The self feature-preserving loss on the pixels themselves, [B]: MSE between the
    instance-normalized images (per channel), blind to brightness and contrast changes."""
    return losses.perceptual_loss(images, restored, "mse", normalize_features=True)


@keras.saving.register_keras_serializable(package="tfrestore")
class EnlightenGAN(RestorationGAN):
    """Low-light enhancement from unpaired low/normal-light photos (EnlightenGAN).

    Jiang et al., "EnlightenGAN: Deep Light Enhancement without Paired Supervision", IEEE TIP
    2021 (https://arxiv.org/abs/1906.06972), as the release recipe (`scripts/script.py`) of
    VITA-Group/EnlightenGAN:
    - global discriminator (PatchGAN, 5 layers, no normalization): relativistic average LSGAN;
    - local discriminator (4 layers) on `num_patches` = 6 random 32x32 patches taken at the
      same places in the output, the normal-light image and the input: plain LSGAN, averaged;
    - self feature-preserving loss: MSE between instance-normalized VGG16 relu5_1 features of
      input and output (BGR in [0, 255], no mean subtraction, no pool before conv5_1, as
      upstream), on the whole image and averaged over the patches;
    - Adam(1e-4, beta_1=0.5) for the generator and both discriminators; constant learning
      rate for half the run, then linear decay to 0 (`compile(total_steps=...)`).

    `fit` takes `(low, normal)` batches drawn independently (no paired target): see
    `tfrestore.data.unpaired_dataset`. Validation on paired data (e.g. LOL `low/`, `high/`)
    reports PSNR and SSIM against the real target.

    Differences from upstream: the discriminators are updated before the generator (one
    training step for all tfrestore methods; upstream updates the generator first), and the
    feature-preserving loss compares with the generator's input, which the data pipeline may
    have darkened (upstream keeps the un-darkened image for it).

    Args:
        filters: int, generator width (default 32); the discriminators use twice it.
        num_patches: int, local patches per image (default 6: 1 + patchD_3 = 5).
        patch_size: int (default 32).
        perceptual_weight: float, weight of the feature-preserving losses (default 1); 0
            turns them off (no VGG is built or run).
        feature_network: "vgg16" (default, the paper's relu5_1 features) or "pixels": the
            instance-normalized pixels themselves (`pixel_feature_loss`; no VGG, for short
            CPU runs where ImageNet weights are unavailable and a random VGG is no measure
            of content; `vgg_weights` is then unused).
        align_corners: bool (default True), see `EnlightenGANGenerator`.
        synchronized_bn: bool (default True).
        vgg_weights: "imagenet" (default; Keras downloads them when training starts),
            a local VGG16 weights file, or None (random: tests only). Upstream loads a
            Lua-converted VGG16.

    Images are float32 RGB in [0, 1], any H x W (reflect-padded to a multiple of 16 inside).

    Example:
        >>> model = EnlightenGAN(filters=8, vgg_weights=None)
        >>> model.compile()
        >>> model.fit(tfrestore.data.unpaired_dataset("low/", "normal/"), epochs=1)
        >>> enhanced = model.predict(dark_images)
    """

    config_names = (
        "filters",
        "num_patches",
        "patch_size",
        "perceptual_weight",
        "feature_network",
        "align_corners",
        "synchronized_bn",
        "vgg_weights",
    )
    generator_loss_names = ("g_adv", "g_local", "g_perceptual", "g_perceptual_local")
    discriminator_loss_names = ("d_adv", "d_local")
    pad_multiple = 16
    learning_rate = 1e-4

    def __init__(
        self,
        filters=32,
        num_patches=6,
        patch_size=32,
        perceptual_weight=1.0,
        feature_network="vgg16",
        align_corners=True,
        synchronized_bn=True,
        vgg_weights="imagenet",
        **kwargs,
    ):
        super().__init__(
            generator=EnlightenGANGenerator(
                filters=filters,
                align_corners=align_corners,
                synchronized_bn=synchronized_bn,
                name="generator",
            ),
            discriminator=PatchGANDiscriminator(
                filters * 2, num_layers=5, normalization=None, name="discriminator"
            ),
            local_discriminator=PatchGANDiscriminator(
                filters * 2, num_layers=4, normalization=None, name="local_discriminator"
            ),
            **kwargs,
        )
        self.filters = filters
        self.num_patches = int(num_patches)
        self.patch_size = int(patch_size)
        self.perceptual_weight = float(perceptual_weight)
        self.align_corners = align_corners
        self.synchronized_bn = synchronized_bn
        self.vgg_weights = vgg_weights
        if feature_network not in FEATURE_NETWORKS:
            raise ValueError(
                f"feature_network must be one of {FEATURE_NETWORKS}, got {feature_network!r}"
            )
        self.feature_network = feature_network
        if not self.perceptual_weight:
            self.perceptual = None
        elif feature_network == "pixels":
            self.perceptual = pixel_feature_loss
        else:
            self.perceptual = losses.PerceptualLoss(
                network="vgg16",
                layers=("block5_conv1",),
                weights=vgg_weights,
                preprocess="bgr255",
                input_range=(-1.0, 1.0),
                skip_pools=("block4_pool",),
                normalize_features=True,
                distance="mse",
                name="perceptual",
            )

    def input_limits(self):
        # Bilinear upsampling with align_corners=True samples at positions that depend on the
        # size of the map, so a window does not sample where the whole image does: larger
        # windows, nearer the whole image (measured in the README's "Large photos").
        return {"tile": TILE_ALIGN_CORNERS} if self.align_corners else {}

    def _patches(self, *images):
        """The same `num_patches` random patches of each image batch (see
        `RestorationGAN.same_random_patches`; upstream draws one set per step too)."""
        return self.same_random_patches(images, self.num_patches, self.patch_size)

    def _per_image(self, per_patch):
        """[num_patches * B] patch losses -> [B], the mean over each image's patches."""
        return tf.reduce_mean(tf.reshape(per_patch, [self.num_patches, -1]), axis=0)

    def generator_losses(self, degraded, restored, target):
        fake_patches, input_patches = self._patches(restored, degraded)
        real = self.discriminator(target, training=True)
        fake = self.discriminator(restored, training=True)
        local_fake = self.local_discriminator(fake_patches, training=True)
        terms = {
            "g_adv": losses.generator_loss(
                "ragan_ls", fake, real, relativistic_targets=RAGAN_TARGETS
            ),
            "g_local": self._per_image(losses.generator_loss("lsgan", local_fake)),
        }
        if self.perceptual_weight:
            terms["g_perceptual"] = self.perceptual_weight * self.perceptual(degraded, restored)
            terms["g_perceptual_local"] = self.perceptual_weight * self._per_image(
                self.perceptual(input_patches, fake_patches)
            )
        return terms

    def discriminator_losses(self, degraded, restored, target):
        fake_patches, real_patches = self._patches(restored, target)
        real = self.discriminator(target, training=True)
        fake = self.discriminator(restored, training=True)
        local_real = self.local_discriminator(real_patches, training=True)
        local_fake = self.local_discriminator(fake_patches, training=True)
        return {
            "d_adv": losses.discriminator_loss(
                "ragan_ls", real, fake, relativistic_targets=RAGAN_TARGETS
            ),
            "d_local": self._per_image(losses.discriminator_loss("lsgan", local_real, local_fake)),
        }
