"""DeblurGAN's 70x70 PatchGAN critic."""

import keras

from tfrestore.layers import InstanceNormalization, upstream_normal


@keras.saving.register_keras_serializable(package="tfrestore")
class DeblurGANDiscriminator(keras.Model):
    """The 70x70 PatchGAN critic of DeblurGAN (upstream `NLayerDiscriminator`, n_layers=3).

    Kupyn et al., CVPR 2018 (https://arxiv.org/abs/1711.07064), as upstream commit a6f4ad0:
    4x4 convs with zero padding 2, strides 2, 2, 2, 1, 1; instance norm (no affine) after all
    but the first and last conv; LeakyReLU 0.2; no sigmoid (WGAN-GP critic). 2,764,737
    parameters at the defaults. Layers are named after the upstream `state_dict` keys.

    Args:
        filters: int, width of the first conv (default 64), doubled per layer up to 8x.
        num_layers: int, stride-2 layers (default 3).

    Inputs are images in [-1, 1], NHWC, any size >= 16 px; outputs are per-patch scores
    (a 256x256 input gives 35x35x1). Kernels start from N(0, 0.02) as upstream.

    Example:
        >>> critic = DeblurGANDiscriminator(filters=8)
        >>> critic(tf.zeros([2, 64, 64, 3])).shape
        TensorShape([2, 11, 11, 1])
    """

    def __init__(self, filters=64, num_layers=3, **kwargs):
        inputs = keras.Input(shape=(None, None, 3), name="image")
        x = keras.layers.ZeroPadding2D(2, name="model_0_pad")(inputs)
        x = keras.layers.Conv2D(
            filters, 4, strides=2, kernel_initializer=upstream_normal(), name="model_0"
        )(x)
        x = keras.layers.LeakyReLU(0.2, name="model_1")(x)
        index = 2
        for n in range(1, num_layers + 1):
            strides = 2 if n < num_layers else 1
            width = filters * min(2**n, 8)
            x = keras.layers.ZeroPadding2D(2, name=f"model_{index}_pad")(x)
            x = keras.layers.Conv2D(
                width,
                4,
                strides=strides,
                kernel_initializer=upstream_normal(),
                name=f"model_{index}",
            )(x)
            x = InstanceNormalization(name=f"model_{index + 1}")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"model_{index + 2}")(x)
            index += 3
        x = keras.layers.ZeroPadding2D(2, name=f"model_{index}_pad")(x)
        outputs = keras.layers.Conv2D(
            1, 4, kernel_initializer=upstream_normal(), name=f"model_{index}"
        )(x)
        super().__init__(inputs, outputs, **kwargs)
        self.filters = filters
        self.num_layers = num_layers

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "filters": self.filters,
            "num_layers": self.num_layers,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
