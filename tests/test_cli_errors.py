"""Every error that ends a `tfrestore` command is one line on stderr and a non-zero exit status
(the traceback only with --debug); Ctrl-C says how to go on and exits 130."""

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import keras
import numpy as np
import pytest
import yaml
from model_harness import smooth_images

from tfrestore import cli, data, export, inference, models


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{name: path} of broken and good inputs, built once: the models share one tiny DeblurGAN."""
    root = tmp_path_factory.mktemp("files")
    paths = {
        name: str(root / file)
        for name, file in [
            ("model", "model.keras"),
            ("saved_model", "saved_model"),
            ("truncated", "truncated"),
            ("bad_weights", "bad_weights.keras"),
            ("corrupt", "corrupt.keras"),
            ("lambda_model", "lambda.keras"),
            ("image", "image.png"),
            ("tiny", "tiny.png"),
            ("bad_image", "bad.png"),
            ("file", "file"),
            ("folder", "folder"),
        ]
    }
    model = models.get("deblur_gan", filters=4, num_blocks=1, vgg_weights=None)
    model.save(paths["model"])
    export.export_saved_model(model, paths["saved_model"], check=False)
    (root / "file").write_text("a file, not a folder")
    (root / "folder").mkdir()

    # A SavedModel whose variables file was cut short (a copy interrupted).
    shutil.copytree(paths["saved_model"], paths["truncated"])
    variables = root / "truncated" / "variables" / "variables.data-00000-of-00001"
    os.truncate(variables, variables.stat().st_size // 3)
    # A valid .keras zip whose weights are garbage; a file that is not a zip at all.
    with (
        zipfile.ZipFile(paths["model"]) as source,
        zipfile.ZipFile(paths["bad_weights"], "w") as target,
    ):
        for item in source.infolist():
            garbage = item.filename == "model.weights.h5"
            target.writestr(item, b"garbage" * 100 if garbage else source.read(item.filename))
    (root / "corrupt.keras").write_bytes(b"PK\x03\x04 cut short")
    # A model with Python code in it, which safe mode refuses.
    inputs = keras.Input((None, None, 3))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 0.5)(inputs)).save(paths["lambda_model"])
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")

    for name, size in (("image", 24), ("tiny", 1)):
        data.write_image(paths[name], smooth_images(1, size, size)[0])
        pairs = root / f"{name}_pairs"  # a paired folder for evaluate
        for folder in ("blurred", "sharp"):
            data.write_image(str(pairs / folder / "a.png"), np.zeros((size, size)))
        paths[f"{name}_pairs"] = str(pairs)
    return paths


# (argv, exit status, what the line says); {name} is a path of `files`, {out} a fresh folder.
CASES = {
    "export to a folder under a file": (
        ["export", "{model}", "--saved-model", "{file}/sm"],
        2,
        "tfrestore export: error: output folder {file} is a file",
    ),
    "export to a folder that cannot be created": (
        ["export", "{model}", "--tflite", "{file}/sub/m.tflite"],
        2,
        "tfrestore export: error: cannot write to output folder {file}/sub: Not a directory",
    ),
    "export with a wrong extension": (
        ["export", "{model}", "--tflite", "{out}/m.onnx"],
        2,
        "m.onnx must end in .tflite",
    ),
    "export of a folder": (
        ["export", "{folder}", "--tflite", "{out}/m.tflite"],
        2,
        "tfrestore export: error: export takes a .keras model file, got {folder}",
    ),
    "export of a corrupt .keras": (
        ["export", "{corrupt}", "--tflite", "{out}/m.tflite"],
        2,
        "error: cannot load {corrupt}: not a .keras file (a zip archive); damaged?",
    ),
    "export of a .keras with a Lambda layer": (
        ["export", "{lambda_model}", "--tflite", "{out}/m.tflite"],
        2,
        "cannot load {lambda_model}: it holds a Lambda layer (Python code), which Keras' safe mode",
    ),
    "export int8 with an unreadable representative image": (
        ["export", "{model}", "--tflite", "{out}/m.tflite", "--quantize", "int8"]
        + ["--representative", "{bad_image}"],
        2,
        "tfrestore export: error: {bad_image}: ",
    ),
    "export --float-layers without int8": (
        ["export", "{model}", "--tflite", "{out}/m.tflite", "--float-layers", "model_2"],
        2,
        "tfrestore export: error: --float-layers goes with --quantize int8",
    ),
    "restore with a folder that is no SavedModel": (
        ["restore", "{folder}", "{image}", "-o", "{out}"],
        2,
        "error: {folder} is a folder without saved_model.pb, so not a SavedModel",
    ),
    "restore with a truncated SavedModel": (
        ["restore", "{truncated}", "{image}", "-o", "{out}"],
        2,
        "tfrestore restore: error: cannot load {truncated}: damaged or incomplete?",
    ),
    "evaluate with a truncated SavedModel": (
        ["evaluate", "{truncated}", "{image_pairs}"],
        2,
        "tfrestore evaluate: error: cannot load {truncated}: damaged or incomplete?",
    ),
    "restore with garbage weights in a .keras zip": (
        ["restore", "{bad_weights}", "{image}", "-o", "{out}"],
        2,
        "error: cannot load {bad_weights}: damaged or incomplete?",
    ),
    "evaluate with garbage weights in a .keras zip": (
        ["evaluate", "{bad_weights}", "{image_pairs}"],
        2,
        "error: cannot load {bad_weights}: damaged or incomplete?",
    ),
    "restore with a corrupt .keras": (
        ["restore", "{corrupt}", "{image}", "-o", "{out}"],
        2,
        "error: cannot load {corrupt}: not a .keras file",
    ),
    "evaluate with a corrupt .keras": (
        ["evaluate", "{corrupt}", "{image_pairs}"],
        2,
        "error: cannot load {corrupt}: not a .keras file",
    ),
    "restore into a folder that cannot be created": (
        ["restore", "{model}", "{image}", "-o", "{file}/out"],
        2,
        "tfrestore restore: error: cannot write to output folder {file}/out: Not a directory",
    ),
    "restore with a JPEG quality out of range": (
        ["restore", "{model}", "{image}", "-o", "{out}", "--jpeg-quality", "101"],
        2,
        "tfrestore restore: error: JPEG quality must be a whole number from 1 to 100, got 101",
    ),
    "restore of a 1x1 image": (
        ["restore", "{model}", "{tiny}", "-o", "{out}"],
        1,
        "error: {tiny}: the model cannot process this 1x1 image: paddings must be less than",
    ),
    "evaluate on 1x1 images": (
        ["evaluate", "{model}", "{tiny_pairs}"],
        2,
        "error: {tiny_pairs}/blurred/a.png: the model cannot process this 1x1 image: paddings",
    ),
}


def fill(texts, files, out):
    return [text.format(out=out, **files) for text in texts]


@pytest.mark.parametrize("case", list(CASES))
def test_one_line_and_exit_status(case, files, tmp_path, capsys):
    argv, status, expected = CASES[case]
    assert cli.main(fill(argv, files, tmp_path / "out")) == status
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert fill([expected], files, tmp_path / "out")[0] in err
    assert "Traceback" not in err and "File not found" not in err


def test_debug_shows_the_original_error(files, tmp_path):
    with pytest.raises(inference.ModelLoadError) as error:
        argv = [files["corrupt"], files["image"], "-o", str(tmp_path / "out")]
        cli.main(["--debug", "restore", *argv])
    assert error.value.__cause__ is None  # not a zip: Keras is not asked
    with pytest.raises(inference.ModelLoadError) as error:
        cli.main(["evaluate", files["bad_weights"], files["image_pairs"], "--debug"])
    assert isinstance(error.value.__cause__, OSError)  # h5py's, kept for the traceback


def test_errors_not_ours_keep_their_traceback(monkeypatch):
    # A bug (an exception of no kind in the table) is not hidden behind one line.
    monkeypatch.setitem(cli.COMMANDS, "demo", lambda args: [][0])
    with pytest.raises(IndexError):
        cli.main(["demo"])


# -- train ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Four 40x40 pairs as PNG (blurred/, sharp/) and as JPEG, one cut short after its header
    (blurred_jpeg/, sharp_jpeg/): only decoding finds it, inside the training pipeline."""
    root = tmp_path_factory.mktemp("photos")
    for index, image in enumerate(smooth_images(4, 40, 40, seed=5)):
        for extension in ("png", "jpeg"):
            suffix = "" if extension == "png" else "_jpeg"
            data.write_image(str(root / f"sharp{suffix}" / f"{index}.{extension}"), image)
            data.write_image(str(root / f"blurred{suffix}" / f"{index}.{extension}"), image * 0.7)
    truncated = root / "blurred_jpeg" / "2.jpeg"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size * 85 // 100])
    return root


