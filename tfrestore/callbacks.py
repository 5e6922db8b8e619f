"""Training callbacks: TensorBoard image panels and crash-safe checkpoints."""

import os

import keras
import tensorflow as tf


class ImagePanels(keras.callbacks.Callback):
    """Writes degraded | restored | target panels to TensorBoard every `every_n_steps` batches.

    The middle is the model's `panel_images` (AttentiveGAN adds its attention maps).

    Args:
        degraded: float32 [B, H, W, 3] images in [0, 1] (a fixed batch, e.g. from validation),
            or a tuple of model inputs (inpainting: (image, mask)); the first element is shown.
        target: float32 [B, H, W, 3] in [0, 1], the clean images, or a tuple of targets shown
            side by side (MEDFE: image, structure image).
        logdir: str, the TensorBoard log directory (panels go to `logdir/images`).
        every_n_steps: int, training batches between two panels (default 100).
        max_images: int, images per panel (default 3).
    """

    def __init__(self, degraded, target, logdir, every_n_steps=100, max_images=3):
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.degraded = degraded
        self.target = target
        self.every_n_steps = int(every_n_steps)
        self.max_images = int(max_images)
        self._writer = tf.summary.create_file_writer(os.path.join(logdir, "images"))
        self._step = 0

    def panels(self):
        """The [B, H, 3W, 3] panel images, degraded | restored | target side by side."""
        shown = self.degraded[0] if isinstance(self.degraded, tuple | list) else self.degraded
        middle = self.model.panel_images(self.degraded)  # the restored image, maybe more
        targets = list(self.target) if isinstance(self.target, tuple | list) else [self.target]
        return tf.concat([shown, *middle, *targets], axis=2)[: self.max_images]

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self.every_n_steps == 0:
            self.write(self._step)

    def on_train_end(self, logs=None):
        self.write(self._step)

    def write(self, step):
        with self._writer.as_default():
            tf.summary.image(
                "degraded|restored|target", self.panels(), step=step, max_outputs=self.max_images
            )
        self._writer.flush()


class LatestCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (with optimizer state) to `path` at each epoch end, atomically.

    The model is written to a temporary file beside `path` and renamed over it only when the
    save succeeded, so an interrupted save never destroys the previous checkpoint.
    """

    def __init__(self, path):
        super().__init__()
        if not str(path).endswith(".keras"):
            raise ValueError(f"checkpoint path must end in .keras, got {path}")
        self.path = str(path)

    def on_epoch_end(self, epoch, logs=None):
        save_atomically(self.model, self.path)


def save_atomically(model, path):
    """`model.save(path)` (a .keras file) through a temporary file renamed over `path` only
    once the save succeeded, so an interrupted save never destroys the previous file."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = f"{path[: -len('.keras')]}.tmp.keras"
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
