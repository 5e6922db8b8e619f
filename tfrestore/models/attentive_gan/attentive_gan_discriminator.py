"""AttentiveGAN's attentive discriminator."""

import keras

from tfrestore.models.network import Network


@keras.saving.register_keras_serializable(package="tfrestore")
class AttentiveGANDiscriminator(Network):
    """AttentiveGAN's discriminator: it predicts an attention map from its inner features.

    Qian et al., CVPR 2018 (https://arxiv.org/abs/1711.10098), as the paper and the official
    `models/discriminator.py`: six 5x5 convs with ReLU (8, 16, 64, 128, 128, 128 channels),
    `conv_mask` (linear 5x5 to 1 channel: the predicted attention map), the features
    multiplied by that map, `conv7` and `conv8` (5x5 stride 4, 64 and 32 channels, ReLU),
    then FC 1024 and FC 1. Returns `(attention_map, logit)`; the sigmoid lives in the loss.
    7,737,746 parameters at 224x224.

    Differences from upstream: `conv7` is applied once (upstream calls it twice, so its
    discriminator cannot run, upstream issue #11). Upstream's FC needs 224x224 inputs; here the
    FC's input size follows `input_size`, the training crop (a different crop gives a
    different FC, so weights of a 224x224 discriminator load only at 224x224).

    Args:
        input_size: (height, width) the discriminator scores (default (224, 224)).
        filters: int, width of the first conv (default 8); later convs use 2, 8, 16, 16, 16,
            8 and 4 times it.

    Inputs are BGR images in [0, 1] of exactly `input_size`.
    """

    config_names = ("input_size", "filters")

    def __init__(self, input_size=(224, 224), filters=8, **kwargs):
        height, width = (int(s) for s in input_size)
        f = filters
        inputs = keras.Input(shape=(height, width, 3), name="image")
        x = inputs
        for k, multiple in enumerate((1, 2, 8, 16, 16, 16), start=1):
            x = keras.layers.Conv2D(
                f * multiple, 5, padding="same", activation="relu", name=f"conv{k}_0"
            )(x)
        attention = keras.layers.Conv2D(1, 5, padding="same", name="conv_mask_0")(x)
        x = keras.layers.Multiply(name="attend")([x, attention])
        for k, multiple in ((7, 8), (8, 4)):
            x = keras.layers.ZeroPadding2D(1, name=f"conv{k}_pad")(x)
            x = keras.layers.Conv2D(
                f * multiple, 5, strides=4, activation="relu", name=f"conv{k}_0"
            )(x)
        # PyTorch flattens NCHW: transpose so official FC weights keep their order.
        x = keras.layers.Permute((3, 1, 2), name="to_nchw")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(1024, name="fc_0")(x)
        logit = keras.layers.Dense(1, name="fc_1")(x)
        super().__init__(inputs, [attention, logit], **kwargs)
        self.input_size = (height, width)
        self.filters = filters
