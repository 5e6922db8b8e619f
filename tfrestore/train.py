"""Training from a config file: data, model, strategy and callbacks, resumable by logdir.

A config is YAML with four sections (see `training/configs/deblur_gan.yaml`):

    model:     {name: deblur_gan, <architecture and loss-weight kwargs>}
    optimizer: {learning_rate, beta_1, beta_2, constant_fraction}   # optional, paper defaults
    data:      {kind: paired | motion_blur | inpainting | unpaired | raindrop, ...,
                crop_size, batch_size,
                validation: {...}}
    training:  {epochs, steps_per_epoch, logdir, image_every_n_steps, seed}
"""

import dataclasses
import os
from collections.abc import Callable

import keras
import tensorflow as tf
import yaml

from tfrestore import data as restore_data
from tfrestore import models
from tfrestore.callbacks import ImagePanels, LatestCheckpoint
from tfrestore.multiworker import fit_multiworker

STRATEGIES = ("default", "mirrored", "multiworker")
OPTIMIZER_KEYS = ("learning_rate", "beta_1", "beta_2", "constant_fraction")


class ConfigError(ValueError):
    """A config file or key that cannot be used; the message names it."""


def load_config(path):
    """Reads a YAML training config and checks its sections; errors name the file and key."""
    try:
        with open(path) as handle:
            config = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping with model/data/training sections")
    for section in ("model", "data", "training"):
        if not isinstance(config.get(section), dict):
            raise ConfigError(f"{path}: missing section '{section}'")
    if config["model"].get("name") not in models.MODELS:
        raise ConfigError(
            f"{path}: model.name must be one of {', '.join(sorted(models.MODELS))}, "
            f"got {config['model'].get('name')!r}"
        )
    unknown = set(config.get("optimizer") or {}) - set(OPTIMIZER_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown optimizer keys {sorted(unknown)}; valid: {OPTIMIZER_KEYS}"
        )
    config["path"] = str(path)
    return config


