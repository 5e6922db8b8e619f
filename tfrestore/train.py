"""Training from a config file: data, model, strategy and callbacks, resumable by logdir.

A config is YAML with four sections (see `training/configs/deblur_gan.yaml`):

    model:     {name: deblur_gan, <architecture and loss-weight kwargs>}
    optimizer: {learning_rate, beta_1, beta_2, constant_fraction}   # optional, paper defaults
    data:      {kind: paired | motion_blur | inpainting | unpaired | raindrop, ...,
                crop_size, batch_size, cache: false | true | PATH,
                validation: {...}}
    training:  {epochs, steps_per_epoch, logdir, image_every_n_steps, seed,
                mixed_precision: float32 | mixed_float16 | mixed_bfloat16, jit_compile}
"""

import dataclasses
import difflib
import inspect
import os
import warnings
from collections.abc import Callable

import keras
import tensorflow as tf
import yaml

from tfrestore import data as restore_data
from tfrestore import models
from tfrestore.callbacks import (
    ImagePanels,
    LatestCheckpoint,
    ProfileSteps,
    StopOnNonFiniteLoss,
    TensorBoardScalars,
    TrainingBackup,
)
from tfrestore.models import precision
from tfrestore.multiworker import fit_multiworker

STRATEGIES = ("default", "mirrored", "multiworker")


class ConfigError(ValueError):
    """A config file or key that cannot be used; the message names it."""


def load_config(path):
    """Reads a YAML training config and checks it against the schema (`check_config`); errors
    name the file and key."""
    try:
        with open(path) as handle:
            config = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    check_config(config, path)
    return {**config, "path": str(path)}


# -- schema -----------------------------------------------------------------------------------

# {key: (type, minimum)} of the sections whose keys do not depend on the model or data kind.
# A type is a Python type or a tuple of them; `float` also accepts integers.
TRAINING_KEYS = {
    "epochs": (int, 1),
    "steps_per_epoch": (int, 1),
    "logdir": (str, None),
    "image_every_n_steps": (int, 1),
    "scalar_every_n_steps": (int, 1),
    "seed": (int, None),
    "verbose": (int, 0),
    # The Keras dtype policy the networks are built under (`tfrestore.models.precision`).
    "mixed_precision": (str, None),
    # XLA for the training step (Keras `compile(jit_compile=...)`; absent: Keras' "auto").
    "jit_compile": (bool, None),
}
OPTIMIZER_KEYS = {name: (float, None) for name in ("learning_rate", "beta_1", "beta_2")}
OPTIMIZER_KEYS["constant_fraction"] = (float, 0)
_DATA_COMMON_KEYS = {
    "kind": (str, None),
    "crop_size": (int, 1),
    "batch_size": (int, 1),
    # Keep the decoded images after the first epoch: true in memory, a path in files there
    # (`tfrestore.data.augment.cropped_dataset`).
    "cache": ((bool, str), None),
}
_TYPE_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    type(None): "null",
}


