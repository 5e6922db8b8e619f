"""The demos behind `make demo`: train, evaluate and export on scikit-image's sample photos.

Every demo trains a reduced-width model for a bounded time on sample photos degraded on the
fly, scores held-out photos (degraded with a fixed seed), exports the model to SavedModel and
TFLite, and writes an image grid and `report.md` to its output folder. Each method's module
says what it measures and how its recipe differs from the paper's (training/configs/ has the
paper's).
"""

import importlib
import os

import keras

from tfrestore.demo.common import OUTPUT

DEMOS = ("deblur_gan", "context_encoder", "attentive_gan", "enlighten_gan", "medfe")


def default_output(model_name):
    """outputs/demo for DeblurGAN (what `make demo` writes), outputs/demo/<name> otherwise."""
    return OUTPUT if model_name == "deblur_gan" else os.path.join(OUTPUT, model_name)


def run(model_name="deblur_gan", minutes=5.0, output=None):
    """Runs a demo; returns 0 when the model beats the degraded input (PSNR), else 1.

    Args:
        model_name: one of `DEMOS`.
        minutes: float, training time budget.
        output: folder for everything written (default `default_output(model_name)`).
    """
    if model_name not in DEMOS:
        raise ValueError(f"no demo for {model_name!r}; available: {', '.join(DEMOS)}")
    output = output or default_output(model_name)
    os.makedirs(output, exist_ok=True)
    keras.utils.set_random_seed(0)
    return importlib.import_module(f"tfrestore.demo.{model_name}").run(minutes, output)
