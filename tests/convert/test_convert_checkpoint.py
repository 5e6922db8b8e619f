"""The PyTorch checkpoint reader: fixtures written by torch (tests/fixtures/pytorch, expected
arrays beside them as .npz), refused globals, damaged and foreign files. Runs without torch."""

import argparse
import collections
import io
import pathlib
import pickle
import struct
import zipfile

import numpy as np
import pytest

from tfrestore.convert import CheckpointError, load_checkpoint, state_dict, strip_prefix

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "pytorch"
CHECKPOINTS = [
    "tensors.pth",
    "tensors_legacy.pth",
    "training.pth",
    "training_legacy.pth",
    "pytorch03.pth",
    "plain_pickle.pkl",
]


def arrays(value, path=()):
    """{'/'-joined path: array} of the arrays in a loaded checkpoint (the .npz layout)."""
    if isinstance(value, np.ndarray):
        return {"/".join(path): value}
    if isinstance(value, argparse.Namespace):
        value = vars(value)
    items = value.items() if isinstance(value, dict) else ()
    items = enumerate(value) if isinstance(value, (list, tuple)) else items
    return {k: v for key, item in items for k, v in arrays(item, (*path, str(key))).items()}


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_fixture_arrays_equal_what_torch_saved(name):
    loaded = arrays(load_checkpoint(FIXTURES / name))
    expected = np.load(FIXTURES / name.replace(".pth", ".npz").replace(".pkl", ".npz"))
    assert sorted(loaded) == sorted(expected.files)
    for key, array in loaded.items():
        assert array.dtype == expected[key].dtype, key
        np.testing.assert_array_equal(array, expected[key], err_msg=key)
        assert array.flags.c_contiguous and array.flags.writeable, key  # a copy, not a view


@pytest.mark.parametrize("name", ["training.pth", "training_legacy.pth"])
def test_training_checkpoint_keeps_its_other_values(name):
    checkpoint = load_checkpoint(FIXTURES / name)
    assert checkpoint["epoch"] == 7
    assert isinstance(checkpoint["best_psnr"], np.float64) and checkpoint["best_psnr"] == 27.5
    assert vars(checkpoint["args"]) == {"lr": 2e-4, "name": "tiny"}
    assert checkpoint["tags"] == {"deblur", "gan"}
    assert isinstance(checkpoint["state_dict"], collections.OrderedDict)
    assert checkpoint["optimizer"]["param_groups"][0]["betas"] == (0.5, 0.999)

    weights = state_dict(FIXTURES / name)  # the one dict of name -> array, not Adam's states
    assert list(weights) == list(checkpoint["state_dict"])
    assert "module.1.num_batches_tracked" in weights
    stripped = strip_prefix(weights)
    assert list(stripped) == [key.removeprefix("module.") for key in weights]
    assert stripped["0.weight"].shape == (4, 3, 3, 3)


def test_pytorch03_file_reads_as_an_ordered_state_dict():
    checkpoint = load_checkpoint(FIXTURES / "pytorch03.pth")
    assert isinstance(checkpoint, collections.OrderedDict)
    assert list(checkpoint) == [
        "conv.weight",
        "conv.bias",
        "fc.weight",
        "fc.bias",
        "deconv.weight",
        "steps",
    ]


def test_state_dict_asks_for_a_key_when_there_are_several():
    checkpoint = {"netG": {"a": np.zeros(1)}, "netD": {"b": np.ones(1)}, "epoch": 3}
    with pytest.raises(CheckpointError, match=r"several state dicts.*'netG', 'netD'.*key="):
        state_dict(checkpoint)
    assert list(state_dict(checkpoint, key="netD")) == ["b"]
    assert list(state_dict({"model": checkpoint}, key="model/netG")) == ["a"]
    with pytest.raises(CheckpointError, match="no state dict at 'G'"):
        state_dict(checkpoint, key="G")
    with pytest.raises(CheckpointError, match="holds no state dict"):
        state_dict({"epoch": 3})


def test_strip_prefix_refuses_to_merge_names():
    assert strip_prefix({"module.a": 1, "b": 2}) == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="'module.a'"):
        strip_prefix({"a": 1, "module.a": 2})


