"""DeblurGAN: WGAN-GP training with a perceptual content loss (Kupyn et al., CVPR 2018)."""

import keras
import tensorflow as tf

from tfrestore import losses
from tfrestore.models.base import RestorationGAN
from tfrestore.models.deblur_gan.deblur_gan_discriminator import DeblurGANDiscriminator
from tfrestore.models.deblur_gan.deblur_gan_generator import DeblurGANGenerator


@keras.saving.register_keras_serializable(package="tfrestore")
class DeblurGAN(RestorationGAN):
    """Blind motion deblurring with a conditional WGAN-GP (DeblurGAN, CVPR 2018).

    Kupyn et al., "DeblurGAN: Blind Motion Deblurring Using Conditional Adversarial Networks"
    (https://arxiv.org/abs/1711.07064), as upstream KupynOrest/DeblurGAN commit a6f4ad0:
    generator loss `-mean D(G(x)) + 100 * MSE(VGG19 conv3_3(G(x)), VGG19 conv3_3(y))` (conv3_3
    before its ReLU, fed [-1, 1] images with no ImageNet normalisation, as upstream), critic
    loss `mean D(G(x)) - mean D(y) + 10 * GP`, 5 critic updates per generator update on the same
    generated batch, Adam(1e-4, beta_1=0.5) for both networks, constant learning rate for the
    first half of training then a linear decay to 0 (`compile(total_steps=...)`).

    Differences from upstream: the gradient penalty draws one interpolation weight per example
    and takes the norm over each example's whole gradient (the WGAN-GP paper), where upstream
    uses one weight per batch and a per-pixel norm.

    Args:
        filters: int, generator and critic base width (default 64, the paper's).
        num_blocks: int, generator residual blocks (default 9).
        dropout_rate: float, generator dropout in the residual blocks (default 0.5).
        block_convs: int, convs per residual block: 2 (default, the paper's) or 1 (upstream
            HEAD's, for the file committed upstream; `DeblurGANGenerator`).
        perceptual_weight: float, weight of the perceptual loss (default 100).
        gradient_penalty_weight: float, WGAN-GP lambda (default 10).
        discriminator_steps: int, critic updates per generator update (default 5).
        l1_weight: float, weight of an L1 loss between restored and sharp images (default 0,
            as the paper). Not upstream: the demo uses it because ImageNet VGG weights cannot
            be downloaded offline and a random VGG gives a weak content loss.
        vgg_weights: "imagenet" (default; Keras downloads them when training starts), a path
            to a local VGG19 weights file, or None (random: tests only).

    A loss term whose weight is 0 is neither computed nor logged (a zero `perceptual_weight`
    builds no VGG).

    Images are float32 RGB in [0, 1], any H x W (reflect-padded to a multiple of 8 inside:
    in float TFLite exports the generator's residual blocks compute Winograd convolutions,
    which need even sizes at 1/4 scale, and the Keras model pads as its exports do; upstream
    needs a multiple of 4, so an image whose size is 4 modulo 8 gets 4 more reflected
    rows or columns than it would there, which changes the outputs near that border).

    Example:
        >>> model = DeblurGAN(filters=8, num_blocks=2, vgg_weights=None)
        >>> model.compile()
        >>> model.fit(paired_dataset, epochs=1)
        >>> sharp = model.predict(blurred)
    """

    config_names = (
        "filters",
        "num_blocks",
        "dropout_rate",
        "block_convs",
        "perceptual_weight",
        "gradient_penalty_weight",
        "l1_weight",
        "discriminator_steps",
        "vgg_weights",
    )
    generator_loss_names = ("g_adv", "g_perceptual", "g_l1")
    discriminator_loss_names = ("d_adv", "gp")
    pad_multiple = 8
    learning_rate = 1e-4

    def __init__(
        self,
        filters=64,
        num_blocks=9,
        dropout_rate=0.5,
        block_convs=2,
        perceptual_weight=100.0,
        gradient_penalty_weight=10.0,
        l1_weight=0.0,
        discriminator_steps=5,
        vgg_weights="imagenet",
        **kwargs,
    ):
        super().__init__(
            generator=DeblurGANGenerator(
                filters=filters,
                num_blocks=num_blocks,
                dropout_rate=dropout_rate,
                block_convs=block_convs,
                name="generator",
            ),
            discriminator=DeblurGANDiscriminator(filters=filters, name="discriminator"),
            discriminator_steps=discriminator_steps,
            **kwargs,
        )
        self.filters = filters
        self.num_blocks = num_blocks
        self.dropout_rate = dropout_rate
        self.block_convs = block_convs
        self.perceptual_weight = float(perceptual_weight)
        self.gradient_penalty_weight = float(gradient_penalty_weight)
        self.l1_weight = float(l1_weight)
        self.vgg_weights = vgg_weights
        self.perceptual = None
        if self.perceptual_weight:
            self.perceptual = losses.PerceptualLoss(
                network="vgg19",
                layers=("block3_conv3",),
                pre_activation=True,
                weights=vgg_weights,
                preprocess="none",
                distance="mse",
                name="perceptual",
            )

    def generator_losses(self, degraded, restored, target):
        terms = {
            "g_adv": losses.generator_loss("wgan", self.discriminator(restored, training=True))
        }
        if self.perceptual_weight:
            terms["g_perceptual"] = self.perceptual_weight * self.perceptual(target, restored)
        if self.l1_weight:
            terms["g_l1"] = self.l1_weight * losses.l1_loss(target, restored)
        return terms

    def discriminator_losses(self, degraded, restored, target):
        real = self.discriminator(target, training=True)
        fake = self.discriminator(restored, training=True)
        alpha = self.per_example_uniform(tf.shape(target)[0])
        penalty = losses.gradient_penalty(self.discriminator, target, restored, alpha=alpha)
        return {
            "d_adv": losses.discriminator_loss("wgan", real, fake),
            "gp": self.gradient_penalty_weight * penalty,
        }
