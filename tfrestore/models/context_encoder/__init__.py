from tfrestore.models.context_encoder.context_encoder import ContextEncoder
from tfrestore.models.context_encoder.context_encoder_discriminator import (
    ContextEncoderDiscriminator,
)
from tfrestore.models.context_encoder.context_encoder_generator import ContextEncoderGenerator

__all__ = ["ContextEncoder", "ContextEncoderDiscriminator", "ContextEncoderGenerator"]
