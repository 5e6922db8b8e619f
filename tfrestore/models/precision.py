"""Mixed precision: the Keras dtype policies tfrestore trains under, and float32 copies.

A network takes the global Keras dtype policy when it is built, so a model is trained in
mixed precision by building it under the policy (`dtype_policy`):

    >>> with dtype_policy("mixed_bfloat16"):
    ...     model = tfrestore.models.get("deblur_gan")
    >>> model.compile()  # mixed_float16 networks get dynamic loss scaling here

Under `mixed_float16` and `mixed_bfloat16` the convolutions compute in 16 bits while variables
stay float32. What is sensitive to range or rounding stays float32 in every model: the wrapper
itself (its inputs and outputs are float32 [0, 1] images), each generator's output layers,
normalization statistics, the softmax of MEDFE's attention, the loss networks (VGG) and every
loss term, and the gradient penalty's norm. float16 also needs loss scaling (its range ends at
65504 and its normal numbers at 6e-5); bfloat16 has float32's range and needs none.

Exports are float32 whatever the policy a model was trained under: `float32_copy` rebuilds it
with float32 layers and the same weights.
"""

import contextlib

import keras

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def check_policy(name, where="mixed_precision"):
    """Returns `name` if it is one of `POLICIES`, else raises ValueError naming `where`."""
    if name not in POLICIES:
        raise ValueError(f"{where} must be one of {', '.join(POLICIES)}, got {name!r}")
    return name


@contextlib.contextmanager
def dtype_policy(name):
    """Sets the global Keras dtype policy to `name` (one of `POLICIES`) for the block, then
    restores the previous one. Networks built inside keep the policy after the block."""
    check_policy(name, "dtype policy")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def compute_dtypes(model):
    """The set of compute dtypes of a model's layers (its own and every nested one's)."""
    layers = [model, *model._flatten_layers(include_self=False)]
    return {layer.compute_dtype for layer in layers}


def float32_copy(model):
    """`model` itself if every layer computes in float32, else a copy built from its config
    under the float32 policy, holding the same weights (variables are float32 under every
    policy, so they copy exactly)."""
    if compute_dtypes(model) <= {"float32"}:
        return model
    with dtype_policy("float32"):
        copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy
