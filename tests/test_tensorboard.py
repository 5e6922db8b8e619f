"""TensorBoard logs of `tfrestore train`: every epoch's scalars and validation scores, image
panels at their own period, and steps that continue across a resume."""

import collections
import glob
import os

import pytest
import tensorflow as tf
import test_train
from test_resume import tiny_config

from tfrestore import train

paired_folder = test_train.paired_folder  # the fixture: 4 image pairs of 40 x 40


def logged_steps(directory):
    """{tag: [step, ...]} of every event file in `directory`, in the order written."""
    steps = collections.defaultdict(list)
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                steps[value.tag].append(event.step)
    return steps


@pytest.mark.slow
def test_every_epoch_and_panel_period_logged_and_steps_continue_on_resume(paired_folder):
    # 4 steps per epoch never ends an epoch on a multiple of scalar_every_n_steps = 10.
    training = {"steps_per_epoch": 4, "scalar_every_n_steps": 10, "image_every_n_steps": 3}
    path = tiny_config(paired_folder, 3, training=training)
    config = train.load_config(path)
    config["data"]["validation"] = {"shuffle": False}  # the same pairs, once per epoch
    train.train(config)  # steps 1-12, epochs 0-2
    config["training"]["epochs"] = 5
    model, _ = train.train(config)  # resumes: steps 13-20, epochs 3-4
    assert int(model.generator_optimizer.iterations) == 20

    run = str(paired_folder / "run")
    scalars = logged_steps(os.path.join(run, "train"))
    for term in ("g_loss", "d_loss", "g_adv", "d_adv", "gp", "learning_rate"):
        assert scalars[f"epoch_{term}"] == [0, 1, 2, 3, 4], term
    assert scalars["batch_g_loss"] == [10, 20]  # optimizer steps, not per-run counts
    validation = logged_steps(os.path.join(run, "validation"))
    assert validation["epoch_psnr"] == validation["epoch_ssim"] == [0, 1, 2, 3, 4]
    panels = logged_steps(os.path.join(run, "images"))["degraded|restored|target"]
    assert panels == [3, 6, 9, 12, 15, 18, 20]  # every 3 steps, and the run's last step
