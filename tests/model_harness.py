"""The checks every tfrestore model gets: subclass `ModelHarness` per model.

A subclass sets `model_name` and tiny architecture `kwargs`; it may override `make_batch` (e.g.
inpainting adds a mask). Each check asserts values, so each can fail. The checks that only read
a model share one per class (`shared_model`); those that compile, train, save or export build
their own and are marked `slow` (seconds each), so `pytest -m "not slow"` keeps every model's
shape and config checks.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfrestore


def smooth_images(batch, height, width, seed=0):
    """Seeded random smooth RGB images in [0, 1] (noise upsampled), float32 NHWC."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((batch, max(height // 8, 2), max(width // 8, 2), 3)).astype("float32")
    return tf.image.resize(coarse, (height, width)).numpy().clip(0, 1)


def trainable_count(model):
    """Trainable parameters, as PyTorch counts `parameters()` (BatchNorm statistics excluded)."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


class ModelHarness:
    model_name = None
    kwargs = {}
    size = 32  # training crop used by the harness
    shapes = ((32, 32), (37, 50))  # inference sizes, one non-square

    def make_model(self):
        return tfrestore.models.get(self.model_name, **self.kwargs)

    @pytest.fixture(scope="class")
    @classmethod
    def shared_model(cls):
        """One model for the class's checks that only read it (predict, config, export):
        building a model and tracing its predict step take seconds. Seeded as a test's own."""
        keras.utils.set_random_seed(0)
        return cls().make_model()

    def make_batch(self, batch=2, height=None, width=None, seed=0):
        """(degraded, target) in [0, 1]."""
        height = height or self.size
        width = width or self.size
        target = smooth_images(batch, height, width, seed)
        degraded = np.clip(target * 0.8 + 0.05, 0, 1).astype("float32")
        return degraded, target

    def inputs(self, degraded):
        return degraded

    def target_image(self, target):
        """The image part of a target (MEDFE's targets are (image, structure) pairs)."""
        return target

    def test_output_shape_any_size(self, shared_model):
        model = shared_model
        for height, width in self.shapes:
            degraded, _ = self.make_batch(2, height, width)
            restored = model.predict(self.inputs(degraded), verbose=0)
            assert restored.shape == (2, height, width, 3)
            assert restored.dtype == np.float32
            assert 0.0 <= restored.min() and restored.max() <= 1.0

    def test_config_round_trip(self, shared_model):
        model = shared_model
        config = model.get_config()
        clone = type(model).from_config(config)
        assert clone.get_config() == config
        assert clone.generator.count_params() == model.generator.count_params()
        assert clone.discriminator.count_params() == model.discriminator.count_params()

    def trained_networks(self, model):
        """The networks one `fit` step must change."""
        return [model.generator, model.discriminator]

    @pytest.mark.slow
    def test_fit_trains_every_network_and_the_keras_file_keeps_it(self, tmp_path):
        """One `fit` step changes every network and logs every loss term; the `.keras` file
        then gives the same outputs and optimizer state. (One test: a train step's tracing
        is most of either check's time.)"""
        model = self.make_model()
        model.compile()
        degraded, target = self.make_batch(2)
        dataset = tf.data.Dataset.from_tensor_slices((self.inputs(degraded), target)).batch(2)
        networks = self.trained_networks(model)
        before = [[w.numpy().copy() for w in net.trainable_weights] for net in networks]
        history = model.fit(dataset, epochs=1, verbose=0)
        for net, weights in zip(networks, before):
            after = net.trainable_weights
            assert any(not np.allclose(a, b.numpy()) for a, b in zip(weights, after)), net.name
        names = {"g_loss", "d_loss", *model.generator_loss_names, *model.discriminator_loss_names}
        assert names <= set(history.history)
        assert all(np.isfinite(history.history[name][-1]) for name in names)
        assert int(model.discriminator_optimizer.iterations) == model.discriminator_steps
        assert int(model.generator_optimizer.iterations) == 1

        path = str(tmp_path / "model.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
        np.testing.assert_allclose(
            loaded.predict(self.inputs(degraded), verbose=0),
            model.predict(self.inputs(degraded), verbose=0),
            atol=1e-6,
        )
        for optimizer_name in ("generator_optimizer", "discriminator_optimizer"):
            original = getattr(model, optimizer_name).variables
            restored = getattr(loaded, optimizer_name).variables
            assert len(original) == len(restored) > 2
            for a, b in zip(original, restored):
                np.testing.assert_allclose(a.numpy(), b.numpy())

    @pytest.mark.slow
    def test_evaluate_reports_psnr_ssim(self):
        model = self.make_model()
        model.compile()
        degraded, target = self.make_batch(2)
        dataset = tf.data.Dataset.from_tensor_slices((self.inputs(degraded), target)).batch(2)
        results = model.evaluate(dataset, verbose=0, return_dict=True)
        restored = model.predict(self.inputs(degraded), verbose=0)
        expected = np.mean(tfrestore.metrics.psnr(self.target_image(target), restored))
        np.testing.assert_allclose(results["psnr"], expected, rtol=1e-4)
        assert 0.0 < results["ssim"] <= 1.0
        assert "g_loss" in results and "d_loss" in results

    @pytest.mark.slow
    def test_export_parity(self, shared_model, tmp_path):
        from tfrestore import export

        model = shared_model
        saved = export.export_saved_model(model, str(tmp_path / "saved_model"))
        # Converted from that SavedModel, as `tfrestore export` does: tracing it again would
        # double the test's time (MEDFE's three signatures take the most).
        tflite = export.export_tflite(
            model, str(tmp_path / "model.tflite"), saved_model_dir=saved.path
        )
        assert saved.max_abs_error <= 1e-4
        assert tflite.max_abs_error <= 1e-4


def run_replica_check(module, harness, overrides):
    """Runs `tests/replica_check.py` for a model's harness in a subprocess (2 logical CPUs)
    and asserts that 2 replicas made the same update as 1 on the same global batch."""
    import json
    import pathlib
    import subprocess
    import sys

    tests = pathlib.Path(__file__).resolve().parent
    command = [sys.executable, str(tests / "replica_check.py"), module, harness]
    result = subprocess.run(
        [*command, json.dumps(overrides)], capture_output=True, text=True, timeout=600, cwd=tests
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["weight_change"] > 1e-4  # the step really trained
    assert report["weight_diff"] < 1e-5, report
    for name, diff in report["loss_diff"].items():
        assert diff <= 1e-4 * max(1.0, abs(report["losses"][name])), (name, report)
    return report
