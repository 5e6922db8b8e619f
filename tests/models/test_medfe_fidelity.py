"""MEDFEGenerator against an independent numpy forward pass of upstream's PyTorch MEDFE
(KumapowerLIU/Rethinking-Inpainting-MEDFE: Encoder.py, PCconv.py, Selfpatch.py, Decoder.py), at
width 2, with the deviations MEDFEGenerator documents (8x8 max-pooled feature hole mask, partial
conv scaled by k*k*C/count, encoder features after the in-place LeakyReLU, any batch).

NHWC, float64, weights in PyTorch layouts straight from a random upstream-named state dict.

Upstream's own computation differs in three places: its feature hole mask marks no cell, its
partial convs count valid pixels under random signed `mask_conv` weights (what its init leaves
in released files) with a raw division, and its BASE sums both propagation terms into [h*w, c]
and then `.view(b, c, h, w)`s them, which mixes pixels and channels (for c > 1). The default
generator follows the paper; `upstream_layout=True` reproduces all three, checked against
`reference(..., upstream=True)`.
"""

import numpy as np
import pytest
from torch_reference import (
    instance_norm,
    random_state_dict,
    read_keys,
    reflect,
    torch_conv2d,
    torch_conv_transpose2d,
)

from tfrestore.models import MEDFEGenerator
from tfrestore.models.pytorch_weights import load_state_dict

pytestmark = pytest.mark.slow  # seconds each: numpy convolutions at 128x128, two generators

F = 2  # ngf; the keys file is for ngf=64, every width there is a multiple of 32 = 64 / F
SECTIONS = ("EN params", "DE params", "MEDFE(PCblock) params")


