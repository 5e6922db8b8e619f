from tfrestore.models.enlighten_gan.enlighten_gan import EnlightenGAN
from tfrestore.models.enlighten_gan.enlighten_gan_generator import (
    EnlightenGANGenerator,
    gray_attention,
)

__all__ = ["EnlightenGAN", "EnlightenGANGenerator", "gray_attention"]
