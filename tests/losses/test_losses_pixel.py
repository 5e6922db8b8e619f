import numpy as np
import pytest
import tensorflow as tf

from tfrestore.losses import l1_loss, l2_loss

Y_TRUE = np.zeros((2, 2, 2, 1), "float32")
Y_PRED = np.array([[1, -1, 2, 0], [3, 3, -3, 3]], "float32").reshape(2, 2, 2, 1)


@pytest.mark.parametrize("loss_fn, expected", [(l1_loss, [1.0, 3.0]), (l2_loss, [1.5, 9.0])])
def test_known_values(loss_fn, expected):
    values = loss_fn(Y_TRUE, Y_PRED)
    assert values.shape == (2,) and values.dtype == tf.float32
    np.testing.assert_allclose(values, expected)


@pytest.mark.parametrize(
    "loss_fn, expected",
    # mean(w * err) over the 4 pixels, with w = 10 on the first pixel (not divided by sum(w)).
    [
        (l1_loss, [(10 + 1 + 2 + 0) / 4, (30 + 3 + 3 + 3) / 4]),
        (l2_loss, [(10 + 1 + 4) / 4, 117 / 4]),
    ],
)
def test_weights_broadcast_and_mean_of_weighted_error(loss_fn, expected):
    weights = np.array([10, 1, 1, 1], "float32").reshape(1, 2, 2, 1)  # broadcast over batch
    np.testing.assert_allclose(loss_fn(Y_TRUE, Y_PRED, weights=weights), expected)


def test_channel_broadcast_weights_and_other_dtypes():
    y_true = tf.zeros([1, 2, 2, 3], tf.float64)
    y_pred = tf.ones([1, 2, 2, 3], tf.float16)
    weights = tf.reshape(tf.constant([0.0, 0.0, 1.0, 1.0]), [1, 2, 2, 1])  # one per pixel
    np.testing.assert_allclose(l2_loss(y_true, y_pred, weights=weights), [0.5])
