"""Shared test settings: quiet TensorFlow, deterministic seeds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# pytest-xdist runs several test processes side by side (`make test`: 2 on 2 cores). Each
# TensorFlow's default pool of one thread per core would oversubscribe the CPU; a share of the
# cores each made a third of the suite 13% faster (157 -> 137 s). Subprocesses inherit it.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, os.cpu_count() // _workers)))

from tfrestore.cli import use_bfc_cpu_allocator  # noqa: E402

use_bfc_cpu_allocator()  # as the `tfrestore` command runs: pooled CPU memory

import keras  # noqa: E402
import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(
        "--exhaustive",
        action="store_true",
        help="also run the `exhaustive` tests (every method where one or two stand for all)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--exhaustive"):
        return
    skip = pytest.mark.skip(reason="exhaustive: run with --exhaustive (make test-exhaustive)")
    for item in items:
        if "exhaustive" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def deblur_gan_forms(tmp_path_factory):
    """A tiny DeblurGAN (random weights) and its three files, exported once per test process
    and shared by the tests that only read them: (model, folder, reports), where the folder
    holds model.keras, saved_model and model.tflite (float32) and `reports` maps the last two
    names to their export reports."""
    import tfrestore
    from tfrestore import export

    keras.utils.set_random_seed(0)
    model = tfrestore.models.DeblurGAN(filters=4, num_blocks=1, vgg_weights=None)
    model(export.probe_inputs({"image": 3}, (32, 32))["image"])  # built: `.keras` saves quietly
    folder = tmp_path_factory.mktemp("deblur_gan_forms")
    model.save(folder / "model.keras")
    reports = {
        "saved_model": export.export_saved_model(model, folder / "saved_model"),
        "model.tflite": export.export_tflite(model, folder / "model.tflite"),
    }
    return model, folder, reports


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty Keras cache (its folder is returned): anything that tries to
    download fails, as on a machine without internet."""
    import socket

    from keras.src.backend import config

    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))
    return tmp_path
