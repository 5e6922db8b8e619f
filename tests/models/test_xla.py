"""XLA: every method's training step compiles with `jit_compile=True`, is traced once, and
makes the same update as the uncompiled step."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import test_attentive_gan
import test_context_encoder
import test_deblur_gan
import test_enlighten_gan
import test_medfe

import tfrestore

# Through their modules: a Test class imported here would be collected again.
HARNESSES = {
    "deblur_gan": test_deblur_gan.TestDeblurGAN,
    "attentive_gan": test_attentive_gan.TestAttentiveGAN,
    "context_encoder": test_context_encoder.TestContextEncoder,
    "enlighten_gan": test_enlighten_gan.TestEnlightenGAN,
    "medfe": test_medfe.TestMEDFE,
}
# Max abs difference of any weight after one step. Plain SGD moves each weight by
# LEARNING_RATE times its gradient, so this bounds the gradients' difference by 1e-3 (XLA
# fuses and reorders float32 arithmetic: a relative difference around 1e-6 is expected).
LEARNING_RATE = 1e-2
WEIGHT_ATOL = 1e-5


class Run:
    """A seeded tiny model of `method` compiled with plain SGD, counting its traces."""

    def __init__(self, method, jit_compile):
        harness = HARNESSES[method]()
        kwargs = dict(harness.kwargs)
        if method == "deblur_gan":
            kwargs["dropout_rate"] = 0.0  # XLA draws other random numbers than TensorFlow
        keras.utils.set_random_seed(0)
        self.model = tfrestore.models.get(method, **kwargs)
        self.model.compile(
            generator_optimizer=keras.optimizers.SGD(LEARNING_RATE),
            discriminator_optimizer=keras.optimizers.SGD(LEARNING_RATE),
            jit_compile=jit_compile,
        )
        self.traces = 0
        train_step = self.model.train_step

        def counted(data):
            self.traces += 1  # Python runs only while tracing
            return train_step(data)

        self.model.train_step = counted
        degraded, target = harness.make_batch(2)
        self.data = tf.data.Dataset.from_tensors((harness.inputs(degraded), target)).repeat()

    def steps(self, count):
        """Trains `count` steps; returns every network's weights after them."""
        self.model.fit(self.data, steps_per_epoch=count, verbose=0)
        networks = [self.model.generator, self.model.discriminator, self.model.local_discriminator]
        return [w.numpy() for net in networks if net is not None for w in net.weights]


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(HARNESSES))
def test_compiled_step_equals_the_uncompiled_one(method):
    compiled = Run(method, jit_compile=True)
    after_one = compiled.steps(1)
    reference = Run(method, jit_compile=False).steps(1)
    assert len(after_one) == len(reference)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(after_one, reference))
    assert worst <= WEIGHT_ATOL
    compiled.steps(2)
    assert compiled.traces == 1  # three steps, one trace: nothing retraces per step
