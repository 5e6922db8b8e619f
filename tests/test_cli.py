"""The `tfrestore` command: restore, evaluate, export, prepare-structure, bad input, logging."""

import logging
import os
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest
from model_harness import smooth_images
from PIL import Image

from tfrestore import cli, data, evaluate, export, models


@pytest.fixture(scope="module")
def model_file(deblur_gan_forms):
    return str(deblur_gan_forms[1] / "model.keras")


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
    assert data.read_image(str(tmp_path / "out" / "sub" / "b.jpg")).shape == (24, 24, 3)
    assert f"restored 2 images into {tmp_path / 'out'}; 1 failed" in captured.out
    # Again: what exists is skipped, unless --overwrite.
    status = cli.main(["restore", model_file, str(inputs), "-o", str(tmp_path / "out")])
    assert status == 1 and "restored 0 images into" in capsys.readouterr().out
    argv = ["restore", model_file, str(inputs), "-o", str(tmp_path / "out"), "--overwrite"]
    assert cli.main(argv) == 1 and "restored 2 images" in capsys.readouterr().out


def test_restore_matches_the_model(model_file, tmp_path):
    import keras

    data.write_image(str(tmp_path / "x.png"), smooth_images(1, 20, 28)[0])
    written = data.read_image(str(tmp_path / "x.png"))  # as quantized to 8 bits on disk
    out = tmp_path / "out"
    assert cli.main(["restore", model_file, str(tmp_path / "x.png"), "-o", str(out)]) == 0
    restored = keras.models.load_model(model_file).predict(written[None], verbose=0)[0]
    np.testing.assert_allclose(data.read_image(str(out / "x.png")), restored, atol=0.5 / 255 + 1e-6)