def train_config(folder, run, model=None, data=None, optimizer=None, training=None):
    """A tiny DeblurGAN trained on `folder`'s pairs with logdir `run` (keys updated by the
    arguments); returns the config's path."""
    config = {
        "model": {"name": "deblur_gan", "filters": 4, "num_blocks": 1, "discriminator_steps": 1}
        | {"vgg_weights": None, **(model or {})},
        "optimizer": {"learning_rate": 1e-3, **(optimizer or {})},
        "data": {"kind": "paired", "crop_size": 32, "batch_size": 2}
        | {"degraded_dir": str(folder / "blurred"), "target_dir": str(folder / "sharp")}
        | (data or {}),
        "training": {"epochs": 1, "logdir": str(run), "verbose": 0, **(training or {})},
    }
    path = run.parent / f"{run.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


TRAIN_CASES = {
    "a learning rate that is no number": (
        {"optimizer": {"learning_rate": "fast"}},
        "optimizer.learning_rate must be a number, got 'fast'",
    ),
    "epochs -1": ({"training": {"epochs": -1}}, "training.epochs must be >= 1, got -1"),
    "a missing VGG weights file": (
        {"model": {"vgg_weights": "/nope.h5"}},
        "error: VGG weights file not found: '/nope.h5' (the model option vgg_weights)",
    ),
    "no cached ImageNet VGG weights, offline": (
        {"model": {"vgg_weights": "imagenet"}},
        "error: cannot get the ImageNet VGG19 weights of the perceptual loss: ",
    ),
    "a truncated JPEG among the photos": (
        {"data": {"degraded_dir": "{photos}/blurred_jpeg", "target_dir": "{photos}/sharp_jpeg"}},
        "error: data: {photos}/blurred_jpeg/2.jpeg: cannot decode image (",
    ),
}


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_train_errors_are_one_line(case, photos, tmp_path, capsys, request):
    changes, expected = TRAIN_CASES[case]
    if "offline" in case:
        request.getfixturevalue("offline")  # no network, an empty Keras cache
    changes = yaml.safe_load(yaml.safe_dump(changes).replace("{photos}", str(photos)))
    assert cli.main(["train", train_config(photos, tmp_path / "run", **changes)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert expected.replace("{photos}", str(photos)) in err
    assert not (tmp_path / "run" / "backup").exists()  # stopped before any epoch ended


@pytest.mark.slow
def test_train_on_a_logdir_of_another_architecture(photos, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", train_config(photos, run)]) == 0
    wider = train_config(photos, run, model={"filters": 8})
    capsys.readouterr()
    assert cli.main(["train", wider]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith(
        f"tfrestore train: error: {run} holds a run of another architecture: its backup does "
        f"not fit the model of {wider} (A total of "
    )
    assert err.endswith("); train with a new --logdir, or with that run's config\n")
    assert os.listdir(run / "backup") == ["epoch_1.weights.h5"]  # kept for the right config


# -- Ctrl-C -----------------------------------------------------------------------------------


def start_tfrestore(*argv):
    """The `tfrestore` command in a child process that takes Ctrl-C as a terminal would give
    it: a shell that starts pytest in the background makes it ignore SIGINT, and children
    inherit that (Python then installs no KeyboardInterrupt handler)."""
    command = os.path.join(os.path.dirname(sys.executable), "tfrestore")
    return subprocess.Popen(
        [command, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def interrupt_when(process, ready, timeout=300):
    """Sends SIGINT to `process` once `ready()` is true; returns (exit status, stdout, stderr)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


@pytest.mark.slow
def test_ctrl_c_in_restore_says_rerun_and_the_rerun_goes_on(files, tmp_path, capsys):
    photos, out = tmp_path / "photos", tmp_path / "out"
    for index in range(150):
        data.write_image(str(photos / f"{index:03d}.png"), np.full((128, 128, 3), index / 150))
    process = start_tfrestore("restore", files["model"], str(photos), "-o", str(out))
    status, _, err = interrupt_when(process, lambda: len(list(out.glob("*.png"))) >= 3)
    assert status == 130
    assert err == (
        "tfrestore restore: interrupted; run the same command again to go on: images already "
        "restored are skipped\n"
    )
    done = len(list(out.glob("*.png")))
    assert 3 <= done < 150 and not list(out.glob(".*"))  # no partial or temporary file
    assert cli.main(["restore", files["model"], str(photos), "-o", str(out)]) == 0
    assert capsys.readouterr().out.endswith(
        f"restored {150 - done} images into {out}; {done} skipped (output exists; "
        "--overwrite replaces it)\n"
    )


@pytest.mark.slow
def test_ctrl_c_in_train_says_rerun_with_the_same_logdir(photos, tmp_path):
    run = tmp_path / "run"
    config = train_config(photos, run, training={"epochs": 1000, "steps_per_epoch": 1})
    process = start_tfrestore("train", config)
    status, _, err = interrupt_when(process, (run / "backup" / "epoch_1.weights.h5").exists)
    assert status == 130
    assert err == (
        "tfrestore train: interrupted; run the same command again (same --logdir) to resume "
        "after the last finished epoch\n"
    )
