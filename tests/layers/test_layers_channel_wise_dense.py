import numpy as np
import pytest

from tfrestore.layers import ChannelWiseDense


def test_matches_a_dense_map_per_channel_computed_by_hand():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    layer = ChannelWiseDense()
    layer.build(x.shape)
    kernel = rng.normal(size=(5, 12, 12)).astype("float32")
    bias = rng.normal(size=(5, 12)).astype("float32")
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    expected = np.zeros_like(x)
    for b in range(2):
        for c in range(5):
            flat = x[b, :, :, c].reshape(12)  # row-major positions
            expected[b, :, :, c] = (flat @ kernel[c] + bias[c]).reshape(3, 4)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)


def test_parameter_count_is_m_n4_and_channels_do_not_mix():
    layer = ChannelWiseDense(use_bias=False)
    x = np.zeros((1, 4, 4, 512), "float32")
    x[..., 7] = 1.0
    y = layer(x).numpy()
    assert layer.count_params() == 512 * 4**4
    assert np.abs(np.delete(y, 7, axis=-1)).max() == 0.0
    assert np.abs(y[..., 7]).max() > 0.0


def test_needs_static_spatial_size_and_round_trips_config():
    with pytest.raises(ValueError, match="static height and width"):
        ChannelWiseDense().build((None, None, None, 8))
    config = ChannelWiseDense(use_bias=False, name="cw").get_config()
    assert ChannelWiseDense.from_config(config).use_bias is False
