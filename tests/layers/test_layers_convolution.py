import keras
import numpy as np
import pytest
import tensorflow as tf
from tflite_layers import tflite_matches_keras

from tfrestore.export import delegation
from tfrestore.layers import (
    DilatedConv2D,
    ForwardGradientConv2D,
    MatmulConv2D,
    PhaseConv2D,
    SubpixelConv2DTranspose,
    WinogradConv2D,
    forward_gradients,
)
from tfrestore.layers.lowering import xnnpack_forms


def _tensorflow_runs_row_strided_depthwise_convs():
    """Whether this TensorFlow's CPU kernels run a depthwise conv strided along one axis only.
    Without oneDNN (TensorFlow leaves it off on AVX2-only CPUs) they do not, so the Winograd
    form runs only in LiteRT there; the export tests still compare it with the Keras graph."""
    try:
        tf.nn.depthwise_conv2d(
            tf.zeros([1, 4, 4, 1]), tf.zeros([2, 1, 1, 1]), [1, 2, 1, 1], "VALID"
        )
    except tf.errors.InvalidArgumentError:
        return False
    return True


winograd_in_tensorflow = pytest.mark.skipif(
    not _tensorflow_runs_row_strided_depthwise_convs(),
    reason="TensorFlow's CPU kernels here (oneDNN off) have no depthwise conv with unequal "
    "strides, which the Winograd form uses; LiteRT runs it",
)


@pytest.mark.parametrize(
    "kernel_size,strides,padding,size",
    [
        (3, 2, "valid", (7, 10)),
        (4, 2, "same", (7, 10)),
        (4, 2, "valid", (7, 10)),
        (3, 2, "same", (7, 10)),
        (5, 3, "valid", (7, 10)),
        (3, 1, "same", (7, 10)),
        (4, 1, "valid", (7, 10)),
        (4, 1, "valid", (1, 1)),  # a 1x1 input: one matrix product
        (3, 2, "valid", (1, 1)),
    ],
)
def test_subpixel_transposed_conv_equals_keras(kernel_size, strides, padding, size):
    rng = np.random.default_rng(0)
    x = rng.random((2, *size, 5)).astype("float32")
    reference = keras.layers.Conv2DTranspose(6, kernel_size, strides=strides, padding=padding)
    layer = SubpixelConv2DTranspose(6, kernel_size, strides=strides, padding=padding)
    reference.build(x.shape)
    layer.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    layer.set_weights(weights)
    expected = reference(x).numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-5)
    assert tuple(layer.compute_output_shape(x.shape)) == expected.shape


def test_subpixel_transposed_conv_config_round_trip():
    layer = SubpixelConv2DTranspose(4, 3, strides=2, name="up")
    clone = SubpixelConv2DTranspose.from_config(layer.get_config())
    assert (clone.filters, clone.kernel_size, clone.strides) == (4, (3, 3), (2, 2))


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_dilated_conv_equals_keras_values_and_gradients(padding):
    rng = np.random.default_rng(1)
    x = tf.Variable(rng.random((1, 11, 9, 3)).astype("float32"))
    reference = keras.layers.Conv2D(4, 3, dilation_rate=2, padding=padding)
    layer = DilatedConv2D(4, 3, dilation_rate=2, padding=padding)
    reference.build(x.shape)
    layer.build(x.shape)
    layer.set_weights(reference.get_weights())
    results = []
    for conv in (reference, layer):
        with tf.GradientTape() as tape:
            y = conv(x)
            loss = tf.reduce_sum(y * y)
        gradients = tape.gradient(loss, [x, conv.kernel])
        results.append([y.numpy()] + [g.numpy() for g in gradients])
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def _values_and_gradients(reference, layer, x, rng):
    """[output, d/dx, d/dkernel, d/dbias] of `reference` and of `layer`, with the same weights."""
    reference.build(x.shape)
    layer.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    layer.set_weights(weights)
    results = []
    for conv in (reference, layer):
        with tf.GradientTape() as tape:
            y = conv(x)
            loss = tf.reduce_sum(y * y)
        gradients = tape.gradient(loss, [x, conv.kernel, conv.bias])
        results.append([y.numpy()] + [g.numpy() for g in gradients])
    return results


