"""Checking a layer's TFLite conversion against Keras (tests of the layers)."""

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from tfrestore.export import tflite_ops


def tflite_matches_keras(tmp_path, layer, inputs, call, smaller=lambda x: x[:1, :3, 1:]):
    """Converts `call(layer, *inputs)` (dynamic B, H, W) with builtin ops only, runs it with
    LiteRT at the inputs' size and at `smaller(input)`'s, and checks it equals Keras within 1e-5.
    Returns the converted model's operator names; the model is `tmp_path / "layer.tflite"`."""
    call(layer, *inputs)  # builds the layer
    specs = [tf.TensorSpec([None, None, None, x.shape[-1]], tf.float32) for x in inputs]
    concrete = tf.function(lambda *args: call(layer, *args)).get_concrete_function(*specs)
    # As tfrestore.export does: track the graph's variables so they are saved, then frozen.
    module = tf.Module()
    module.serving_variables = list(concrete.variables)
    path = str(tmp_path / "saved_model")
    tf.saved_model.save(module, path, signatures=concrete)
    converter = tf.lite.TFLiteConverter.from_saved_model(path)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()
    (tmp_path / "layer.tflite").write_bytes(flatbuffer)
    assert not [op for op in tflite_ops(flatbuffer) if op.startswith("CUSTOM")]
    runner = Interpreter(model_content=flatbuffer).get_signature_runner()
    names = sorted(runner.get_input_details())  # args_0, args_1, ...
    for arrays in [inputs, [smaller(x) for x in inputs]]:
        actual = runner(**{name: x for name, x in zip(names, arrays)})
        for key, value in call(layer, *arrays).items():
            np.testing.assert_allclose(actual[key], value, atol=1e-5)
    return tflite_ops(flatbuffer)