def test_restore_keeps_jpeg_and_takes_its_quality(model_file, tmp_path):
    data.write_image(str(tmp_path / "x.jpg"), smooth_images(1, 20, 28)[0])
    out = tmp_path / "out"
    argv = ["restore", model_file, str(tmp_path / "x.jpg"), "-o", str(out), "--jpeg-quality", "60"]
    assert cli.main(argv) == 0
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "q60.jpg", quality=60)
    with Image.open(out / "x.jpg") as written, Image.open(tmp_path / "q60.jpg") as reference:
        assert written.format == "JPEG" and written.quantization == reference.quantization


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
    assert cli.main(["evaluate", str(tmp_path / "m.onnx"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "m.onnx: no such file or folder" in err and "Traceback" not in err
    (tmp_path / "bad.keras").write_bytes(b"not a model")
    assert cli.main(["export", str(tmp_path / "bad.keras"), "--tflite", "m.tflite"]) == 2
    assert capsys.readouterr().err.startswith(
        f"tfrestore export: error: cannot load {tmp_path / 'bad.keras'}: "
    )


def test_debug_raises_the_error_given_before_or_after_the_command(model_file):
    for argv in (["--debug", "export", model_file], ["export", model_file, "--debug"]):
        with pytest.raises(cli.UsageError, match="export needs --saved-model DIR and/or --tflite"):
            cli.main(argv)


def test_evaluate_prints_the_report(model_file, tmp_path, capsys):
    for index in range(2):
        image = smooth_images(1, 32, 32, seed=index)[0]
        data.write_image(str(tmp_path / "sharp" / f"{index}.png"), image)
        data.write_image(str(tmp_path / "blurred" / f"{index}.png"), image * 0.5)
    assert cli.main(["evaluate", model_file, str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out == f"{evaluate.evaluate(model_file, str(tmp_path))}\n"
    assert out.startswith(f"2 pairs from {tmp_path}\ninput    PSNR ")
    data.write_image(str(tmp_path / "sharp" / "2.png"), smooth_images(1, 32, 48)[0])
    data.write_image(str(tmp_path / "blurred" / "2.png"), smooth_images(1, 32, 40)[0])
    assert cli.main(["evaluate", model_file, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"tfrestore evaluate: error: {tmp_path / 'blurred' / '2.png'} is 40x32 but "
        f"{tmp_path / 'sharp' / '2.png'} is 48x32 (width x height)\n"
    )


@pytest.mark.slow
def test_export_command_writes_both_forms(model_file, tmp_path, capsys):
    saved, tflite = tmp_path / "sm", tmp_path / "m.tflite"
    assert (
        cli.main(["export", model_file, "--saved-model", str(saved), "--tflite", str(tflite)]) == 0
    )
    assert (saved / "saved_model.pb").exists() and tflite.stat().st_size > 0
    assert "max abs" in capsys.readouterr().out.lower()


def test_export_script_runs_the_export_command(model_file, tmp_path, monkeypatch, capsys):
    script = os.path.join(os.path.dirname(__file__), os.pardir, "export", "export_model.py")
    tflite = tmp_path / "m.tflite"
    monkeypatch.setattr(sys, "argv", [script, model_file, "--tflite", str(tflite), "--no-check"])
    with pytest.raises(SystemExit) as exit:
        runpy.run_path(script, run_name="__main__")
    assert exit.value.code == 0
    report, *snippet = capsys.readouterr().out.splitlines()
    assert report.startswith(f"tflite float32 {tflite}: ") and report.endswith(", not checked")
    assert snippet[0].startswith('Using m.tflite with LiteRT (any binding): signature runner "')
    assert tflite.stat().st_size > 0


def test_export_fixed_input_size_prints_the_integration_snippet(model_file, tmp_path, capsys):
    tflite = tmp_path / "fixed.tflite"
    argv = ["export", model_file, "--tflite", str(tflite), "--input-size", "40x28"]
    assert cli.main(argv) == 0
    report, *snippet = capsys.readouterr().out.splitlines()
    assert report.startswith(f"tflite float32 40x28 {tflite}: ")
    assert "0 of " in report and "1 delegate partition" in report
    assert '  input  "image": [1, 40, 28, 3] RGB in [0, 1]' in snippet
    assert '  output "restored": [1, 40, 28, 3] RGB in [0, 1]' in snippet
    for bad, message in (("40", "must be HEIGHTxWIDTH"), ("0x28", "must be HEIGHTxWIDTH")):
        assert cli.main(["export", model_file, "--tflite", str(tflite), "--input-size", bad]) == 2
        assert capsys.readouterr().err == (
            f"tfrestore export: error: --input-size {message}, e.g. 256x256; got {bad!r}\n"
        )
    assert (
        cli.main(
            ["export", model_file, "--saved-model", str(tmp_path / "sm"), "--input-size", "8x8"]
        )
        == 2
    )
    assert "--input-size needs --tflite FILE" in capsys.readouterr().err
    assert not (tmp_path / "sm").exists()


def test_export_snippet_gives_a_models_own_tile_window(tmp_path, capsys):
    # EnlightenGAN's limits carry a window size (one int), the others HxW pairs.
    path = tmp_path / "enlighten.keras"
    models.get("enlighten_gan", filters=4, vgg_weights=None).save(str(path))
    tflite = tmp_path / "enlighten.tflite"
    assert cli.main(["export", str(path), "--tflite", str(tflite), "--no-check"]) == 0
    snippet = capsys.readouterr().out.splitlines()
    assert "  tile: 768 px windows" in snippet
    assert "  multiple: 16x16" in snippet
    # its convs at 1/4 and 1/8 scale in Winograd's form (`xnnpack_forms`): depthwise transforms
    assert "DEPTHWISE_CONV_2D" in export.tflite_ops(tflite)
    cpu = '  on the CPU, LiteRT CpuOptions: xnnpack_weight_cache_path=":memory:" packs the weights'
    assert snippet[-1].startswith(cpu)
    assert "xnnpack_flags=0x23 (TRANSIENT_INDIRECTION_BUFFER)" in snippet[-1]


# -- inpainting models: restore --mask ---------------------------------------------------------


@pytest.fixture(scope="module")
def inpainting_model_file(tmp_path_factory):
    model = models.get("context_encoder", filters=4, bottleneck_channels=8)
    path = tmp_path_factory.mktemp("ce") / "ce.keras"
    model.save(str(path))
    return str(path)


def write_photo_and_mask(folder, name, height, width, hole, seed=0):
    """An image in folder/in/ and its mask (white rectangle `hole` = (top, left, h, w)) in
    folder/masks/; returns both paths."""
    image_path, mask_path = folder / "in" / f"{name}.png", folder / "masks" / f"{name}.png"
    data.write_image(str(image_path), smooth_images(1, height, width, seed=seed)[0])
    mask = np.zeros((height, width), "float32")
    top, left, hole_height, hole_width = hole
    mask[top : top + hole_height, left : left + hole_width] = 1.0
    data.write_image(str(mask_path), mask)
    return str(image_path), str(mask_path)


@pytest.mark.slow
def test_restore_medfe_any_size_and_too_small_images(tmp_path, capsys):
    model = models.get("medfe", filters=4, dilation=1, vgg_weights=None)
    path = str(tmp_path / "medfe.keras")
    model.save(path)
    big, big_mask = write_photo_and_mask(tmp_path, "big", 100, 150, (30, 40, 30, 50))
    small, small_mask = write_photo_and_mask(tmp_path, "small", 60, 150, (10, 40, 20, 50))
    out = str(tmp_path / "out")
    assert cli.main(["restore", path, big, small, "--mask", big_mask, small_mask, "-o", out]) == 1
    assert f"{small}: MEDFE takes images of at least 65x65 pixels" in capsys.readouterr().err
    image, restored = data.read_image(big), data.read_image(str(tmp_path / "out" / "big.png"))
    mask = data.read_image(big_mask)[..., 0] > 0.5
    np.testing.assert_allclose(restored[~mask], image[~mask], atol=1 / 255)
    assert np.abs(restored[mask] - image[mask]).mean() > 0.01


@pytest.mark.slow
def test_restore_with_mask_folder_changes_only_hole_pixels(inpainting_model_file, tmp_path):
    import keras

    write_photo_and_mask(tmp_path, "a", 128, 128, (40, 36, 50, 50))
    write_photo_and_mask(tmp_path, "b", 96, 150, (10, 90, 40, 30), seed=1)  # near the border
    out = tmp_path / "out"
    argv = ["restore", inpainting_model_file, str(tmp_path / "in"), "-o", str(out)]
    assert cli.main([*argv, "--mask", str(tmp_path / "masks")]) == 0
    model = keras.models.load_model(inpainting_model_file)
    for name in ("a", "b"):
        image = data.read_image(str(tmp_path / "in" / f"{name}.png"))
        mask = data.read_image(str(tmp_path / "masks" / f"{name}.png"))[..., :1]
        restored = data.read_image(str(out / f"{name}.png"))
        hole = mask[..., 0] == 1
        np.testing.assert_array_equal(restored[~hole], image[~hole])
        expected = model.predict((image[None], mask[None]), verbose=0)[0]
        np.testing.assert_allclose(restored, expected, atol=0.5 / 255 + 1e-6)
        assert np.abs(restored[hole] - image[hole]).max() > 0.05  # the holes were filled


@pytest.mark.slow
def test_restore_mask_errors(inpainting_model_file, model_file, tmp_path, capsys):
    a, mask_a = write_photo_and_mask(tmp_path, "a", 80, 80, (20, 20, 30, 30))
    b, mask_b = write_photo_and_mask(tmp_path, "b", 80, 80, (20, 20, 30, 30))
    c, _ = write_photo_and_mask(tmp_path, "c", 80, 80, (0, 0, 80, 80))  # too big to fill
    out = str(tmp_path / "out")
    # usage errors: exit 2, one line, nothing restored
    for argv, expected in [
        ([inpainting_model_file, a, "-o", out], "is an inpainting model"),
        ([model_file, a, "-o", out, "--mask", mask_a], "takes no mask"),
        ([inpainting_model_file, a, b, "-o", out, "--mask", mask_a], "1 file(s) for 2 input"),
        ([inpainting_model_file, a, "-o", out, "--mask", str(tmp_path / "no.png")], "no.png"),
    ]:
        assert cli.main(["restore", *argv]) == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    # per-file errors: reported by path, the other files still restored, exit 1
    small = str(tmp_path / "masks" / "small.png")
    data.write_image(small, np.ones((40, 40), "float32"))
    (tmp_path / "in" / "orphan.png").write_bytes((tmp_path / "in" / "a.png").read_bytes())
    argv = ["restore", inpainting_model_file, str(tmp_path / "in"), "-o", out]
    assert cli.main([*argv, "--mask", str(tmp_path / "masks")]) == 1
    err = capsys.readouterr().err
    assert "orphan.png: no mask for it in" in err
    assert "c.png: the hole does not fit in the 64x64 center" in err
    assert os.path.exists(os.path.join(out, "a.png")) and os.path.exists(os.path.join(out, "b.png"))
    out = str(tmp_path / "out2")  # a and b are restored in `out` already: they would be skipped
    assert (
        cli.main(["restore", inpainting_model_file, a, b, "-o", out, "--mask", mask_a, small]) == 1
    )
    err = capsys.readouterr().err
    assert f"{b}: mask {small} is 40x40 but the image is 80x80" in err


def test_prepare_structure_writes_resumes_and_reports_bad_files(tmp_path, capsys):
    photos, out = tmp_path / "photos", tmp_path / "structures"
    data.write_image(str(photos / "a.png"), smooth_images(1, 24, 24)[0])
    data.write_image(str(photos / "sub" / "b.jpg"), smooth_images(1, 20, 28, seed=1)[0])
    (photos / "broken.png").write_bytes(b"not an image")
    argv = ["prepare-structure", str(photos), str(out)]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert f"error: {photos / 'broken.png'}" in captured.err
    assert "wrote 2 structure images" in captured.out
    for name, written in (("a.png", "a.png"), ("sub/b.jpg", "sub/b.png")):
        expected = data.rtv_smooth(data.read_image(str(photos / name)))
        np.testing.assert_allclose(
            data.read_image(str(out / written)), expected, atol=0.5 / 255 + 1e-6
        )

    # A second run skips what exists (a.png stays as we overwrite it) and redoes what is not.
    data.write_image(str(out / "a.png"), np.zeros((24, 24, 3)))
    (out / "sub" / "b.png").unlink()
    assert cli.main([*argv, "--lam", "0.02", "--iterations", "2"]) == 1
    assert "wrote 1 structure images" in capsys.readouterr().out
    assert data.read_image(str(out / "a.png")).max() == 0
    assert data.read_image(str(out / "sub" / "b.png")).shape == (20, 28, 3)


def test_prepare_structure_usage_errors(tmp_path, capsys):
    def error(*argv):
        assert cli.main(["prepare-structure", *argv]) == 2
        return capsys.readouterr().err

    assert "input folder not found" in error(str(tmp_path / "nope"), str(tmp_path / "out"))
    (tmp_path / "empty").mkdir()
    assert "no images found" in error(str(tmp_path / "empty"), str(tmp_path / "out"))
    assert "must not be IN" in error(str(tmp_path), str(tmp_path / "out"))
    assert "--lam must be > 0, got 0.0" in error(str(tmp_path / "empty"), "out", "--lam", "0")


# -- TensorFlow's own logging: hidden unless --verbose ------------------------------------------


def run_tfrestore(*argv):
    """Runs the installed `tfrestore` command in a fresh process, without TF_CPP_* settings."""
    command = os.path.join(os.path.dirname(sys.executable), "tfrestore")
    env = {name: value for name, value in os.environ.items() if not name.startswith("TF_CPP_")}
    return subprocess.run(
        [command, *argv], capture_output=True, text=True, env=env, timeout=600, check=False
    )


@pytest.mark.slow
def test_commands_print_only_their_own_lines_unless_verbose(model_file, deblur_gan_forms, tmp_path):
    image = smooth_images(1, 24, 24)[0]
    data.write_image(str(tmp_path / "sharp" / "a.png"), image)
    data.write_image(str(tmp_path / "blurred" / "a.png"), image * 0.5)

    quiet = run_tfrestore("evaluate", model_file, str(tmp_path))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""  # no start-up notes (oneDNN, CUDA, CPU features), no cuInit
    assert quiet.stdout.startswith(f"1 pairs from {tmp_path}\ninput    PSNR ")

    verbose = run_tfrestore("evaluate", model_file, str(tmp_path), "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert verbose.stdout == quiet.stdout
    # TensorFlow's C++ log lines, e.g. "I0000 00:00:1796213384.950537 5128 port.cc:153] oneDNN"
    assert re.search(r"^[IWE]\d{4} [\d:.]+ +\d+ \w+\.cc:\d+\] ", verbose.stderr, re.MULTILINE)
    assert any(note in verbose.stderr for note in ("oneDNN", "cpu_feature_guard", "cuInit"))

    # LiteRT logs its accelerators at start-up and, from a static destructor, at exit; tiles
    # run several windows of one size (the calls after the first are not captured).
    tflite = str(deblur_gan_forms[1] / "model.tflite")
    output = str(tmp_path / "r")
    blurred = str(tmp_path / "blurred")
    restored = run_tfrestore("restore", tflite, blurred, "-o", output, "--tile", "16")
    assert restored.returncode == 0, restored.stderr
    assert restored.stderr == "" and (tmp_path / "r" / "a.png").exists()


def test_main_called_from_python_leaves_its_logging_alone(monkeypatch, tmp_path):
    # TensorFlow is loaded already: its log level cannot change, so main changes nothing.
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    level = logging.getLogger("tensorflow").level
    assert cli.main(["prepare-structure", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert logging.getLogger("tensorflow").level == level


def test_commands_pool_cpu_memory_unless_told_otherwise(monkeypatch):
    # Before TensorFlow loads, the BFC allocator is chosen unless the user chose.
    monkeypatch.delitem(sys.modules, "tensorflow")
    monkeypatch.delenv("TF_CPU_ALLOCATOR_USE_BFC", raising=False)
    cli.use_bfc_cpu_allocator()
    assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "true"
    monkeypatch.setenv("TF_CPU_ALLOCATOR_USE_BFC", "false")
    cli.use_bfc_cpu_allocator()
    assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "false"


def test_a_program_that_loaded_tensorflow_keeps_its_allocator(monkeypatch):
    # Here TensorFlow is loaded: main changes nothing, and every command goes through it.
    monkeypatch.delenv("TF_CPU_ALLOCATOR_USE_BFC", raising=False)
    assert cli.main(["train", "no_such_config.yaml"]) == 2
    assert "TF_CPU_ALLOCATOR_USE_BFC" not in os.environ
    calls = []
    monkeypatch.setattr(cli, "use_bfc_cpu_allocator", lambda: calls.append("allocator"))
    assert cli.main(["train", "no_such_config.yaml"]) == 2
    assert calls == ["allocator"]