def test_matmul_conv_equals_keras_values_and_gradients():
    rng = np.random.default_rng(2)
    x = tf.Variable(rng.random((3, 4, 4, 5)).astype("float32"))
    reference = keras.layers.Conv2D(6, 4, strides=2)
    layer = MatmulConv2D(6, 4, strides=2)
    results = _values_and_gradients(reference, layer, x, rng)
    assert results[1][0].shape == (3, 1, 1, 6)
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    # any other input size is an ordinary convolution
    larger = rng.random((1, 6, 7, 5)).astype("float32")
    np.testing.assert_allclose(layer(larger), reference(larger), rtol=1e-5, atol=1e-5)


def _first_and_second_derivatives(conv, x, kernel):
    """[y, dL/dx, dL/dkernel, dP/dx, dP/dkernel] with L a function of y and P one of the first
    derivatives (as a gradient penalty is)."""
    with tf.GradientTape() as outer:
        outer.watch([x, kernel])
        with tf.GradientTape() as inner:
            inner.watch([x, kernel])
            y = conv(x, kernel)
            loss = tf.reduce_sum(tf.sin(y))
        dx, dkernel = inner.gradient(loss, [x, kernel])
        penalty = tf.reduce_sum(dx**2) + tf.reduce_sum(tf.cos(dkernel))
        penalty += tf.reduce_sum(dx) * tf.reduce_sum(dkernel)
    return [y, dx, dkernel, *outer.gradient(penalty, [x, kernel])]


@pytest.mark.parametrize(
    "kernel_size,strides,padding,height,width",
    [
        (3, 1, "VALID", 11, 8),
        (4, 1, "VALID", 9, 9),
        (4, 2, "VALID", 12, 9),
        (4, 2, "VALID", 13, 10),
        (2, 2, "VALID", 10, 12),
        (3, 2, "VALID", 9, 9),  # not covered: TensorFlow's gradients
        (3, 1, "SAME", 7, 10),
        (5, 1, "SAME", 8, 9),
        (4, 1, "SAME", 8, 9),  # not covered: TensorFlow's gradients
    ],
)
def test_forward_gradient_conv_equals_tensorflow_to_second_order(
    kernel_size, strides, padding, height, width
):
    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(size=(2, height, width, 3)))  # float64: exact comparison
    kernel = tf.constant(rng.normal(size=(kernel_size, kernel_size, 3, 5)))
    ours = _first_and_second_derivatives(
        lambda x, k: forward_gradients.conv2d(x, k, strides, padding), x, kernel
    )
    theirs = _first_and_second_derivatives(
        lambda x, k: tf.nn.conv2d(x, k, strides, padding), x, kernel
    )
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def _gradient_op_types(conv, kernel_size, strides, padding):
    """Op types of the traced graph of a function returning conv's input and kernel gradients."""
    x = tf.TensorSpec([1, None, None, 3], tf.float32)

    @tf.function(input_signature=[x])
    def gradients(x):
        kernel = tf.ones([kernel_size, kernel_size, 3, 2])
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = conv(x, kernel, strides, padding)
        return tape.gradient(y, [x, kernel])

    return {op.type for op in gradients.get_concrete_function().graph.get_operations()}


@pytest.mark.parametrize(
    "kernel_size,strides,padding", [(4, 1, "VALID"), (4, 2, "VALID"), (3, 1, "SAME")]
)
def test_forward_gradient_conv_runs_its_gradients_as_forward_convolutions(
    kernel_size, strides, padding
):
    """Where TensorFlow convolves with Eigen (this CPU without oneDNN), no gradient kernel of
    TensorFlow's is left in the graph; elsewhere (oneDNN, GPUs) they are TensorFlow's."""
    options = (kernel_size, strides, padding)
    plain = _gradient_op_types(tf.nn.conv2d, *options)
    ours = _gradient_op_types(forward_gradients.conv2d, *options)
    backprop = {"Conv2DBackpropInput", "Conv2DBackpropFilter"}
    assert backprop <= plain
    if forward_gradients.eigen_convolutions():
        assert not backprop & ours
    else:
        assert backprop <= ours


