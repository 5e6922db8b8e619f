"""Keras convolutions with the same weights and values, written so that TFLite converts them
to ops LiteRT's XNNPACK delegate runs when height and width are dynamic.

Saved files: Keras stores each layer's weights in `.keras` and `.weights.h5` files under its
class name (snake case) numbered among the layers of that name, not under the layer's own
name. A generator whose `Conv2D` became a `PhaseConv2D` would then no longer load files saved
while it was a plain `Conv2D` (nor the convolutions after it, renumbered). So each layer here
takes its Keras parent's `__name__` (`stored_as`) and files keep the plain layers' layout;
`own_storage_names()` reads the files of the versions that stored the sub-pixel and dilated
convolutions under their own names (`tfrestore.inference.load_keras_model` tries it when a
file does not load as it is).
"""

import contextlib
import math

import keras
import numpy as np
import tensorflow as tf

from tfrestore.layers import forward_gradients
from tfrestore.layers.lowering import in_xnnpack_forms

REWRITTEN = {}  # {own name: class} of the layers stored under their parent's name


def stored_as(parent):
    """Class decorator: the class takes `parent`'s `__name__`, under which Keras stores its
    weights (module doc); it keeps its own `__qualname__`, registered name and `REWRITTEN`
    entry. Register it with an explicit `name`."""

    def decorate(cls):
        REWRITTEN[cls.__name__] = cls
        cls.__name__ = parent.__name__
        return cls

    return decorate


# The layers that tfrestore versions before `stored_as` stored under their own names (the
# others here came with it).
EARLIER_OWN_NAMES = ("SubpixelConv2DTranspose", "DilatedConv2D")


@contextlib.contextmanager
def own_storage_names():
    """Within the block, the layers of `EARLIER_OWN_NAMES` are stored under their own names,
    as the files of the versions before `stored_as` have them."""
    try:
        for name in EARLIER_OWN_NAMES:
            REWRITTEN[name].__name__ = name
        yield
    finally:
        for name in EARLIER_OWN_NAMES:
            REWRITTEN[name].__name__ = REWRITTEN[name].__mro__[1].__name__


def _add_bias(layer, outputs, repeats):
    """`outputs` (channels: `repeats` groups of the layer's filters, e.g. the phases of a
    sub-pixel convolution) plus the layer's bias in each group, if it has one."""
    if not layer.use_bias:
        return outputs
    return outputs + tf.tile(tf.cast(layer.bias, outputs.dtype), [repeats])


