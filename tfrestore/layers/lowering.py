"""Graphs for LiteRT's XNNPACK float kernels: layers that compute the same values in another
form there.

Some computations run faster on LiteRT's XNNPACK delegate in a form other than the one
TensorFlow runs best, e.g. a Winograd convolution (`WinogradConv2D`). Within `xnnpack_forms()`
the layers that have one compute it, and a graph traced there keeps it; float32 and float16
TFLite exports trace their graph there (`tfrestore.export`). Everywhere else (Keras, training,
SavedModels, quantized exports) they compute TensorFlow's form.
"""

import contextlib

_active = False  # True within `xnnpack_forms()`


@contextlib.contextmanager
def xnnpack_forms():
    """Within the block, layers with an XNNPACK form (`has_xnnpack_forms`) compute it."""
    global _active
    before, _active = _active, True
    try:
        yield
    finally:
        _active = before


def in_xnnpack_forms():
    """Whether the caller runs within `xnnpack_forms()`."""
    return _active


def has_xnnpack_forms(model):
    """Whether the Keras `model` (or layer) contains a layer that computes another form
    within `xnnpack_forms()` (its `has_xnnpack_form` is true)."""
    layers = model._flatten_layers()  # noqa: SLF001 (Keras' walk over nested layers)
    return any(getattr(layer, "has_xnnpack_form", False) for layer in layers)
