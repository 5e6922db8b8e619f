import keras
import numpy as np
import pytest

from tfrestore.layers import SubpixelConv2DTranspose


@pytest.mark.parametrize(
    "kernel_size,strides,padding",
    [
        (3, 2, "valid"),
        (4, 2, "same"),
        (4, 2, "valid"),
        (3, 2, "same"),
        (5, 3, "valid"),
        (3, 1, "same"),
    ],
)
def test_subpixel_transposed_conv_equals_keras(kernel_size, strides, padding):
    rng = np.random.default_rng(0)
    x = rng.random((2, 7, 10, 5)).astype("float32")
    reference = keras.layers.Conv2DTranspose(6, kernel_size, strides=strides, padding=padding)
    layer = SubpixelConv2DTranspose(6, kernel_size, strides=strides, padding=padding)
    reference.build(x.shape)
    layer.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    layer.set_weights(weights)
    expected = reference(x).numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-5)
    assert tuple(layer.compute_output_shape(x.shape)) == expected.shape


def test_subpixel_transposed_conv_config_round_trip():
    layer = SubpixelConv2DTranspose(4, 3, strides=2, name="up")
    clone = SubpixelConv2DTranspose.from_config(layer.get_config())
    assert (clone.filters, clone.kernel_size, clone.strides) == (4, (3, 3), (2, 2))
