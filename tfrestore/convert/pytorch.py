"""The official PyTorch checkpoints of the upstream methods as tfrestore models.

`from_pytorch("deblur_gan", "latest_net_G.pth")` reads the file without torch
(`load_checkpoint`), reads the architecture options from its keys and shapes (width from the
first conv, residual blocks from the keys, ...), builds the wrapper model with them and copies
the weights into its `.generator` by name (`tfrestore.models.pytorch_weights`).
`convert_pytorch` does the same and returns a `Conversion`, whose `summary()` is what
`tfrestore convert` prints.
"""

import dataclasses

import numpy as np

from tfrestore.convert.checkpoint import CheckpointError, state_dict, strip_prefix


@dataclasses.dataclass
class Conversion:
    """A converted checkpoint: the model and what a user should know about it.

    Attributes:
        method: str, the model name (`tfrestore.models.get`).
        model: the wrapper model; its `.generator` holds the checkpoint's weights.
        options: dict, the architecture options read from the file.
        skipped: list of str, checkpoint keys that no layer uses (running statistics of
            instance norm without them, `num_batches_tracked`, ...).
        parameters: int, the generator's parameter count.
    """

    method: str
    model: object
    options: dict
    skipped: list
    parameters: int

    def summary(self):
        """Lines for a person: method, options, parameter count and keys skipped."""
        options = ", ".join(f"{name}={value!r}" for name, value in self.options.items())
        lines = [
            f"method: {self.method}",
            f"options read from the checkpoint: {options}",
            f"generator parameters: {self.parameters:,}",
        ]
        if self.method in NOTES:
            lines.append(f"note: {NOTES[self.method]}")
        if self.skipped:
            kinds = dict.fromkeys(key.rpartition(".")[2] for key in self.skipped)
            modules = list(dict.fromkeys(key.rpartition(".")[0] for key in self.skipped))
            shown = modules if len(modules) <= 4 else [*modules[:3], "...", modules[-1]]
            lines.append(
                f"keys skipped ({len(self.skipped)}, unused by the network): "
                f"{'/'.join(kinds)} of {len(modules)} layers ({', '.join(shown)})"
            )
        else:
            lines.append("keys skipped: none")
        return "\n".join(lines)


def _shape(weights, key, path, what, expected):
    """The shape of `weights[key]`, or a one-line error saying what the key should be."""
    if key not in weights:
        raise CheckpointError(f"{path}: no key {key!r} ({what}, shape {expected}) in the file")
    return tuple(weights[key].shape)


def _conv_width(weights, key, path, what, in_channels, kernel_size):
    """The output channels of the conv `key`, checked to be (out, in_channels, k, k)."""
    expected = f"(filters, {in_channels}, {kernel_size}, {kernel_size})"
    shape = _shape(weights, key, path, what, expected)
    if len(shape) != 4 or shape[1:] != (in_channels, kernel_size, kernel_size):
        raise CheckpointError(f"{path}: {key} has shape {shape}, expected {expected} ({what})")
    return shape[0]


def _deblur_gan_options(weights, path):
    filters = _conv_width(weights, "model.1.weight", path, "DeblurGAN's first conv", 3, 7)
    num_blocks = 0
    while f"model.{10 + num_blocks}.conv_block.1.weight" in weights:
        num_blocks += 1
    block = "the first residual block's conv"
    _shape(weights, "model.10.conv_block.1.weight", path, block, "(4F, 4F, 3, 3)")
    # Upstream HEAD (2499a87): `conv_block += [...] if ... else []` binds wrongly, so each
    # ResnetBlock keeps one conv (the 6,067,459-parameter file committed upstream).
    block_convs = 2 if "model.10.conv_block.6.weight" in weights else 1
    return {"filters": filters, "num_blocks": num_blocks, "block_convs": block_convs}


def _enlighten_gan_options(weights, path):
    what = "EnlightenGAN's first conv, RGB + gray attention"
    return {"filters": _conv_width(weights, "conv1_1.weight", path, what, 4, 3)}