def check_config(config, path="config"):
    """Checks a training config against the schema: the sections, the keys each may hold (the
    model's constructor arguments, the data kind's options) and their types.

    Raises:
        ConfigError: one line naming the file and the key: an unknown key with the closest
            valid one, a wrong type with the expected one, a value below its minimum.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping with model/data/training sections")
    sections = {key: value for key, value in config.items() if key != "path"}  # load_config's
    _check_keys(sections, dict.fromkeys(("model", "optimizer", "data", "training")), path)
    for section in ("model", "data", "training"):
        if not isinstance(config.get(section), dict):
            raise ConfigError(f"{path}: missing section '{section}' (a mapping)")
    name = config["model"].get("name")
    if name not in models.MODELS:
        raise ConfigError(
            f"{path}: model.name must be one of {', '.join(sorted(models.MODELS))}, got {name!r}"
        )
    model_keys = {"name": (str, None), **_constructor_keys(models.MODELS[name])}
    _check_section(config["model"], model_keys, path, "model")
    _check_section(config.get("optimizer") or {}, OPTIMIZER_KEYS, path, "optimizer")
    _check_section(config["training"], TRAINING_KEYS, path, "training")
    try:
        precision.check_policy(config["training"].get("mixed_precision", "float32"))
    except ValueError as error:
        raise ConfigError(f"{path}: training.{error}") from None
    data = config["data"]
    kind = data.get("kind")
    if kind not in DATA_BUILDERS:
        raise ConfigError(f"{path}: data.kind must be one of {', '.join(DATA_KINDS)}, got {kind!r}")
    builder = DATA_BUILDERS[kind]
    data_keys = {
        **_DATA_COMMON_KEYS,
        **{key: (str, None) for key in builder.required},
        **{key: _type_of(default) for key, default in builder.options.items()},
    }
    validation = data.get("validation")
    _check_section(data, {**data_keys, "validation": (dict, None)}, path, "data")
    for key in builder.required:
        if key not in data:
            raise ConfigError(f"{path}: data.{key} is required for kind {kind!r}")
    if validation is not None:
        # Validation data is read like the training data, once per epoch (`steps`: batches
        # of an endless kind such as motion_blur).
        _check_section(validation, {**data_keys, "steps": (int, 1)}, path, "data.validation")


def _constructor_keys(model_class):
    """{argument: (type, None)} of a model class's config, typed by the default values."""
    parameters = inspect.signature(model_class.__init__).parameters
    return {
        name: _type_of(parameters[name].default if name in parameters else None)
        for name in model_class.config_names
    }


def _type_of(default):
    """The schema type of an option from its default value (None: any type)."""
    if isinstance(default, bool):
        return (bool, None)
    if isinstance(default, int | float):
        return (type(default), None)
    if isinstance(default, str):
        return ((str, type(None)), None)
    if isinstance(default, tuple | list):
        return (list, None)
    return (object, None)


def _check_keys(section, valid, path, where=None):
    for key in section:
        if key not in valid:
            close = difflib.get_close_matches(str(key), [str(k) for k in valid], n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'? " if close else ""
            name = f"{where}.{key}" if where else key
            raise ConfigError(
                f"{path}: unknown key '{name}'; {hint}valid keys: {', '.join(map(str, valid))}"
            )


def _check_section(section, schema, path, where):
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: {where} must be a mapping, got {section!r}")
    _check_keys(section, schema, path, where)
    for key, value in section.items():
        expected, minimum = schema[key]
        types = expected if isinstance(expected, tuple) else (expected,)
        accepted = types + ((int,) if float in types else ()) + ((tuple,) if list in types else ())
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in types):
            names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
            raise ConfigError(f"{path}: {where}.{key} must be {names}, got {value!r}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{path}: {where}.{key} must be >= {minimum}, got {value!r}")


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


def undecodable_image(spec):
    """The first image under the folders a `data` section names (its validation's too) that
    cannot be decoded, as its `ImageReadError`; None when every image decodes.

    A file that fails to decode inside a `tf.data` pipeline raises an error that names no file
    (only their headers are read up front); `train` calls this then, to name it.
    """
    sections = (spec, spec.get("validation") or {})
    folders = [value for section in sections for value in section.values()]
    for folder in dict.fromkeys(f for f in folders if isinstance(f, str) and os.path.isdir(f)):
        for name in restore_data.list_images(folder):
            try:
                restore_data.read_image(os.path.join(folder, name))
            except restore_data.ImageReadError as error:
                return error
    return None


