from tfrestore.models.attentive_gan.attentive_gan import AttentiveGAN
from tfrestore.models.attentive_gan.attentive_gan_discriminator import AttentiveGANDiscriminator
from tfrestore.models.attentive_gan.attentive_gan_generator import AttentiveGANGenerator

__all__ = ["AttentiveGAN", "AttentiveGANDiscriminator", "AttentiveGANGenerator"]
