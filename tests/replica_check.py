"""Runs one training step with 1 replica and with 2 (logical CPU devices) on the same global
batch and prints JSON with the largest weight and logged-loss differences. The 1-replica
reference step runs eagerly (no tracing: half this check's time); the 2-replica step is the
compiled `fit` a user runs.

Run as a subprocess (logical devices must be set before TensorFlow initialises), naming a
model test module and its `ModelHarness` class, and kwargs overriding the harness's:
    python tests/replica_check.py test_deblur_gan TestDeblurGAN '{"dropout_rate": 0.0}'
"""

import importlib
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfrestore  # noqa: E402

# The model test modules (and model_harness) the harness classes come from.
TESTS = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(TESTS / "models"), str(TESTS)]


def one_step(strategy, model_name, kwargs, weights, batch, run_eagerly=False):
    with strategy.scope():
        model = tfrestore.models.get(model_name, **kwargs)
        model.set_weights(weights)
        # SGD: Adam's first step is lr * sign(gradient), blind to a wrongly scaled gradient.
        model.compile(
            run_eagerly=run_eagerly,
            generator_optimizer=keras.optimizers.SGD(1e-3),
            discriminator_optimizer=keras.optimizers.SGD(1e-3),
        )
    dataset = tf.data.Dataset.from_tensors(batch)
    history = model.fit(dataset, epochs=1, verbose=0)
    return model, {name: values[-1] for name, values in history.history.items()}


def main():
    module, class_name, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    harness = getattr(importlib.import_module(module), class_name)()
    model_name, kwargs = harness.model_name, {**harness.kwargs, **overrides}
    keras.utils.set_random_seed(0)
    weights = tfrestore.models.get(model_name, **kwargs).get_weights()
    batch = harness.make_batch(batch=4, seed=3)
    single, single_logs = one_step(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        model_name,
        kwargs,
        weights,
        batch,
        run_eagerly=True,
    )
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    double, double_logs = one_step(mirrored, model_name, kwargs, weights, batch)
    changed = max(float(np.abs(a - b).max()) for a, b in zip(weights, single.get_weights()))
    weight_diff = max(
        float(np.abs(a - b).max()) for a, b in zip(single.get_weights(), double.get_weights())
    )
    loss_diff = {name: abs(single_logs[name] - double_logs[name]) for name in single_logs}
    report = {
        "replicas": mirrored.num_replicas_in_sync,
        "weight_change": changed,
        "weight_diff": weight_diff,
        "loss_diff": loss_diff,
        "losses": single_logs,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