def _attentive_gan_options(weights, path):
    what = "AttentiveGAN's first conv, RGB + attention"
    return {"filters": _conv_width(weights, "det_conv0.0.weight", path, what, 4, 3)}


def _context_encoder_options(weights, path):
    filters = _conv_width(weights, "main.0.weight", path, "Context Encoder's first conv", 3, 4)
    what = "the bottleneck conv, (bottleneck_channels, 8 filters, 4, 4)"
    bottleneck = _conv_width(weights, "main.14.weight", path, what, 8 * filters, 4)
    return {"filters": filters, "bottleneck_channels": bottleneck}


def _medfe_options(weights, path):
    what = "MEDFE's first conv (EN.pkl), image + valid-pixel map"
    filters = _conv_width(weights, "Encoder_1.model.0.weight", path, what, 6, 4)
    num_blocks = 0
    while f"middle.{num_blocks}.conv_block.1.weight" in weights:
        num_blocks += 1
    _shape(
        weights,
        "middle.0.conv_block.1.weight",
        path,
        "EN.pkl's first residual block",
        "(8F, 8F, 3, 3)",
    )
    _shape(
        weights,
        "Decoder_1.model.1.weight",
        path,
        "the decoder's first conv, DE.pkl",
        "(8F, 8F, 4, 4)",
    )
    _shape(
        weights, "pc_block.fuse.model.0.weight", path, "MEDEF.pkl's fusion conv", "(8F, 8F, 1, 1)"
    )
    # The dilation of the residual blocks (2 in the released code, 5 later) leaves no trace
    # in the weights; 2 is what runs at 256x256.
    return {"filters": filters, "num_blocks": num_blocks, "upstream_layout": True}


# Method -> reads the architecture options from a state dict (names without `module.`).
# Files saved from DataParallel (EnlightenGAN's) have the prefix; it is removed for all.
OPTIONS = {
    "deblur_gan": _deblur_gan_options,
    "enlighten_gan": _enlighten_gan_options,
    "attentive_gan": _attentive_gan_options,
    "context_encoder": _context_encoder_options,
    "medfe": _medfe_options,
}

# The first conv of each method's generator: which method a file belongs to.
FIRST_KEYS = {
    "deblur_gan": "model.1.weight",
    "enlighten_gan": "conv1_1.weight",
    "attentive_gan": "det_conv0.0.weight",
    "context_encoder": "main.0.weight",
    "medfe": "Encoder_1.model.0.weight",
}

# Checkpoint files per method (MEDFE saves its encoder, decoder and feature-equalization
# block separately: EN.pkl, DE.pkl, MEDEF.pkl); the others take one.
FILES = {"medfe": 3}

# What a user must know about a method's conversion, printed in the summary.
NOTES = {
    "medfe": "built with upstream_layout=True: the official code's computation (the partial "
    "convolutions count valid pixels under the file's mask_conv weights, no hole at 1/8 "
    "scale, BASE's .view), which the released weights were trained with",
}


def _check_method(method):
    if method not in OPTIONS:
        valid = ", ".join(OPTIONS)
        raise CheckpointError(f"unknown method {method!r} for conversion; valid: {valid}")


def _short(message, limit=3):
    """`load_state_dict`'s message with its list of names cut to `limit` (one line)."""
    head, sep, names = message.partition(": ")
    names = names.split(", ")
    if not sep or len(names) <= limit or " shape " in message:
        return message
    return f"{head}: {', '.join(names[:limit])}, ... ({len(names)} in all)"


def _load(network, weights, path, what):
    from tfrestore.models.pytorch_weights import load_state_dict

    try:
        return load_state_dict(network, weights)
    except ValueError as error:
        raise CheckpointError(f"{path}: does not fit the {what}: {_short(str(error))}") from None


