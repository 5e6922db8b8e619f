"""Bilateral propagation: MEDFE's spatial (Gaussian) and range (similarity) feature terms."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfrestore")
class BilateralPropagation(keras.layers.Layer):
    """Concatenates a whole-map Gaussian blur of the features with a 3x3 similarity average.

    Liu et al., "Rethinking Image Inpainting via a Mutual Encoder-Decoder with Feature
    Equalizations", ECCV 2020: the bilateral propagation activation of the feature
    equalization, applied after `SqueezeExcitation`. Weightless.

    - spatial[p] = sum over all positions q of G(p, q) x[q], with
      G(p, q) = exp(-|p - q|² / (2 sigma²)) normalized so that sum_q G(p, q) = 1. G is
      separable, so it is applied as two row-normalized [H, H] and [W, W] Gaussian matrices
      built for the size of the input.
    - range[p] = sum over the `window` x `window` neighbours n of p of a(p, n) x[n], with
      a(p, .) = softmax over the neighbours of mean_c(s[n] * s[p]), s = sigmoid(x). Both x and
      s are zero-padded (padded neighbours have s = 0, not sigmoid(0) = 0.5).

    Args:
        sigma: float > 0 (default 1.5), Gaussian standard deviation in pixels.
        window: odd int >= 1 (default 3), side of the range term's neighbourhood.
        upstream_layout: bool (default False). Upstream sums each term into an [H*W, C]
            tensor and then `.view`s it as [C, H, W] instead of transposing it, so its maps
            mix pixels and channels; True reproduces that (for MEDFE's released weights,
            which were trained on it), False gives the paper's per-pixel terms.

    Shapes: [B, H, W, C] -> [B, H, W, 2C] (concat([spatial, range], -1)), any B, H, W.

    Example:
        >>> BilateralPropagation()(tf.zeros([2, 32, 32, 512])).shape
        TensorShape([2, 32, 32, 1024])

    Differs from upstream: upstream precomputes G for a fixed 32x32 map and uses only batch
    element 0 (batch size 1, upstream issue #6); here any size, and each example on its own.
    """

    def __init__(self, sigma=1.5, window=3, upstream_layout=False, **kwargs):
        super().__init__(**kwargs)
        if not sigma > 0:
            raise ValueError(f"BilateralPropagation sigma must be > 0, got {sigma!r}")
        if int(window) != window or window < 1 or window % 2 == 0:
            raise ValueError(
                f"BilateralPropagation window must be an odd positive int, got {window!r}"
            )
        self.sigma = float(sigma)
        self.window = int(window)
        self.upstream_layout = bool(upstream_layout)

    def _gaussian(self, size):
        """[size, size] float32 Gaussian of index distance, each row summing to 1."""
        positions = tf.cast(tf.range(size), tf.float32)
        distance = positions[:, None] - positions[None, :]
        weights = tf.exp(-tf.square(distance) / (2.0 * self.sigma**2))
        return weights / tf.reduce_sum(weights, axis=1, keepdims=True)

    def _spatial(self, inputs):
        shape = tf.shape(inputs)
        # Built in float32 (exp and normalization), then cast to the features' dtype.
        rows = tf.cast(self._gaussian(shape[1]), inputs.dtype)  # [H, H]
        cols = tf.cast(self._gaussian(shape[2]), inputs.dtype)  # [W, W]
        # sum_q G(p, q) x[q] = sum_k sum_l rows[i, k] x[k, l] cols[j, l], per image and channel:
        # rows @ x @ cols^T on [B, C, H, W]. Plain matmuls convert to BATCH_MATMUL alone;
        # tf.einsum adds dynamic reshapes (UNSORTED_SEGMENT_PROD) around it.
        x = tf.transpose(inputs, [0, 3, 1, 2])
        x = tf.matmul(tf.matmul(rows, x), cols, transpose_b=True)
        return tf.transpose(x, [0, 2, 3, 1])

    def _range(self, inputs):
        r = self.window // 2
        paddings = [[0, 0], [r, r], [r, r], [0, 0]]
        gate = tf.sigmoid(inputs)
        # Upstream pads after the sigmoid: padded neighbours weigh in with s = 0.
        padded_gate = tf.pad(gate, paddings)
        padded = tf.pad(inputs, paddings)
        # Shifted windows of the padded maps, their bounds constants (the end counted from the
        # end): with a dynamic size TFLite then sizes them when it plans memory and XNNPACK
        # runs them (bounds computed from the size are allocated apart, kept to the end).
        shifts = [slice(d, d - 2 * r or None) for d in range(self.window)]
        scores, neighbours = [], []
        for rows in shifts:
            for columns in shifts:
                shifted_gate = padded_gate[:, rows, columns, :]
                scores.append(tf.reduce_mean(shifted_gate * gate, axis=-1))  # [B, H, W]
                neighbours.append(padded[:, rows, columns, :])
        # The softmax in float32 under a mixed policy, then back to the features' dtype.
        scores = tf.cast(tf.stack(scores, axis=-1), tf.float32)
        weights = tf.cast(tf.nn.softmax(scores, axis=-1), inputs.dtype)  # [B, H, W, window²]
        # tf.split, not weights[..., n, None]: that strided slice has no TFLite builtin.
        weights = tf.split(weights, len(neighbours), axis=-1)  # window² x [B, H, W, 1]
        return tf.add_n([w * x for w, x in zip(weights, neighbours)])

    def call(self, inputs):
        terms = [self._spatial(inputs), self._range(inputs)]
        if self.upstream_layout:
            # An NHWC example's memory is upstream's [H*W, C]; read it as [C, H, W]. The
            # static channel count keeps the output's channels known (TFLite CONV_2D needs it).
            shape = tf.shape(inputs)
            channels = inputs.shape[-1]
            terms = [
                tf.transpose(tf.reshape(t, [shape[0], channels, shape[1], shape[2]]), [0, 2, 3, 1])
                for t in terms
            ]
        return tf.concat(terms, axis=-1)

    def compute_output_shape(self, input_shape):
        channels = None if input_shape[-1] is None else 2 * input_shape[-1]
        return (*input_shape[:-1], channels)

    def get_config(self):
        return {
            **super().get_config(),
            "sigma": self.sigma,
            "window": self.window,
            "upstream_layout": self.upstream_layout,
        }
