"""`from_pytorch` / `convert_pytorch` on tiny upstream-layout checkpoints (tests/fixtures/pytorch,
written by make_convert_fixtures.py with torch; these tests run without it), option inference
on the upstream key lists, and the one-line errors of files that fit no architecture."""

import pathlib

import keras
import numpy as np
import pytest
from torch_reference import read_keys

import tfrestore.models  # noqa: F401  (registers the classes safe-mode loading needs)
from tfrestore.convert import (
    CheckpointError,
    convert_pytorch,
    convert_state_dict,
    from_pytorch,
    state_dict,
    strip_prefix,
)
from tfrestore.convert.pytorch import OPTIONS

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "pytorch"
EXPECTED = np.load(FIXTURES / "convert_expected.npz")
MEDFE_FILES = [FIXTURES / f"medfe_{name}" for name in ("EN.pkl", "DE.pkl", "MEDEF.pkl")]

CASES = {
    # file: (method, options the file must give, kinds of the keys skipped)
    "deblur_gan_wild.pth": (
        "deblur_gan",
        {"filters": 4, "num_blocks": 2, "block_convs": 2},
        {"running_mean", "running_var"},
    ),
    "deblur_gan_head.pth": (
        "deblur_gan",
        {"filters": 4, "num_blocks": 2, "block_convs": 1},
        {"running_mean", "running_var", "num_batches_tracked"},
    ),
    "enlighten_gan.pth": ("enlighten_gan", {"filters": 2}, {"num_batches_tracked"}),
    "attentive_gan_gen.pkl": ("attentive_gan", {"filters": 2}, set()),
    "context_encoder.pth": (
        "context_encoder",
        {"filters": 4, "bottleneck_channels": 6},
        set(),
    ),
}

# PyTorch kind -> Keras variable names it may go to.
VARIABLES = {
    "weight": ("kernel", "gamma"),
    "bias": ("bias", "beta"),
    "running_mean": ("moving_mean",),
    "running_var": ("moving_variance",),
    "mask_weight": ("mask_kernel",),
}


def keras_array(generator, key):
    """The Keras variable a PyTorch key should have landed in, in PyTorch layout."""
    module, _, kind = key.rpartition(".")
    if module.endswith(".mask_conv"):  # PyTorch PartialConv's child; our layer holds it
        module, kind = module.replace(".mask_conv", ".input_conv"), "mask_weight"
    layers = {layer.name: layer for layer in generator._flatten_layers(include_self=False)}
    layer = layers[module.replace(".", "_")]  # nested layers too (MEDFE's squeeze-excitation)
    (variable,) = [v for v in layer.weights if v.name in VARIABLES[kind]]
    array = variable.numpy()
    # conv (kh, kw, in, out) -> (out, in, kh, kw); transposed conv (kh, kw, out, in) ->
    # (in, out, kh, kw): the same permutation.
    return np.transpose(array, (3, 2, 0, 1)) if array.ndim == 4 else array


@pytest.mark.parametrize("name", CASES)
def test_every_weight_lands_and_the_output_is_the_recorded_one(name):
    method, options, skipped_kinds = CASES[name]
    conversion = convert_pytorch(method, FIXTURES / name)
    assert conversion.options == options
    generator = conversion.model.generator
    weights = strip_prefix(state_dict(FIXTURES / name))
    for key, array in weights.items():
        if key in conversion.skipped:
            continue
        np.testing.assert_array_equal(keras_array(generator, key), array, err_msg=key)
    assert {key.rpartition(".")[2] for key in conversion.skipped} == skipped_kinds
    assert conversion.parameters == sum(int(np.prod(w.shape)) for w in generator.trainable_weights)

    stem = name.split(".")[0]
    output = generator(EXPECTED[f"{stem}/input"], training=False)
    output = output[-1] if isinstance(output, (list, tuple)) else output
    np.testing.assert_allclose(np.asarray(output), EXPECTED[f"{stem}/output"], atol=1e-5)


def test_deblur_gan_wild_running_statistics_are_skipped_and_summarized():
    conversion = convert_pytorch("deblur_gan", FIXTURES / "deblur_gan_wild.pth")
    # 5 instance norms outside the blocks (model.2, 5, 8, 13, 16), 2 per block, 2 blocks.
    assert len(conversion.skipped) == 2 * 9
    assert "model.10.conv_block.7.running_var" in conversion.skipped
    summary = conversion.summary()
    assert "method: deblur_gan" in summary
    assert "filters=4, num_blocks=2" in summary
    assert f"{conversion.parameters:,}" in summary
    assert "keys skipped (18, unused by the network): running_mean/running_var of 9" in summary


