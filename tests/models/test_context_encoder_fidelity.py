"""Context Encoder networks equal the PyTorch port's `_netG` / `_netlocalD` (eval mode): every
upstream key loads, and the forward equals PyTorch semantics computed in numpy."""

import numpy as np
import pytest
from torch_reference import random_state_dict, read_keys, torch_conv2d, torch_conv_transpose2d

from tfrestore.models import ContextEncoderDiscriminator, ContextEncoderGenerator
from tfrestore.models.pytorch_weights import load_state_dict

KEYS = "context_encoder_pytorch.txt"


def upstream_state(section, seed):
    state = random_state_dict(read_keys(KEYS, section), np.random.default_rng(seed))
    for name in state:  # plausible BatchNorm statistics: positive variances, gammas near 1
        if name.endswith("running_var"):
            state[name] = np.abs(state[name]) + 0.5
        elif name.endswith(".weight") and state[name].ndim == 1:
            state[name] = state[name] + 1.0
    return state


def batch_norm(x, state, index):
    p = f"main.{index}"
    scale = state[f"{p}.weight"] / np.sqrt(state[f"{p}.running_var"] + 1e-5)
    return (x - state[f"{p}.running_mean"]) * scale + state[f"{p}.bias"]


def leaky(x):
    return np.where(x > 0, x, 0.2 * x)


@pytest.mark.slow
def test_generator_with_upstream_weights_equals_pytorch_forward():
    state = upstream_state("_netG", 0)
    generator = ContextEncoderGenerator()
    ignored = load_state_dict(generator, state)
    assert all(key.endswith("num_batches_tracked") for key in ignored)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 128, 128, 3))
    y = leaky(torch_conv2d(x, state["main.0.weight"], 0.0, 2, 1))
    for index in (2, 5, 8, 11):
        y = leaky(
            batch_norm(torch_conv2d(y, state[f"main.{index}.weight"], 0.0, 2, 1), state, index + 1)
        )
    y = leaky(batch_norm(torch_conv2d(y, state["main.14.weight"], 0.0, 1, 0), state, 15))
    y = torch_conv_transpose2d(y, state["main.17.weight"], 0.0, 1, 0, 0)
    y = np.maximum(batch_norm(y, state, 18), 0)
    for index in (20, 23, 26):
        y = torch_conv_transpose2d(y, state[f"main.{index}.weight"], 0.0, 2, 1, 0)
        y = np.maximum(batch_norm(y, state, index + 1), 0)
    y = np.tanh(torch_conv_transpose2d(y, state["main.29.weight"], 0.0, 2, 1, 0))
    restored = generator(x.astype("float32"), training=False).numpy()
    # float32 sums of up to 8,192 products per output (the 4000-channel bottleneck) against
    # float64: a few outputs differ by ~5e-4, the typical one by far less.
    np.testing.assert_allclose(restored, y, atol=1e-3)
    assert np.abs(restored - y).mean() < 5e-5


def test_discriminator_with_upstream_weights_equals_pytorch_forward():
    state = upstream_state("_netlocalD", 2)
    critic = ContextEncoderDiscriminator()
    load_state_dict(critic, state)
    x = np.random.default_rng(3).uniform(-1, 1, (2, 64, 64, 3))
    y = leaky(torch_conv2d(x, state["main.0.weight"], 0.0, 2, 1))
    for index in (2, 5, 8):
        y = leaky(
            batch_norm(torch_conv2d(y, state[f"main.{index}.weight"], 0.0, 2, 1), state, index + 1)
        )
    y = torch_conv2d(y, state["main.11.weight"], 0.0, 1, 0)  # logits; upstream adds a sigmoid
    np.testing.assert_allclose(critic(x.astype("float32"), training=False), y, atol=2e-4)
