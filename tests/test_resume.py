"""`tfrestore train` resumes after a kill or a damaged backup, and stops on non-finite losses
without overwriting what it saved."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import test_train
import yaml
from test_train import write_config

from tfrestore import cli, models, train
from tfrestore.callbacks import (
    LatestCheckpoint,
    NonFiniteLossError,
    TrainingBackup,
    save_atomically,
)

paired_folder = test_train.paired_folder  # the fixture: 4 image pairs of 40 x 40

TINY = {
    "name": "deblur_gan",
    "filters": 4,
    "num_blocks": 1,
    "discriminator_steps": 1,
    "perceptual_weight": 0.0,
}

# Trains CONFIG (argv[1]); when the backup of epoch 2 is written and about to be renamed into
# place, creates MARKER (argv[2]) and waits there to be killed.
KILLED_DURING_BACKUP = """
import os, sys, time
from tfrestore import train

rename = os.replace

def replace_slowly(source, destination):
    if destination.endswith("epoch_2.weights.h5"):
        open(sys.argv[2], "w").close()
        time.sleep(600)
    rename(source, destination)

os.replace = replace_slowly
train.train(train.load_config(sys.argv[1]))
"""


def tiny_config(folder, epochs, optimizer=None, training=None):
    """write_config's paired run (4 images, batch 2: 2 steps per epoch) with TINY's model and
    the given `optimizer` and `training` keys."""
    path = write_config(folder, epochs, model=TINY)
    config = yaml.safe_load(open(path))
    config["training"].update(training or {})
    config["optimizer"].update(optimizer or {})
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle)
    return path


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.slow
def test_sigkill_during_backup_write_resumes_from_last_epoch(paired_folder, capsys):
    path = tiny_config(paired_folder, epochs=3)
    marker, log = paired_folder / "writing", paired_folder / "child.log"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(log, "w") as output:
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_DURING_BACKUP, path, str(marker)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), log.read_text()[-3000:]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    backup = paired_folder / "run" / "backup"
    # Epoch 2's state was written but never renamed into place.
    left = sorted(os.listdir(backup))
    assert left[0].startswith(".tmp-") and left[0].endswith("-epoch_2.weights.h5")
    assert left[1:] == ["epoch_1.weights.h5"]

    model, history = train.train(train.load_config(path))
    out = capsys.readouterr().out
    assert "resuming after epoch 1 (step 2) from" in out and "epoch_1.weights.h5" in out
    assert len(history.history["g_loss"]) == 2  # epochs 2 and 3
    assert int(model.generator_optimizer.iterations) == 6
    assert int(model.discriminator_optimizer.iterations) == 6
    assert sorted(os.listdir(backup)) == ["epoch_2.weights.h5", "epoch_3.weights.h5"]


def test_damaged_backup_is_reported_and_the_state_before_it_used(tmp_path, capsys):
    model = models.get(**TINY)
    model.compile()
    backup = TrainingBackup(str(tmp_path / "backup"))
    backup.set_model(model)
    for epoch, step in [(0, 3), (1, 5), (2, 7)]:
        model.generator_optimizer.iterations.assign(step)
        backup.on_epoch_end(epoch)
    assert [epoch for epoch, _ in backup.states()] == [3, 2]  # keeps two
    newest = str(tmp_path / "backup" / "epoch_3.weights.h5")
    os.truncate(newest, os.path.getsize(newest) // 2)  # torn, as an in-place write leaves it

    fresh = models.get(**TINY)
    fresh.compile()
    assert backup.restore(fresh) == 2
    assert int(fresh.generator_optimizer.iterations) == 5
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "damaged backup" in err and "epoch_3.weights.h5" in err
    assert "resuming after epoch 2 (step 5)" in err
    assert os.path.exists(f"{newest}.damaged") and [e for e, _ in backup.states()] == [2]

    os.truncate(str(tmp_path / "backup" / "epoch_2.weights.h5"), 0)
    assert backup.restore(models.get(**TINY)) == 0
    assert "no older state: training starts from epoch 1" in capsys.readouterr().err


@pytest.mark.slow
def test_non_finite_loss_stops_with_one_line_and_keeps_saved_state(paired_folder, capsys):
    # The state of a finished first epoch, as the run's callbacks save it.
    path = tiny_config(paired_folder, epochs=3, optimizer={"learning_rate": float("nan")})
    run = paired_folder / "run"
    model = train.build_model(train.load_config(path), total_steps=6)
    backup = TrainingBackup(str(run / "backup"))
    backup.set_model(model)
    backup.on_epoch_end(0)
    save_atomically(model, str(run / "checkpoints" / "latest.keras"))
    files = ("backup/epoch_1.weights.h5", "checkpoints/latest.keras")
    saved = {name: digest(run / name) for name in files}

    assert cli.main(["train", path]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "g_loss = nan" in err and "at step 1: training stopped" in err
    assert sorted(os.listdir(run / "backup")) == ["epoch_1.weights.h5"]
    assert {name: digest(run / name) for name in saved} == saved


def test_non_finite_weights_are_never_saved(tmp_path):
    model = models.get(**TINY)
    model.compile()
    checkpoint = str(tmp_path / "latest.keras")
    save_atomically(model, checkpoint)
    before = digest(checkpoint)
    kernel = model.generator.weights[0]
    kernel.assign(np.full(kernel.shape, np.inf, "float32"))
    saving = LatestCheckpoint(checkpoint)
    saving.set_model(model)
    with pytest.raises(NonFiniteLossError, match="NaN or infinite"):
        saving.on_epoch_end(0)
    assert digest(checkpoint) == before and os.listdir(tmp_path) == ["latest.keras"]


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("epochs", -1, "training.epochs must be >= 1"),
        ("steps_per_epoch", 0, "training.steps_per_epoch must be >= 1"),
        ("epochs", "ten", "training.epochs must be an integer"),
    ],
)
def test_epochs_and_steps_must_be_positive_integers(tmp_path, capsys, key, value, expected):
    assert cli.main(["train", tiny_config(tmp_path, 1, training={key: value})]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.splitlines()) == 1
