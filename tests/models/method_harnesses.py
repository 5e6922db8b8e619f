"""Every method's test harness by model name, for tests that run all five methods.

The harness classes are reached through their modules: a `Test` class imported into a test
module would be collected there again.
"""

import test_attentive_gan
import test_context_encoder
import test_deblur_gan
import test_enlighten_gan
import test_medfe

HARNESSES = {
    "deblur_gan": test_deblur_gan.TestDeblurGAN,
    "attentive_gan": test_attentive_gan.TestAttentiveGAN,
    "context_encoder": test_context_encoder.TestContextEncoder,
    "enlighten_gan": test_enlighten_gan.TestEnlightenGAN,
    "medfe": test_medfe.TestMEDFE,
}
