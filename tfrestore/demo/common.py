"""What every demo shares: the time budget, the photo split, training, export and reporting."""

import os
import time

import keras
import numpy as np

from tfrestore import data, metrics

HELD_OUT = ("astronaut", "coffee")
OUTPUT = os.path.join("outputs", "demo")


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` have passed (checked after every batch); prints progress
    at each epoch end."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.steps = 0

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.monotonic() - self.start > self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        terms = "  ".join(f"{name} {value:.4g}" for name, value in sorted((logs or {}).items()))
        elapsed = time.monotonic() - self.start
        print(f"{elapsed:5.0f} s  step {self.steps:5d}  {terms}", flush=True)


class LinearDecayOverTime(keras.callbacks.Callback):
    """The papers' schedule over a time budget instead of a step count: each optimizer of the
    model at its initial learning rate for the first `constant_fraction` of `seconds`, then
    decaying linearly to 0 at the end (a run stopped by `TimeBudget` has no known step count).
    Set before every batch; needs optimizers built with a float learning rate."""

    def __init__(self, seconds, optimizers, constant_fraction=0.5):
        super().__init__()
        self.seconds = seconds
        self.optimizers = list(optimizers)
        self.constant_fraction = constant_fraction
        self.initial = [float(optimizer.learning_rate) for optimizer in self.optimizers]

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def scale(self, elapsed):
        """Learning-rate factor after `elapsed` seconds: 1, then linearly down to 0."""
        progress = (elapsed / self.seconds - self.constant_fraction) / (1 - self.constant_fraction)
        return float(np.clip(1.0 - progress, 0.0, 1.0))

    def on_train_batch_begin(self, batch, logs=None):
        scale = self.scale(time.monotonic() - self.start)
        for optimizer, initial in zip(self.optimizers, self.initial, strict=True):
            optimizer.learning_rate.assign(initial * scale)


def vgg_weights_or_none(network="vgg19"):
    """ImageNet VGG weights when Keras can get them (cached or downloadable), else None."""
    try:
        getattr(keras.applications, network.upper())(include_top=False, weights="imagenet")
        return "imagenet"
    except Exception as error:  # offline: no download possible
        print(f"{network.upper()} ImageNet weights unavailable ({type(error).__name__}); the")
        print("perceptual loss uses a randomly initialised VGG for this demo.")
        return None


def split_photos():
    """All sample photos by name, and the training ones (all but `HELD_OUT`) as a list."""
    photos = data.sample_images()
    return photos, [image for name, image in photos.items() if name not in HELD_OUT]


def train(model_name, model, dataset, minutes, output, description, callbacks=()):
    """Fits `model` on `dataset` until `minutes` have passed; returns the `TimeBudget`.
    `callbacks` are added to fit's."""
    budget = TimeBudget(minutes * 60)
    print(
        f"training {model_name} ({model.generator.count_params():,} generator parameters) "
        f"for {minutes:g} minutes on {description}"
    )
    model.fit(
        dataset,
        epochs=10_000,  # the time budget ends training
        steps_per_epoch=25,
        callbacks=[
            budget,
            *callbacks,
            keras.callbacks.TensorBoard(os.path.join(output, "logs")),
        ],
        verbose=0,
    )
    return budget


def save_and_export(model, output):
    """Writes model.keras, saved_model/ and model.tflite; returns the two export reports."""
    from tfrestore import export

    model.save(os.path.join(output, "model.keras"))
    saved = export.export_saved_model(model, os.path.join(output, "saved_model"))
    tflite = export.export_tflite(model, os.path.join(output, "model.tflite"))
    return saved, tflite


def write_report(output, lines):
    report = "\n".join(lines) + "\n"
    with open(os.path.join(output, "report.md"), "w") as handle:
        handle.write(report)
    print(report)


def verdict(name, score, baseline_name, baseline):
    """Prints whether `score` (higher is better) beats the baseline; 0 if it does, else 1."""
    better = score > baseline
    print(
        f"{name} PSNR {score:.2f} dB vs {baseline_name} {baseline:.2f} dB: "
        f"{'better' if better else 'NOT better'}"
    )
    return 0 if better else 1


def scores(target, images):
    return float(np.mean(metrics.psnr(target, images))), float(
        np.mean(metrics.ssim(target, images))
    )


def resize_shorter_side(image, side):
    """`image` [H, W, 3] resized (antialiased bilinear) so its shorter side is `side`."""
    import tensorflow as tf

    height, width = image.shape[:2]
    scale = side / min(height, width)
    size = (max(side, round(height * scale)), max(side, round(width * scale)))
    resized = tf.image.resize(image, size, method="bilinear", antialias=True)
    return np.clip(resized.numpy(), 0.0, 1.0)
