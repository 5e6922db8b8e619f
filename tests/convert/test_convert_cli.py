"""`tfrestore convert`: a checkpoint to a .keras that `tfrestore restore` uses, the summary, and
one-line errors that leave nothing behind."""

import pathlib
import re

import keras
import numpy as np
import pytest
from model_harness import smooth_images

from tfrestore import cli, data

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "pytorch"
DEBLUR = str(FIXTURES / "deblur_gan_wild.pth")


def test_convert_then_restore(tmp_path, capsys):
    output = tmp_path / "models" / "deblur.keras"
    assert cli.main(["convert", "deblur_gan", DEBLUR, "-o", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "method: deblur_gan" in printed
    assert "options read from the checkpoint: filters=4, num_blocks=2" in printed
    assert "generator parameters: 13,379" in printed
    assert "keys skipped (18, unused by the network)" in printed
    assert f"keras {output}" in printed
    assert [p.name for p in output.parent.iterdir()] == ["deblur.keras"]  # no temporary left

    expected = np.load(FIXTURES / "convert_expected.npz")
    loaded = keras.saving.load_model(str(output), safe_mode=True)
    generator = loaded.generator(expected["deblur_gan_wild/input"], training=False)
    np.testing.assert_allclose(np.asarray(generator), expected["deblur_gan_wild/output"], atol=1e-5)

    data.write_image(str(tmp_path / "photo.png"), smooth_images(1, 18, 22)[0])
    out = tmp_path / "out"
    assert cli.main(["restore", str(output), str(tmp_path / "photo.png"), "-o", str(out)]) == 0
    assert data.read_image(str(out / "photo.png")).shape == (18, 22, 3)


@pytest.mark.slow  # about 6 s: TFLite conversion
def test_convert_with_tflite_prints_the_parity(tmp_path, capsys):
    tflite = tmp_path / "ce.tflite"
    ce = str(FIXTURES / "context_encoder.pth")
    argv = ["convert", "context_encoder", ce, "-o", str(tmp_path / "ce.keras")]
    assert cli.main([*argv, "--tflite", str(tflite), "--quantize", "float16"]) == 0
    printed = capsys.readouterr().out
    assert "options read from the checkpoint: filters=4, bottleneck_channels=6" in printed
    assert "keys skipped: none" in printed
    assert re.search(rf"tflite float16 {re.escape(str(tflite))}: .* max abs error .* PSNR", printed)
    assert tflite.is_file()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["enlighten_gan", DEBLUR], "no key 'conv1_1.weight'"),
        (["attentive_gan", DEBLUR], "; it looks like a deblur_gan checkpoint"),
        (["deblurgan", DEBLUR], "unknown method 'deblurgan'"),
        (["deblur_gan", DEBLUR, DEBLUR], "deblur_gan takes one checkpoint file, got 2"),
        (["deblur_gan", str(FIXTURES / "plain_pickle.npz")], "not a PyTorch checkpoint"),
    ],
)
def test_errors_are_one_line_and_write_nothing(argv, expected, tmp_path, capsys):
    output = tmp_path / "new" / "m.keras"
    assert cli.main(["convert", *argv, "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfrestore convert: error: ") and err.count("\n") == 1
    assert expected in err
    assert not output.parent.exists()


def test_usage_errors(tmp_path, capsys):
    assert cli.main(["convert", "deblur_gan", DEBLUR, "-o", str(tmp_path / "m.h5")]) == 2
    assert "-o must name a .keras file" in capsys.readouterr().err
    argv = [
        "convert",
        "deblur_gan",
        DEBLUR,
        "-o",
        str(tmp_path / "m.keras"),
        "--quantize",
        "dynamic",
    ]
    assert cli.main(argv) == 2
    assert "--quantize needs --tflite FILE" in capsys.readouterr().err