def _build_dataset(spec, seed, where):
    kind = spec.get("kind")
    if kind not in DATA_KINDS:
        raise ConfigError(f"{where}.kind must be one of {', '.join(DATA_KINDS)}, got {kind!r}")
    builder = DATA_BUILDERS[kind]
    for key in builder.required:
        if key not in spec:
            raise ConfigError(f"{where}.{key} is required for kind {kind!r}")
    return builder.build(
        *(spec[key] for key in builder.required),
        crop_size=spec.get("crop_size", builder.crop_size),
        batch_size=spec.get("batch_size", 1),
        seed=seed,
        cache=spec.get("cache", False),
        **{key: spec.get(key, default) for key, default in builder.options.items()},
    )


def _photos(source):
    """A folder of photos, or scikit-image's sample photos for the word "samples"."""
    return list(restore_data.sample_images().values()) if source == "samples" else source


def _motion_blur_data(sharp_dir, **kwargs):
    return restore_data.motion_blur_dataset(_photos(sharp_dir), repeat=True, **kwargs)


def _inpainting_data(image_dir, structure_dir, **kwargs):
    return restore_data.inpainting_dataset(_photos(image_dir), structures=structure_dir, **kwargs)


@dataclasses.dataclass(frozen=True)
class DataBuilder:
    """One data kind: its dataset function, the keys its `data` section requires (passed in
    order), its optional keys with their defaults (passed by name), and its default crop.

    `build(*required, crop_size=..., batch_size=..., seed=..., cache=..., **options)` returns
    the dataset.
    """

    build: Callable
    required: tuple = ()
    options: dict = dataclasses.field(default_factory=dict)
    crop_size: int = 256


# The options of the two kinds read from (degraded, target) folders.
_FOLDER_PAIR_OPTIONS = {"shuffle": True, "augment": True, "skip_unmatched": False}