class _Global:
    """A global to pickle by name, without importing it."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle reduces only to callables
        raise NotImplementedError


class _Call:
    """Pickles as a call of `function` (a _Global) with `args`."""

    def __init__(self, function, *args):
        self.function, self.args = function, args


class _Persistent:
    """Pickles as a persistent id (how checkpoints point at storages)."""

    def __init__(self, pid):
        self.pid = pid


class _Pickler(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def save_global_by_name(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

    dispatch[_Global] = save_global_by_name

    def reducer_override(self, obj):
        return (obj.function, obj.args) if isinstance(obj, _Call) else NotImplemented

    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Persistent) else None


def dumps(obj):
    stream = io.BytesIO()
    _Pickler(stream, protocol=2).dump(obj)
    return stream.getvalue()


def zip_checkpoint(path, obj, storages=()):
    """A zip-format checkpoint of `obj` with `storages` (key -> bytes)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", dumps(obj))
        for key, data in dict(storages).items():
            archive.writestr(f"archive/data/{key}", data)
    return path


def legacy_checkpoint(path, obj):
    """A legacy-format checkpoint of `obj` with no storages."""
    system = {"protocol_version": 1001, "little_endian": True}
    path.write_bytes(b"".join(map(dumps, [0x1950A86A20F9469CFC6C, 1001, system, obj, []])))
    return path


def float_tensor(offset, size, stride, numel=4):
    """A float32 tensor over storage '0' of `numel` elements, as torch pickles it."""
    storage = _Persistent(("storage", _Global("torch", "FloatStorage"), "0", "cpu", numel))
    rebuild = _Global("torch._utils", "_rebuild_tensor_v2")
    return _Call(rebuild, storage, offset, size, stride, False, collections.OrderedDict())


@pytest.mark.parametrize("wrapper", ["plain", "legacy", "zip"])
def test_a_pickle_that_runs_a_command_is_refused_without_running_it(tmp_path, wrapper):
    marker = tmp_path / "pwned"
    command = _Call(_Global("os", "system"), f"touch {marker}")
    obj = {"state_dict": {"weight": command}}
    path = tmp_path / "evil.pth"
    if wrapper == "plain":
        path.write_bytes(dumps(obj))
    elif wrapper == "legacy":
        legacy_checkpoint(path, obj)
    else:
        zip_checkpoint(path, obj)
    message = f"{path}: checkpoint refers to 'os.system', which is not a tensor or container"
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)
    assert not marker.exists()


def test_refusals_name_the_global(tmp_path):
    model = _Call(_Global("models.networks", "ResnetGenerator"))  # torch.save(model)
    path = legacy_checkpoint(tmp_path / "model.pth", model)
    with pytest.raises(CheckpointError, match="'models.networks.ResnetGenerator'"):
        load_checkpoint(path)
    numpy_object = _Call(_Global("numpy", "dtype"), "O", False, True)
    path = zip_checkpoint(tmp_path / "object.pth", numpy_object)
    with pytest.raises(CheckpointError, match="'numpy.dtype O'"):
        load_checkpoint(path)
    # Storages as nested files belong to plain pickles only (one level): not in torch.save files.
    nested = _Call(_Global("torch.storage", "_load_from_bytes"), b"\x80\x02K\x01.")
    path = legacy_checkpoint(tmp_path / "nested.pth", {"w": nested})
    with pytest.raises(CheckpointError, match="'torch.storage._load_from_bytes'"):
        load_checkpoint(path)


def test_declared_lengths_are_not_allocated_before_reading(tmp_path):
    path = tmp_path / "bomb.pkl"  # BYTEARRAY8 of 2**50 bytes, in a 12-byte file
    path.write_bytes(b"\x80\x05\x96" + struct.pack("<Q", 2**50) + b".")
    with pytest.raises(CheckpointError, match="truncated checkpoint"):
        load_checkpoint(path)


def test_state_cannot_be_set_on_allowed_classes(tmp_path):
    # BUILD with slot state on the class itself would set argparse.Namespace.injected.
    path = tmp_path / "build.pkl"
    path.write_bytes(b"\x80\x02cargparse\nNamespace\nN}X\x08\x00\x00\x00injectedK\x01s\x86b.")
    with pytest.raises(CheckpointError, match="sets the state of a type"):
        load_checkpoint(path)
    assert not hasattr(argparse.Namespace, "injected")


