"""Offline: building, saving, loading, exporting and restoring never download anything; only
training fetches the perceptual-loss VGG, and offline it says what to do in one line."""

import keras
import numpy as np
import pytest

import tfrestore
from tfrestore import export
from tfrestore.inference import load_restorer
from tfrestore.losses import VGGWeightsUnavailable

# Tiny versions of every method with their default `vgg_weights="imagenet"`.
TINY = {
    "deblur_gan": {"filters": 4, "num_blocks": 1},
    "attentive_gan": {"filters": 4, "discriminator_filters": 2, "crop_size": (32, 32)},
    "context_encoder": {"filters": 4, "bottleneck_channels": 8},
    "enlighten_gan": {"filters": 4},
    "medfe": {"filters": 4, "dilation": 1},
}


def inputs_for(name, rng):
    """Public inputs the model takes: a 128x128 image, plus a hole mask for inpainting."""
    image = rng.random((1, 128, 128, 3)).astype("float32")
    if name not in ("context_encoder", "medfe"):
        return {"image": image}
    mask = np.zeros((1, 128, 128, 1), "float32")
    mask[:, 40:80, 40:80] = 1.0
    return {"image": image, "mask": mask}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras' saving under numpy 2
@pytest.mark.parametrize(
    "name",
    # MEDFE (37 s) shares its VGG16 path with EnlightenGAN: `make test-exhaustive` runs it.
    [n if n != "medfe" else pytest.param(n, marks=pytest.mark.exhaustive) for n in sorted(TINY)],
)
def test_build_save_load_export_restore_offline(name, offline, tmp_path):
    model = tfrestore.models.get(name, **TINY[name])
    model.compile()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    arrays = inputs_for(name, np.random.default_rng(0))
    expected = load_restorer(path)(**arrays)["restored"]
    np.testing.assert_allclose(
        loaded.predict(tuple(arrays.values()) if len(arrays) > 1 else arrays["image"], verbose=0),
        expected,
        atol=1e-6,
    )
    saved = export.export_saved_model(loaded, tmp_path / "saved_model")
    export.export_tflite(loaded, tmp_path / "model.tflite", saved_model_dir=saved.path)
    restored = load_restorer(tmp_path / "model.tflite")(**arrays)["restored"]
    assert restored.shape == (1, 128, 128, 3)
    np.testing.assert_allclose(restored, expected, atol=1e-3)
    assert not list(offline.rglob("*.h5"))  # nothing arrived in the Keras cache


def test_training_offline_stops_with_one_line_naming_file_cache_and_option(offline):
    model = tfrestore.models.get("deblur_gan", **TINY["deblur_gan"])
    model.compile()
    batch = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    with pytest.raises(VGGWeightsUnavailable) as raised:
        model.fit(batch, batch, epochs=1, verbose=0)
    message = str(raised.value)
    file_name = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert "\n" not in message
    assert file_name in message and str(offline / "models" / file_name) in message
    assert "vgg_weights" in message
    assert model.generator_optimizer.iterations.numpy() == 0  # no step ran


@pytest.mark.slow
def test_loaded_model_keeps_its_fetched_vgg_and_does_not_fetch_again(tmp_path, monkeypatch):
    """Weights loaded once (here from a local file) travel in the .keras file: training the
    loaded model offline fetches nothing."""
    vgg = keras.applications.VGG19(include_top=False, weights=None)
    vgg.save_weights(tmp_path / "vgg19.weights.h5")
    model = tfrestore.models.get(
        "deblur_gan", **TINY["deblur_gan"], vgg_weights=str(tmp_path / "vgg19.weights.h5")
    )
    model.load_loss_networks()
    model.save(tmp_path / "model.keras")
    (tmp_path / "vgg19.weights.h5").unlink()  # loading again would now fail
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    loaded.load_loss_networks()
    kernel = loaded.perceptual.features.vgg_layers[0].weights[0]
    np.testing.assert_array_equal(kernel, vgg.get_layer("block1_conv1").weights[0])