# Every `data.kind`, in the one place a kind is defined (the config schema reads it too).
DATA_BUILDERS = {
    "paired": DataBuilder(
        restore_data.paired_dataset, ("degraded_dir", "target_dir"), _FOLDER_PAIR_OPTIONS
    ),
    "motion_blur": DataBuilder(_motion_blur_data, options={"sharp_dir": "samples"}),
    # One pass over the photos is an epoch (as upstream) unless `repeat: true`, which needs
    # `training.steps_per_epoch`; `structure_dir` holds MEDFE's structure (RTV) images.
    "inpainting": DataBuilder(
        _inpainting_data,
        ("image_dir",),
        {"structure_dir": None, "mask": "center", "repeat": False, "augment": True},
        crop_size=128,
    ),
    "unpaired": DataBuilder(
        restore_data.unpaired_dataset,
        ("low_dir", "normal_dir"),
        {"repeat": False, "augment": True, "darken_probability": 0.5},
    ),
    "raindrop": DataBuilder(restore_data.raindrop_dataset, ("root",), _FOLDER_PAIR_OPTIONS),
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
    """The compiled model of a config (call inside the strategy scope), its networks built
    under the `training.mixed_precision` dtype policy (default float32), its training step
    compiled with XLA if `training.jit_compile` is true (Keras' "auto" when absent: no XLA on
    CPU or under MirroredStrategy, where it fails)."""
    kwargs = {key: value for key, value in config["model"].items() if key != "name"}
    policy = config["training"].get("mixed_precision", "float32")
    try:
        with precision.dtype_policy(policy):
            model = models.get(config["model"]["name"], **kwargs)
    except TypeError as error:
        raise ConfigError(f"{config.get('path', 'config')}: model: {error}") from None
    optimizer = {key: float(value) for key, value in (config.get("optimizer") or {}).items()}
    jit_compile = config["training"].get("jit_compile", "auto")
    # Absent optimizer keys: the paper's values.
    model.compile(total_steps=total_steps, jit_compile=jit_compile, **optimizer)
    return model


def train(config, strategy="default", logdir=None, callbacks=(), profile_steps=None):
    """Trains the model a config describes; running again with the same logdir resumes.

    Writes TensorBoard logs under the logdir (each loss term and validation score per epoch
    and every `scalar_every_n_steps` steps, image panels every `image_every_n_steps`; the step
    is the optimizer's, so a resumed run continues it), `checkpoints/latest.keras` and
    `backup/` (`TrainingBackup`: the state a rerun resumes from, both written atomically after
    every epoch).

    Args:
        config: dict from `load_config`.
        strategy: "default", "mirrored" (all local GPUs, or the CPU) or "multiworker"
            (every worker in `TF_CONFIG` runs the same call; see `tfrestore.multiworker`:
            scalars and checkpoints, no validation or image panels).
        logdir: str, overrides `training.logdir`.
        callbacks: extra Keras callbacks (not with "multiworker").
        profile_steps: optional (first, last): record a TensorFlow profiler trace of these
            training steps of this run, counted from 1, into `logdir/train` for TensorBoard's
            profile tab (`ProfileSteps`; not with "multiworker").

    Returns:
        The trained model and its Keras `History` (of the epochs this call ran).

    Raises:
        ConfigError: a config key or data that cannot be used (the message names it: an image
            that cannot be decoded too), or a logdir holding a run of another architecture.
        tfrestore.callbacks.NonFiniteLossError: a loss or weight became NaN or infinite; the
            checkpoint and backup keep the last finite epoch.
    """
    try:
        return _train(config, strategy, logdir, callbacks, profile_steps)
    except tf.errors.InvalidArgumentError as error:
        unreadable = undecodable_image(config["data"])  # tf.data's error names no file
        if unreadable is None:
            raise
        raise ConfigError(f"data: {unreadable}") from error


def _train(config, strategy, logdir, callbacks, profile_steps):
    check_config(config, config.get("path", "config"))
    multiworker = strategy == "multiworker"
    if multiworker and callbacks:
        raise ValueError("callbacks need Keras fit, which --strategy multiworker does not run")
    if multiworker and profile_steps:
        raise ValueError(
            "--profile-steps needs Keras fit, which --strategy multiworker does not run"
        )
    # MultiWorkerMirroredStrategy must set up collective ops before any TF op runs.
    distribution = get_strategy(strategy)
    training = config["training"]
    logdir = logdir or training.get("logdir") or os.path.join("runs", config["model"]["name"])
    # Checked before any data is read: a bad range fails at once.
    profile = [] if profile_steps is None else [ProfileSteps(logdir, *profile_steps)]
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
        if isinstance(spec.get("cache"), str) and "cache" not in config["data"]["validation"]:
            spec["cache"] += ".validation"  # not the training data's cache files
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

    # Kept after the run, so a finished run asked for more epochs continues too.
    backup = TrainingBackup(os.path.join(logdir, "backup"))
    with distribution.scope(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns for each layer a mismatched state lacks
        try:
            initial_epoch = backup.restore(model)
        except ValueError as error:  # Keras: "A total of 14 objects could not be loaded. ..."
            reason = str(error).strip().split(". ")[0].splitlines()[0]
            raise ConfigError(
                f"{logdir} holds a run of another architecture: its backup does not fit the "
                f"model of {config.get('path', 'this config')} ({reason}); train with a new "
                "--logdir, or with that run's config"
            ) from None
    panel_source = validation if validation is not None else dataset
    panel_degraded, panel_target = next(iter(panel_source))
    all_callbacks = [
        StopOnNonFiniteLoss(),  # first: it stops fit before anything logs or saves the step
        TensorBoardScalars(logdir, every_n_steps=training.get("scalar_every_n_steps", 10)),
        ImagePanels(
            panel_degraded,
            panel_target,
            logdir,
            every_n_steps=training.get("image_every_n_steps", 100),
        ),
        backup,
        LatestCheckpoint(os.path.join(logdir, "checkpoints", "latest.keras")),
        *profile,
        *callbacks,
    ]
    history = model.fit(
        dataset,
        epochs=epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=int(steps_per_epoch),
        validation_data=validation,
        callbacks=all_callbacks,
        verbose=training.get("verbose", 2),
    )
    return model, history
