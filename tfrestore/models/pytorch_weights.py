"""Importing official PyTorch `state_dict`s into the tfrestore networks.

Layers are named after the upstream module paths with dots replaced by underscores
(`model.10.conv_block.1` -> `model_10_conv_block_1`), so a key maps to a layer by name.
Layouts: conv `(out, in, kh, kw)` -> Keras `(kh, kw, in, out)`; transposed conv
`(in, out, kh, kw)` -> `(kh, kw, out, in)`; Linear `(out, in)` -> Dense `(in, out)`.
Affine instance norm `weight`/`bias` -> gamma/beta; spectral norm `weight_orig`/`weight_u` ->
the wrapped kernel and `vector_u`. A partial convolution's `X.input_conv.{weight,bias}` go to
the `PartialConv2D` named `X` (or `X_input_conv`); its frozen `X.mask_conv.weight` goes to that
layer's `mask_kernel` when it keeps one (`PartialConv2D(mask_kernel=True)`, MEDFE's upstream
layout) and is ignored otherwise.
"""

import keras
import numpy as np

from tfrestore.layers.normalization import InstanceNormalization
from tfrestore.layers.partial_conv import PartialConv2D

# BatchNorm parameters and buffers, PyTorch name -> Keras variable.
BATCH_NORM_VARIABLES = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
RUNNING_STATS = ("running_mean", "running_var")


# Spectral normalization (`torch.nn.utils.spectral_norm`) keeps the raw weight as
# `weight_orig` and the power-iteration vectors `weight_u`, `weight_v`; Keras'
# `SpectralNormalization` keeps the wrapped layer's kernel and `vector_u` [1, out] (no v).
SPECTRAL_NORM_KINDS = ("weight_orig", "weight_u")
LOADED_KINDS = ("weight", "bias", "mask_weight", *RUNNING_STATS, *SPECTRAL_NORM_KINDS)


def _variable(layer, kind):
    if kind == "mask_weight":  # PartialConv2D(mask_kernel=True)
        return layer.mask_weights
    if isinstance(layer, keras.layers.BatchNormalization):
        return getattr(layer, BATCH_NORM_VARIABLES[kind])
    if isinstance(layer, InstanceNormalization):
        return layer.gamma if kind == "weight" else layer.beta
    if isinstance(layer, keras.layers.SpectralNormalization):
        return layer.vector_u if kind == "weight_u" else _variable(layer.layer, kind)
    return layer.kernel if kind in ("weight", "weight_orig") else layer.bias


def _to_keras(layer, kind, array):
    if isinstance(layer, keras.layers.SpectralNormalization):
        if kind == "weight_u":
            return array[None, :]
        return _to_keras(layer.layer, "weight" if kind == "weight_orig" else kind, array)
    normalization = (keras.layers.BatchNormalization, InstanceNormalization)
    if kind not in ("weight", "mask_weight") or isinstance(layer, normalization):
        return array
    if isinstance(layer, keras.layers.Conv2DTranspose):
        return np.transpose(array, (2, 3, 1, 0))
    if isinstance(layer, (keras.layers.Conv2D, PartialConv2D)):
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
        The keys that were ignored: `num_batches_tracked`, running statistics of layers
        that keep none (instance norm without affine parameters uses instance statistics; the
        released DeblurGAN weights still carry them, upstream issue #51), partial
        convolutions' frozen `mask_conv.weight` where the layer keeps no mask kernel (MEDFE's
        paper variant), and spectral normalization's `weight_v` (Keras keeps only u).

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
        if layer is None and module.endswith((".input_conv", ".mask_conv")):
            # PyTorch PartialConv keeps its weights in children `input_conv` and `mask_conv`;
            # ours owns them (named after the parent module or after its `input_conv`).
            parent = module.rpartition(".")[0]
            for name in (parent, f"{parent}.input_conv"):
                candidate = layers.get(name.replace(".", "_"))
                layer = candidate if isinstance(candidate, PartialConv2D) else layer
            if module.endswith(".mask_conv") and kind == "weight":
                kind = "mask_weight" if layer is not None and layer.mask_kernel else "unused"
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        if kind in ("num_batches_tracked", "weight_v", "unused") or (
            kind in RUNNING_STATS and not is_batch_norm
        ):
            ignored.append(key)
            continue
        if layer is None or kind not in LOADED_KINDS:
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
