"""Weight initialisation shared by the upstream PyTorch codes."""

import keras


def upstream_normal(stddev=0.02):
    """N(0, 0.02) conv kernels: pix2pix/DCGAN `weights_init`, used by DeblurGAN, Context
    Encoder, EnlightenGAN and MEDFE. A new initializer each call, so layers draw their own."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=stddev)