def test_forward_gradient_conv_is_the_plain_op_without_a_tape():
    """Inference and exports trace `tf.nn.conv2d` itself: no custom gradient in saved graphs."""
    layer = ForwardGradientConv2D(4, 4, strides=2)

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    def infer(x):
        return layer(x)

    types = {op.type for op in infer.get_concrete_function().graph.get_operations()}
    assert "Conv2D" in types
    assert "IdentityN" not in types  # what tf.custom_gradient adds


def test_forward_gradient_conv_layer_equals_keras_values_and_gradients():
    rng = np.random.default_rng(5)
    x = tf.Variable(rng.random((2, 13, 12, 3)).astype("float32"))
    for strides, kernel_size, padding in ((1, 3, "valid"), (2, 4, "valid"), (1, 3, "same")):
        reference = keras.layers.Conv2D(6, kernel_size, strides=strides, padding=padding)
        layer = ForwardGradientConv2D(6, kernel_size, strides=strides, padding=padding)
        results = _values_and_gradients(reference, layer, x, rng)
        for ours, theirs in zip(*results, strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel_size,height,width", [(7, 14, 12), (3, 8, 10), (7, 13, 12)])
def test_phase_conv_equals_keras_values_and_gradients(kernel_size, height, width):
    # 13 rows: an odd static size takes the plain convolution.
    rng = np.random.default_rng(2)
    x = tf.Variable(rng.random((2, height, width, 3)).astype("float32"))
    reference = keras.layers.Conv2D(5, kernel_size)
    layer = PhaseConv2D(5, kernel_size)
    results = _values_and_gradients(reference, layer, x, rng)
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def _traced_ops(layer, channels):
    """The TensorFlow op types of `layer` traced on dynamic [B, H, W, channels] inputs."""
    spec = tf.TensorSpec([None, None, None, channels])
    graph = tf.function(layer).get_concrete_function(spec).graph
    return {op.type for op in graph.get_operations()}


@winograd_in_tensorflow
@pytest.mark.parametrize(
    "height,width,padding", [(10, 14, "valid"), (8, 6, "same"), (9, 12, "valid")]
)
def test_winograd_conv_equals_keras_values_and_gradients(height, width, padding):
    # 9 rows: an odd static output size (7) takes the plain convolution.
    rng = np.random.default_rng(3)
    x = tf.Variable(rng.normal(size=(2, height, width, 6)).astype("float32"))
    reference = keras.layers.Conv2D(5, 3, padding=padding, activation="relu")
    layer = WinogradConv2D(5, 3, padding=padding, activation="relu")
    with xnnpack_forms():
        results = _values_and_gradients(reference, layer, x, rng)
    assert results[1][0].shape == reference.compute_output_shape(x.shape)
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_winograd_conv_is_the_plain_convolution_outside_xnnpack_forms():
    layer = WinogradConv2D(4, 3)
    layer.build((None, None, None, 3))
    assert "DepthwiseConv2dNative" not in _traced_ops(layer, 3)
    with xnnpack_forms():
        assert "DepthwiseConv2dNative" in _traced_ops(layer, 3)
    assert "DepthwiseConv2dNative" not in _traced_ops(layer, 3)


@winograd_in_tensorflow
def test_winograd_conv_on_dynamic_sizes_in_a_graph():
    rng = np.random.default_rng(4)
    layer = WinogradConv2D(4, 3)
    reference = keras.layers.Conv2D(4, 3)
    reference.build((None, None, None, 3))
    layer.build((None, None, None, 3))
    weights = [rng.normal(size=w.shape).astype("float32") for w in reference.get_weights()]
    layer.set_weights(weights)
    reference.set_weights(weights)
    with xnnpack_forms():
        graph = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 3])])
        graph.get_concrete_function()
    for shape in [(1, 8, 6, 3), (3, 18, 34, 3)]:
        x = rng.normal(size=shape).astype("float32")
        np.testing.assert_allclose(graph(x), reference(x), rtol=1e-4, atol=1e-4)


