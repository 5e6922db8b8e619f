"""load_restorer: the same model from a .keras file, a SavedModel and a .tflite file."""

import numpy as np
import pytest

import tfrestore
from tfrestore import export, inference
from tfrestore.inference import Restorer, load_restorer


def images(batch, height, width, seed=0):
    return export.probe_inputs({"image": 3}, (height, width), batch, seed=seed)["image"]


@pytest.fixture(scope="module")
def model(deblur_gan_forms):
    return deblur_gan_forms[0]


@pytest.fixture(scope="module")
def artefacts(deblur_gan_forms):
    return deblur_gan_forms[1]


@pytest.mark.slow
def test_litert_model_runs_every_signature_like_the_interpreter(artefacts):
    """`tfrestore.litert` sizes each output itself (CompiledModel keeps stale output shapes):
    every signature, at sizes that grow, shrink and come back, equals LiteRT's Interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    from tfrestore.litert import LiteRTModel

    path = str(artefacts / "model.tflite")
    model, interpreter = LiteRTModel(path), Interpreter(model_path=path)
    assert set(model.signatures) == {
        inference.SIGNATURE_KEY,
        inference.STATISTICS_KEY,
        inference.WITH_STATISTICS_KEY,
    }
    for batch, height, width in [(1, 45, 38), (2, 64, 80), (1, 45, 38)]:
        inputs = {"image": images(batch, height, width, seed=height)}
        statistics = interpreter.get_signature_runner(inference.STATISTICS_KEY)(**inputs)
        inputs_with = {**inputs, "statistics": statistics["statistics"]}
        for key, arrays in [
            (inference.SIGNATURE_KEY, inputs),
            (inference.STATISTICS_KEY, inputs),
            (inference.WITH_STATISTICS_KEY, inputs_with),
        ]:
            got = model(key, arrays)
            expected = interpreter.get_signature_runner(key)(**arrays)
            assert set(got) == set(expected)
            for name in got:
                assert got[name].shape == expected[name].shape
                np.testing.assert_allclose(got[name], expected[name], atol=1e-6)


def test_litert_output_shapes_follow_the_inputs():
    from tfrestore.litert import output_shape

    assert output_shape([-1, -1, -1, 3], 2, 45, 38) == [2, 45, 38, 3]
    assert output_shape([-1, 1312], 2, 45, 38) == [2, 1312]
    assert output_shape([1, 40, 28, 3], 1, 40, 28) == [1, 40, 28, 3]
    with pytest.raises(ValueError, match=r"cannot tell the size of an output of shape \[-1, -1\]"):
        output_shape([-1, -1], 1, 45, 38)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["model.keras", "saved_model", "model.tflite"])
def test_every_form_restores_like_the_model(model, artefacts, form):
    restorer = load_restorer(artefacts / form)
    assert restorer.inputs == ("image",) and restorer.outputs == ("restored",)
    assert restorer.form == {"model.keras": "keras"}.get(form, form.replace("model.", ""))
    expected = Restorer.from_model(model)
    # Two sizes in a row on one restorer: the TFLite interpreter is resized per call.
    for batch, height, width in [(1, 45, 38), (2, 36, 20)]:
        x = images(batch, height, width, seed=width)
        restored = restorer(image=x)["restored"]
        assert restored.shape == x.shape and restored.dtype == np.float32
        np.testing.assert_allclose(restored, expected(image=x)["restored"], atol=1e-4)
        np.testing.assert_allclose(restored, model.predict(x, verbose=0), atol=1e-4)


@pytest.mark.slow
def test_tflite_runs_without_litert_writing_to_stderr(artefacts, capfd):
    """LiteRT prints its XNNPACK note on the first run straight to file descriptor 2."""
    capfd.readouterr()
    restored = load_restorer(artefacts / "model.tflite")(image=images(1, 16, 16))["restored"]
    assert restored.shape == (1, 16, 16, 3)
    assert capfd.readouterr().err == ""


def test_inputs_can_be_positional_and_are_checked(model):
    restorer = load_restorer(model)  # a model in memory is accepted too
    x = images(1, 24, 28)
    np.testing.assert_array_equal(restorer(x)["restored"], restorer(image=x)["restored"])
    with pytest.raises(ValueError, match="missing \\['image'\\]"):
        restorer(mask=x[..., :1])
    with pytest.raises(ValueError, match="\\[batch, height, width, 3\\]"):
        restorer(image=x[0])
    with pytest.raises(ValueError, match="\\[batch, height, width, 3\\]"):
        restorer(image=x[..., :1])


def test_missing_path_is_named(tmp_path):
    path = tmp_path / "nowhere.keras"
    with pytest.raises(FileNotFoundError, match="nowhere.keras") as info:
        load_restorer(path)
    assert "SavedModel" in str(info.value) and ".tflite" in str(info.value)


def test_unknown_extension_lists_the_accepted_forms(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="'.onnx'") as info:
        load_restorer(path)
    assert ".keras" in str(info.value) and ".tflite" in str(info.value)


def test_folder_without_saved_model_pb_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="without saved_model.pb"):
        load_restorer(tmp_path)


@pytest.fixture(scope="module")
def context_encoder_forms(tmp_path_factory):
    """A tiny Context Encoder as .keras, SavedModel and .tflite (64x64 holes at most)."""
    model = tfrestore.models.get("context_encoder", filters=4, bottleneck_channels=8)
    folder = tmp_path_factory.mktemp("context_encoder")
    model.save(folder / "model.keras")
    export.export_saved_model(model, folder / "saved_model", check=False)
    export.export_tflite(model, folder / "model.tflite", check=False)
    return model, folder


@pytest.mark.slow
@pytest.mark.parametrize("form", ["model.keras", "saved_model", "model.tflite"])
def test_every_form_refuses_before_running_what_the_keras_model_refuses(
    context_encoder_forms, form, monkeypatch
):
    model, folder = context_encoder_forms
    restorer = load_restorer(folder / form)
    assert restorer.limits == {
        "model": "ContextEncoder",
        "min_size": [64, 64],
        "max_hole": [64, 64],
    }
    image = images(1, 128, 128)
    mask = np.zeros([1, 128, 128, 1], np.float32)
    mask[:, 10:110, 14:114] = 1.0  # 100x100: its border pixels would come out black
    small = (image[:, :50], np.zeros_like(mask[:, :50]))
    monkeypatch.setattr(restorer, "_run", lambda batch: pytest.fail("the model ran"))
    for inputs, expected in [
        (
            (image, mask),
            "the hole does not fit in the 64x64 center ContextEncoder inpaints: it "
            "spans 100x100 pixels",
        ),
        (small, "ContextEncoder takes images of at least 64x64 pixels, got 50x128"),
    ]:
        with pytest.raises(ValueError) as keras_error:
            model.check_inputs(inputs)
        with pytest.raises(ValueError) as error:
            restorer(image=inputs[0], mask=inputs[1])
        assert str(error.value) == str(keras_error.value) == expected
    monkeypatch.undo()
    mask[:, 10:110, 14:114] = 0.0
    mask[:, 90:128, 70:128] = 1.0  # 38x58 at the corner: fits
    assert restorer(image=image, mask=mask)["restored"].shape == image.shape
