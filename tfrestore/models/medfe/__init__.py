from tfrestore.models.medfe.medfe import MEDFE
from tfrestore.models.medfe.medfe_discriminator import MEDFEDiscriminator
from tfrestore.models.medfe.medfe_generator import MEDFEGenerator

__all__ = ["MEDFE", "MEDFEDiscriminator", "MEDFEGenerator"]
