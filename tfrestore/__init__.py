"""tfrestore: classic GAN image restoration in TensorFlow/Keras.

Images at every public boundary are float32 RGB in [0, 1], NHWC; masks are float32 with
1 = missing pixel.
"""

from tfrestore import data, layers, losses, metrics, models

__version__ = "0.1.0"

__all__ = ["data", "layers", "losses", "metrics", "models", "export", "__version__"]


def __getattr__(name):
    # `tfrestore.export` pulls in the TFLite converter; import it only when asked for.
    if name == "export":
        import importlib

        return importlib.import_module("tfrestore.export")
    raise AttributeError(f"module 'tfrestore' has no attribute {name!r}")