@keras.saving.register_keras_serializable(package="tfrestore", name="SubpixelConv2DTranspose")
@stored_as(keras.layers.Conv2DTranspose)
class SubpixelConv2DTranspose(keras.layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` with the same weights and outputs, computed as one
    convolution over the input followed by `tf.nn.depth_to_space` (sub-pixel convolution).

    A stride-s transposed convolution gives output pixel `s*i + a` from input pixels `i - m`
    and kernel taps `a + s*m`: for each of the s*s output phases it is an ordinary
    convolution of the input. Stacking the phases as output channels makes it one CONV_2D
    with a ceil(k/s)-wide kernel, then DEPTH_TO_SPACE interleaves them and a slice with
    static bounds trims the border (stride 1: one convolution with the flipped kernel).

    Why: with dynamic height and width the converter gives TRANSPOSE_CONV a computed
    output-shape tensor, which LiteRT's XNNPACK delegate refuses, so the op ran on the
    reference kernel; CONV_2D, DEPTH_TO_SPACE and the slice are delegated. With int8 weights
    and float activations (dynamic-range quantization) the TRANSPOSE_CONV was slow even with
    static shapes, the CONV_2D is fast (measured on the Context Encoder: 10x slower than
    float32 before, as fast after).
    The kernel keeps Keras' `(kh, kw, out, in)` layout (so PyTorch weights load as before); its
    rearrangement is a function of the weights only, which the TFLite converter folds into a
    constant.

    Takes the arguments of `keras.layers.Conv2DTranspose`. Configurations the rewrite does not
    cover (dilation, `output_padding`, channels-first, unequal strides or a stride larger than
    the kernel) fall back to the parent's computation.

    Example:
        >>> layer = SubpixelConv2DTranspose(8, 3, strides=2)
        >>> layer(tf.zeros([1, 16, 12, 4])).shape
        TensorShape([1, 33, 25, 8])
    """

    def _rewritable(self):
        return (
            self.data_format == "channels_last"
            and self.dilation_rate == (1, 1)
            and self.output_padding is None
            and self.strides[0] == self.strides[1]
            and all(s <= k for s, k in zip(self.strides, self.kernel_size, strict=True))
        )

    def _subpixel_kernel(self):
        """[K, K', in, s*s*out] convolution kernel whose channel (a*s + b)*out + o computes
        output phase (a, b), with K = ceil(k/s) taps per axis."""
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        th, tw = math.ceil(kh / sh), math.ceil(kw / sw)
        kernel = tf.pad(self.kernel, [[0, th * sh - kh], [0, tw * sw - kw], [0, 0], [0, 0]])
        out, inp = self.filters, kernel.shape[-1]
        # tap a + s*m of the transposed kernel -> [m, a, n, b, out, in]
        kernel = tf.reshape(kernel, [th, sh, tw, sw, out, inp])
        # the convolution reads input pixel i - m at its tap K - 1 - m
        kernel = tf.reverse(kernel, axis=[0, 2])
        kernel = tf.transpose(kernel, [0, 2, 5, 1, 3, 4])  # [m, n, in, a, b, out]
        return tf.reshape(kernel, [th, tw, inp, sh * sw * out])

    def call(self, inputs):
        if not self._rewritable():
            return super().call(inputs)
        if self.padding == "valid" and tuple(inputs.shape[1:3]) == (1, 1):
            return self._call_on_one_pixel(inputs)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        th, tw = math.ceil(kh / sh), math.ceil(kw / sw)
        # Input pixel i reaches output rows s*i .. s*i + k - 1, so the phases cover
        # H + K - 1 input positions: pad K - 1 zeros on each side.
        padded = tf.pad(inputs, [[0, 0], [th - 1, th - 1], [tw - 1, tw - 1], [0, 0]])
        kernel = tf.cast(self._subpixel_kernel(), inputs.dtype)
        phases = forward_gradients.conv2d(padded, kernel)
        phases = _add_bias(self, phases, sh * sw)
        full = tf.nn.depth_to_space(phases, sh) if sh > 1 else phases  # (H + K - 1) * s rows
        # 'valid' keeps the first (H - 1) * s + k rows; 'same' keeps H * s of them, starting
        # where TensorFlow's 'same' transposed convolution does: floor((k - s) / 2).
        crops = []
        for k, s, taps in ((kh, sh, th), (kw, sw, tw)):
            start = (k - s) // 2 if self.padding == "same" else 0
            extra = (taps - 1) * s + s - k  # rows past the 'valid' output
            end = extra + (k - s - start if self.padding == "same" else 0)
            crops.append(slice(start, -end if end else None))
        outputs = full[:, crops[0], crops[1], :]
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _call_on_one_pixel(self, inputs):
        """A 'valid' transposed convolution of a 1x1 input as one matrix product.

        Each output pixel (i, j) is the input's channels times kernel tap (i, j): [B, in] @
        [in, kh*kw*out], then a reshape to [B, kh, kw, out]. The sub-pixel form would pad the
        1x1 input to (2k - 1)^2 and convolve, k^2 times the work (measured: the Context
        Encoder's 4000 -> 512 bottleneck layer, batch 64, forward and backward, 15-20x slower).
        """
        (kh, kw), inp = self.kernel_size, inputs.shape[-1]
        kernel = tf.cast(self.kernel, inputs.dtype)  # [kh, kw, out, in]
        kernel = tf.reshape(tf.transpose(kernel, [3, 0, 1, 2]), [inp, kh * kw * self.filters])
        outputs = _add_bias(self, tf.matmul(tf.reshape(inputs, [-1, inp]), kernel), kh * kw)
        outputs = tf.reshape(outputs, [-1, kh, kw, self.filters])
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


@keras.saving.register_keras_serializable(package="tfrestore", name="ForwardGradientConv2D")
@stored_as(keras.layers.Conv2D)
class ForwardGradientConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` whose gradients run as forward convolutions where TensorFlow
    convolves with Eigen (`tfrestore.layers.forward_gradients`): there its gradient kernels
    are slower than its forward convolution. Covers undilated, ungrouped, channels-last
    convolutions that are 'valid' with stride 1, or 2 and an even square kernel, or 'same' with
    stride 1 and an odd kernel; the others, and every convolution on GPUs or with oneDNN, are
    `keras.layers.Conv2D`'s. Same arguments, weights, outputs and (up to float
    rounding) gradients as `keras.layers.Conv2D`; exported graphs are the same.

    Example:
        >>> ForwardGradientConv2D(8, 4, strides=2)(tf.zeros([1, 10, 10, 3])).shape
        TensorShape([1, 4, 4, 8])
    """

    def convolution_op(self, inputs, kernel):
        if self.data_format != "channels_last" or self.dilation_rate != (1, 1) or self.groups != 1:
            return super().convolution_op(inputs, kernel)
        return forward_gradients.conv2d(
            inputs, tf.convert_to_tensor(kernel), self.strides, self.padding.upper()
        )


@keras.saving.register_keras_serializable(package="tfrestore", name="MatmulConv2D")
@stored_as(keras.layers.Conv2D)
class MatmulConv2D(ForwardGradientConv2D):
    """`keras.layers.Conv2D` computed as one matrix product when its kernel covers the whole
    input ('valid' padding, static H x W equal to the kernel size: a 1x1 output).

    Such a convolution is a fully connected layer on the flattened input: [B, kh*kw*in] @
    [kh*kw*in, out], with the kernel's own (kh, kw, in, out) order matching the NHWC flattening.
    oneDNN's convolution kernels are slow on that shape (measured: the Context Encoder's
    4x4x512 -> 4000 bottleneck, batch 64, forward and backward, 15-20x slower than the matrix
    product). Other inputs fall back to the parent's convolution. Same arguments, weights and
    values as `keras.layers.Conv2D`.

    Example:
        >>> MatmulConv2D(16, 4)(tf.zeros([2, 4, 4, 8])).shape
        TensorShape([2, 1, 1, 16])
    """

    def convolution_op(self, inputs, kernel):
        spans_input = (
            self.data_format == "channels_last"
            and self.padding == "valid"
            and self.groups == 1
            and self.dilation_rate == (1, 1)
            and tuple(inputs.shape[1:3]) == tuple(self.kernel_size)
        )
        if not spans_input:
            return super().convolution_op(inputs, kernel)
        outputs = tf.matmul(
            tf.reshape(inputs, [-1, math.prod(kernel.shape[:3])]),
            tf.reshape(kernel, [-1, self.filters]),
        )
        return tf.reshape(outputs, [-1, 1, 1, self.filters])


@keras.saving.register_keras_serializable(package="tfrestore", name="DilatedConv2D")
@stored_as(keras.layers.Conv2D)
class DilatedConv2D(ForwardGradientConv2D):
    """`keras.layers.Conv2D` whose dilated convolution is one `tf.nn.conv2d(dilations=...)`.

    Keras (through `tf.nn.convolution`) computes a dilated convolution as SPACE_TO_BATCH_ND,
    a convolution and BATCH_TO_SPACE_ND; the TFLite converter folds those back into one
    dilated CONV_2D only when the shapes are static, so with dynamic height and width the two
    reshuffles ran outside the XNNPACK delegate around every dilated conv. Same arguments,
    weights and values as `keras.layers.Conv2D`.

    Its gradient is the space-to-batch form's (recomputing that form's forward pass): without
    oneDNN, which TensorFlow leaves off on AVX2-only CPUs, TensorFlow has no CPU gradient for a
    dilated `conv2d` ("Current CPU implementations do not yet support dilation rates larger
    than 1"), so the models with dilated convolutions could not train there.

    Example:
        >>> DilatedConv2D(8, 3, dilation_rate=2, padding="same")(tf.zeros([1, 9, 9, 4])).shape
        TensorShape([1, 9, 9, 8])
    """

    def convolution_op(self, inputs, kernel):
        if self.data_format != "channels_last" or self.dilation_rate == (1, 1):
            return super().convolution_op(inputs, kernel)
        options = {
            "strides": self.strides,
            "padding": self.padding.upper(),
            "dilations": self.dilation_rate,
        }

        @tf.custom_gradient
        def dilated(inputs, kernel):
            def gradient(upstream):
                with tf.GradientTape() as tape:
                    tape.watch([inputs, kernel])
                    outputs = tf.nn.convolution(inputs, kernel, **options)
                return tape.gradient(outputs, [inputs, kernel], output_gradients=upstream)

            return tf.nn.conv2d(inputs, kernel, **options), gradient

        return dilated(inputs, tf.convert_to_tensor(kernel))


@keras.saving.register_keras_serializable(package="tfrestore", name="PhaseConv2D")
@stored_as(keras.layers.Conv2D)
class PhaseConv2D(ForwardGradientConv2D):
    """`keras.layers.Conv2D` with the same weights and outputs, computed as one stride-2
    convolution that gives the four output phases as channels, then `tf.nn.depth_to_space`.

    Output pixel (2i + a, 2j + b) of a stride-1 k x k convolution reads input pixels
    (2i + u, 2j + v) with tap (u - a, v - b), u, v in 0 .. k: each phase (a, b) is a stride-2
    convolution with a (k + 1) x (k + 1) kernel, the original one shifted by (a, b), and
    stacking the phases as output channels makes it one CONV_2D.

    Why: for each convolution LiteRT's XNNPACK delegate keeps an indirection buffer of
    k * k pointers per output pixel for as long as the model is loaded. At 720x1280 that is
    361 MB for one 7x7 convolution at full resolution (of 3 or 64 channels), more than its
    input and output; the stride-2 one needs 64 pointers per 4 output pixels (118 MB), for
    31% more multiply-adds (64 / 49) on a layer that has few. (A space-to-depth formulation
    needs fewer pointers, but LiteRT runs SPACE_TO_DEPTH outside the delegate.)
    The kernel keeps Keras' `(kh, kw, in, out)` layout (PyTorch weights load as before); its
    rearrangement is a function of the weights only, which the TFLite converter folds into a
    constant.

    Takes the arguments of `keras.layers.Conv2D`. The rewrite covers a stride-1, undilated,
    'valid', channels-last convolution whose output height and width are even (e.g. a
    multiple-of-4 image reflection-padded by (k - 1) / 2, as in DeblurGAN); other
    configurations, and inputs whose static size gives an odd output, take the parent's
    computation. An odd output size known only at run time would lose its last row or column:
    use the layer where the sizes are even by construction.

    Example:
        >>> PhaseConv2D(8, 7)(tf.zeros([1, 14, 12, 3])).shape
        TensorShape([1, 8, 6, 8])
    """

    def _rewritable(self, shape):
        return (
            self.data_format == "channels_last"
            and self.strides == (1, 1)
            and self.dilation_rate == (1, 1)
            and self.padding == "valid"
            and self.groups == 1
            and all(
                size is None or (size - k + 1) % 2 == 0
                for size, k in zip(shape[1:3], self.kernel_size, strict=True)
            )
        )

    def _phase_kernel(self):
        """[kh + 1, kw + 1, in, 4 * out] kernel whose output channel (a * 2 + b) * out + o
        computes output phase (a, b): the original kernel shifted by (a, b)."""
        return tf.concat(
            [
                tf.pad(self.kernel, [[a, 1 - a], [b, 1 - b], [0, 0], [0, 0]])
                for a in range(2)
                for b in range(2)
            ],
            axis=-1,
        )

    def call(self, inputs):
        if not self._rewritable(inputs.shape):
            return super().call(inputs)
        kernel = tf.cast(self._phase_kernel(), inputs.dtype)
        phases = _add_bias(self, forward_gradients.conv2d(inputs, kernel, strides=2), 4)
        outputs = tf.nn.depth_to_space(phases, 2)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


# Winograd F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
# CVPR 2016): a 2x2 output tile of a 3x3 correlation is A^T [(G k G^T) * (B^T d B)] A for the
# 4x4 input tile d, with these matrices.
_WINOGRAD_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
_WINOGRAD_G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))


@keras.saving.register_keras_serializable(package="tfrestore", name="WinogradConv2D")
@stored_as(keras.layers.Conv2D)
class WinogradConv2D(ForwardGradientConv2D):
    """`keras.layers.Conv2D` with the same weights and outputs, a 3x3 convolution computed with
    Winograd's minimal filtering F(2x2, 3x3): 16 multiplications per 2x2 output tile and
    channel pair instead of 36.

    Each 2x2 output tile reads a 4x4 input tile d (stride 2). The input transform B^T d B is
    16 linear combinations of the tile, computed as depthwise convolutions with fixed 4-tap
    kernels (stride 2 across the tiles, 4 along rows then 4 along columns); each of the 16
    results is multiplied by its transformed kernel (G k G^T, a [in, out] matrix: a 1x1
    convolution); the output transform sums them back into the four output phases, which
    `tf.nn.depth_to_space` interleaves. The kernel keeps Keras' `(3, 3, in, out)` layout (PyTorch
    weights load as before); the transformed kernel is a function of the weights only, which
    the TFLite converter folds into a constant (16/9 of the kernel's size in the file).

    It computes that only within `tfrestore.layers.lowering.xnnpack_forms()`, where float
    TFLite exports trace their graph; elsewhere (Keras, training, SavedModels, quantized
    exports, where the transformed tiles, sums of 4 to 16 inputs, lose more to int8 rounding
    than the products save) it is the plain convolution. Why: LiteRT's XNNPACK delegate has no
    Winograd convolution. Measured on stacks of reflection-padded 3x3 convolutions (2 threads,
    medians of 9, ms, plain -> Winograd), TFLite: 256 channels at 64x64 (10 layers) 290 ->
    182, 128 at 64x64 (6 layers) 45 -> 26, 256 at 32x32 (6) 42 -> 25, 64 at 128x128 (4) 31 ->
    24, but 64 at 256x256 (4) 141 -> 178; the Keras graph: 279 -> 254, 48 -> 53, 44 -> 60,
    31 -> 40 (oneDNN's direct convolution is the faster there). The results differ from the
    direct convolution by float32 rounding (about 4e-6 of the output's scale).

    Takes the arguments of `keras.layers.Conv2D`. The rewrite covers a 3x3, stride-1, undilated,
    ungrouped, channels-last convolution ('valid' or 'same') computed in float32 whose output
    height and width are even; other configurations (and a mixed-precision policy, where the
    transforms' sums would lose the precision the products keep), and inputs whose static size
    gives an odd output, take the parent's computation. An odd output size known only at run
    time would lose its last row or column: use the layer where the sizes are even by
    construction (DeblurGAN pads its input to a multiple of 8 for its residual blocks at 1/4
    scale).

    Example:
        >>> with xnnpack_forms():
        ...     WinogradConv2D(8, 3)(tf.zeros([1, 10, 6, 4])).shape
        TensorShape([1, 8, 4, 8])
    """

    has_xnnpack_form = True

    def _rewritable(self, inputs):
        return (
            in_xnnpack_forms()
            and self.data_format == "channels_last"
            and self.kernel_size == (3, 3)
            and self.strides == (1, 1)
            and self.dilation_rate == (1, 1)
            and self.groups == 1
            and self.compute_dtype == "float32"
            and all(size is None or size % 2 == 0 for size in inputs.shape[1:3])
        )

    def _winograd_kernels(self):
        """The 16 [1, 1, in, out] kernels G k G^T of the transformed domain, row-major."""
        matrix = tf.constant(_WINOGRAD_G, self.kernel.dtype)
        kernel = tf.einsum("ia,abco,jb->ijco", matrix, self.kernel, matrix)
        return tf.unstack(tf.reshape(kernel, [16, 1, 1, *self.kernel.shape[2:]]))

    def call(self, inputs):
        if not self._rewritable(inputs):
            return super().call(inputs)
        if self.padding == "same":  # for a 3x3 stride-1 convolution: one zero on each side
            inputs = tf.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]])
        channels = inputs.shape[-1]

        def taps(row, shape):  # a depthwise kernel applying `row` of B^T to every channel
            return np.tile(np.reshape(row, shape), [1, 1, channels, 1]).astype(np.float32)

        # B^T d: four combinations of each tile's rows, [B, H / 2, W + 2, in] each.
        rows = [
            tf.nn.depthwise_conv2d(inputs, taps(row, [4, 1, 1, 1]), [1, 2, 1, 1], "VALID")
            for row in _WINOGRAD_BT
        ]
        kernels = self._winograd_kernels()
        # (B^T d B) * (G k G^T), summed over input channels, then A^T (.) A with
        # A^T = [[1, 1, 1, 0], [0, 1, -1, -1]], a column of tiles at a time: `top[j]` and
        # `bottom[j]` are the rows of A^T applied to column j of the 4x4 product.
        top, bottom = [], []
        for j, row in enumerate(_WINOGRAD_BT):
            columns = taps(row, [1, 4, 1, 1])  # ... B: column j of each row's tile
            products = [
                tf.nn.conv2d(
                    tf.nn.depthwise_conv2d(rows[i], columns, [1, 1, 2, 1], "VALID"),
                    kernels[4 * i + j],
                    strides=1,
                    padding="VALID",
                )
                for i in range(4)
            ]
            top.append(products[0] + products[1] + products[2])
            bottom.append(products[1] - products[2] - products[3])
        phases = [  # output pixel (2t + a, 2u + b) of each tile, as depth_to_space orders them
            sums[0] + sums[1] + sums[2] if b == 0 else sums[1] - sums[2] - sums[3]
            for sums in (top, bottom)
            for b in range(2)
        ]
        outputs = tf.nn.depth_to_space(_add_bias(self, tf.concat(phases, axis=-1), 4), 2)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs
