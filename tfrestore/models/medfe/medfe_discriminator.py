"""MEDFE's discriminator: five spectrally normalized 4x4 stride-2 convs (global and local)."""

import keras

from tfrestore.layers import upstream_normal
from tfrestore.models.network import Network

NUM_CONVS = 5


@keras.saving.register_keras_serializable(package="tfrestore")
class MEDFEDiscriminator(Network):
    """MEDFE's global and local discriminator (Liu et al., ECCV 2020).

    As upstream `models/Discriminator.py` (the same class for the global `D` and the local
    `F`): five 4x4 stride-2 convs with zero padding 1, widths f, 2f, 4f, 8f, 1, each with
    spectral normalization (`keras.layers.SpectralNormalization`, one power iteration) and a
    bias, LeakyReLU 0.2 between them, no normalization layer. A 256x256 image gives 8x8
    logits, the 64x64 local crop 2x2. 2,764,737 parameters at f = 64, as upstream.

    Layers are named after the upstream keys `model.<i>`: `weight_orig`, `bias` and
    `weight_u` load into the wrapped conv's kernel and bias and the wrapper's `vector_u` by
    `load_state_dict`. Keras' spectral normalization keeps the normalized kernel in the conv
    (it divides the kernel in place at each training call) where PyTorch keeps the raw weight
    and normalizes on the fly; both train the same function.

    Args:
        filters: int, width of the first conv (default 64, upstream `ndf`).

    Inputs: images in [-1, 1], NHWC, H and W multiples of 32.

    Example:
        >>> MEDFEDiscriminator(filters=8)(tf.zeros([2, 64, 64, 3])).shape
        TensorShape([2, 2, 2, 1])
    """

    config_names = ("filters",)

    def __init__(self, filters=64, **kwargs):
        inputs = keras.Input(shape=(None, None, 3), name="image")
        x = inputs
        widths = [filters * 2**n for n in range(NUM_CONVS - 1)] + [1]
        for n, width in enumerate(widths):
            x = keras.layers.ZeroPadding2D(1, name=f"model_{2 * n}_pad")(x)
            layer = keras.layers.Conv2D(
                width,
                4,
                strides=2,
                kernel_initializer=upstream_normal(),
                name=f"model_{2 * n}_conv",
            )
            # The wrapper in float32 under a mixed policy, so the power iteration (a norm of
            # small products) runs in float32: in float16 it gives NaN. The conv it wraps
            # still computes in the policy's dtype.
            x = keras.layers.SpectralNormalization(layer, dtype="float32", name=f"model_{2 * n}")(x)
            if n < NUM_CONVS - 1:
                x = keras.layers.LeakyReLU(0.2, name=f"model_{2 * n + 1}")(x)
        super().__init__(inputs, x, **kwargs)
        self.filters = filters