def convert_pytorch(method, *paths, discriminator=None):
    """Builds the tfrestore model of a PyTorch checkpoint, with what it read and skipped.

    Args:
        method: str, one of `OPTIONS` ("deblur_gan", "enlighten_gan", "attentive_gan",
            "context_encoder", "medfe").
        *paths: the generator checkpoint (one file; MEDFE's three, EN.pkl, DE.pkl and
            MEDEF.pkl, in any order), in any format `load_checkpoint` reads: a plain state
            dict or one wrapped as `{"epoch": n, "state_dict": ...}`, with or without
            DataParallel's `module.`.
        discriminator: optional path of the matching discriminator checkpoint, loaded into
            `model.discriminator` so training can continue from the authors' pair.

    Returns:
        A `Conversion` (model, options, skipped keys, parameter count).

    Raises:
        CheckpointError (a ValueError): an unknown method, a wrong number of files, a file
            that is not a checkpoint, or one that fits no architecture of the method (the
            line names the key or shape, expected vs found).

    Example:
        >>> conversion = convert_pytorch("context_encoder", "netG_streetview.pth")
        >>> conversion.options
        {'filters': 64, 'bottleneck_channels': 4000}
    """
    _check_method(method)
    files = FILES.get(method, 1)
    if len(paths) != files:
        what = "one checkpoint file" if files == 1 else f"{files} checkpoint files"
        raise CheckpointError(f"{method} takes {what}, got {len(paths)}")
    weights = {}
    for path in paths:
        for key, value in strip_prefix(state_dict(path)).items():
            if key in weights:
                raise CheckpointError(f"{path}: key {key} is also in an earlier file")
            weights[key] = value
    name = " + ".join(str(path) for path in paths)
    conversion = convert_state_dict(method, weights, name=name)
    if discriminator is not None:
        critic = strip_prefix(state_dict(discriminator))
        what = f"{method} discriminator"
        conversion.skipped += _load(conversion.model.discriminator, critic, discriminator, what)
    return conversion


def convert_state_dict(method, weights, name="state dict"):
    """`convert_pytorch` for weights already read: a dict of upstream key -> array.

    Args:
        method: str, one of `OPTIONS`.
        weights: dict of upstream key (with or without `module.`) -> numpy array.
        name: str, how error messages name the weights (default "state dict").

    Returns:
        A `Conversion`.

    Raises:
        CheckpointError: an unknown method, or weights that fit no architecture of it.
    """
    import tfrestore.models

    _check_method(method)
    weights = strip_prefix(weights)
    try:
        options = OPTIONS[method](weights, name)
    except CheckpointError as error:
        if FIRST_KEYS[method] in weights:
            raise
        other = [m for m, key in FIRST_KEYS.items() if key in weights]
        if not other:
            raise
        raise CheckpointError(f"{error}; it looks like a {other[0]} checkpoint") from None
    model = tfrestore.models.get(method, **options)
    skipped = _load(model.generator, weights, name, f"{method} generator {options}")
    parameters = int(sum(np.prod(w.shape) for w in model.generator.trainable_weights))
    return Conversion(method, model, options, skipped, parameters)


def from_pytorch(method, *paths, discriminator=None):
    """The tfrestore model of an official PyTorch checkpoint, options read from the file.

    No torch needed and no code from the file is run (`load_checkpoint`). The architecture
    comes from the file: width from the first conv, DeblurGAN's residual blocks from its
    keys, the Context Encoder's bottleneck channels from its bottleneck conv. Running
    statistics the network does not use (the DeblurGAN-WILD file's instance-norm statistics)
    are skipped; `convert_pytorch` lists them. DeblurGAN's HEAD-architecture file (one conv
    per residual block, committed upstream) gives `block_convs=1`.

    Args:
        method: str, "deblur_gan", "enlighten_gan", "attentive_gan", "context_encoder" or
            "medfe" (built with `upstream_layout=True`, which computes what the official
            code computes with these weights).
        *paths: the generator checkpoint file (MEDFE: EN.pkl, DE.pkl, MEDEF.pkl).
        discriminator: optional path of the discriminator checkpoint (default None).

    Returns:
        The wrapper model (e.g. `DeblurGAN`), not compiled; `.generator` holds the weights.

    Raises:
        CheckpointError: see `convert_pytorch`.

    Example:
        >>> model = from_pytorch("deblur_gan", "latest_net_G.pth")
        >>> model.generator.filters, model.generator.num_blocks
        (64, 9)
    """
    return convert_pytorch(method, *paths, discriminator=discriminator).model
