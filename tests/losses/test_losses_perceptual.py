import warnings

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.legacy.saving import legacy_h5_format

from tfrestore.losses import (
    PerceptualLoss,
    VGGFeatures,
    VGGWeightsUnavailable,
    keras_weights_file,
    perceptual_loss,
    style_loss,
)

LAYERS = ("block1_conv2", "block2_pool", "block3_conv1")


@pytest.fixture(scope="module")
def vgg16(tmp_path_factory):
    """A random keras.applications VGG16 and its weights saved as .weights.h5 and legacy .h5
    (drawn with a seed of its own, so a fresh VGGFeatures never starts with these weights)."""
    keras.utils.set_random_seed(1234)
    model = keras.applications.VGG16(include_top=False, weights=None)
    folder = tmp_path_factory.mktemp("vgg")
    save_legacy_h5(model, folder / "vgg16_legacy.h5")
    with warnings.catch_warnings():  # Keras' own numpy 2 DeprecationWarning when saving
        warnings.simplefilter("ignore", DeprecationWarning)
        model.save_weights(folder / "vgg16.weights.h5")
    return model, folder


def save_legacy_h5(model, path):
    """Writes weights in the legacy HDF5 layout of the keras.applications downloads."""
    with warnings.catch_warnings(), h5py.File(path, "w") as f:
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def keras_outputs(model, names, images):
    outputs = keras.Model(model.input, [model.get_layer(n).output for n in names])(images)
    return outputs if len(names) > 1 else [outputs]


def images(seed, shape=(2, 16, 16, 3)):
    return tf.random.stateless_uniform(shape, seed=[seed, 0])


