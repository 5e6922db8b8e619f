"""`tfrestore restore / evaluate / export` from the command line, with bad input."""

import numpy as np
import pytest
from model_harness import smooth_images

from tfrestore import cli, data, models


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    model = models.get("deblur_gan", filters=4, num_blocks=1, vgg_weights=None)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(str(path))
    return str(path)


def test_restore_processes_good_files_reports_bad_ones(model_file, tmp_path, capsys):
    inputs = tmp_path / "in"
    data.write_image(str(inputs / "a.png"), smooth_images(1, 30, 41)[0])
    data.write_image(str(inputs / "sub" / "b.jpg"), smooth_images(1, 24, 24, seed=1)[0])
    (inputs / "broken.png").write_bytes(b"not an image")
    status = cli.main(["restore", model_file, str(inputs), "-o", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == 1
    assert "broken.png" in captured.err
    assert data.read_image(str(tmp_path / "out" / "a.png")).shape == (30, 41, 3)
    assert data.read_image(str(tmp_path / "out" / "b.png")).shape == (24, 24, 3)
    assert "restored 2 of 3" in captured.out


def test_restore_matches_the_model(model_file, tmp_path):
    import keras

    data.write_image(str(tmp_path / "x.png"), smooth_images(1, 20, 28)[0])
    written = data.read_image(str(tmp_path / "x.png"))  # as quantized to 8 bits on disk
    out = tmp_path / "out"
    assert cli.main(["restore", model_file, str(tmp_path / "x.png"), "-o", str(out)]) == 0
    restored = keras.models.load_model(model_file).predict(written[None], verbose=0)[0]
    np.testing.assert_allclose(data.read_image(str(out / "x.png")), restored, atol=0.5 / 255 + 1e-6)


def test_usage_errors_exit_2_with_one_line(model_file, tmp_path, capsys):
    assert cli.main(["restore", model_file, str(tmp_path / "nope.png"), "-o", str(tmp_path)]) == 2
    assert "input not found" in capsys.readouterr().err
    assert cli.main(["restore", str(tmp_path / "m.onnx"), model_file, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "m.onnx" in err and "Traceback" not in err
    assert cli.main(["export", model_file]) == 2
    assert "--saved-model" in capsys.readouterr().err
    assert cli.main(["evaluate", model_file, str(tmp_path)]) == 2
    assert "no paired sub-folders" in capsys.readouterr().err


def test_evaluate_reports_input_and_restored_scores(model_file, tmp_path, capsys):
    sharp = smooth_images(2, 32, 32, seed=4)
    for index, image in enumerate(sharp):
        data.write_image(str(tmp_path / "sharp" / f"{index}.png"), image)
        data.write_image(str(tmp_path / "blurred" / f"{index}.png"), image * 0.5)
    assert cli.main(["evaluate", model_file, str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 pairs" in out
    degraded = np.stack([data.read_image(str(tmp_path / "blurred" / f"{i}.png")) for i in range(2)])
    target = np.stack([data.read_image(str(tmp_path / "sharp" / f"{i}.png")) for i in range(2)])
    from tfrestore import metrics

    expected = float(np.mean(metrics.psnr(target, degraded)))
    assert f"input    PSNR {expected:.2f} dB" in out


def test_export_command_writes_both_forms(model_file, tmp_path, capsys):
    saved, tflite = tmp_path / "sm", tmp_path / "m.tflite"
    assert (
        cli.main(["export", model_file, "--saved-model", str(saved), "--tflite", str(tflite)]) == 0
    )
    assert (saved / "saved_model.pb").exists() and tflite.stat().st_size > 0
    assert "max abs" in capsys.readouterr().out.lower()