def test_winograd_conv_under_mixed_precision_is_the_plain_convolution():
    # bfloat16 sums in the transforms would lose what the products keep: the layer computes
    # what keras.layers.Conv2D computes there, to the bit.
    x = np.random.default_rng(5).normal(size=(1, 10, 10, 4)).astype("float32")
    reference = keras.layers.Conv2D(3, 3, dtype="mixed_bfloat16")
    layer = WinogradConv2D(3, 3, dtype="mixed_bfloat16")
    reference.build(x.shape)
    layer.build(x.shape)
    layer.set_weights(reference.get_weights())
    with xnnpack_forms():
        assert layer(x).dtype == "bfloat16"
        np.testing.assert_array_equal(layer(x), reference(x))


@winograd_in_tensorflow
def test_winograd_conv_exports_to_one_xnnpack_partition(tmp_path):
    x = np.random.default_rng(6).normal(size=(2, 12, 10, 4)).astype("float32")
    layer = WinogradConv2D(6, 3)
    with xnnpack_forms():
        ops = tflite_matches_keras(
            tmp_path, layer, [x], lambda layer, x: {"output": layer(x)}, lambda x: x[:1, :6, 2:]
        )
    assert "CONV_2D" in ops and "DEPTHWISE_CONV_2D" in ops
    split = delegation(tmp_path / "layer.tflite", {"args_0": x})
    assert split.partitions == 1 and split.outside == {}, split


@pytest.mark.parametrize(
    "module_name,plain,kwargs",
    [
        (
            "tfrestore.models.deblur_gan.deblur_gan_generator",
            {
                "PhaseConv2D": keras.layers.Conv2D,
                "SubpixelConv2DTranspose": keras.layers.Conv2DTranspose,
                "WinogradConv2D": keras.layers.Conv2D,
            },
            {"name": "deblur_gan", "filters": 4, "num_blocks": 1, "vgg_weights": None},
        ),
        (
            "tfrestore.models.context_encoder.context_encoder_generator",
            {
                "MatmulConv2D": keras.layers.Conv2D,
                "SubpixelConv2DTranspose": keras.layers.Conv2DTranspose,
            },
            {"name": "context_encoder", "filters": 4, "bottleneck_channels": 8},
        ),
    ],
)
def test_files_saved_with_plain_keras_layers_or_own_names_load_with_their_weights(
    tmp_path, monkeypatch, module_name, plain, kwargs
):
    import importlib

    import tfrestore.models
    from tfrestore.inference import load_keras_model
    from tfrestore.layers.convolution import own_storage_names

    name = kwargs.pop("name")
    module = importlib.import_module(module_name)
    with monkeypatch.context() as patch:  # the generator as it was built before the rewrite
        for attribute, layer in plain.items():
            patch.setattr(module, attribute, layer)
        old = tfrestore.models.get(name, **kwargs)
        shape = [1, *(size or 32 for size in old.generator.input_shape[1:3]), 3]
        x = np.random.default_rng(0).random(shape).astype("float32")
        old.generator(x)
        kinds = {type(layer) for layer in old.generator.layers}
        layers = tfrestore.layers
        assert not {layers.PhaseConv2D, layers.MatmulConv2D, layers.WinogradConv2D} & kinds
        old.save(tmp_path / "plain.keras")
    current = tfrestore.models.get(name, **kwargs)
    current.generator(x)
    current.set_weights(old.get_weights())
    with own_storage_names():  # as the versions that stored the rewrites under their names
        current.save(tmp_path / "own.keras")
    expected = np.asarray(old.generator(x, training=False))
    for file in ("plain.keras", "own.keras"):
        loaded = load_keras_model(tmp_path / file)
        assert set(plain) & {type(layer).__qualname__ for layer in loaded.generator.layers}
        restored = loaded.generator(x, training=False)
        np.testing.assert_allclose(restored, expected, atol=1e-5, err_msg=file)
