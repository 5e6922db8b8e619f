import numpy as np
import pytest
import tensorflow as tf

from tfrestore.layers import (
    InstanceNormalization,
    ReflectionPadding2D,
    crop_to_size,
    pad_to_multiple,
    reflect_pad,
)


def test_reflection_padding_matches_numpy_reflect():
    x = np.random.default_rng(0).random((2, 5, 7, 3)).astype("float32")
    expected = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(ReflectionPadding2D(2)(x), expected)


def test_reflection_padding_config_and_bad_value():
    layer = ReflectionPadding2D(3)
    assert ReflectionPadding2D.from_config(layer.get_config()).padding == 3
    with pytest.raises(ValueError, match="padding"):
        ReflectionPadding2D(-1)


@pytest.mark.parametrize("height,width", [(8, 8), (9, 14), (5, 6)])
def test_pad_to_multiple_and_crop_back(height, width):
    x = tf.random.uniform([1, height, width, 2])
    padded, size = pad_to_multiple(x, 4)
    assert padded.shape[1] % 4 == 0 and padded.shape[2] % 4 == 0
    assert padded.shape[1] - height < 4 and padded.shape[2] - width < 4
    np.testing.assert_array_equal(crop_to_size(padded, size), x)
    # the added rows mirror the image (reflection, not zeros)
    if padded.shape[1] > height:
        np.testing.assert_array_equal(padded[:, height, :width], x[:, height - 2])


def test_instance_norm_matches_numpy():
    x = np.random.default_rng(1).normal(3.0, 2.0, (2, 6, 5, 4)).astype("float32")
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(InstanceNormalization()(x), expected, atol=1e-5)


def test_instance_norm_affine_has_scale_and_offset():
    layer = InstanceNormalization(affine=True)
    layer.build((None, 4, 4, 3))
    assert [tuple(w.shape) for w in layer.weights] == [(3,), (3,)]
    assert InstanceNormalization.from_config(layer.get_config()).affine


def test_reflect_pad_uneven_sides_matches_numpy():
    x = np.random.default_rng(2).random((1, 9, 7, 2)).astype("float32")
    expected = np.pad(x, ((0, 0), (1, 0), (6, 2), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(reflect_pad(x, ((1, 0), (6, 2))), expected)
