"""Convolutions whose gradients run as forward convolutions where TensorFlow convolves with Eigen.

Where TensorFlow convolves with Eigen (on a CPU without oneDNN, which TensorFlow 2.21 turns on
by default only for AVX-512-class CPUs, and without a GPU), its gradient kernels
(`Conv2DBackpropInput`, `Conv2DBackpropFilter`) are slower than its forward convolution, and
far slower with few output channels. Measured on a 2-core AMD EPYC (AVX2, 2 threads, ms, median
of 7, TensorFlow's gradient -> the forward form below): DeblurGAN's last critic layer (4x4,
512 -> 1 at 35x35) kernel gradient 32.9 -> 7.4, input gradient 6.7 -> 0.9; its generator's
last 7x7 layer (64 -> 3 at 256x256) 194 -> 69 and 123 -> 15; its critic's 4x4 256 -> 512 layer
42 -> 41 and 72 -> 54; a 3x3 256 -> 256 layer at 64x64 67 -> 46 and 41 -> 39.

Both gradients of a 'valid', stride-1 convolution are 'valid', stride-1 convolutions:
- the input gradient convolves the upstream gradient, zero-padded by k - 1 on each side, with
  the kernel flipped and its input and output channels swapped;
- the kernel gradient convolves the input with batch and channels swapped ([in, H, W, B]) with
  the upstream gradient, batch and channels swapped ([H', W', B, out]), as its kernel.
A stride-2 convolution with an even kernel is a stride-1 convolution of the input's
space-to-depth with the kernel rearranged to half its size, so its gradients take the same
forms. The gradient functions are written with these forms too, so second derivatives (the
gradient penalty's double backward) also run as forward convolutions.

`conv2d` computes the forward convolution as `tf.nn.conv2d` does and, where TensorFlow
convolves with Eigen and a gradient tape records, these gradients; elsewhere (GPUs, oneDNN,
inference and exports) it is `tf.nn.conv2d`. The values are the same up to float rounding.
"""

import functools

import tensorflow as tf

# TensorFlow's own tests of whether its oneDNN kernels are on and whether a tape records; no
# public API has them.
from tensorflow.python.eager import record
from tensorflow.python.util import _pywrap_util_port


@functools.cache
def eigen_convolutions():
    """Whether TensorFlow convolves with Eigen in this process: no GPU, and oneDNN off
    (`TF_ENABLE_ONEDNN_OPTS`, on by default only for AVX-512-class CPUs).

    The forms must stay off under oneDNN: there they were no faster than its gradient kernels
    (AVX-512, 2 threads), and TensorFlow 2.21's oneDNN convolution aborts the process ("Check
    failed: dtype() == expected_dtype ... uint8 expected, got float") on the kernel gradient's
    form of DeblurGAN's last layer (7x7, 64 -> 3, at 262x262: a 256x256 kernel over 1 channel).
    """
    if tf.config.list_physical_devices("GPU"):
        return False
    return not _pywrap_util_port.IsMklEnabled()


