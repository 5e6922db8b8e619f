"""Partial convolution: a convolution that sees only the valid pixels of its window."""

import keras
import tensorflow as tf


def _nonzero(count):
    """1.0 where `count` != 0, else 0.0, exactly: ceil(min(|count|, 1)).

    Written with ABS, MINIMUM and CEIL, which LiteRT's XNNPACK delegate runs, instead of a
    comparison, a CAST and a SELECT (`tf.where`, with `tf.ones_like` of a dynamic shape), which
    it does not: MEDFE's 15 partial convolutions left 60 such operators outside the delegate.
    """
    return tf.math.ceil(tf.minimum(tf.abs(count), 1.0))


@keras.saving.register_keras_serializable(package="tfrestore")
class PartialConv2D(keras.layers.Layer):
    """Convolution over the valid pixels only, renormalized, that also shrinks the hole.

    Liu et al., "Image Inpainting for Irregular Holes Using Partial Convolutions", ECCV 2018,
    as MEDFE's `PCBActiv` uses it. With M the mask window and count = sum(M) (over the k x k
    window and the mask's channels):

        output = conv(X * M) * (k * k * Cm / count) + bias   where count > 0, else 0
        new_mask = 1                                          where count > 0, else 0

    for a binary mask M (count is then a whole number; a soft mask's count in (0, 1) divides
    by 1), so each layer fills the hole by `kernel_size // 2` pixels from its border. Inputs are
    zero-padded by `kernel_size // 2` on each side, as PyTorch `Conv2d(padding=k // 2)`; the
    padding counts as invalid, so the ratio exceeds 1 at the map border.

    **The mask here is 1 = VALID pixel, 0 = hole**: the opposite of tfrestore's public `mask`
    (1 = missing), which callers flip (`1 - mask`) before the first partial convolution, as
    MEDFE does. The kernel and bias are this layer's own `kernel`/`bias` variables (no inner
    Conv2D), so PyTorch `...conv.input_conv.weight` imports onto it
    (`tfrestore.models.pytorch_weights.load_state_dict`).

    **`mask_kernel=True`: upstream MEDFE's computation, for its released weights.** Upstream's
    `PartialConv` counts the valid pixels with a frozen `mask_conv` (a full
    `Conv2d(C, filters, k)`, no bias) that it sets to ones, but its `init_weights` then redraws
    every "Conv" module from N(0, 0.02), so every released file holds a signed random
    `mask_conv.weight` that never trained. With it, per output channel o:

        count_o = conv(M, mask_kernel[..., o])           (M repeated over the C input channels)
        output_o = conv(X * M, kernel)_o / count_o + bias  where count_o != 0, else 0
        new_mask_o = 1                                      where count_o != 0, else 0

    i.e. upstream's raw division (no k * k * C ratio), a mask per output channel, and the
    non-trainable `mask_kernel` variable [k, k, C, filters] (initialized to ones) that
    `load_state_dict` fills from `mask_conv.weight`. Only `MEDFE(upstream_layout=True)` uses it.

    Args:
        filters: int, output channels.
        kernel_size: odd int, square kernel size (MEDFE: 3, 5, 7).
        strides: int (default 1; MEDFE uses 1).
        use_bias: bool (default False, as MEDFE's `PCBActiv`).
        kernel_initializer: initializer of the [k, k, C, filters] kernel (default
            glorot_uniform; MEDFE uses `tfrestore.layers.upstream_normal()`).
        mask_kernel: bool (default False), upstream MEDFE's signed mask weights (above).

    Call args:
        inputs: [B, H, W, C] features.
        mask: [B, H, W, 1] or [B, H, W, C], 1 = valid pixel (values in [0, 1]).

    Returns:
        (output [B, H', W', filters], new_mask [B, H', W', 1], or [B, H', W', filters] with
        `mask_kernel`) with H' = (H + 2 * (k // 2) - k) // strides + 1 (H' = H for stride 1),
        same for W.

    Example:
        >>> conv = PartialConv2D(16, 3)
        >>> features, valid = conv(tf.zeros([2, 32, 32, 8]), tf.ones([2, 32, 32, 1]))

    Differs from upstream (without `mask_kernel`): MEDFE divides by the raw count sum(M)
    without the k * k * Cm ratio, under its random signed mask weights; we follow the paper
    (Liu et al.), with the all-ones count the paper and upstream's code intend.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        use_bias=False,
        kernel_initializer="glorot_uniform",
        mask_kernel=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(kernel_size) != kernel_size or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"PartialConv2D kernel_size must be an odd positive int, got {kernel_size!r}"
            )
        if int(strides) != strides or strides < 1:
            raise ValueError(f"PartialConv2D strides must be a positive int, got {strides!r}")
        if int(filters) != filters or filters < 1:
            raise ValueError(f"PartialConv2D filters must be a positive int, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.mask_kernel = bool(mask_kernel)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name} needs a static channel count, got {input_shape}")
        self.kernel = self.add_weight(
            shape=(self.kernel_size, self.kernel_size, channels, self.filters),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")
        else:
            self.bias = None
        if self.mask_kernel:
            self.mask_weights = self.add_weight(
                shape=(self.kernel_size, self.kernel_size, channels, self.filters),
                initializer="ones",
                trainable=False,
                name="mask_kernel",
            )

    def _convolve(self, x, kernel):
        # PyTorch Conv2d(padding=k // 2): explicit zeros, then a VALID convolution.
        p = self.kernel_size // 2
        x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        return tf.nn.conv2d(x, kernel, self.strides, "VALID")

    def call(self, inputs, mask=None):
        if mask is None:
            raise ValueError(f"{self.name} needs a mask: call it as layer(inputs, mask)")
        mask = tf.cast(mask, inputs.dtype)
        if self.mask_kernel:
            return self._call_upstream(inputs, mask)
        mask_channels = mask.shape[-1]
        if mask_channels is None:
            mask_channels = tf.cast(tf.shape(mask)[-1], inputs.dtype)
        window = float(self.kernel_size * self.kernel_size)

        outputs = self._convolve(inputs * mask, self.kernel)
        # count = sum of M over the window and the mask channels (all-ones mask weights).
        ones = tf.ones([self.kernel_size, self.kernel_size, 1, 1], inputs.dtype)
        count = self._convolve(tf.reduce_sum(mask, axis=-1, keepdims=True), ones)
        new_mask = _nonzero(count)
        # The mask is binary, so count is a whole number and max(count, 1) is count wherever
        # count > 0, and 1 (finite gradients) where count == 0, whose outputs become 0. Unlike
        # count + (1 - new_mask), int8 cannot round it to a zero divisor: the term 1 - new_mask
        # got a range of ~0 in layers whose calibration never saw a window without a valid
        # pixel, and larger holes then stopped LiteRT's int8 DIV.
        outputs = outputs * (window * mask_channels / tf.maximum(count, 1.0))
        if self.use_bias:
            outputs = outputs + self.bias
        return outputs * new_mask, new_mask

    def _call_upstream(self, inputs, mask):
        mask = tf.broadcast_to(mask, tf.shape(inputs))
        count = self._convolve(mask, self.mask_weights)
        new_mask = _nonzero(count)
        outputs = self._convolve(inputs * mask, self.kernel)
        outputs = outputs / (count + (1.0 - new_mask))
        if self.use_bias:
            outputs = outputs + self.bias
        return outputs * new_mask, new_mask

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "mask_kernel": self.mask_kernel,
        }
