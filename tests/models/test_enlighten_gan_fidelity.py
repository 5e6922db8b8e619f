"""The released EnlightenGAN state_dicts (keys/enlightengan.txt) load into our networks."""

import numpy as np
import tensorflow as tf
from torch_reference import random_state_dict, read_keys

from tfrestore.models import EnlightenGANGenerator, PatchGANDiscriminator
from tfrestore.models.pytorch_weights import load_state_dict

KEYS = "enlightengan.txt"


def test_generator_keys_load_with_the_dataparallel_prefix_removed():
    keys = read_keys(KEYS, "Unet_resize_conv")
    state = random_state_dict(keys, np.random.default_rng(0))
    released = {f"module.{name}": value for name, value in state.items()}  # as saved upstream
    generator = EnlightenGANGenerator()
    ignored = load_state_dict(generator, released)
    assert all(name.endswith("num_batches_tracked") for name in ignored)
    conv = generator.get_layer("conv5_2").kernel.numpy()
    np.testing.assert_array_equal(conv, np.transpose(state["conv5_2.weight"], (2, 3, 1, 0)))
    bn = generator.get_layer("bn9_1")
    np.testing.assert_array_equal(bn.moving_variance.numpy(), state["bn9_1.running_var"])


def test_discriminator_keys_load():
    for section, layers, size, out in (("netD_A", 5, 320, 13), ("netD_P", 4, 32, 5)):
        state = random_state_dict(read_keys(KEYS, section), np.random.default_rng(1))
        critic = PatchGANDiscriminator(64, layers, normalization=None)
        assert load_state_dict(critic, state) == []
        assert critic(tf.zeros([1, size, size, 3])).shape == (1, out, out, 1)