def test_from_pytorch_returns_the_wrapper_model():
    model = from_pytorch("context_encoder", FIXTURES / "context_encoder.pth")
    assert isinstance(model, tfrestore.models.ContextEncoder)
    assert model.generator.get_layer("main_14").filters == 6


@pytest.mark.parametrize("name", [*CASES, "medfe"])
def test_keras_file_round_trip_in_safe_mode(name, tmp_path):
    method, paths = (name, MEDFE_FILES) if name == "medfe" else (CASES[name][0], [FIXTURES / name])
    model = from_pytorch(method, *paths)
    path = str(tmp_path / "converted.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    for saved, read in zip(model.generator.weights, loaded.generator.weights, strict=True):
        np.testing.assert_array_equal(read.numpy(), saved.numpy(), err_msg=saved.path)


def shapes_only(filename, section):
    """The keys of an upstream key list with zero-stride arrays of their shapes (no memory)."""
    return {
        key: np.broadcast_to(np.float32(0), shape) for key, shape in read_keys(filename, section)
    }


@pytest.mark.parametrize(
    ("method", "filename", "section", "options"),
    [
        (
            "deblur_gan",
            "deblurgan_v1.txt",
            "networks_a6f4ad0 G",
            {"filters": 64, "num_blocks": 9, "block_convs": 2},
        ),
        ("enlighten_gan", "enlightengan.txt", "Unet_resize_conv", {"filters": 32}),
        (
            "context_encoder",
            "context_encoder_pytorch.txt",
            "_netG",
            {"filters": 64, "bottleneck_channels": 4000},
        ),
    ],
)
def test_options_of_the_released_architectures(method, filename, section, options):
    weights = shapes_only(filename, section)
    if method == "enlighten_gan":
        weights = strip_prefix({f"module.{key}": value for key, value in weights.items()})
    assert OPTIONS[method](weights, "released.pth") == options


def test_deblur_gan_head_architecture_builds_one_conv_blocks():
    # The file committed upstream (HEAD, 6,067,459 parameters): every key lands.
    weights = shapes_only("deblurgan_v1.txt", "networks_head G")
    conversion = convert_state_dict("deblur_gan", weights, name="latest_net_G.pth")
    assert conversion.options == {"filters": 64, "num_blocks": 9, "block_convs": 1}
    assert conversion.parameters == 6_067_459
    assert {key.rpartition(".")[2] for key in conversion.skipped} == {
        "running_mean",
        "running_var",
        "num_batches_tracked",
    }


def tiny_deblur_weights():
    return strip_prefix(state_dict(FIXTURES / "deblur_gan_wild.pth"))


@pytest.mark.parametrize(
    ("method", "edit", "expected"),
    [
        # the first conv is missing: the key and the shape it should have
        ("deblur_gan", lambda w: w.pop("model.1.weight"), "no key 'model.1.weight'"),
        # an RGBA first conv
        (
            "deblur_gan",
            lambda w: w.update({"model.1.weight": np.zeros((4, 4, 7, 7), "float32")}),
            "model.1.weight has shape (4, 4, 7, 7), expected (filters, 3, 7, 7)",
        ),
        # a later conv of the wrong width: the key, its shape and the layer's
        (
            "deblur_gan",
            lambda w: w.update({"model.4.weight": np.zeros((9, 4, 3, 3), "float32")}),
            "model.4.weight: shape (9, 4, 3, 3) does not fit layer model_4",
        ),
        # a key no layer has
        (
            "deblur_gan",
            lambda w: w.update({"model.99.weight": np.zeros(3, "float32")}),
            "keys that match no layer of generator: model.99.weight",
        ),
        # a block's second conv missing: the weights no key set
        (
            "deblur_gan",
            lambda w: w.pop("model.11.conv_block.6.bias"),
            "weights not set by the state_dict: model_11_conv_block_6/bias",
        ),
        # another method's file
        ("enlighten_gan", lambda w: None, "no key 'conv1_1.weight'"),
        ("attentive_gan", lambda w: None, "no key 'det_conv0.0.weight'"),
        ("context_encoder", lambda w: None, "no key 'main.0.weight'"),
    ],
)
def test_files_that_fit_no_architecture_give_one_line(method, edit, expected):
    weights = tiny_deblur_weights()
    edit(weights)
    with pytest.raises(CheckpointError) as error:
        convert_state_dict(method, weights, name="x.pth")
    message = str(error.value)
    assert "\n" not in message and message.startswith("x.pth: ")
    assert expected in message


def test_context_encoder_bottleneck_of_the_wrong_depth():
    weights = strip_prefix(state_dict(FIXTURES / "context_encoder.pth"))
    weights["main.14.weight"] = np.zeros((6, 16, 4, 4), "float32")
    with pytest.raises(CheckpointError, match=r"main.14.weight has shape \(6, 16, 4, 4\), "):
        convert_state_dict("context_encoder", weights)


def test_unknown_method_and_file_count():
    with pytest.raises(CheckpointError, match="unknown method 'deblurgan'.*valid: deblur_gan"):
        convert_state_dict("deblurgan", {})
    with pytest.raises(CheckpointError, match="deblur_gan takes one checkpoint file, got 2"):
        convert_pytorch("deblur_gan", "a.pth", "b.pth")


def test_discriminator_checkpoint_loads_too():
    conversion = convert_pytorch(
        "deblur_gan",
        FIXTURES / "deblur_gan_wild.pth",
        discriminator=FIXTURES / "deblur_gan_wild_D.pth",
    )
    critic = conversion.model.discriminator
    for key, array in state_dict(FIXTURES / "deblur_gan_wild_D.pth").items():
        np.testing.assert_array_equal(keras_array(critic, key), array, err_msg=key)


def test_discriminator_checkpoint_of_another_width_is_one_line():
    with pytest.raises(CheckpointError) as error:
        convert_pytorch(
            "deblur_gan",
            FIXTURES / "deblur_gan_wild.pth",
            discriminator=FIXTURES / "context_encoder.pth",
        )
    message = str(error.value)
    assert "\n" not in message
    assert "context_encoder.pth: does not fit the deblur_gan discriminator" in message


def test_medfe_three_files_make_one_generator():
    conversion = convert_pytorch("medfe", *reversed(MEDFE_FILES))  # any order
    assert conversion.options == {"filters": 2, "num_blocks": 1, "upstream_layout": True}
    assert conversion.skipped == []  # the partial convs' mask weights are used too
    generator = conversion.model.generator
    mask_kernels = 0
    for path in MEDFE_FILES:
        for key, array in state_dict(path).items():
            np.testing.assert_array_equal(keras_array(generator, key), array, err_msg=key)
            mask_kernels += key.endswith("mask_conv.weight")
    assert mask_kernels == 15
    image, mask = (
        np.repeat(np.repeat(EXPECTED[f"medfe/{k}"], 4, 1), 4, 2) for k in ("input", "mask")
    )
    output = np.asarray(generator([image, mask], training=False)[0])
    # The partial convolutions' renormalization magnifies float32 rounding, which depends on
    # the CPU kernels: within 1e-4 with oneDNN (AVX-512), 1.01e-4 at one pixel with Eigen (AVX2).
    np.testing.assert_allclose(output[:, ::4, ::4], EXPECTED["medfe/output"], atol=2e-4)


def test_medfe_needs_its_three_files():
    with pytest.raises(CheckpointError, match="medfe takes 3 checkpoint files, got 1"):
        convert_pytorch("medfe", MEDFE_FILES[0])
    with pytest.raises(CheckpointError, match="medfe_MEDEF.pkl: key pc_block.* also in an earlier"):
        convert_pytorch("medfe", MEDFE_FILES[0], MEDFE_FILES[2], MEDFE_FILES[2])
    other = FIXTURES / "context_encoder.pth"
    with pytest.raises(CheckpointError, match="no key 'Decoder_1.model.1.weight'"):
        convert_pytorch("medfe", MEDFE_FILES[0], MEDFE_FILES[2], other)


def test_float16_weights_convert_to_float32():
    weights = {key: array.astype("float16") for key, array in tiny_deblur_weights().items()}
    generator = convert_state_dict("deblur_gan", weights).model.generator
    kernel = generator.get_layer("model_4").kernel
    assert kernel.dtype == "float32"
    expected = np.transpose(weights["model.4.weight"].astype("float32"), (2, 3, 1, 0))
    np.testing.assert_array_equal(kernel.numpy(), expected)
