"""MEDFE's layers (partial conv, squeeze-excitation, bilateral propagation) against plain loops."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from tflite_layers import tflite_matches_keras

from tfrestore.export import delegation
from tfrestore.layers import BilateralPropagation, PartialConv2D, SqueezeExcitation
from tfrestore.models.pytorch_weights import load_state_dict

RNG = np.random.default_rng(0)


def sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


# -- hand-written references ------------------------------------------------------------------


def partial_conv_loops(x, mask, kernel, bias, stride=1):
    """Liu et al.'s partial convolution, one output value at a time."""
    batch, height, width, channels = x.shape
    k = kernel.shape[0]
    p = k // 2
    mask_channels = mask.shape[-1]
    out_h = (height + 2 * p - k) // stride + 1
    out_w = (width + 2 * p - k) // stride + 1
    out = np.zeros((batch, out_h, out_w, kernel.shape[-1]))
    new_mask = np.zeros((batch, out_h, out_w, 1))
    for b in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                total = np.zeros(kernel.shape[-1])
                count = 0.0
                for di in range(k):
                    for dj in range(k):
                        row, col = i * stride + di - p, j * stride + dj - p
                        if not (0 <= row < height and 0 <= col < width):
                            continue  # zero padding: no value, no count
                        for c in range(mask_channels):
                            count += mask[b, row, col, c]
                        for c in range(channels):
                            m = mask[b, row, col, 0 if mask_channels == 1 else c]
                            total += x[b, row, col, c] * m * kernel[di, dj, c]
                if count > 0:
                    out[b, i, j] = total * (k * k * mask_channels / count) + bias
                    new_mask[b, i, j, 0] = 1.0
    return out, new_mask


