"""Shared test settings: quiet TensorFlow, deterministic seeds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


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