def tiny_state_dict(rng):
    keys = [k for s in SECTIONS for k in read_keys("medfe_reconstructed.txt", s)]
    keys = [(n, tuple(d // 32 if d % 32 == 0 else d for d in shape)) for n, shape in keys]
    keys = [(n, s) for n, s in keys if not n.startswith(("middle.1", "middle.2", "middle.3"))]
    return {k: v.astype(np.float64) for k, v in random_state_dict(keys, rng).items()}


def leaky(x):
    return np.where(x > 0, x, 0.2 * x)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def bilinear(x, scale):
    """F.interpolate(mode='bilinear', align_corners=False) to scale x the size."""

    def matrix(n):
        src = np.maximum((np.arange(n * scale) + 0.5) / scale - 0.5, 0)
        low = np.floor(src).astype(int)
        high = np.minimum(low + 1, n - 1)
        m = np.zeros((n * scale, n))
        np.add.at(m, (np.arange(n * scale), low), 1 - (src - low))
        np.add.at(m, (np.arange(n * scale), high), src - low)
        return m

    return np.einsum("ih,jw,bhwc->bijc", matrix(x.shape[1]), matrix(x.shape[2]), x)


def reference(sd, image, mask, upstream=False):
    """The forward pass of upstream's network with the paper's behaviour; `upstream` gives
    upstream's own: no feature hole (its thresholded mask average never marks one), partial
    convs counting under the state dict's signed `mask_conv` weights with a raw division, and
    BASE's `.view(b, c, h, w)` of [h*w, c]."""

    def conv(x, key, stride=1, padding=0):
        bias = sd.get(f"{key}.bias", 0.0)
        return torch_conv2d(x, sd[f"{key}.weight"], bias, stride, padding)

    def affine(x, key):  # nn.InstanceNorm2d(affine=True)
        return instance_norm(x) * sd[f"{key}.weight"] + sd[f"{key}.bias"]

    def conv_down(x, key, convs, last_activ=True):  # ConvDown: [conv, IN, LeakyReLU] * convs
        for i in range(convs):
            kernel = sd[f"{key}.model.{3 * i}.weight"].shape[-1]
            x = instance_norm(conv(x, f"{key}.model.{3 * i}", *((2, 1) if kernel == 4 else ())))
            x = leaky(x) if last_activ or i < convs - 1 else x
        return x

    def conv_up(x, key, scale):  # ConvUp: interpolate, 1x1 conv, IN, LeakyReLU
        return leaky(instance_norm(conv(bilinear(x, scale) if scale > 1 else x, f"{key}.conv")))

    # -- Encoder (in-place LeakyReLUs: y_1 .. y_5 are returned activated) --
    x = np.concatenate([image, 1 - mask, 1 - mask, 1 - mask], axis=-1)
    y = [conv(x, "Encoder_1.model.0", 2, 1)]
    for i in range(2, 7):
        y[-1] = leaky(y[-1])
        out = conv(y[-1], f"Encoder_{i}.model.1", 2, 1)
        y.append(affine(out, f"Encoder_{i}.model.2") if i < 6 else out)
    h = np.maximum(instance_norm(conv(reflect(y[-1], 1), "middle.0.conv_block.1")), 0)
    y[-1] = y[-1] + instance_norm(conv(reflect(h, 1), "middle.0.conv_block.5"))

    # -- PCconv --
    p = "pc_block"
    x1, x2, x3, x4, x5, x6 = (leaky(v) for v in y)
    texture = np.concatenate(
        [conv_down(x1, f"{p}.down_128", 2), conv_down(x2, f"{p}.down_64", 1),
         conv_down(x3, f"{p}.down_32", 1)], axis=-1)  # fmt: skip
    structure = np.concatenate(
        [conv_up(x4, f"{p}.up", 2), conv_up(x5, f"{p}.up", 4), conv_up(x6, f"{p}.up", 8)], -1
    )
    texture, structure = conv_down(texture, f"{p}.down", 1), conv_down(structure, f"{p}.down", 1)
    b, hh, ww, _ = texture.shape
    valid = 1 - mask.reshape(b, hh, 8, ww, 8).max(axis=(2, 4))[..., None]  # deviation
    if upstream:
        valid = np.ones_like(valid)

    def pcb_stack(x, k):  # 5 x PCBActiv(innorm): PartialConv, IN(affine), LeakyReLU
        m = np.repeat(valid, x.shape[-1], axis=-1)  # upstream's mask has C channels
        for i in range(5):
            key = f"{p}.cov_{k}.{i}"
            out = torch_conv2d(x * m, sd[f"{key}.conv.input_conv.weight"], 0, 1, k // 2)
            if upstream:
                count = torch_conv2d(m, sd[f"{key}.conv.mask_conv.weight"], 0, 1, k // 2)
                ratio = 1.0
            else:
                count = torch_conv2d(m, np.ones((m.shape[-1], m.shape[-1], k, k)), 0, 1, k // 2)
                ratio = k * k * m.shape[-1]
            holes = count == 0
            out = np.where(holes, 0, out * ratio / np.where(holes, 1, count))
            x, m = leaky(affine(out, f"{key}.bn")), 1.0 - holes
        return x

    filled = [
        conv_down(np.concatenate([pcb_stack(v, k) for k in (3, 5, 7)], -1), f"{p}.down", 1)
        for v in (texture, structure)
    ]
    head = [np.tanh(conv(v, "loss.0.down_model.0")) for v in filled]
    fused = conv_down(np.concatenate(filled[::-1], -1), f"{p}.fuse", 1)

    # BASE: SE, then the Gaussian and 3x3 similarity propagations (Selfpatch), per example.
    se = np.maximum(conv(fused.mean(axis=(1, 2), keepdims=True), f"{p}.base.model.0.fc.0"), 0)
    x = fused * sigmoid(conv(se, f"{p}.base.model.0.fc.2"))
    c = x.shape[-1]
    rows, cols = np.meshgrid(np.arange(hh), np.arange(ww), indexing="ij")
    rows, cols = rows.reshape(-1, 1), cols.reshape(-1, 1)
    gauss = np.exp(-((rows - rows.T) ** 2 + (cols - cols.T) ** 2) / (2 * 1.5**2))
    gauss /= gauss.sum(axis=1, keepdims=True)  # [h*w, h*w], as util.gussin
    flat = x.reshape(b, hh * ww, c)
    spatial = gauss @ flat  # [b, h*w, c]
    s = sigmoid(x)
    pad = ((0, 0), (1, 1), (1, 1), (0, 0))
    s_pad, x_pad = np.pad(s, pad), np.pad(x, pad)  # zeros after the sigmoid, as upstream
    shifts = [(di, dj) for di in range(3) for dj in range(3)]
    scores = np.stack([(s_pad[:, i : i + hh, j : j + ww] * s).mean(-1) for i, j in shifts], -1)
    attention = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    similar = sum(attention[..., n, None] * x_pad[:, di : di + hh, dj : dj + ww]
                  for n, (di, dj) in enumerate(shifts)).reshape(b, hh * ww, c)  # fmt: skip

    def to_map(v):  # [b, h*w, c] -> NHWC; upstream: .view(b, c, h, w) of the [h*w, c] sums
        if upstream:
            return v.reshape(b, c, hh, ww).transpose(0, 2, 3, 1)
        return v.reshape(b, hh, ww, c)

    x = np.concatenate([to_map(spatial), to_map(similar)], -1)
    x = leaky(instance_norm(conv(x, f"{p}.base.down.0")))
    skips = [conv_up(x, f"{p}.up_128", 4), conv_up(x, f"{p}.up_64", 2), conv_up(x, f"{p}.up_32", 1),
             conv_down(x, f"{p}.down_16", 1, False), conv_down(x, f"{p}.down_8", 2, False),
             conv_down(x, f"{p}.down_4", 3, False)]  # fmt: skip
    skips = [skip + v for skip, v in zip(skips, y)]

    # -- Decoder --
    x = skips[5]
    for i in range(1, 7):
        if i > 1:
            x = np.concatenate([x, skips[6 - i]], -1)
        key = f"Decoder_{i}.model.1"
        x = np.maximum(x, 0)  # in-place ReLU: it changes only the cat / innermost skip
        x = torch_conv_transpose2d(x, sd[f"{key}.weight"], sd[f"{key}.bias"], 2, 1, 0)
        x = affine(x, f"Decoder_{i}.model.2") if i < 6 else np.tanh(x)
    return [x, *head]


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    state = tiny_state_dict(rng)
    generator = MEDFEGenerator(filters=F, num_blocks=1, dilation=1)
    ignored = load_state_dict(generator, state)
    assert ignored and all(key.endswith("mask_conv.weight") for key in ignored)
    mask = np.zeros((1, 128, 128, 1))
    mask[:, 40:90, 36:86] = 1.0
    image = rng.uniform(-1, 1, (1, 128, 128, 3)) * (1 - mask)
    outputs = generator([image.astype("float32"), mask.astype("float32")])
    return state, image, mask, [np.asarray(o, np.float64) for o in outputs]


def test_generator_matches_numpy_upstream(case):
    state, image, mask, actual = case
    expected = reference(state, image, mask)
    for name, a, e in zip(("image", "texture", "structure"), actual, expected):
        assert a.shape == e.shape, name
        np.testing.assert_allclose(a, e, atol=1e-4, err_msg=name)


def test_upstream_layout_matches_upstream_computation(case):
    state, image, mask, actual = case
    state = dict(state)
    for key in [k for k in state if k.endswith("mask_conv.weight")]:
        # upstream's init redraws the mask weights from N(0, 0.02); released files keep them
        state[key] = np.random.default_rng(1).normal(0, 0.02, state[key].shape)
    expected = reference(state, image, mask, upstream=True)
    assert np.abs(actual[0] - expected[0]).max() > 0.1  # the paper's computation differs...
    generator = MEDFEGenerator(filters=F, num_blocks=1, dilation=1, upstream_layout=True)
    assert load_state_dict(generator, state) == []  # the mask weights are used
    outputs = generator([image.astype("float32"), mask.astype("float32")])
    for name, a, e in zip(("image", "texture", "structure"), outputs, expected):
        np.testing.assert_allclose(np.asarray(a), e, atol=1e-4, err_msg=name)  # ...this not
