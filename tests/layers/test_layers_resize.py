"""BilinearUpsampling2D: values against TensorFlow's resize, and its TFLite size planned."""

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tflite_layers import tflite_matches_keras

from tfrestore.layers import BilinearUpsampling2D


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("align_corners", [False, True])
def test_upsampling_equals_tensorflow_resize(scale, align_corners):
    x = np.random.default_rng(0).random((2, 5, 7, 3), np.float32)
    actual = BilinearUpsampling2D(scale, align_corners=align_corners)(x)
    size = (5 * scale, 7 * scale)
    if align_corners:
        expected = tf.compat.v1.image.resize_bilinear(x, size, align_corners=True)
    else:
        expected = tf.image.resize(x, size, method="bilinear")
    assert actual.shape == (2, *size, 3)
    np.testing.assert_allclose(actual, expected, atol=1e-6)


def test_tflite_output_size_is_planned_before_the_run(tmp_path):
    # LiteRT knows the output's size when it allocates (before invoking): the size is the
    # shape of a tensor, not arithmetic on one, so the output is not a dynamic tensor
    # allocated apart from the memory plan (EnlightenGAN at 720x1280: 1,590 -> 1,011 MB).
    layer = BilinearUpsampling2D(2, align_corners=True)
    x = np.random.default_rng(0).random((1, 6, 10, 4), np.float32)
    tflite_matches_keras(tmp_path, layer, [x], lambda layer, x: {"up": layer(x)})
    interpreter = Interpreter(model_path=str(tmp_path / "layer.tflite"))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], [1, 9, 13, 4])
    interpreter.allocate_tensors()
    assert list(interpreter.get_output_details()[0]["shape"]) == [1, 18, 26, 4]
