"""2 replicas (2 logical CPUs) make the same update as 1 replica on the same global batch."""

import json
import pathlib
import subprocess
import sys

TESTS = pathlib.Path(__file__).resolve().parents[1]


def run_replica_check(model_name, kwargs):
    result = subprocess.run(
        [sys.executable, str(TESTS / "replica_check.py"), model_name, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=TESTS,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_two_replicas_equal_one():
    # Dropout draws per-replica random streams (Keras layers), so it is off here; the
    # gradient penalty's interpolation weights are drawn per global example and stay on.
    report = run_replica_check(
        "deblur_gan",
        {
            "filters": 4,
            "num_blocks": 1,
            "dropout_rate": 0.0,
            "discriminator_steps": 2,
            "vgg_weights": None,
        },
    )
    assert report["replicas"] == 2
    assert report["weight_change"] > 1e-4  # the step really trained
    assert report["weight_diff"] < 1e-5, report
    for name, diff in report["loss_diff"].items():
        assert diff <= 1e-4 * max(1.0, abs(report["losses"][name])), (name, report)
