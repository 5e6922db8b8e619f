"""DeblurGAN networks equal their PyTorch originals: numpy references with PyTorch semantics,
and the upstream state_dict keys (tests/reference/keys) map onto every weight."""

import numpy as np
import pytest
import tensorflow as tf
from torch_reference import (
    instance_norm,
    random_state_dict,
    read_keys,
    reflect,
    torch_conv2d,
    torch_conv_transpose2d,
)

from tfrestore.layers import InstanceNormalization, PhaseConv2D, ReflectionPadding2D
from tfrestore.models import DeblurGANDiscriminator, DeblurGANGenerator
from tfrestore.models.pytorch_weights import load_state_dict


def torch_generator(x, s, num_blocks, block_convs=2):
    """The ResnetGenerator forward in numpy (learn_residual, eval mode): a6f4ad0's, or HEAD's
    with `block_convs=1` (each block: conv, norm, ReLU, dropout; added to its input)."""
    y = np.maximum(
        instance_norm(torch_conv2d(reflect(x, 3), s["model.1.weight"], s["model.1.bias"], 1, 0)), 0
    )
    for index in (4, 7):
        y = torch_conv2d(y, s[f"model.{index}.weight"], s[f"model.{index}.bias"], 2, 1)
        y = np.maximum(instance_norm(y), 0)
    for block in range(num_blocks):
        k = f"model.{10 + block}.conv_block"
        z = torch_conv2d(reflect(y, 1), s[f"{k}.1.weight"], s[f"{k}.1.bias"], 1, 0)
        z = np.maximum(instance_norm(z), 0)
        if block_convs == 2:
            z = torch_conv2d(reflect(z, 1), s[f"{k}.6.weight"], s[f"{k}.6.bias"], 1, 0)
            z = instance_norm(z)
        y = y + z
    index = 10 + num_blocks
    for _ in range(2):
        y = torch_conv_transpose2d(y, s[f"model.{index}.weight"], s[f"model.{index}.bias"], 2, 1, 1)
        y = np.maximum(instance_norm(y), 0)
        index += 3
    y = np.tanh(
        torch_conv2d(
            reflect(y, 3), s[f"model.{index + 1}.weight"], s[f"model.{index + 1}.bias"], 1, 0
        )
    )
    return np.clip(x + y, -1, 1)


def test_generator_with_upstream_weights_equals_pytorch_forward():
    """All 48 a6f4ad0 keys load; the forward equals PyTorch semantics computed in numpy."""
    rng = np.random.default_rng(0)
    keys = read_keys("deblurgan_v1.txt", "networks_a6f4ad0 G")
    assert len(keys) == 48
    generator = DeblurGANGenerator()  # the paper's widths, so the upstream shapes fit
    state = random_state_dict(keys, rng)
    assert load_state_dict(generator, state) == []
    x = rng.uniform(-1, 1, (1, 12, 16, 3)).astype("float32")
    np.testing.assert_allclose(
        generator(x), torch_generator(x.astype(np.float64), state, 9), atol=2e-4
    )


def test_discriminator_with_upstream_weights_equals_pytorch_forward():
    rng = np.random.default_rng(1)
    critic = DeblurGANDiscriminator()
    state = random_state_dict(read_keys("deblurgan_v1.txt", "networks_a6f4ad0 D"), rng)
    load_state_dict(critic, state)
    x = rng.uniform(-1, 1, (1, 32, 32, 3))
    y = x
    for index, stride, norm in ((0, 2, False), (2, 2, True), (5, 2, True), (8, 1, True)):
        y = torch_conv2d(y, state[f"model.{index}.weight"], state[f"model.{index}.bias"], stride, 2)
        y = instance_norm(y) if norm else y
        y = np.where(y > 0, y, 0.2 * y)
    y = torch_conv2d(y, state["model.11.weight"], state["model.11.bias"], 1, 2)
    np.testing.assert_allclose(critic(x.astype("float32")), y, atol=2e-4)


def test_released_weights_running_stats_are_ignored_and_bad_keys_named():
    generator = DeblurGANGenerator(filters=4, num_blocks=1)
    state = {"model.2.running_mean": np.zeros(4), "model.1.weight": np.zeros((4, 3, 7, 7))}
    with pytest.raises(ValueError, match="not set"):
        load_state_dict(generator, state)
    with pytest.raises(ValueError, match="model.99.weight"):
        load_state_dict(generator, {"model.99.weight": np.zeros(3)})
    with pytest.raises(ValueError, match="model.1.weight: shape"):
        load_state_dict(generator, {"model.1.weight": np.zeros((5, 3, 7, 7))})
    assert load_state_dict(generator, state, strict=False) == ["model.2.running_mean"]


def test_head_architecture_keys_need_block_convs_1_and_then_equal_pytorch_forward():
    """Upstream HEAD drops each block's second conv (precedence bug): its keys do not fit the
    paper's generator; with `block_convs=1` they all land (running statistics skipped) and the
    forward equals HEAD's in numpy."""
    rng = np.random.default_rng(2)
    state = random_state_dict(read_keys("deblurgan_v1.txt", "networks_head G"), rng)
    with pytest.raises(ValueError, match="conv_block_6"):
        load_state_dict(DeblurGANGenerator(), state)
    generator = DeblurGANGenerator(block_convs=1)
    ignored = load_state_dict(generator, state)
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    assert ignored and all(key.endswith(statistics) for key in ignored)
    x = rng.uniform(-1, 1, (1, 12, 16, 3)).astype("float32")
    expected = torch_generator(x.astype(np.float64), state, 9, block_convs=1)
    np.testing.assert_allclose(generator(x), expected, atol=2e-4)
    with pytest.raises(ValueError, match="block_convs must be 1"):
        DeblurGANGenerator(block_convs=3)


def test_layers_are_the_tfrestore_ones():
    generator = DeblurGANGenerator(filters=4, num_blocks=1)
    kinds = {type(layer) for layer in generator.layers}
    assert {ReflectionPadding2D, InstanceNormalization, PhaseConv2D} <= kinds
    assert tf.keras.layers.BatchNormalization not in kinds
