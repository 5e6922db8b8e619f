"""Training under `tf.distribute.MultiWorkerMirroredStrategy` (several machines).

Keras 3's `fit` does not run under this strategy, even for a Sequential model
(keras-team/keras#20585, tensorflow/tensorflow#72388), so `fit_multiworker` is a plain loop:
each step calls the model's own `train_step` in `strategy.run`, exactly what `fit` runs, so the
losses, their global-batch averaging and the optimizers are the same as with `fit`.

Every worker runs the same command with its own `TF_CONFIG` (the cluster and its task); the
chief (task `chief`, or `worker` 0 without one) writes TensorBoard scalars, the resumable
checkpoint and `checkpoints/latest.keras`. The logdir must be on a filesystem every worker
sees, as TensorFlow's multi-worker checkpointing expects.
"""

import os
import shutil
import tempfile

import keras
import tensorflow as tf

from tfrestore.callbacks import check_finite, check_finite_weights, save_atomically

__all__ = ["fit_multiworker", "is_chief"]


def is_chief(strategy):
    """True on the worker that writes logs and checkpoints: task `chief`, or `worker` 0 of a
    cluster without a chief, or the only process when there is no `TF_CONFIG`."""
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def fit_multiworker(model, dataset, epochs, steps_per_epoch, logdir, strategy, log_every=10):
    """Trains `model` (compiled in `strategy.scope()`) on `dataset` for `epochs` epochs.

    The dataset yields global batches; each worker builds the same one (same config and seed)
    and takes its share (`AutoShardPolicy.DATA`). Running again with the same logdir resumes
    from the last finished epoch, with the weights and both optimizers' state (the data
    restart from their beginning). Validation and image panels are not run here; evaluate
    `checkpoints/latest.keras` afterwards.

    Args:
        model: a compiled `RestorationGAN`.
        dataset: tf.data.Dataset of (degraded, target) global batches; a finite one is
            repeated, so an epoch may cross its end.
        epochs, steps_per_epoch: int.
        logdir: str; gets `train/` (TensorBoard: `batch_<loss>` every `log_every` steps and
            `epoch_<loss>`), `multiworker/` (the resumable tf.train checkpoint) and
            `checkpoints/latest.keras` after every epoch.
        strategy: the `MultiWorkerMirroredStrategy` the model was built under.
        log_every: int, steps between two batch-level scalars (default 10).

    Returns:
        keras.callbacks.History whose `history` holds each loss's mean per epoch (the epochs
        this call ran).

    Raises:
        tfrestore.callbacks.NonFiniteLossError: a loss or weight became NaN or infinite (the
            last epoch's checkpoint stays).
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    # Repeated: epochs follow each other in one iterator (fit restarts a finite dataset).
    batches = iter(strategy.experimental_distribute_dataset(dataset.repeat().with_options(options)))
    with strategy.scope():
        finished = tf.Variable(0, dtype=tf.int64, trainable=False, name="finished_epochs")
    checkpoint = tf.train.Checkpoint(
        model=model,
        generator_optimizer=model.generator_optimizer,
        discriminator_optimizer=model.discriminator_optimizer,
        finished_epochs=finished,
    )
    directory = os.path.join(logdir, "multiworker")
    latest = tf.train.latest_checkpoint(directory)
    if latest is not None:
        checkpoint.restore(latest).assert_existing_objects_matched()
    chief = is_chief(strategy)
    writer = (
        tf.summary.create_file_writer(os.path.join(logdir, "train"))
        if chief
        else tf.summary.create_noop_writer()
    )

    model.load_loss_networks()  # what fit does before its first step

    @tf.function
    def train_step(iterator):
        logs = strategy.run(model.train_step, args=(next(iterator),))
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

    history = keras.callbacks.History()
    start = int(finished.numpy())
    step = start * steps_per_epoch
    with writer.as_default():
        for epoch in range(start, epochs):
            for metric in model.metrics:
                metric.reset_state()
            for _ in range(steps_per_epoch):
                logs = {name: float(value) for name, value in train_step(batches).items()}
                step += 1
                check_finite(logs, step)
                if step % log_every == 0:
                    for name, value in logs.items():
                        tf.summary.scalar(f"batch_{name}", value, step=step)
            for name, value in logs.items():
                tf.summary.scalar(f"epoch_{name}", value, step=epoch)
                history.history.setdefault(name, []).append(value)
            finished.assign(epoch + 1)
            check_finite_weights(model, directory)
            _save(checkpoint, directory, chief)
            if chief:
                save_atomically(model, os.path.join(logdir, "checkpoints", "latest.keras"))
                terms = "  ".join(f"{name} {value:.4g}" for name, value in logs.items())
                print(f"epoch {epoch + 1}/{epochs}  {terms}", flush=True)
    writer.flush()
    return history


def _save(checkpoint, directory, chief):
    """Every worker saves (the strategy expects it); only the chief's copy is kept."""
    if chief:
        tf.train.CheckpointManager(checkpoint, directory, max_to_keep=2).save()
        return
    scratch = tempfile.mkdtemp()
    try:
        checkpoint.write(os.path.join(scratch, "checkpoint"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