@pytest.mark.parametrize(
    "offset, size, stride",
    [(0, (5,), (1,)), (3, (2,), (1,)), (0, (2, 3), (3, 1)), (0, (-1,), (1,)), (0, (2,), (1, 1))],
)
def test_a_tensor_outside_its_storage_is_refused(tmp_path, offset, size, stride):
    tensor = float_tensor(offset, size, stride)
    path = zip_checkpoint(tmp_path / "bad.pth", {"w": tensor}, {"0": bytes(16)})
    with pytest.raises(CheckpointError, match="truncated or corrupt checkpoint"):
        load_checkpoint(path)


def test_a_handwritten_zip_checkpoint_reads(tmp_path):
    data = np.arange(4, dtype="<f4").tobytes()
    path = zip_checkpoint(tmp_path / "ok.pth", {"w": float_tensor(1, (2,), (2,))}, {"0": data})
    np.testing.assert_array_equal(load_checkpoint(path)["w"], [1.0, 3.0])


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_truncated_files_fail_in_one_line_naming_the_file(tmp_path, name):
    data = (FIXTURES / name).read_bytes()
    for length in sorted({0, 1, 20, len(data) // 3, len(data) // 2, len(data) - 1}):
        path = tmp_path / f"cut_{length}_{name}"
        path.write_bytes(data[:length])
        with pytest.raises(CheckpointError) as error:
            load_checkpoint(path)
        message = str(error.value)
        assert message.startswith(f"{path}: ") and "\n" not in message, message


def test_a_damaged_zip_storage_fails_its_checksum(tmp_path):
    data = bytearray((FIXTURES / "training.pth").read_bytes())
    with zipfile.ZipFile(FIXTURES / "training.pth") as archive:
        offset = archive.getinfo("training/data/0").header_offset
    name_length, extra_length = struct.unpack_from("<HH", data, offset + 26)  # local header
    data[offset + 30 + name_length + extra_length] ^= 0xFF  # the record's first byte
    path = tmp_path / "damaged.pth"
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="truncated or corrupt checkpoint .*CRC"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"epoch: 20\n", "neither a zip archive nor a pickle"),
        (b"\x89PNG\r\n\x1a\n" + bytes(40), "neither a zip archive nor a pickle"),
        (pickle.dumps(20), "a pickled int, not a checkpoint"),
        (b"config: x\nname: y\n", "neither a zip archive nor a pickle"),
    ],
)
def test_foreign_files_are_not_checkpoints(tmp_path, content, reason):
    path = tmp_path / "file.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"{path}: not a PyTorch checkpoint \\({reason}"):
        load_checkpoint(path)


def test_other_zip_archives(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="a zip archive without data.pkl"):
        load_checkpoint(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", dumps({}))
        archive.writestr("model/constants.pkl", dumps(()))
    with pytest.raises(CheckpointError, match=r"TorchScript archive \(torch.jit.save\)"):
        load_checkpoint(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model/data.pkl", dumps({}))
    with pytest.raises(CheckpointError, match="compressed, which torch.save never does"):
        load_checkpoint(path)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pth")


@pytest.mark.parametrize("zip_format", [True, False])
def test_random_checkpoints_written_by_torch(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(5, 7, generator=generator, dtype=torch.float64)
    state = {
        "conv.weight": torch.randn(8, 3, 3, 3, generator=generator),
        "half": torch.randn(6, generator=generator).half(),
        "view": base[1:4, ::3].t(),
        "int": torch.randint(-(2**40), 2**40, (3, 2), generator=generator),
        "flag": torch.rand(4, generator=generator) > 0.5,
    }
    path = tmp_path / "random.pth"
    torch.save({"epoch": 1, "state_dict": state}, path, _use_new_zipfile_serialization=zip_format)
    loaded = state_dict(path)
    assert list(loaded) == list(state)
    for key, tensor in state.items():
        assert loaded[key].dtype == tensor.numpy().dtype
        np.testing.assert_array_equal(loaded[key], tensor.numpy(), err_msg=key)