def build_dataset(spec, seed=None, where="data"):
    """A tf.data pipeline of (degraded, target) batches from a `data` config section.

    Missing folders, unreadable or mismatched images become a `ConfigError` naming them.
    """
    try:
        return _build_dataset(spec, seed, where)
    except (FileNotFoundError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{where}: {error}") from None


def _build_dataset(spec, seed, where):
    kind = spec.get("kind")
    if kind not in DATA_KINDS:
        raise ConfigError(f"{where}.kind must be one of {', '.join(DATA_KINDS)}, got {kind!r}")
    builder = DATA_BUILDERS[kind]
    for key in builder.required:
        if key not in spec:
            raise ConfigError(f"{where}.{key} is required for kind {kind!r}")
    return builder.build(
        spec,
        crop_size=spec.get("crop_size", builder.crop_size),
        batch_size=spec.get("batch_size", 1),
        seed=seed,
    )


def _photos(source):
    """A folder of photos, or scikit-image's sample photos for the word "samples"."""
    return list(restore_data.sample_images().values()) if source == "samples" else source


def _optional(spec, **defaults):
    """The optional keys of a `data` section, each from the section or its default."""
    return {key: spec.get(key, default) for key, default in defaults.items()}


# The options of the two kinds read from (degraded, target) folders.
_FOLDER_PAIR_DEFAULTS = {"shuffle": True, "augment": True, "skip_unmatched": False}


def _paired_data(spec, **common):
    return restore_data.paired_dataset(
        spec["degraded_dir"],
        spec["target_dir"],
        **common,
        **_optional(spec, **_FOLDER_PAIR_DEFAULTS),
    )


def _raindrop_data(spec, **common):
    return restore_data.raindrop_dataset(
        spec["root"], **common, **_optional(spec, **_FOLDER_PAIR_DEFAULTS)
    )


def _motion_blur_data(spec, **common):
    return restore_data.motion_blur_dataset(
        _photos(spec.get("sharp_dir", "samples")), repeat=True, **common
    )


def _inpainting_data(spec, **common):
    # One pass over the photos is an epoch (as upstream) unless `repeat: true`, which needs
    # `training.steps_per_epoch`.
    return restore_data.inpainting_dataset(
        _photos(spec["image_dir"]),
        structures=spec.get("structure_dir"),  # MEDFE's structure (RTV) images
        **common,
        **_optional(spec, mask="center", repeat=False, augment=True),
    )


def _unpaired_data(spec, **common):
    return restore_data.unpaired_dataset(
        spec["low_dir"],
        spec["normal_dir"],
        **common,
        **_optional(spec, repeat=False, augment=True, darken_probability=0.5),
    )


@dataclasses.dataclass(frozen=True)
class DataBuilder:
    """One data kind: its builder, the keys its `data` section requires, its default crop.

    `build(spec, crop_size=..., batch_size=..., seed=...)` returns the dataset.
    """

    build: Callable
    required: tuple = ()
    crop_size: int = 256


# Every `data.kind`, in the one place a kind is defined.
DATA_BUILDERS = {
    "paired": DataBuilder(_paired_data, ("degraded_dir", "target_dir")),
    "motion_blur": DataBuilder(_motion_blur_data),
    "inpainting": DataBuilder(_inpainting_data, ("image_dir",), crop_size=128),
    "unpaired": DataBuilder(_unpaired_data, ("low_dir", "normal_dir")),
    "raindrop": DataBuilder(_raindrop_data, ("root",)),
}
DATA_KINDS = tuple(DATA_BUILDERS)


def get_strategy(name):
    """The tf.distribute strategy for `--strategy`: default, mirrored (the local GPUs) or
    multiworker (the cluster in `TF_CONFIG`)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


def build_model(config, total_steps=None):
    """The compiled model of a config (call inside the strategy scope)."""
    kwargs = {key: value for key, value in config["model"].items() if key != "name"}
    try:
        model = models.get(config["model"]["name"], **kwargs)
    except TypeError as error:
        raise ConfigError(f"{config.get('path', 'config')}: model: {error}") from None
    optimizer = {key: float(value) for key, value in (config.get("optimizer") or {}).items()}
    model.compile(total_steps=total_steps, **optimizer)  # absent keys: the paper's values
    return model


def train(config, strategy="default", logdir=None, callbacks=()):
    """Trains the model a config describes; running again with the same logdir resumes.

    Writes TensorBoard logs (one scalar per loss term, image panels) and `checkpoints/
    latest.keras` under the logdir, and a `backup/` that `BackupAndRestore` resumes from.

    Args:
        config: dict from `load_config`.
        strategy: "default", "mirrored" (all local GPUs, or the CPU) or "multiworker"
            (every worker in `TF_CONFIG` runs the same call; see `tfrestore.multiworker`:
            scalars and checkpoints, no validation or image panels).
        logdir: str, overrides `training.logdir`.
        callbacks: extra Keras callbacks (not with "multiworker").

    Returns:
        The trained model and its Keras `History`.
    """
    multiworker = strategy == "multiworker"
    if multiworker and callbacks:
        raise ValueError("callbacks need Keras fit, which --strategy multiworker does not run")
    # MultiWorkerMirroredStrategy must set up collective ops before any TF op runs.
    distribution = get_strategy(strategy)
    training = config["training"]
    logdir = logdir or training.get("logdir") or os.path.join("runs", config["model"]["name"])
    seed = training.get("seed")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    dataset = build_dataset(config["data"], seed=seed)
    epochs = int(training.get("epochs", 1))
    steps_per_epoch = training.get("steps_per_epoch")
    if steps_per_epoch is None:
        cardinality = int(dataset.cardinality())
        if cardinality < 0:
            raise ConfigError("training.steps_per_epoch is required for an endless dataset")
        steps_per_epoch = cardinality
    else:
        dataset = dataset.repeat()
    validation = None
    if config["data"].get("validation") and multiworker:
        print("multiworker: data.validation is not run; evaluate the checkpoint afterwards")
    elif config["data"].get("validation"):
        # Validation passes over its data once per epoch unless it says otherwise.
        spec = {**config["data"], "repeat": False, **config["data"]["validation"]}
        validation = build_dataset(spec, seed=seed, where="data.validation")
        if spec.get("kind") == "motion_blur":
            validation = validation.take(int(spec.get("steps", 4)))

    with distribution.scope():
        model = build_model(config, total_steps=epochs * int(steps_per_epoch))
    if multiworker:
        history = fit_multiworker(
            model,
            dataset,
            epochs,
            int(steps_per_epoch),
            logdir,
            distribution,
            log_every=training.get("scalar_every_n_steps", 10),
        )
        return model, history

    panel_source = validation if validation is not None else dataset
    panel_degraded, panel_target = next(iter(panel_source))
    all_callbacks = [
        # Kept after the run, so a finished run asked for more epochs continues too.
        keras.callbacks.BackupAndRestore(os.path.join(logdir, "backup"), delete_checkpoint=False),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(logdir, update_freq=training.get("scalar_every_n_steps", 10)),
        ImagePanels(
            panel_degraded,
            panel_target,
            logdir,
            every_n_steps=training.get("image_every_n_steps", 100),
        ),
        LatestCheckpoint(os.path.join(logdir, "checkpoints", "latest.keras")),
        *callbacks,
    ]
    history = model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=int(steps_per_epoch),
        validation_data=validation,
        callbacks=all_callbacks,
        verbose=training.get("verbose", 2),
    )
    return model, history
