"""The restoration GANs, and `get` to build one by name."""

from tfrestore.models.attentive_gan import (
    AttentiveGAN,
    AttentiveGANDiscriminator,
    AttentiveGANGenerator,
)
from tfrestore.models.base import RestorationGAN
from tfrestore.models.context_encoder import (
    ContextEncoder,
    ContextEncoderDiscriminator,
    ContextEncoderGenerator,
)
from tfrestore.models.deblur_gan import DeblurGAN, DeblurGANDiscriminator, DeblurGANGenerator
from tfrestore.models.enlighten_gan import EnlightenGAN, EnlightenGANGenerator
from tfrestore.models.medfe import MEDFE, MEDFEDiscriminator, MEDFEGenerator
from tfrestore.models.patch_discriminator import PatchGANDiscriminator
from tfrestore.models.schedules import ConstantThenLinearDecay

# Names are the method folders; the other methods join as they land.
MODELS = {
    "attentive_gan": AttentiveGAN,
    "context_encoder": ContextEncoder,
    "deblur_gan": DeblurGAN,
    "enlighten_gan": EnlightenGAN,
    "medfe": MEDFE,
}


def get(name, **kwargs):
    """Builds a model by name with architecture kwargs, e.g. `get("deblur_gan", filters=8)`.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)


__all__ = [
    "AttentiveGAN",
    "AttentiveGANDiscriminator",
    "AttentiveGANGenerator",
    "MODELS",
    "ConstantThenLinearDecay",
    "ContextEncoder",
    "ContextEncoderDiscriminator",
    "ContextEncoderGenerator",
    "DeblurGAN",
    "DeblurGANDiscriminator",
    "DeblurGANGenerator",
    "EnlightenGAN",
    "EnlightenGANGenerator",
    "MEDFE",
    "MEDFEDiscriminator",
    "MEDFEGenerator",
    "PatchGANDiscriminator",
    "RestorationGAN",
    "get",
]
