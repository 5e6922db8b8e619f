"""Losses for GAN image restoration: adversarial, pixel and VGG feature losses.

**Every loss returns per-example values**, a float32 tensor of shape `[B]`, never a batch mean.
The training step reduces them over the *global* batch, so that N replicas that each see
B / N examples make the same update as one replica with batch B:

    per_example = losses.l1_loss(target, restored)          # [B_replica]
    loss = tf.nn.compute_average_loss(per_example, global_batch_size=B)

(`compute_average_loss` sums and divides by the global batch size; the gradients of the
replicas are then summed.) Keras `Loss` objects scale by the replica count themselves, and a
plain `reduce_mean` does not, which is why these are plain functions and layers returning `[B]`.
A term that mixes examples, like the batch means of the relativistic loss, is computed over the
batch the replica sees.

Images follow the caller's convention (the generator's value range); the perceptual loss says
which range its VGG expects with `input_range` and `preprocess`.
"""

from tfrestore.losses.adversarial import (
    ADVERSARIAL_MODES,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
)
from tfrestore.losses.perceptual import (
    PerceptualLoss,
    VGGFeatures,
    VGGWeightsUnavailable,
    keras_weights_file,
    paired_features,
    perceptual_loss,
    style_loss,
)
from tfrestore.losses.pixel import l1_loss, l2_loss

__all__ = [
    "ADVERSARIAL_MODES",
    "PerceptualLoss",
    "VGGFeatures",
    "VGGWeightsUnavailable",
    "discriminator_loss",
    "generator_loss",
    "gradient_penalty",
    "keras_weights_file",
    "l1_loss",
    "l2_loss",
    "paired_features",
    "perceptual_loss",
    "style_loss",
]
