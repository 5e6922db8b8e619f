from tfrestore.models.deblur_gan.deblur_gan import DeblurGAN
from tfrestore.models.deblur_gan.deblur_gan_discriminator import DeblurGANDiscriminator
from tfrestore.models.deblur_gan.deblur_gan_generator import DeblurGANGenerator

__all__ = ["DeblurGAN", "DeblurGANDiscriminator", "DeblurGANGenerator"]
