"""XLA: every method's training step compiles with `jit_compile=True`, is traced once, and
makes the same update as the uncompiled step."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from method_harnesses import HARNESSES

import tfrestore

# One SGD step moves each weight by LEARNING_RATE times its gradient (small enough that a
# WGAN-GP critic, whose penalty gradients reach ~300, stays in its linear range over its 2
# updates); the compiled update must match the uncompiled one to RTOL of its largest element
# (XLA fuses and reorders float32 arithmetic: gradients agree to ~1e-6 relative).
LEARNING_RATE = 1e-4
RTOL = 1e-3


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

    def weights(self):
        """Every network's weights (numpy copies)."""
        networks = [self.model.generator, self.model.discriminator, self.model.local_discriminator]
        return [w.numpy() for net in networks if net is not None for w in net.weights]

    def steps(self, count):
        """Trains `count` steps; returns the weights after them."""
        self.model.fit(self.data, steps_per_epoch=count, verbose=0)
        return self.weights()


# The Context Encoder (batch norm, the channel-wise dense layer) in `make test`; the others
# take from 10 s to minutes to compile: `--exhaustive`.
QUICK = ("context_encoder",)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method",
    [m if m in QUICK else pytest.param(m, marks=pytest.mark.exhaustive) for m in sorted(HARNESSES)],
)
def test_compiled_step_equals_the_uncompiled_one(method):
    compiled = Run(method, jit_compile=True)
    initial = compiled.weights()
    update = [b - a for a, b in zip(initial, compiled.steps(1))]
    reference = Run(method, jit_compile=False)
    np.testing.assert_array_equal(
        np.concatenate([w.ravel() for w in reference.weights()]),
        np.concatenate([w.ravel() for w in initial]),
    )
    expected = [b - a for a, b in zip(initial, reference.steps(1))]
    largest = max(float(np.abs(u).max()) for u in expected)
    assert largest > 0  # the step trained
    worst = max(float(np.abs(a - b).max()) for a, b in zip(update, expected))
    assert worst <= RTOL * largest, (worst, largest)
    compiled.steps(2)
    assert compiled.traces == 1  # three steps, one trace: nothing retraces per step
