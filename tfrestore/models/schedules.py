"""Learning-rate schedules used by the papers."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfrestore")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant learning rate, then a linear decay to 0 (DeblurGAN, EnlightenGAN, MEDFE).

    Upstream decays once per epoch (`update_learning_rate`); this decays per step, which is the
    same line sampled more finely.

    Args:
        learning_rate: float, the initial rate.
        constant_steps: int, steps at the initial rate.
        decay_steps: int, steps over which the rate then falls linearly to 0 (stays 0 after).

    Example:
        >>> schedule = ConstantThenLinearDecay(1e-4, constant_steps=100, decay_steps=100)
        >>> float(schedule(150))
        5e-05
    """

    def __init__(self, learning_rate, constant_steps, decay_steps):
        if constant_steps < 0 or decay_steps < 1:
            raise ValueError(
                f"constant_steps must be >= 0 and decay_steps >= 1, got {constant_steps} and "
                f"{decay_steps}"
            )
        self.learning_rate = float(learning_rate)
        self.constant_steps = int(constant_steps)
        self.decay_steps = int(decay_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        progress = (step - self.constant_steps) / self.decay_steps
        return self.learning_rate * (1.0 - tf.clip_by_value(progress, 0.0, 1.0))

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "constant_steps": self.constant_steps,
            "decay_steps": self.decay_steps,
        }