@pytest.mark.parametrize("file_name", ["vgg16.weights.h5", "vgg16_legacy.h5"])
def test_local_weights_file_reproduces_keras_vgg(vgg16, file_name):
    model, folder = vgg16
    features = VGGFeatures("vgg16", LAYERS, weights=str(folder / file_name))
    x = images(0)
    expected = keras_outputs(model, LAYERS, x)
    # Construction reads nothing: the weights arrive with load_pretrained().
    assert not np.allclose(features(x)[0], expected[0], atol=1e-3)
    assert float(features.pretrained) == 0.0
    features.load_pretrained()
    assert float(features.pretrained) == 1.0
    for ours, theirs in zip(features(x), expected, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    # Only the prefix up to block3_conv1 is built (8 conv variables and the loaded flag), and
    # it is frozen.
    assert [layer.name for layer in features.vgg_layers][-1] == "block3_conv1"
    assert not features.trainable_weights and len(features.non_trainable_weights) == 11


def test_pre_activation_is_the_conv_output_before_relu(vgg16):
    model, folder = vgg16
    names = ("block1_conv1", "block3_conv1")
    features = VGGFeatures(
        "vgg16", names, pre_activation=True, weights=str(folder / "vgg16.weights.h5")
    )
    features.load_pretrained()
    x = images(1)
    for pre, post in zip(features(x), keras_outputs(model, names, x), strict=True):
        assert np.min(pre) < 0  # really before the ReLU
        np.testing.assert_allclose(tf.nn.relu(pre), post, rtol=1e-5, atol=1e-5)


def test_caffe_preprocessing_matches_keras(vgg16):
    model, folder = vgg16
    features = VGGFeatures(
        "vgg16",
        "block1_conv2",
        weights=str(folder / "vgg16.weights.h5"),
        preprocess="caffe",
        input_range=(-1, 1),
    )
    features.load_pretrained()
    x = images(2) * 2 - 1
    expected = keras_outputs(
        model, ["block1_conv2"], keras.applications.vgg16.preprocess_input((x + 1) * 127.5)
    )[0]
    np.testing.assert_allclose(features(x)[0], expected, rtol=1e-4, atol=1e-3)


def test_bgr255_preprocessing_feeds_bgr_0_255_without_mean():
    features = VGGFeatures(
        "vgg16",
        "block1_conv1",
        pre_activation=True,
        weights=None,
        preprocess="bgr255",
        input_range=(-1, 1),
    )
    x = images(9) * 2 - 1
    kernel, bias = features.vgg_layers[0].weights
    fed = tf.reverse((x + 1) * 127.5, axis=[-1])  # RGB -> BGR, no mean subtraction
    expected = tf.nn.conv2d(fed, kernel, strides=1, padding="SAME") + bias
    np.testing.assert_allclose(features(x)[0], expected, rtol=1e-5, atol=1e-3)


def test_skip_pools_keeps_relu5_1_at_one_eighth(vgg16):
    model, folder = vgg16
    features = VGGFeatures(
        "vgg16",
        "block5_conv1",
        weights=str(folder / "vgg16.weights.h5"),
        skip_pools=("block4_pool",),
    )
    features.load_pretrained()
    assert "block4_pool" not in [layer.name for layer in features.vgg_layers]
    x = images(10, shape=(1, 64, 48, 3))
    (ours,) = features(x)
    assert ours.shape == (1, 8, 6, 512)
    assert features.compute_output_shape((None, 64, 48, 3)) == [(None, 8, 6, 512)]
    # The same keras.applications layers (ReLU included) run in order, block4_pool left out.
    expected = x
    for layer in model.layers[1:]:
        if layer.name != "block4_pool":
            expected = layer(expected)
        if layer.name == "block5_conv1":
            break
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_imagenet_weights_come_from_keras_applications(monkeypatch):
    calls = []
    real_vgg19 = keras.applications.VGG19

    def fake_vgg19(**kwargs):
        calls.append(kwargs)
        return real_vgg19(include_top=False, weights=None)

    monkeypatch.setattr(keras.applications, "VGG19", fake_vgg19)
    features = VGGFeatures(layers="block1_conv1")
    assert calls == []  # constructing never fetches
    features.load_pretrained()
    features.load_pretrained()  # once only
    assert calls == [{"include_top": False, "weights": "imagenet"}]


def test_offline_imagenet_weights_are_one_line_naming_file_cache_and_option(offline):
    features = VGGFeatures(layers="block1_conv1")
    with pytest.raises(VGGWeightsUnavailable) as raised:
        features.load_pretrained()
    message = str(raised.value)
    name, path = keras_weights_file("vgg19")
    assert name == "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert path == str(offline / "models" / name)
    assert "\n" not in message and name in message and path in message
    assert "vgg_weights" in message


def test_missing_weights_file_is_named(tmp_path):
    path = str(tmp_path / "nope.weights.h5")
    with pytest.raises(FileNotFoundError, match="nope.weights.h5"):
        VGGFeatures(weights=path).load_pretrained()


def test_legacy_file_without_the_needed_layers_is_rejected(tmp_path):
    small = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(64, 3, name="block1_conv1")]
    )
    save_legacy_h5(small, tmp_path / "small.h5")
    with pytest.raises(ValueError, match="block1_conv2"):
        VGGFeatures("vgg16", "block1_conv2", weights=str(tmp_path / "small.h5")).load_pretrained()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"network": "vgg11"}, "vgg11"),
        ({"layers": ("block9_conv1",)}, "block9_conv1.*block1_conv1"),
        ({"layers": ("block2_conv3",)}, "block2_conv3"),  # VGG blocks 1-2 have two convs
        ({"preprocess": "torch"}, "torch.*'none', 'caffe', 'bgr255'"),
        ({"skip_pools": ("block4_conv1",)}, "block4_conv1.*block1_pool"),
        ({"layers": "block4_pool", "skip_pools": "block4_pool"}, "block4_pool"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VGGFeatures(**{"weights": None, **kwargs})


def test_perceptual_loss_known_values():
    true = [tf.zeros([2, 1, 2, 1]), tf.zeros([2, 1, 1, 2])]
    pred = [
        tf.constant([1.0, 3.0, 0.0, 2.0], shape=[2, 1, 2, 1]),
        tf.constant([1.0, 1.0, 2.0, 0.0], shape=[2, 1, 1, 2]),
    ]
    # mse: layer 1 [5, 2], layer 2 [1, 2]; l1: layer 1 [2, 1], layer 2 [1, 1].
    np.testing.assert_allclose(perceptual_loss(true, pred), [6.0, 4.0])
    np.testing.assert_allclose(
        perceptual_loss(true, pred, "l1", layer_weights=[1, 0.5]), [2.5, 1.5]
    )
    with pytest.raises(ValueError, match="layer_weights"):
        perceptual_loss(true, pred, layer_weights=[1.0])


def test_normalize_features_is_instance_norm_then_distance():
    true = tf.random.stateless_normal([2, 3, 4, 5], seed=[1, 1])
    pred = tf.random.stateless_normal([2, 3, 4, 5], seed=[2, 1])

    def instance_norm(x):  # biased variance over H, W, as PyTorch's InstanceNorm2d
        x = np.asarray(x)
        mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-5)

    expected = np.mean((instance_norm(pred) - instance_norm(true)) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(
        perceptual_loss(true, pred, normalize_features=True), expected, rtol=1e-5
    )
    # So a per-example, per-channel affine change of either feature map does not matter.
    scale = tf.random.stateless_uniform([2, 1, 1, 5], seed=[3, 1], minval=0.5, maxval=4.0)
    shift = tf.random.stateless_normal([2, 1, 1, 5], seed=[4, 1]) * 10
    np.testing.assert_allclose(
        perceptual_loss(true * scale + shift, pred, normalize_features=True), expected, rtol=1e-4
    )


def test_style_loss_known_value_and_zero_for_equal_inputs():
    # One 1x2 map with 2 channels: pixels (1, 2) and (3, 4). Gram / (C*H*W = 4) is
    # [[1+9, 2+12], [2+12, 4+16]] / 4 = [[2.5, 3.5], [3.5, 5]]; L1 to zeros: 14.5 / 4.
    features = tf.constant([1.0, 2.0, 3.0, 4.0], shape=[1, 1, 2, 2])
    np.testing.assert_allclose(style_loss(features, tf.zeros_like(features)), [3.625])
    features = tf.random.stateless_normal([3, 4, 4, 5], seed=[0, 1])
    np.testing.assert_allclose(style_loss([features], [features]), [0.0, 0.0, 0.0])


def test_perceptual_loss_layer_per_example_and_gradients(vgg16):
    _, folder = vgg16
    loss_fn = PerceptualLoss(
        "vgg16",
        LAYERS,
        weights=str(folder / "vgg16.weights.h5"),
        distance="l1",
        layer_weights=[1.0, 0.5, 0.25],
    )
    loss_fn.features.load_pretrained()
    y_true, y_pred = images(3), tf.Variable(images(4))
    with tf.GradientTape() as tape:
        values = loss_fn(y_true, y_pred)
    assert values.shape == (2,)
    expected = perceptual_loss(
        loss_fn.features(y_true), loss_fn.features(y_pred), "l1", [1.0, 0.5, 0.25]
    )
    np.testing.assert_allclose(values, expected, rtol=1e-5)
    assert tape.gradient(values, y_pred) is not None
    assert not loss_fn.trainable_weights


def test_perceptual_loss_config_round_trip(vgg16):
    _, folder = vgg16
    loss_fn = PerceptualLoss(
        "vgg16",
        ["block1_conv2"],
        pre_activation=True,
        weights=str(folder / "vgg16.weights.h5"),
        preprocess="caffe",
        input_range=(-1.0, 1.0),
    )
    config = loss_fn.get_config()
    assert {k: config[k] for k in ("network", "layers", "pre_activation", "weights")} == {
        "network": "vgg16",
        "layers": ["block1_conv2"],
        "pre_activation": True,
        "weights": str(folder / "vgg16.weights.h5"),
    }
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss_fn))
    assert isinstance(restored, PerceptualLoss) and restored.get_config() == config
    loss_fn.features.load_pretrained()
    restored.features.load_pretrained()
    y_true, y_pred = images(5) * 2 - 1, images(6) * 2 - 1
    np.testing.assert_allclose(restored(y_true, y_pred), loss_fn(y_true, y_pred), rtol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras' saving under numpy 2
def test_perceptual_loss_survives_keras_save_and_load(tmp_path):
    y_true, y_pred = keras.Input((None, None, 3)), keras.Input((None, None, 3))
    loss_fn = PerceptualLoss("vgg16", ["block1_conv2", "block2_conv1"], weights=None)
    model = keras.Model([y_true, y_pred], loss_fn(y_true, y_pred))
    model.save(tmp_path / "loss.keras")
    restored = keras.models.load_model(tmp_path / "loss.keras")  # random init, then the file
    x, y = images(7), images(8)
    np.testing.assert_allclose(restored([x, y]), model([x, y]), rtol=1e-6)


def test_enlighten_gan_feature_loss_config_round_trip(vgg16):
    _, folder = vgg16
    loss_fn = PerceptualLoss(
        "vgg16",
        "block5_conv1",
        weights=str(folder / "vgg16.weights.h5"),
        preprocess="bgr255",
        input_range=(-1, 1),
        skip_pools=("block4_pool",),
        normalize_features=True,
    )
    config = loss_fn.get_config()
    assert {k: config[k] for k in ("preprocess", "skip_pools", "normalize_features")} == {
        "preprocess": "bgr255",
        "skip_pools": ["block4_pool"],
        "normalize_features": True,
    }
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss_fn))
    assert restored.get_config() == config
    loss_fn.features.load_pretrained()
    restored.features.load_pretrained()
    features = loss_fn.features
    assert VGGFeatures.from_config(features.get_config()).get_config() == features.get_config()
    y_true, y_pred = images(11) * 2 - 1, images(12) * 2 - 1
    values = loss_fn(y_true, y_pred)
    np.testing.assert_allclose(restored(y_true, y_pred), values, rtol=1e-6)
    expected = perceptual_loss(features(y_true), features(y_pred), "mse", normalize_features=True)
    np.testing.assert_allclose(values, expected, rtol=1e-5)
