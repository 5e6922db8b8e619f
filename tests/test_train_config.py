"""The training-config schema: every shipped config passes; unknown keys, wrong types and
out-of-range values are one-line errors naming the file and the key."""

import copy
import pathlib

import pytest
import yaml

from tfrestore import train

CONFIGS = sorted((pathlib.Path(__file__).resolve().parents[1] / "training" / "configs").glob("*"))


@pytest.fixture
def config():
    return yaml.safe_load(CONFIGS[[p.stem for p in CONFIGS].index("deblur_gan")].read_text())


def test_every_shipped_config_passes():
    assert [path.stem for path in CONFIGS] == [
        "attentive_gan",
        "context_encoder",
        "deblur_gan",
        "enlighten_gan",
        "medfe",
    ]
    for path in CONFIGS:
        assert train.load_config(path)["path"] == str(path)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("training", "epoch", 5, "unknown key 'training.epoch'; did you mean 'epochs'?"),
        ("model", "filter", 8, "unknown key 'model.filter'; did you mean 'filters'?"),
        ("model", "feature_network", "vgg16", "unknown key 'model.feature_network'"),
        ("data", "shufle", True, "unknown key 'data.shufle'; did you mean 'shuffle'?"),
        ("optimizer", "lr", 1e-3, "unknown key 'optimizer.lr'"),
        ("model", "filters", "wide", "model.filters must be an integer, got 'wide'"),
        ("model", "filters", 8.5, "model.filters must be an integer, got 8.5"),
        ("model", "l1_weight", True, "model.l1_weight must be a number, got True"),
        ("optimizer", "learning_rate", "fast", "optimizer.learning_rate must be a number"),
        ("training", "epochs", -1, "training.epochs must be >= 1, got -1"),
        ("training", "steps_per_epoch", 0, "training.steps_per_epoch must be >= 1, got 0"),
        ("data", "crop_size", "256", "data.crop_size must be an integer, got '256'"),
        ("data", "validation", [1], "data.validation must be a mapping"),
        ("data", "cache", 3, "data.cache must be true or false or a string, got 3"),
        ("training", "jit_compile", "yes", "training.jit_compile must be true or false, got 'yes'"),
        (
            "training",
            "mixed_precision",
            "float16",
            "training.mixed_precision must be one of float32, mixed_float16, mixed_bfloat16, "
            "got 'float16'",
        ),
    ],
)
def test_bad_key_or_value_is_named(config, section, key, value, message, tmp_path):
    config[section][key] = value
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(train.ConfigError) as raised:
        train.load_config(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_model_keys_depend_on_the_model(config):
    config = copy.deepcopy(config)
    config["model"] = {"name": "enlighten_gan", "feature_network": "pixels", "filters": 8}
    train.check_config(config)  # valid for EnlightenGAN, not for DeblurGAN (above)
    config["model"]["num_blocks"] = 2
    with pytest.raises(train.ConfigError, match="unknown key 'model.num_blocks'"):
        train.check_config(config)


def test_data_keys_depend_on_the_kind(config):
    config["data"] = {"kind": "inpainting", "image_dir": "photos", "mask": "free_form"}
    train.check_config(config)
    config["data"]["degraded_dir"] = "x"  # a paired-folder key
    with pytest.raises(train.ConfigError, match="unknown key 'data.degraded_dir'"):
        train.check_config(config)
    del config["data"]["degraded_dir"], config["data"]["image_dir"]
    with pytest.raises(train.ConfigError, match="data.image_dir is required for kind 'inpainting'"):
        train.check_config(config)


def test_validation_section_is_checked_too(config):
    config["data"]["validation"]["augmnt"] = False
    with pytest.raises(train.ConfigError, match="'data.validation.augmnt'; did you mean 'augment'"):
        train.check_config(config)


def test_train_checks_a_config_given_as_a_dict(config):
    config["training"]["epoch"] = 5
    with pytest.raises(train.ConfigError, match="training.epoch"):
        train.train(config)


@pytest.mark.parametrize(
    "policy, dtype", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")]
)
def test_mixed_precision_builds_the_networks_under_its_policy(config, policy, dtype):
    import keras

    config["model"] = {"name": "deblur_gan", "filters": 4, "num_blocks": 1, "vgg_weights": None}
    config["training"]["mixed_precision"] = policy
    train.check_config(config)
    model = train.build_model(config)
    assert model.generator.compute_dtype == dtype
    assert model.discriminator.compute_dtype == dtype
    scaled = isinstance(model.generator_optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left alone
    assert model.jit_compile is False  # Keras' "auto" on CPU
    config["training"]["jit_compile"] = True
    assert train.build_model(config).jit_compile is True
