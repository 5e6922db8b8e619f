"""Training callbacks: TensorBoard scalars and image panels, a resumable backup, crash-safe
checkpoints, and a stop on non-finite losses.

Every TensorBoard step is the training step count of the model's optimizer (`global_step`),
which the backup restores with the weights, so a resumed run continues its curves where the
interrupted one stopped.
"""

import math
import os
import re
import sys

import h5py
import keras
import numpy as np
import tensorflow as tf

from tfrestore.atomic import atomic_output, is_temporary, remove


class NonFiniteLossError(FloatingPointError):
    """A loss (or, checked before every save, a weight) became NaN or infinite: training
    stopped, and no checkpoint or backup was overwritten with that state."""


def global_step(model):
    """Training steps so far: the iterations of the model's optimizer (the generator's for a
    `RestorationGAN`), saved and restored with the weights, so it continues across a resume."""
    return int(model.optimizer.iterations)


def check_finite(logs, step):
    """Raises `NonFiniteLossError` naming every loss of `logs` ({name: scalar}) that is NaN or
    infinite at training step `step`."""
    bad = {name: float(value) for name, value in logs.items() if not math.isfinite(float(value))}
    if bad:
        terms = ", ".join(f"{name} = {value}" for name, value in bad.items())
        raise NonFiniteLossError(
            f"{terms} at step {step}: training stopped, the checkpoint and backup keep the last "
            "finite epoch (a lower learning rate may help)"
        )


