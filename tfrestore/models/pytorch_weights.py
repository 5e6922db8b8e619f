"""Importing official PyTorch `state_dict`s into the tfrestore networks.

Layers are named after the upstream module paths with dots replaced by underscores
(`model.10.conv_block.1` -> `model_10_conv_block_1`), so a key maps to a layer by name.
Layouts: conv `(out, in, kh, kw)` -> Keras `(kh, kw, in, out)`; transposed conv
`(in, out, kh, kw)` -> `(kh, kw, out, in)`; Linear `(out, in)` -> Dense `(in, out)`.
"""

import keras
import numpy as np

# BatchNorm parameters and buffers, PyTorch name -> Keras variable.
BATCH_NORM_VARIABLES = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
RUNNING_STATS = ("running_mean", "running_var")


def _variable(layer, kind):
    if isinstance(layer, keras.layers.BatchNormalization):
        return getattr(layer, BATCH_NORM_VARIABLES[kind])
    return layer.kernel if kind == "weight" else layer.bias


def _to_keras(layer, kind, array):
    if kind != "weight" or isinstance(layer, keras.layers.BatchNormalization):
        return array
    if isinstance(layer, keras.layers.Conv2DTranspose):
        return np.transpose(array, (2, 3, 1, 0))
    if isinstance(layer, keras.layers.Conv2D):
        return np.transpose(array, (2, 3, 1, 0))
    if isinstance(layer, keras.layers.Dense):
        return np.transpose(array)
    raise ValueError(f"no weight layout known for layer {layer.name} ({type(layer).__name__})")


def load_state_dict(model, state_dict, strict=True):
    """Copies a PyTorch `state_dict` (name -> array) into `model`'s layers of the same names.

    Args:
        model: a tfrestore network (e.g. `DeblurGANGenerator`) built with upstream layer names.
        state_dict: mapping of upstream keys to numpy arrays (or anything with `.numpy()`,
            e.g. `torch.load("latest_net_G.pth", map_location="cpu")`); a DataParallel
            `module.` prefix is ignored.
        strict: bool (default True), every weight of `model` must be set and every key used.

    Returns:
        The keys that were ignored: `num_batches_tracked`, and running statistics of layers
        that keep none (instance norm without affine parameters uses instance statistics; the
        released DeblurGAN weights still carry them, upstream issue #51).

    Raises:
        ValueError: naming the keys that match no layer, shapes that differ, or (strict)
            model weights that no key set.
    """
    layers = {layer.name: layer for layer in model._flatten_layers(include_self=False)}
    assigned, ignored, unknown = set(), [], []
    for key, value in state_dict.items():
        array = np.asarray(value.numpy() if hasattr(value, "numpy") else value, np.float32)
        # Files saved from a DataParallel wrapper prefix every key (EnlightenGAN's, issue #90).
        module, _, kind = key.removeprefix("module.").rpartition(".")
        layer = layers.get(module.replace(".", "_"))
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        if kind == "num_batches_tracked" or (kind in RUNNING_STATS and not is_batch_norm):
            ignored.append(key)
            continue
        if layer is None or kind not in ("weight", "bias", *RUNNING_STATS):
            unknown.append(key)
            continue
        variable = _variable(layer, kind)
        converted = _to_keras(layer, kind, array)
        if tuple(variable.shape) != converted.shape:
            raise ValueError(
                f"{key}: shape {array.shape} does not fit layer {layer.name} "
                f"{tuple(variable.shape)} (converted {converted.shape})"
            )
        variable.assign(converted)
        assigned.add(id(variable))
    if unknown:
        raise ValueError(f"keys that match no layer of {model.name}: {', '.join(unknown)}")
    missing = [v.path for v in model.weights if id(v) not in assigned]
    if strict and missing:
        raise ValueError(f"{model.name} weights not set by the state_dict: {', '.join(missing)}")
    return ignored
