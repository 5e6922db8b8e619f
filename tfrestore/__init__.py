"""tfrestore: classic GAN image restoration in TensorFlow/Keras.

Images at every public boundary are float32 RGB in [0, 1], NHWC; masks are float32 with
1 = missing pixel.
"""

import importlib

__version__ = "0.1.0"

# Submodules load on first use: `import tfrestore` stays cheap, and the `tfrestore` command
# can set TensorFlow's log level before anything imports TensorFlow.
_SUBMODULES = (
    "convert",
    "data",
    "evaluate",
    "export",
    "inference",
    "layers",
    "losses",
    "metrics",
    "models",
    "restore",
    "tiling",
    "train",
)

__all__ = [*_SUBMODULES, "__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"tfrestore.{name}")
    raise AttributeError(f"module 'tfrestore' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_SUBMODULES})