def check_finite_weights(model, path):
    """Raises `NonFiniteLossError` if a weight of `model` is NaN or infinite (a non-finite
    gradient can do that while the losses were still finite); `path`: what was to be saved."""
    for variable in model.weights:
        if not np.isfinite(keras.ops.convert_to_numpy(variable)).all():
            raise NonFiniteLossError(
                f"weight {variable.path} is NaN or infinite: training stopped, {path} keeps the "
                "last finite state (a lower learning rate may help)"
            )


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` at the first training batch that logs a NaN or infinite loss.

    Raising stops `fit` before the epoch-end callbacks, so no checkpoint or backup receives the
    broken weights. (Keras' `TerminateOnNaN` reads only `logs["loss"]`, which these models do
    not log: they log `g_loss`, `d_loss` and each term.)
    """

    def on_train_batch_end(self, batch, logs=None):
        check_finite(logs or {}, global_step(self.model))


class TensorBoardScalars(keras.callbacks.Callback):
    """Writes the logged losses and metrics to TensorBoard, under the tags Keras uses.

    Every epoch: the epoch's means (`logdir/train`, `epoch_<name>`, with `epoch_learning_rate`,
    the generator's) and the validation scores (`logdir/validation`: `epoch_psnr`,
    `epoch_ssim`, `epoch_<loss>`), at step = epoch index. Every `every_n_steps` training steps
    (by `global_step`): the running means of the epoch so far (`batch_<name>`).

    Replaces `keras.callbacks.TensorBoard`, whose `update_freq` also gates the epoch summaries
    (they were written only when an epoch's last step was a multiple of it) and every other
    callback's summaries, and whose batch step restarts at 0 on a resumed run.

    Args:
        logdir: str, the TensorBoard log directory.
        every_n_steps: int >= 1, training steps between two batch-level scalars (default 10).
    """

    def __init__(self, logdir, every_n_steps=10):
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = int(every_n_steps)
        self._train_writer = tf.summary.create_file_writer(os.path.join(logdir, "train"))
        self._validation_writer = tf.summary.create_file_writer(os.path.join(logdir, "validation"))

    def on_train_batch_end(self, batch, logs=None):
        step = global_step(self.model)
        if step % self.every_n_steps == 0:
            _write_scalars(self._train_writer, "batch_", logs or {}, step)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        learning_rate = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        train = {name: value for name, value in logs.items() if not name.startswith("val_")}
        validation = {name[4:]: value for name, value in logs.items() if name.startswith("val_")}
        _write_scalars(
            self._train_writer, "epoch_", {**train, "learning_rate": learning_rate}, epoch
        )
        _write_scalars(self._validation_writer, "epoch_", validation, epoch)

    def on_train_end(self, logs=None):
        self._train_writer.flush()
        self._validation_writer.flush()


def _write_scalars(writer, prefix, logs, step):
    if not logs:
        return
    with writer.as_default():
        for name, value in logs.items():
            tf.summary.scalar(f"{prefix}{name}", value, step=step)
    writer.flush()


class ImagePanels(keras.callbacks.Callback):
    """Writes degraded | restored | target panels to TensorBoard every `every_n_steps` steps.

    The step is `global_step`, so panels land on multiples of `every_n_steps` and continue
    across a resume; one more panel is written at the end of training if its last step had
    none. The middle is the model's `panel_images` (AttentiveGAN adds its attention maps).

    Args:
        degraded: float32 [B, H, W, 3] images in [0, 1] (a fixed batch, e.g. from validation),
            or a tuple of model inputs (inpainting: (image, mask)); the first element is shown.
        target: float32 [B, H, W, 3] in [0, 1], the clean images, or a tuple of targets shown
            side by side (MEDFE: image, structure image).
        logdir: str, the TensorBoard log directory (panels go to `logdir/images`).
        every_n_steps: int, training steps between two panels (default 100).
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
        self._written_step = None

    def panels(self):
        """The [B, H, 3W, 3] panel images, degraded | restored | target side by side."""
        shown = self.degraded[0] if isinstance(self.degraded, tuple | list) else self.degraded
        middle = self.model.panel_images(self.degraded)  # the restored image, maybe more
        targets = list(self.target) if isinstance(self.target, tuple | list) else [self.target]
        return tf.concat([shown, *middle, *targets], axis=2)[: self.max_images]

    def on_train_begin(self, logs=None):
        self._written_step = global_step(self.model)  # nothing new to show before a step

    def on_train_batch_end(self, batch, logs=None):
        step = global_step(self.model)
        if step % self.every_n_steps == 0:
            self.write(step)

    def on_train_end(self, logs=None):
        step = global_step(self.model)
        if step != self._written_step:
            self.write(step)

    def write(self, step):
        with self._writer.as_default():
            tf.summary.image(
                "degraded|restored|target", self.panels(), step=step, max_outputs=self.max_images
            )
        self._writer.flush()
        self._written_step = step


class TrainingBackup(keras.callbacks.Callback):
    """Keeps the training state in `directory` after every epoch, so that a stopped run resumes.

    A state is the model's weights with both optimizers' variables (their step counts too),
    in `epoch_<N>.weights.h5`, N the finished epochs. Each is written to a temporary file and
    renamed into place (`save_atomically`), and the older states beyond the newest `keep` are
    deleted after that, so a kill at any moment leaves the last state intact. `restore` loads
    the newest readable state; one that cannot be read (a disk fault, a copy cut short) is
    renamed `*.damaged`, reported in one line on stderr, and the state before it is used.

    Replaces `keras.callbacks.BackupAndRestore`, which overwrites one `latest.weights.h5` in
    place: a kill during that write leaves a file that fails every later resume.

    Args:
        directory: str, the folder of the states (created on the first save).
        keep: int >= 1, states kept (default 2: the newest and the one before it).

    Example:
        backup = TrainingBackup("runs/x/backup")
        initial_epoch = backup.restore(model)  # 0 when there is nothing to resume
        model.fit(data, epochs=10, initial_epoch=initial_epoch, callbacks=[backup])
    """

    def __init__(self, directory, keep=2):
        super().__init__()
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = str(directory)
        self.keep = int(keep)

    def states(self):
        """[(finished epochs, path)] of the saved states, newest first."""
        if not os.path.isdir(self.directory):
            return []
        found = []
        for name in os.listdir(self.directory):
            match = re.fullmatch(r"epoch_(\d+)\.weights\.h5", name)
            if match:
                found.append((int(match[1]), os.path.join(self.directory, name)))
        return sorted(found, reverse=True)

    def restore(self, model):
        """Loads the newest intact state into `model` (compiled) and returns its finished
        epochs, fit's `initial_epoch`; 0, with the model untouched, when there is none.
        Temporary files of writes that were killed are deleted."""
        if os.path.isdir(self.directory):
            for name in os.listdir(self.directory):
                if is_temporary(name):
                    remove(os.path.join(self.directory, name))
        damaged = []
        for epoch, path in self.states():
            try:
                _read_every_dataset(path)
            except Exception as error:  # h5py reports damage as OSError, RuntimeError, ...
                os.replace(path, f"{path}.damaged")
                damaged.append(f"{path} ({_first_line(error)})")
                continue
            model.load_weights(path)
            resumed = f"resuming after epoch {epoch} (step {global_step(model)}) from {path}"
            if damaged:
                print(f"tfrestore: {_damaged(damaged)}; {resumed}", file=sys.stderr)
            else:
                print(f"tfrestore: {resumed}")
            return epoch
        if damaged:
            print(
                f"tfrestore: {_damaged(damaged)}; no older state: training starts from epoch 1",
                file=sys.stderr,
            )
        return 0

    def on_epoch_end(self, epoch, logs=None):
        save_atomically(self.model, os.path.join(self.directory, f"epoch_{epoch + 1}.weights.h5"))
        for _, path in self.states()[self.keep :]:
            os.remove(path)


def _read_every_dataset(path):
    """Reads every array of an HDF5 file; raises if a part of it is missing or corrupt."""

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]

    with h5py.File(path, "r") as file:
        file.visititems(read)


def _damaged(paths):
    return f"damaged backup {', '.join(paths)} renamed *.damaged"


def _first_line(error):
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


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
    """`model.save(path)` (a `.keras` file) or `model.save_weights(path)` (a `.weights.h5`
    file) through a temporary file renamed over `path` only once the save succeeded, so an
    interrupted save never destroys the previous file.

    Raises:
        NonFiniteLossError: a weight is NaN or infinite (nothing is written).
    """
    check_finite_weights(model, path)
    save = model.save_weights if path.endswith(".weights.h5") else model.save
    with atomic_output(path) as temporary:  # named "...<name>", so Keras sees the suffix
        save(temporary)


class ProfileSteps(keras.callbacks.Callback):
    """Records a TensorFlow profiler trace of training steps `first` to `last` of this run.

    Steps are counted from 1 at the start of each `fit` call (the first one includes tracing,
    so profile later ones, e.g. 5 to 8). The trace goes to
    `logdir/train/plugins/profile/<time>/`, next to the training scalars, where TensorBoard's
    profile tab finds it; that tab needs the profile plugin (`pip install tfrestore[profile]`,
    the `tensorboard-plugin-profile` package), recording does not.

    Args:
        logdir: str, the run's TensorBoard log directory.
        first, last: ints, 1 <= first <= last, the first and last step traced. A run that ends
            before `last` stops the trace at its end.
    """

    def __init__(self, logdir, first, last):
        super().__init__()
        if not 1 <= int(first) <= int(last):
            raise ValueError(f"profile steps must satisfy 1 <= first <= last, got {first},{last}")
        self.logdir = os.path.join(logdir, "train")
        self.first, self.last = int(first), int(last)
        self._step = 0
        self._tracing = False

    def on_train_begin(self, logs=None):
        self._step = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._step += 1
        if self._step == self.first:
            tf.profiler.experimental.start(self.logdir)
            self._tracing = True

    def on_train_batch_end(self, batch, logs=None):
        if self._step == self.last:
            self._stop()

    def on_train_end(self, logs=None):
        self._stop()

    def _stop(self):
        if self._tracing:
            tf.profiler.experimental.stop()
            self._tracing = False
