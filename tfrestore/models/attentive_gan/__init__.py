from tfrestore.models.attentive_gan.attentive_gan import AttentiveGAN
from tfrestore.models.attentive_gan.attentive_gan_discriminator import AttentiveGANDiscriminator
from tfrestore.models.attentive_gan.attentive_gan_generator import AttentiveGANGenerator
from tfrestore.models.attentive_gan.attentive_gan_mask import elliptical_kernel, raindrop_mask

__all__ = [
    "AttentiveGAN",
    "AttentiveGANDiscriminator",
    "AttentiveGANGenerator",
    "elliptical_kernel",
    "raindrop_mask",
]