def plain_conv_loops(x, kernel, i, j):
    """Zero-padded 'same' convolution at one pixel, all examples."""
    k = kernel.shape[0]
    total = np.zeros((x.shape[0], kernel.shape[-1]))
    for di in range(k):
        for dj in range(k):
            for c in range(x.shape[-1]):
                total += np.outer(x[:, i + di - k // 2, j + dj - k // 2, c], kernel[di, dj, c])
    return total


def spatial_loops(x, sigma):
    batch, height, width, channels = x.shape
    out = np.zeros_like(x, dtype=np.float64)
    for i in range(height):
        for j in range(width):
            weights = np.zeros((height, width))
            for qi in range(height):
                for qj in range(width):
                    squared = (qi - i) ** 2 + (qj - j) ** 2
                    weights[qi, qj] = math.exp(-squared / (2 * sigma * sigma))
            weights /= weights.sum()
            for b in range(batch):
                for c in range(channels):
                    out[b, i, j, c] = (weights * x[b, :, :, c]).sum()
    return out


def range_loops(x, window=3):
    batch, height, width, channels = x.shape
    r = window // 2
    out = np.zeros_like(x, dtype=np.float64)
    for b in range(batch):
        for i in range(height):
            for j in range(width):
                scores, values = [], []
                for di in range(-r, r + 1):
                    for dj in range(-r, r + 1):
                        row, col = i + di, j + dj
                        inside = 0 <= row < height and 0 <= col < width
                        score = 0.0
                        for c in range(channels):
                            s_n = sigmoid(x[b, row, col, c]) if inside else 0.0
                            score += s_n * sigmoid(x[b, i, j, c])
                        scores.append(score / channels)
                        values.append(x[b, row, col] if inside else np.zeros(channels))
                exp = [math.exp(s) for s in scores]
                for e, v in zip(exp, values):
                    out[b, i, j] += e / sum(exp) * v
    return out


# -- PartialConv2D ----------------------------------------------------------------------------


def partial_conv(filters, kernel_size, channels, use_bias=False, strides=1):
    layer = PartialConv2D(filters, kernel_size, strides=strides, use_bias=use_bias)
    layer.build((None, None, None, channels))
    layer.kernel.assign(RNG.normal(size=layer.kernel.shape).astype("float32"))
    if use_bias:
        layer.bias.assign(RNG.normal(size=(filters,)).astype("float32"))
    return layer


@pytest.mark.parametrize(
    "kernel_size,strides,mask_channels,use_bias",
    [(3, 1, 1, False), (3, 1, 2, True), (5, 1, 1, True), (3, 2, 1, True)],
)
def test_partial_conv_matches_loops(kernel_size, strides, mask_channels, use_bias):
    x = RNG.normal(size=(2, 4, 5, 2)).astype("float32")
    mask = (RNG.random((2, 4, 5, mask_channels)) > 0.4).astype("float32")
    mask[1, :2, :3] = 0.0  # a hole whose 3x3 windows are partly and fully empty
    layer = partial_conv(3, kernel_size, 2, use_bias, strides)
    bias = layer.bias.numpy() if use_bias else 0.0
    expected, expected_mask = partial_conv_loops(x, mask, layer.kernel.numpy(), bias, strides)
    output, new_mask = layer(x, mask)
    np.testing.assert_allclose(output, expected, atol=1e-5)
    np.testing.assert_array_equal(new_mask, expected_mask)


def test_partial_conv_with_all_valid_mask_is_a_plain_conv_inside():
    x = RNG.normal(size=(2, 4, 5, 2)).astype("float32")
    layer = partial_conv(3, 3, 2)
    output, new_mask = layer(x, np.ones((2, 4, 5, 1), "float32"))
    kernel = layer.kernel.numpy()
    for i in range(1, 3):
        for j in range(1, 4):
            np.testing.assert_allclose(
                output[:, i, j], plain_conv_loops(x, kernel, i, j), atol=1e-5
            )
    # The border sees zero padding, counted as invalid: scaled up by 9/6 at the top edge.
    top = np.zeros((2, 3))
    for dj in range(3):
        for di in (1, 2):
            top += np.einsum("bc,co->bo", x[:, di - 1, 1 + dj - 1], kernel[di, dj])
    np.testing.assert_allclose(output[:, 0, 1], top * 9 / 6, atol=1e-5)
    np.testing.assert_array_equal(new_mask, 1.0)


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_partial_conv_zeroes_empty_windows_and_shrinks_the_hole(kernel_size):
    size, hole = 11, 7
    start = (size - hole) // 2
    mask = np.ones((1, size, size, 1), "float32")
    mask[:, start : start + hole, start : start + hole] = 0.0
    x = RNG.normal(size=(1, size, size, 2)).astype("float32")
    layer = partial_conv(2, kernel_size, 2, use_bias=True)
    layer.bias.assign([5.0, -5.0])  # would show if the bias leaked into empty windows
    valid = mask
    for _ in range(3):
        hole_side = int(round((size * size - valid.sum()) ** 0.5))
        x, valid = layer(x, valid)
        x, valid = x.numpy(), valid.numpy()
        shrunk = max(hole_side - 2 * (kernel_size // 2), 0)
        assert (size * size - valid.sum()) == shrunk * shrunk
        holes = valid[..., 0] == 0
        assert np.all(x[holes] == 0.0)
        assert np.all(x[~holes] != 0.0)


def upstream_partial_conv_loops(x, mask, kernel, mask_kernel, bias):
    """Upstream MEDFE's PartialConv in loops: per output channel, the mask (repeated over the
    input channels) summed under the signed mask weights is the divisor; no k*k*C ratio."""
    batch, height, width, channels = x.shape
    k = kernel.shape[0]
    p = k // 2
    mask = np.broadcast_to(mask, x.shape)
    xp = np.pad(x * mask, ((0, 0), (p, p), (p, p), (0, 0)))
    mp = np.pad(mask, ((0, 0), (p, p), (p, p), (0, 0)))
    out = np.zeros((batch, height, width, kernel.shape[-1]))
    new_mask = np.zeros_like(out)
    for b in range(batch):
        for i in range(height):
            for j in range(width):
                window, valid = xp[b, i : i + k, j : j + k], mp[b, i : i + k, j : j + k]
                for o in range(kernel.shape[-1]):
                    count = float(np.sum(valid * mask_kernel[..., o]))
                    if count != 0.0:
                        out[b, i, j, o] = np.sum(window * kernel[..., o]) / count + bias[o]
                        new_mask[b, i, j, o] = 1.0
    return out, new_mask


def test_partial_conv_with_mask_kernel_is_upstream_medfe_computation():
    x = RNG.normal(size=(2, 5, 6, 2)).astype("float32")
    mask = (RNG.random((2, 5, 6, 1)) > 0.4).astype("float32")
    mask[1, :3, :3] = 0.0  # a window with no valid pixel gives 0 and a hole
    layer = PartialConv2D(3, 3, use_bias=True, mask_kernel=True)
    layer.build((None, None, None, 2))
    assert [v.name for v in layer.non_trainable_weights] == ["mask_kernel"]
    np.testing.assert_array_equal(layer.mask_weights, 1.0)  # upstream's intended init
    layer.kernel.assign(RNG.normal(size=layer.kernel.shape).astype("float32"))
    layer.bias.assign(RNG.normal(size=(3,)).astype("float32"))
    layer.mask_weights.assign(RNG.normal(0, 0.02, layer.mask_weights.shape).astype("float32"))
    expected, expected_mask = upstream_partial_conv_loops(
        x, mask, *(v.numpy() for v in (layer.kernel, layer.mask_weights, layer.bias))
    )
    output, new_mask = layer(x, mask)
    np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(new_mask, expected_mask)
    assert new_mask.shape == (2, 5, 6, 3) and new_mask.numpy().min() == 0.0
    # The next layer takes the per-channel mask (upstream's PCBActiv chain).
    second = PartialConv2D(2, 3, mask_kernel=True)
    second.build((None, None, None, 3))
    second.mask_weights.assign(RNG.normal(0, 0.02, second.mask_weights.shape).astype("float32"))
    expected, _ = upstream_partial_conv_loops(
        expected, expected_mask, second.kernel.numpy(), second.mask_weights.numpy(), [0, 0]
    )
    np.testing.assert_allclose(second(output, new_mask)[0], expected, rtol=1e-3, atol=1e-3)
    config = layer.get_config()
    assert config["mask_kernel"] is True
    assert PartialConv2D.from_config(config).get_config() == config


def test_load_state_dict_fills_the_mask_kernel_from_mask_conv():
    x = keras.Input((None, None, 2))
    valid = keras.Input((None, None, 1))
    features, _ = PartialConv2D(3, 3, mask_kernel=True, name="cov_3_0_conv_input_conv")(x, valid)
    model = keras.Model([x, valid], features)
    weight = RNG.normal(size=(3, 2, 3, 3)).astype("float32")
    mask_weight = RNG.normal(0, 0.02, size=(3, 2, 3, 3)).astype("float32")
    state_dict = {
        "cov_3.0.conv.input_conv.weight": weight,
        "cov_3.0.conv.mask_conv.weight": mask_weight,
    }
    assert load_state_dict(model, state_dict) == []
    layer = model.get_layer("cov_3_0_conv_input_conv")
    np.testing.assert_array_equal(layer.kernel, weight.transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(layer.mask_weights, mask_weight.transpose(2, 3, 1, 0))
    with pytest.raises(ValueError, match="mask_kernel"):  # strict: the file must have them
        load_state_dict(model, {"cov_3.0.conv.input_conv.weight": weight})


def test_partial_conv_runs_with_dynamic_sizes_and_round_trips_config():
    layer = PartialConv2D(4, 3, use_bias=True, kernel_initializer="he_normal", name="pc")
    spec = tf.TensorSpec([None, None, None, 2])
    mask_spec = tf.TensorSpec([None, None, None, 1])
    fn = tf.function(layer).get_concrete_function(spec, mask_spec)
    for shape in [(1, 4, 5), (2, 7, 3)]:
        out, new_mask = fn(tf.ones([*shape, 2]), tf.ones([*shape, 1]))
        assert out.shape == (*shape, 4) and new_mask.shape == (*shape, 1)
    config = layer.get_config()
    clone = PartialConv2D.from_config(config)
    assert clone.get_config() == config
    assert (clone.filters, clone.kernel_size, clone.strides, clone.use_bias) == (4, 3, 1, True)
    with pytest.raises(ValueError, match="odd positive int"):
        PartialConv2D(4, 4)
    with pytest.raises(ValueError, match="needs a mask"):
        layer(tf.ones([1, 4, 4, 2]))


def test_partial_conv_exports_to_tflite_ops_xnnpack_runs(tmp_path):
    layer = partial_conv(3, 3, 2, use_bias=True)
    x = RNG.normal(size=(2, 4, 5, 2)).astype("float32")
    mask = (RNG.random((2, 4, 5, 1)) > 0.5).astype("float32")

    def call(layer, x, mask):
        output, new_mask = layer(x, mask)
        return {"output": output, "new_mask": new_mask}

    ops = tflite_matches_keras(tmp_path, layer, [x, mask], call)
    # The comparison, cast, select and broadcast that LiteRT's XNNPACK delegate does not run.
    outside = {"GREATER", "NOT_EQUAL", "CAST", "SELECT_V2", "BROADCAST_TO", "FILL"}
    assert not outside & set(ops), ops


def test_load_state_dict_fills_partial_conv_and_ignores_the_mask_conv():
    x = keras.Input((None, None, 2))
    valid = keras.Input((None, None, 1))
    features, _ = PartialConv2D(3, 3, name="cov_3_0_conv")(x, valid)
    gated = SqueezeExcitation(reduction=2, name="base_model_0")(features)
    model = keras.Model([x, valid], gated)
    weight = RNG.normal(size=(3, 2, 3, 3)).astype("float32")  # PyTorch (out, in, kh, kw)
    fc_0 = RNG.normal(size=(1, 3, 1, 1)).astype("float32")
    fc_2 = RNG.normal(size=(3, 1, 1, 1)).astype("float32")
    state_dict = {
        "cov_3.0.conv.input_conv.weight": weight,
        "cov_3.0.conv.mask_conv.weight": np.ones((3, 2, 3, 3), "float32"),
        "base.model.0.fc.0.weight": fc_0,
        "base.model.0.fc.0.bias": np.array([0.5], "float32"),
        "base.model.0.fc.2.weight": fc_2,
        "base.model.0.fc.2.bias": np.array([1.0, 2.0, 3.0], "float32"),
    }
    ignored = load_state_dict(model, state_dict)
    assert ignored == ["cov_3.0.conv.mask_conv.weight"]
    layers = {layer.name: layer for layer in model._flatten_layers(include_self=False)}
    np.testing.assert_array_equal(layers["cov_3_0_conv"].kernel, weight.transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(layers["base_model_0_fc_0"].kernel[0, 0], fc_0[:, :, 0, 0].T)
    np.testing.assert_array_equal(layers["base_model_0_fc_0"].bias, [0.5])
    np.testing.assert_array_equal(layers["base_model_0_fc_2"].kernel[0, 0], fc_2[:, :, 0, 0].T)
    np.testing.assert_array_equal(layers["base_model_0_fc_2"].bias, [1.0, 2.0, 3.0])


# -- SqueezeExcitation ------------------------------------------------------------------------


def test_squeeze_excitation_known_values():
    x = np.zeros((2, 4, 5, 2), "float32")
    x[0, ..., 0], x[0, ..., 1] = 1.0, 2.0
    x[1, ..., 0] = np.arange(20).reshape(4, 5)  # mean 9.5
    x[1, ..., 1] = -1.0
    layer = SqueezeExcitation(reduction=2)
    layer.build(x.shape)
    # hidden = relu(mean_0 + mean_1 - 1); gate = sigmoid([hidden, -hidden] + [0, 1])
    layer.fc_0.kernel.assign([[[[1.0], [1.0]]]])
    layer.fc_0.bias.assign([-1.0])
    layer.fc_2.kernel.assign([[[[1.0, -1.0]]]])
    layer.fc_2.bias.assign([0.0, 1.0])
    expected = np.zeros_like(x)
    for b, hidden in [(0, 1.0 + 2.0 - 1.0), (1, max(9.5 - 1.0 - 1.0, 0.0))]:
        expected[b, ..., 0] = x[b, ..., 0] * sigmoid(hidden)
        expected[b, ..., 1] = x[b, ..., 1] * sigmoid(-hidden + 1.0)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6, atol=1e-6)


def test_squeeze_excitation_matches_loops_and_names_its_convs():
    x = RNG.normal(size=(2, 4, 5, 4)).astype("float32")
    layer = SqueezeExcitation(reduction=2, name="pc_block_base_model_0")
    y = layer(x).numpy()
    names = [sub.name for sub in layer._flatten_layers(include_self=False)]
    assert names == ["pc_block_base_model_0_fc_0", "pc_block_base_model_0_fc_2"]
    w0, b0 = layer.fc_0.kernel.numpy()[0, 0], layer.fc_0.bias.numpy()
    w2, b2 = layer.fc_2.kernel.numpy()[0, 0], layer.fc_2.bias.numpy()
    for b in range(2):
        means = [x[b, :, :, c].sum() / 20 for c in range(4)]
        hidden = [max(sum(means[c] * w0[c, h] for c in range(4)) + b0[h], 0.0) for h in range(2)]
        for c in range(4):
            gate = sigmoid(sum(hidden[h] * w2[h, c] for h in range(2)) + b2[c])
            np.testing.assert_allclose(y[b, :, :, c], x[b, :, :, c] * gate, atol=1e-5)


def test_squeeze_excitation_config_dynamic_sizes_and_bad_reduction():
    layer = SqueezeExcitation(reduction=4, kernel_initializer="zeros", name="se")
    fn = tf.function(layer).get_concrete_function(tf.TensorSpec([None, None, None, 8]))
    assert fn(tf.ones([3, 5, 2, 8])).shape == (3, 5, 2, 8)
    config = layer.get_config()
    clone = SqueezeExcitation.from_config(config)
    assert clone.get_config() == config and clone.reduction == 4
    with pytest.raises(ValueError, match="at least reduction=16"):
        SqueezeExcitation()(tf.ones([1, 2, 2, 8]))


def test_squeeze_excitation_exports_to_tflite_builtins(tmp_path):
    layer = SqueezeExcitation(reduction=2)
    x = RNG.normal(size=(2, 4, 5, 4)).astype("float32")
    tflite_matches_keras(tmp_path, layer, [x], lambda layer, x: {"output": layer(x)})


# -- BilateralPropagation ---------------------------------------------------------------------


def test_bilateral_propagation_matches_loops():
    x = RNG.normal(size=(2, 4, 5, 2)).astype("float32")
    y = BilateralPropagation(sigma=1.5)(x).numpy()
    assert y.shape == (2, 4, 5, 4)
    np.testing.assert_allclose(y[..., :2], spatial_loops(x, 1.5), atol=1e-5)
    np.testing.assert_allclose(y[..., 2:], range_loops(x), atol=1e-5)


def test_bilateral_propagation_other_sigma_and_window():
    x = RNG.normal(size=(1, 5, 4, 1)).astype("float32")
    y = BilateralPropagation(sigma=0.7, window=5)(x).numpy()
    np.testing.assert_allclose(y[..., :1], spatial_loops(x, 0.7), atol=1e-5)
    np.testing.assert_allclose(y[..., 1:], range_loops(x, window=5), atol=1e-5)


def test_bilateral_spatial_term_keeps_a_constant_map():
    x = np.full((1, 6, 7, 3), 2.5, "float32")
    y = BilateralPropagation()(x).numpy()
    np.testing.assert_allclose(y[..., :3], 2.5, rtol=1e-6)
    # The range term is a convex mix that includes zero padding: below 2.5 on the border.
    np.testing.assert_allclose(y[:, 1:-1, 1:-1, 3:], 2.5, rtol=1e-6)
    assert np.all(y[:, 0, :, 3:] < 2.5)


def test_bilateral_propagation_processes_each_example_independently():
    a = RNG.normal(size=(1, 4, 5, 2)).astype("float32")
    b = RNG.normal(size=(1, 4, 5, 2)).astype("float32")
    layer = BilateralPropagation()
    both = layer(np.concatenate([a, b])).numpy()
    np.testing.assert_allclose(both[:1], layer(a), atol=1e-6)
    np.testing.assert_allclose(both[1:], layer(b), atol=1e-6)


def test_bilateral_propagation_dynamic_sizes_and_config():
    layer = BilateralPropagation(sigma=2.0, window=5, name="bp")
    fn = tf.function(layer).get_concrete_function(tf.TensorSpec([None, None, None, 3]))
    for shape in [(1, 4, 5), (2, 9, 2)]:
        assert fn(tf.ones([*shape, 3])).shape == (*shape, 6)
    config = layer.get_config()
    clone = BilateralPropagation.from_config(config)
    assert clone.get_config() == config and (clone.sigma, clone.window) == (2.0, 5)
    with pytest.raises(ValueError, match="window"):
        BilateralPropagation(window=2)
    with pytest.raises(ValueError, match="sigma"):
        BilateralPropagation(sigma=0)


def test_bilateral_propagation_exports_to_tflite_builtins(tmp_path):
    x = RNG.normal(size=(2, 4, 5, 2)).astype("float32")
    layer = BilateralPropagation()
    tflite_matches_keras(tmp_path, layer, [x], lambda layer, x: {"output": layer(x)})
    # The range term's shifted windows run in XNNPACK: with bounds computed from the dynamic
    # size, its 18 slices ran outside it and each kept its output to the end of the run.
    split = delegation(tmp_path / "layer.tflite", {"args_0": x})
    assert split.outside.get("STRIDED_SLICE", 0) <= 2, split


def test_a_model_of_the_three_layers_survives_a_keras_file(tmp_path):
    x = keras.Input((None, None, 2))
    valid = keras.Input((None, None, 1))
    features, new_valid = PartialConv2D(4, 3, use_bias=True, name="pc")(x, valid)
    features = SqueezeExcitation(reduction=2, name="se")(features)
    outputs = BilateralPropagation(sigma=1.0, name="bp")(features)
    model = keras.Model([x, valid], [outputs, new_valid])
    inputs = [RNG.normal(size=(2, 4, 5, 2)), (RNG.random((2, 4, 5, 1)) > 0.5)]
    inputs = [array.astype("float32") for array in inputs]
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    for before, after in zip(model(inputs), loaded(inputs)):
        np.testing.assert_allclose(after, before, atol=1e-6)


def test_bilateral_upstream_layout_reads_each_term_as_upstream_views_it():
    x = np.random.default_rng(5).normal(size=(2, 4, 5, 3)).astype("float32")
    paper = BilateralPropagation()(x).numpy()
    upstream = BilateralPropagation(upstream_layout=True)(x).numpy()
    for term in (slice(0, 3), slice(3, 6)):
        for b in range(2):
            # upstream: an [H*W, C] sum `.view`ed as [C, H, W]
            expected = paper[b, :, :, term].reshape(-1).reshape(3, 4, 5).transpose(1, 2, 0)
            np.testing.assert_allclose(upstream[b, :, :, term], expected, rtol=1e-6)
    assert BilateralPropagation(upstream_layout=True).get_config()["upstream_layout"] is True
