"""AttentiveGAN: raindrop removal with attention maps (Qian et al., CVPR 2018)."""

import keras
import tensorflow as tf

from tfrestore import losses
from tfrestore.layers import crop_to_size, pad_to_multiple
from tfrestore.models.attentive_gan.attentive_gan_discriminator import AttentiveGANDiscriminator
from tfrestore.models.attentive_gan.attentive_gan_generator import NUM_STEPS, AttentiveGANGenerator
from tfrestore.models.attentive_gan.attentive_gan_mask import raindrop_mask
from tfrestore.models.base import RestorationGAN

SCALES = (4, 2, 1)  # the autoencoder's outputs: 1/4, 1/2 and full resolution


def _bgr(images):
    """RGB <-> BGR (its own inverse)."""
    return images[..., ::-1]


@keras.saving.register_keras_serializable(package="tfrestore")
class AttentiveGAN(RestorationGAN):
    """Raindrop removal with an attentive-recurrent generator (AttentiveGAN, CVPR 2018).

    Qian et al., "Attentive Generative Adversarial Network for Raindrop Removal from a Single
    Image" (https://arxiv.org/abs/1711.10098), with the paper's losses (the official
    rui1996/DeRaindrop has no training code):
    - attention loss `sum_t theta^(N-t) MSE(A_t, M)`, theta = 0.8, N = 4, where M is the
      binary raindrop mask of the rainy/clean pair
      (`tfrestore.models.attentive_gan.raindrop_mask`; the TF port's exponent is off by one);
    - multi-scale loss `sum_i lambda_i MSE(S_i, T_i)`, lambda = 0.6, 0.8, 1.0 at 1/4, 1/2 and
      full scale (targets area-downsampled);
    - perceptual loss: MSE of VGG16 relu1_1, relu1_2, relu2_1, relu2_2 features (the layers
      of upstream `vgg_init.py`), averaged;
    - adversarial loss with weight 0.01 (the non-saturating form of the paper's log(1 - D));
    - discriminator: BCE on clean (real) and restored (fake) images plus
      `gamma (MSE(D_map(fake), A_N) + MSE(D_map(real), 0))`, gamma = 0.05;
    - Adam(2e-4, beta_1=0.5) for both networks, constant rate (the TF port uses Adam for D and
      momentum for G with step decay).

    Takes RGB images in [0, 1] of any size (reflect-padded to a multiple of 4 inside; the
    generator itself keeps upstream's BGR convention so official weights apply). `fit` takes
    (rainy, clean) pairs of exactly `crop_size`, which the discriminator's FC is built for.
    Exports return `restored` and the final attention map `attention` (clipped to [0, 1]).

    Args:
        filters: int, generator width (default 32).
        discriminator_filters: int (default 8).
        crop_size: (height, width) of training crops (default (224, 224), the size upstream's
            discriminator takes).
        attention_decay: float, theta (default 0.8).
        scale_weights: the multi-scale lambdas (default (0.6, 0.8, 1.0)).
        perceptual_weight, adversarial_weight, map_weight: defaults 1, 0.01, 0.05 (a zero
            perceptual_weight skips the VGG pass).
        mask_threshold, mask_kernel_size: for `raindrop_mask` (defaults 35/255, 5).
        vgg_weights: "imagenet" (default; Keras downloads them when training starts), a local
            VGG16 weights file, or None (tests).

    Example:
        >>> model = AttentiveGAN(filters=8, crop_size=(64, 64), vgg_weights=None)
        >>> model.compile()
        >>> model.fit(tfrestore.data.paired_dataset("data/", "gt/", crop_size=64), epochs=1)
        >>> clean = model.predict(rainy)
    """

    config_names = (
        "filters",
        "discriminator_filters",
        "crop_size",
        "attention_decay",
        "scale_weights",
        "perceptual_weight",
        "adversarial_weight",
        "map_weight",
        "mask_threshold",
        "mask_kernel_size",
        "vgg_weights",
    )
    generator_loss_names = ("g_attention", "g_multiscale", "g_perceptual", "g_adv")
    discriminator_loss_names = ("d_adv", "d_map")
    pad_multiple = 4
    learning_rate = 2e-4
    constant_fraction = 1.0

    def __init__(
        self,
        filters=32,
        discriminator_filters=8,
        crop_size=(224, 224),
        attention_decay=0.8,
        scale_weights=(0.6, 0.8, 1.0),
        perceptual_weight=1.0,
        adversarial_weight=0.01,
        map_weight=0.05,
        mask_threshold=35 / 255,
        mask_kernel_size=5,
        vgg_weights="imagenet",
        **kwargs,
    ):
        super().__init__(
            generator=AttentiveGANGenerator(filters=filters, name="generator"),
            discriminator=AttentiveGANDiscriminator(
                input_size=crop_size, filters=discriminator_filters, name="discriminator"
            ),
            **kwargs,
        )
        self.filters = filters
        self.discriminator_filters = discriminator_filters
        self.crop_size = tuple(int(s) for s in crop_size)
        self.attention_decay = float(attention_decay)
        self.scale_weights = tuple(float(w) for w in scale_weights)
        self.perceptual_weight = float(perceptual_weight)
        self.adversarial_weight = float(adversarial_weight)
        self.map_weight = float(map_weight)
        self.mask_threshold = float(mask_threshold)
        self.mask_kernel_size = int(mask_kernel_size)
        self.vgg_weights = vgg_weights
        self.perceptual = None
        if self.perceptual_weight:
            self.perceptual = losses.PerceptualLoss(
                network="vgg16",
                layers=("block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2"),
                layer_weights=(0.25,) * 4,
                weights=vgg_weights,
                preprocess="caffe",
                input_range=(0.0, 1.0),
                distance="mse",
                name="perceptual",
            )

    # -- conventions: RGB [0, 1] outside, BGR [0, 1] inside ------------------------------------

    def to_generator_range(self, images):
        return _bgr(tf.convert_to_tensor(images, tf.float32))

    def from_generator_range(self, outputs):
        return tf.clip_by_value(_bgr(outputs), 0.0, 1.0)

    def generate(self, degraded, training=False):
        """All generator outputs, each cropped back to the input's size at its scale."""
        padded, (height, width) = pad_to_multiple(degraded, self.pad_multiple)
        outputs = self.generator(padded, training=training)
        scales = (1,) * NUM_STEPS + SCALES
        return [
            crop_to_size(output, ((height + s - 1) // s, (width + s - 1) // s))
            for output, s in zip(outputs, scales)
        ]

    def compose(self, degraded, restored):
        return self.from_generator_range(restored[-1])

    def attention(self, restored):
        """The final attention map, clipped to [0, 1] for display and export."""
        return tf.clip_by_value(restored[NUM_STEPS - 1], 0.0, 1.0)

    def serving_outputs(self, image):
        restored = self.generate(self.inputs_to_generator(image), training=False)
        return {"restored": self.compose(image, restored), "attention": self.attention(restored)}

    def panel_images(self, inputs):
        restored = self.generate(self.inputs_to_generator(inputs), training=False)
        maps = [
            tf.image.grayscale_to_rgb(tf.clip_by_value(m, 0.0, 1.0)) for m in restored[:NUM_STEPS]
        ]
        return [self.compose(inputs, restored), *maps]

    # -- losses (generator range: BGR [0, 1]) --------------------------------------------------

    def _mask(self, degraded, target):
        return raindrop_mask(degraded, target, self.mask_threshold, self.mask_kernel_size)

    def generator_losses(self, degraded, restored, target):
        mask = self._mask(degraded, target)
        maps, scaled = restored[:NUM_STEPS], restored[NUM_STEPS:]
        attention = tf.add_n(
            [
                self.attention_decay ** (NUM_STEPS - t) * losses.l2_loss(mask, a)
                for t, a in enumerate(maps, start=1)
            ]
        )
        # The targets at 1/4 and 1/2 scale: the mean of each s x s block, which is area
        # resizing by an integer factor (training crops are multiples of 4). Not
        # `tf.image.resize(method="area")`: XLA has no ResizeArea kernel.
        multiscale = tf.add_n(
            [
                weight * losses.l2_loss(tf.nn.avg_pool2d(target, s, s, "VALID"), out)
                for weight, s, out in zip(self.scale_weights, SCALES, scaled)
            ]
        )
        _, logit = self.discriminator(self._discriminator_size(restored[-1]), training=True)
        terms = {
            "g_attention": attention,
            "g_multiscale": multiscale,
            "g_adv": self.adversarial_weight * losses.generator_loss("vanilla", logit),
        }
        if self.perceptual_weight:
            terms["g_perceptual"] = self.perceptual_weight * self.perceptual(
                _bgr(target), _bgr(restored[-1])
            )
        return terms

    def _discriminator_size(self, images):
        """Images at `crop_size`, the discriminator's fixed input: training crops already are
        (resizing to the same size is the identity); validation images of other sizes are
        resized."""
        return tf.image.resize(images, self.crop_size)

    def discriminator_losses(self, degraded, restored, target):
        real_map, real = self.discriminator(self._discriminator_size(target), training=True)
        fake_map, fake = self.discriminator(self._discriminator_size(restored[-1]), training=True)
        final_attention = self._discriminator_size(restored[NUM_STEPS - 1])
        return {
            "d_adv": losses.discriminator_loss("vanilla", real, fake),
            "d_map": self.map_weight
            * (
                losses.l2_loss(final_attention, fake_map)
                + losses.l2_loss(tf.zeros_like(real_map), real_map)
            ),
        }