def conv2d(inputs, kernel, strides=1, padding="VALID"):
    """`tf.nn.conv2d(inputs, kernel, strides, padding)` (NHWC), with the gradients of the
    module doc where TensorFlow convolves with Eigen and a gradient tape records: 'VALID' with
    stride 1, or stride 2 and an even square kernel; 'SAME' with stride 1 and an odd kernel
    (zero-padded by (k - 1) / 2 first, as 'SAME' pads). Without a tape (inference, exports) it
    is the plain op, so saved graphs carry no gradient functions.

    Args:
        inputs: [B, H, W, in] tensor.
        kernel: [kh, kw, in, out] tensor of the same dtype.
        strides: int or pair of ints.
        padding: "VALID" or "SAME".
    """
    stride = strides if isinstance(strides, int) else strides[0]
    height, width = kernel.shape[:2]
    covered = {
        "SAME": stride == 1 and height % 2 == 1 and width % 2 == 1,
        "VALID": stride == 1 or (stride == 2 and height == width and height % 2 == 0),
    }
    if (
        strides in (stride, (stride, stride))
        and covered.get(padding)
        and record.could_possibly_record()
        and eigen_convolutions()
    ):
        if padding == "SAME":
            inputs = tf.pad(inputs, [[0, 0], [height // 2] * 2, [width // 2] * 2, [0, 0]])
        return _valid(inputs, kernel) if stride == 1 else _stride_two(inputs, kernel)
    return tf.nn.conv2d(inputs, kernel, strides, padding)


def _flipped(kernel):
    """The kernel of the input gradient: taps reversed, input and output channels swapped."""
    return tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])


def _input_gradient(upstream, kernel):
    """The gradient of a 'valid' stride-1 convolution with `kernel` for its input."""
    height, width = tf.shape(kernel)[0] - 1, tf.shape(kernel)[1] - 1
    padded = tf.pad(upstream, [[0, 0], [height, height], [width, width], [0, 0]])
    return _valid(padded, _flipped(kernel))


@tf.custom_gradient
def _valid(inputs, kernel):
    """'valid' stride-1 convolution with the gradients of the module doc."""

    def gradient(upstream):
        return _input_gradient(upstream, kernel), _kernel_gradient(inputs, upstream)

    return tf.nn.conv2d(inputs, kernel, 1, "VALID"), gradient


@tf.custom_gradient
def _kernel_gradient(inputs, upstream):
    """The gradient of `_valid(inputs, kernel)` for its kernel, given the output's gradient."""

    def gradient(kernel_upstream):  # it is linear in each argument
        return (
            _input_gradient(upstream, kernel_upstream),
            _valid(inputs, kernel_upstream),
        )

    swapped = tf.nn.conv2d(
        tf.transpose(inputs, [3, 1, 2, 0]), tf.transpose(upstream, [1, 2, 0, 3]), 1, "VALID"
    )
    return tf.transpose(swapped, [1, 2, 0, 3]), gradient


def _packed(kernel):
    """[k, k, in, out] stride-2 kernel -> [k/2, k/2, 4 in, out] stride-1 kernel over the
    input's space-to-depth (tap (2a + p, 2b + q) -> tap (a, b), channel (2p + q) in + c)."""
    half, (channels, filters) = kernel.shape[0] // 2, kernel.shape[2:]
    taps = tf.reshape(kernel, [half, 2, half, 2, channels, filters])
    return tf.reshape(tf.transpose(taps, [0, 2, 1, 3, 4, 5]), [half, half, 4 * channels, filters])


def _unpacked(packed, size):
    """The inverse of `_packed` for a size x size kernel."""
    half, channels, filters = size // 2, packed.shape[2] // 4, packed.shape[3]
    taps = tf.reshape(packed, [half, half, 2, 2, channels, filters])
    return tf.reshape(tf.transpose(taps, [0, 2, 1, 3, 4, 5]), [size, size, channels, filters])


@tf.custom_gradient
def _stride_two(inputs, kernel):
    """'valid' stride-2 convolution (even square kernel) with the gradients of the module doc."""
    size = kernel.shape[0]

    def gradient(upstream):
        shape = tf.shape(inputs)
        # the input rows and columns the convolution reads: an even count
        used = [2 * (tf.shape(upstream)[axis] - 1) + size for axis in (1, 2)]
        blocks = tf.nn.space_to_depth(inputs[:, : used[0], : used[1]], 2)
        packed = _packed(kernel)
        block_gradient = _input_gradient(upstream, packed)
        unread = [[0, 0], [0, shape[1] - used[0]], [0, shape[2] - used[1]], [0, 0]]
        input_gradient = tf.pad(tf.nn.depth_to_space(block_gradient, 2), unread)
        return input_gradient, _unpacked(_kernel_gradient(blocks, upstream), size)

    return tf.nn.conv2d(inputs, kernel, 2, "VALID"), gradient
