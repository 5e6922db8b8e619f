"""`tfrestore train` end to end on a tiny paired folder: TensorBoard events, checkpoints, resume."""

import glob
import os

import keras
import numpy as np
import pytest
import yaml
from model_harness import smooth_images, trainable_count
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tfrestore import cli, data, train


@pytest.fixture
def paired_folder(tmp_path):
    sharp = smooth_images(4, 40, 40, seed=5)
    for index, image in enumerate(sharp):
        data.write_image(str(tmp_path / "sharp" / f"img{index}.png"), image)
        data.write_image(str(tmp_path / "blurred" / f"img{index}.png"), image * 0.7 + 0.1)
    return tmp_path


def write_config(folder, epochs, model=None, data=None):
    config = {
        "model": model
        or {
            "name": "deblur_gan",
            "filters": 4,
            "num_blocks": 1,
            "discriminator_steps": 1,
            "vgg_weights": None,
        },
        "optimizer": {"learning_rate": 1e-3},
        "data": data
        or {
            "kind": "paired",
            "degraded_dir": str(folder / "blurred"),
            "target_dir": str(folder / "sharp"),
            "crop_size": 32,
            "batch_size": 2,
        },
        "training": {
            "epochs": epochs,
            "image_every_n_steps": 1,
            "scalar_every_n_steps": 1,
            "logdir": str(folder / "run"),
            "verbose": 0,
        },
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def scalar_tags(logdir):
    tags = set()
    for events in glob.glob(os.path.join(logdir, "**", "events.out.tfevents.*"), recursive=True):
        accumulator = EventAccumulator(events, size_guidance={"tensors": 0, "images": 0})
        accumulator.Reload()
        tags |= set(accumulator.Tags()["tensors"]) | set(accumulator.Tags()["images"])
    return tags


@pytest.mark.slow
def test_train_writes_events_checkpoint_and_panels(paired_folder):
    assert cli.main(["train", write_config(paired_folder, epochs=1)]) == 0
    logdir = paired_folder / "run"
    tags = scalar_tags(str(logdir))
    for term in ("g_loss", "d_loss", "g_adv", "g_perceptual", "d_adv", "gp"):
        assert any(term in tag for tag in tags), (term, tags)
    assert "degraded|restored|target" in tags
    model = keras.models.load_model(str(logdir / "checkpoints" / "latest.keras"))
    assert int(model.generator_optimizer.iterations) == 2  # 4 images, batch 2, 1 epoch


@pytest.mark.slow
def test_interrupted_run_resumes(paired_folder):
    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("simulated crash")

    config = train.load_config(write_config(paired_folder, epochs=3))
    with pytest.raises(RuntimeError, match="simulated crash"):
        train.train(config, callbacks=[Crash()])
    model, history = train.train(config)
    assert len(history.history["g_loss"]) == 2  # epochs 2 and 3 only
    assert int(model.generator_optimizer.iterations) == 6


def test_config_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: nope}\ndata: {}\ntraining: {}\n")
    assert cli.main(["train", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "model.name must be one of" in err and "nope" in err and "Traceback" not in err
    assert cli.main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_image_panels_show_degraded_restored_target():
    from tfrestore.callbacks import ImagePanels

    model = train.models.get("deblur_gan", filters=4, num_blocks=1, vgg_weights=None)
    degraded = smooth_images(2, 16, 16)
    target = smooth_images(2, 16, 16, seed=1)
    panels = ImagePanels(degraded, target, "/tmp/unused-panels", max_images=2)
    panels.set_model(model)
    image = panels.panels().numpy()
    assert image.shape == (2, 16, 48, 3)
    np.testing.assert_allclose(image[:, :, :16], degraded)
    np.testing.assert_allclose(image[:, :, 32:], target)
    np.testing.assert_allclose(image[:, :, 16:32], model.predict(degraded, verbose=0), atol=1e-6)


def test_paper_config_builds_the_paper_model():
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "training" / "configs" / "deblur_gan.yaml"
    config = train.load_config(str(path))
    assert config["training"]["epochs"] == 300 and config["data"]["crop_size"] == 256
    config["model"]["vgg_weights"] = None  # offline
    model = train.build_model(config, total_steps=1000)
    assert model.generator.count_params() == 11_378_179
    assert model.discriminator_steps == 5 and model.perceptual_weight == 100.0
    optimizer = model.generator_optimizer.get_config()
    assert optimizer["beta_1"] == 0.5
    schedule = optimizer["learning_rate"]["config"]
    assert schedule == {"learning_rate": 1e-4, "constant_steps": 500, "decay_steps": 500}


@pytest.mark.parametrize(
    "step,expected", [(0, 1e-4), (100, 1e-4), (150, 5e-5), (200, 0.0), (999, 0.0)]
)
def test_constant_then_linear_decay(step, expected):
    schedule = train.models.ConstantThenLinearDecay(1e-4, constant_steps=100, decay_steps=100)
    assert float(schedule(step)) == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_missing_data_folder_is_a_one_line_error(tmp_path, capsys):
    path = write_config(tmp_path, epochs=1)  # tmp_path has no blurred/ or sharp/ folders
    assert cli.main(["train", path]) == 2
    err = capsys.readouterr().err
    assert "data:" in err and "blurred" in err and "Traceback" not in err


@pytest.mark.slow
def test_train_inpainting_writes_checkpoint(tmp_path):
    for index, image in enumerate(smooth_images(4, 128, 128, seed=2)):
        data.write_image(str(tmp_path / "photos" / f"img{index}.png"), image)
    model = {"name": "context_encoder", "filters": 4, "bottleneck_channels": 8}
    spec = {"kind": "inpainting", "image_dir": str(tmp_path / "photos"), "batch_size": 2}
    assert cli.main(["train", write_config(tmp_path, 1, model=model, data=spec)]) == 0
    model = keras.models.load_model(str(tmp_path / "run" / "checkpoints" / "latest.keras"))
    assert int(model.generator_optimizer.iterations) == 2  # one pass: 4 photos, batch 2
    assert "degraded|restored|target" in scalar_tags(str(tmp_path / "run"))


@pytest.mark.slow
def test_train_medfe_with_structure_images(tmp_path):
    for index, image in enumerate(smooth_images(2, 128, 128, seed=4)):
        data.write_image(str(tmp_path / "photos" / f"img{index}.png"), image)
    assert cli.main(["prepare-structure", str(tmp_path / "photos"), str(tmp_path / "st")]) == 0
    model = {"name": "medfe", "filters": 4, "dilation": 1, "vgg_weights": None}
    spec = {
        "kind": "inpainting",
        "image_dir": str(tmp_path / "photos"),
        "structure_dir": str(tmp_path / "st"),
        "mask": "free_form",
        "batch_size": 2,
    }
    assert cli.main(["train", write_config(tmp_path, 1, model=model, data=spec)]) == 0
    model = keras.models.load_model(str(tmp_path / "run" / "checkpoints" / "latest.keras"))
    assert int(model.generator_optimizer.iterations) == 1
    tags = scalar_tags(str(tmp_path / "run"))
    assert "degraded|restored|target" in tags
    for term in ("g_branch", "g_local", "d_local"):
        assert any(term in tag for tag in tags), (term, tags)


def test_context_encoder_config_builds_the_paper_model():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    config = train.load_config(str(root / "training" / "configs" / "context_encoder.yaml"))
    assert config["training"]["epochs"] == 500
    assert config["data"]["kind"] == "inpainting" and config["data"]["mask"] == "center"
    assert (config["data"]["crop_size"], config["data"]["batch_size"]) == (128, 64)
    model = train.build_model(config, total_steps=1000)
    trainable = sum(int(np.prod(w.shape)) for w in model.generator.trainable_weights)
    assert trainable == 71_124_544
    assert model.reconstruction_weight == 0.999 and model.overlap == 4
    for optimizer, rate in [
        (model.generator_optimizer, 2e-3),
        (model.discriminator_optimizer, 2e-4),
    ]:
        assert float(optimizer.learning_rate) == pytest.approx(rate)  # constant: no decay
        assert optimizer.get_config()["beta_1"] == 0.5


@pytest.mark.parametrize(
    "name,generator_params",
    [
        ("enlighten_gan.yaml", 8_636_675),
        ("attentive_gan.yaml", 6_244_362),
        pytest.param("medfe.yaml", 103_118_630, marks=pytest.mark.slow),  # 103 M parameters
    ],
)
def test_shipped_configs_build_the_paper_models(name, generator_params):
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "training" / "configs" / name
    config = train.load_config(str(path))
    assert config["data"]["kind"] in train.DATA_KINDS
    config["model"]["vgg_weights"] = None  # offline
    model = train.build_model(config, total_steps=100)
    assert trainable_count(model.generator) == generator_params


def test_unpaired_and_raindrop_kinds_build_datasets(tmp_path):
    images = smooth_images(2, 40, 40, seed=7)
    for index, image in enumerate(images):
        data.write_image(str(tmp_path / "low" / f"{index}.png"), image * 0.3)
        data.write_image(str(tmp_path / "normal" / f"{index}.png"), image)
        data.write_image(str(tmp_path / "rain" / "data" / f"{index}_rain.png"), image)
        data.write_image(str(tmp_path / "rain" / "gt" / f"{index}_clean.png"), image)
    spec = {
        "kind": "unpaired",
        "low_dir": str(tmp_path / "low"),
        "normal_dir": str(tmp_path / "normal"),
        "crop_size": 32,
        "batch_size": 2,
    }
    low, normal = next(iter(train.build_dataset(spec, seed=0)))
    assert low.shape == normal.shape == (2, 32, 32, 3)
    spec = {"kind": "raindrop", "root": str(tmp_path / "rain"), "crop_size": 32, "batch_size": 2}
    rainy, clean = next(iter(train.build_dataset(spec, seed=0)))
    assert rainy.shape == clean.shape == (2, 32, 32, 3)
    with pytest.raises(train.ConfigError, match="low_dir"):
        train.build_dataset({"kind": "unpaired"})


@pytest.mark.slow
def test_profile_steps_write_a_trace_for_tensorboard(paired_folder, tmp_path):
    import tensorflow as tf

    try:
        tf.profiler.experimental.start(str(tmp_path / "probe"))
        tf.profiler.experimental.stop()
    except Exception as error:  # a TensorFlow build without the profiler
        pytest.skip(f"the TensorFlow profiler is unavailable here: {error}")
    config = write_config(paired_folder, epochs=2)  # 2 steps per epoch: steps 1-4
    assert cli.main(["train", config, "--profile-steps", "2,3"]) == 0
    profile = paired_folder / "run" / "train" / "plugins" / "profile"
    traces = glob.glob(str(profile / "*" / "*.xplane.pb"))
    assert len(traces) == 1 and os.path.getsize(traces[0]) > 0


@pytest.mark.parametrize("steps", ["3,1", "0,2", "2", "a,b", "1,2,3"])
def test_bad_profile_steps_are_one_line(tmp_path, capsys, steps):
    config = write_config(tmp_path, epochs=1)
    assert cli.main(["train", config, "--profile-steps", steps]) == 2
    err = capsys.readouterr().err
    assert f"--profile-steps must be A,B with integers 1 <= A <= B, got {steps!r}" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing ran
