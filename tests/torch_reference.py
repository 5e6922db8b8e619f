"""PyTorch layer semantics in numpy, and the upstream key files, for fidelity tests."""

import pathlib

import numpy as np

# Upstream parameter names and shapes, copied into the repository (each file's header names
# the upstream repository and commit).
KEYS = pathlib.Path(__file__).resolve().parent / "reference" / "keys"


def torch_conv2d(x, weight, bias, stride, padding):
    """PyTorch Conv2d semantics in numpy: x NHWC, weight (out, in, kh, kw), zero padding."""
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    out_c, _, kh, kw = weight.shape
    n, h, w, _ = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, oh, ow, out_c), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i : i + stride * oh : stride, j : j + stride * ow : stride, :]
            out += patch @ weight[:, :, i, j].T
    return out + bias


def torch_conv_transpose2d(x, weight, bias, stride, padding, output_padding):
    """PyTorch ConvTranspose2d semantics in numpy: weight (in, out, kh, kw)."""
    n, h, w, _ = x.shape
    _, out_c, kh, kw = weight.shape
    full = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, out_c), np.float64)
    for i in range(kh):
        for j in range(kw):
            full[:, i : i + stride * h : stride, j : j + stride * w : stride, :] += (
                x @ weight[:, :, i, j]
            )
    size_h = (h - 1) * stride - 2 * padding + kh + output_padding
    size_w = (w - 1) * stride - 2 * padding + kw + output_padding
    full = np.pad(full, ((0, 0), (0, output_padding), (0, output_padding), (0, 0)))
    return full[:, padding : padding + size_h, padding : padding + size_w, :] + bias


def instance_norm(x):
    return (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(
        x.var(axis=(1, 2), keepdims=True) + 1e-5
    )


def reflect(x, p):
    return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")


def random_state_dict(keys_section, rng):
    """Random arrays for the upstream keys of one section of a keys file."""
    return {name: rng.normal(0, 0.05, shape).astype("float32") for name, shape in keys_section}


def read_keys(filename, section_title):
    """[(key, shape)] of the section of `tests/reference/keys/<filename>` with that title.

    Sections start with `# <title>` or `===== <title>`; lines that are not `key (shape)` (notes
    such as output shapes, and the file's `## ` header) are skipped.
    """
    headers = ("# ", "===== ")
    lines = (KEYS / filename).read_text().splitlines()
    titles = tuple(header + section_title for header in headers)
    start = next(i for i, line in enumerate(lines) if line.startswith(titles))
    keys = []
    for line in lines[start + 1 :]:
        if line.startswith(("#", *headers)):
            break
        name, _, shape = line.partition(" ")
        if shape.startswith("(") and shape.endswith(")"):
            keys.append((name, tuple(int(s) for s in shape.strip("()").split(",") if s.strip())))
    return keys
