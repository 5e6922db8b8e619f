"""Reading PyTorch checkpoints (`torch.save` files) as numpy arrays, without torch.

    >>> weights = state_dict("latest_net_G.pth")   # {"model.1.weight": array, ...}
    >>> checkpoint = load_checkpoint("netG_streetview.pth")
    >>> checkpoint["epoch"], checkpoint["state_dict"]["main.0.weight"].shape

No torch needed, no code executed. A checkpoint is a pickle, and unpickling runs whatever
functions the file names; `torch.load` (before `weights_only`) would run `os.system` if a file
asked. Here the pickle may name only the few functions that rebuild tensors and containers
(`_GLOBALS`); any other name is refused before anything runs, in a message that names it.

Formats:
- zip (torch >= 1.6, `torch.save`'s default): `<name>/data.pkl` is the pickle, whose persistent
  ids point at the storages `<name>/data/<key>`; `<name>/byteorder` says their byte order.
- legacy (torch <= 1.5, or `_use_new_zipfile_serialization=False`; 2018-era releases such as
  DeblurGAN's and DeRaindrop's, some written by Python 2): five pickles in a row (magic number,
  protocol 1001, system info, the object, the sorted storage keys), then each storage as an
  int64 element count and its raw little-endian bytes. Tensors of torch <= 0.3 use
  `_rebuild_tensor` and may point at storage views; CUDA storages are read like CPU ones.
- plain pickles (`pickle.dump(state_dict, file)` under a `.pkl` name): each storage is a
  nested legacy file (`torch.storage._load_from_bytes`), which may not nest further.
Not read: TorchScript archives (`torch.jit.save`), the tar format of torch < 0.1.10, big-endian
legacy files, quantized, sparse and meta tensors.

Tensors become contiguous numpy arrays of their dtype (float32/16/64, bfloat16 as float32,
int8/16/32/64, uint8/16/32/64, bool, complex64/128), whatever their storage offset and strides
(views that share a storage are copied apart); parameters become arrays too. Dicts,
OrderedDicts, lists, tuples, sets, numbers, strings, numpy scalars and `argparse.Namespace`
objects come back as such.
"""

import _compat_pickle
import argparse
import collections
import dataclasses
import io
import math
import os
import pickle
import struct
import zipfile

import numpy as np


class CheckpointError(ValueError):
    """A file is not a PyTorch checkpoint, is truncated or corrupt, or names something other
    than tensors and containers; the one-line message names the file and why."""


# Reasons found while reading; `load_checkpoint` turns each into a CheckpointError naming the
# file.
class _Refused(Exception):
    """The pickle names a global outside the allowlist (the message is its dotted name)."""


class _NotCheckpoint(Exception):
    """The file is neither a zip archive with data.pkl nor a pickle."""


class _Unsupported(Exception):
    """A checkpoint format or tensor kind this reader does not read."""


class _Corrupt(Exception):
    """The file looks like a checkpoint but its content is inconsistent."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Element:
    """A tensor element type: torch's name and the numpy type code of its stored bytes."""

    name: str
    code: str

    @property
    def itemsize(self):
        return np.dtype(self.code).itemsize


_BYTE = _Element("uint8", "u1")
# bfloat16 is stored as the upper 16 bits of a float32; numpy has no bfloat16, so its bytes are
# read as uint16 and widened to float32 (exactly).
_BFLOAT16 = _Element("bfloat16", "u2")
_ELEMENTS = {
    element.name: element
    for element in (
        _Element("float64", "f8"),
        _Element("float32", "f4"),
        _Element("float16", "f2"),
        _BFLOAT16,
        _Element("int64", "i8"),
        _Element("int32", "i4"),
        _Element("int16", "i2"),
        _Element("int8", "i1"),
        _BYTE,
        _Element("uint16", "u2"),
        _Element("uint32", "u4"),
        _Element("uint64", "u8"),
        _Element("bool", "?"),
        _Element("complex64", "c8"),
        _Element("complex128", "c16"),
    )
}
# torch's other names for the same dtypes (`torch.float` is `torch.float32`, ...).
_DTYPE_ALIASES = {
    "double": "float64",
    "float": "float32",
    "half": "float16",
    "long": "int64",
    "int": "int32",
    "short": "int16",
    "cfloat": "complex64",
    "cdouble": "complex128",
}
# The typed storage classes (`torch.FloatStorage`, `torch.cuda.FloatStorage`, ...) that name a
# storage's element type in both formats.
_STORAGE_CLASSES = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}


@dataclasses.dataclass(frozen=True, slots=True)
class _StorageClass:
    """What a storage class global stands for: its element type (None: untyped bytes)."""

    element: _Element | None


@dataclasses.dataclass(frozen=True, slots=True)
class _Storage:
    """A storage's bytes (None while a legacy file's pickle is scanned before its data)."""

    element: _Element | None
    data: memoryview | None
    byte_order: str = "<"

    def count(self, element):
        """How many `element`s the storage holds."""
        return len(self.data) // element.itemsize


# `torch.Tensor` and `torch.nn.Parameter` appear only as `_rebuild_from_type_v2`'s target type.
_TENSOR_CLASS = object()

# A tensor may address more elements than its storage holds only by repeating them (an
# expanded view, stride 0); beyond this many elements such a tensor is taken for corruption
# rather than allocated.
_MAX_EXPANDED_ELEMENTS = 2**24


def _tensor(storage, storage_offset, size, stride, element=None, metadata=None):
    """The contiguous numpy array of a tensor view (offset, size, stride) of `storage`."""
    if not isinstance(storage, _Storage):
        raise _Corrupt(f"a tensor's storage is a {type(storage).__name__}")
    element = element or storage.element
    if storage.data is None:
        return None  # a legacy file's first pass: storages are read after the pickle
    if element is None:
        raise _Corrupt("a tensor over an untyped storage has no dtype")
    size, stride = tuple(size), tuple(stride)
    numbers = (storage_offset, *size, *stride)
    if len(size) != len(stride) or not all(isinstance(n, int) and n >= 0 for n in numbers):
        raise _Corrupt(f"a tensor has offset {storage_offset}, size {size} and stride {stride}")
    stored = np.dtype(element.code).newbyteorder(storage.byte_order)
    count = storage.count(element)
    numel = math.prod(size)
    if numel == 0:
        array = np.zeros(size, stored.newbyteorder("="))
    else:
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= count or numel > max(count, _MAX_EXPANDED_ELEMENTS):
            raise _Corrupt(
                f"a tensor of size {size}, stride {stride} and offset {storage_offset} "
                f"lies outside its storage of {count} elements"
            )
        flat = np.frombuffer(storage.data, stored, count)
        # Bounds are checked above: as_strided itself would read past the buffer.
        view = np.lib.stride_tricks.as_strided(
            flat[storage_offset:], size, [s * stored.itemsize for s in stride], writeable=False
        )
        array = np.array(view, stored.newbyteorder("="), order="C")  # a contiguous copy
    if element is _BFLOAT16:
        array = (array.astype(np.uint32) << 16).view(np.float32)
    elif array.dtype == bool:
        array = array.view(np.uint8) != 0  # any byte other than 0 is True, as in torch
    return _apply_metadata(array, metadata)


def _apply_metadata(array, metadata):
    """Applies the lazy negation and conjugation bits torch records for some views."""
    metadata = metadata or {}
    unknown = set(metadata) - {"neg", "conj"}
    if unknown:
        raise _Unsupported(
            f"has tensor metadata {sorted(unknown)}, which this reader does not know"
        )
    if metadata.get("conj"):
        array = np.conj(array)
    if metadata.get("neg"):
        array = np.negative(array)
    return array


# The functions tensors are rebuilt with, under torch's names and signatures (torch <= 0.3:
# `_rebuild_tensor`; later `_rebuild_tensor_v2`; dtypes without a storage class: `_v3`).
def _rebuild_tensor(storage, storage_offset, size, stride):
    return _tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None
):
    return _tensor(storage, storage_offset, size, stride, metadata=metadata)


def _rebuild_tensor_v3(
    storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None
):
    if not isinstance(dtype, _Element):
        raise _Corrupt(f"a tensor's dtype is a {type(dtype).__name__}")
    return _tensor(storage, storage_offset, size, stride, dtype, metadata)


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    return data


_REBUILD_FUNCTIONS = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter)


def _rebuild_from_type(function, tensor_class, args, state):
    """A tensor with Python attributes (`tensor.note = ...`): the attributes are dropped."""
    if function not in _REBUILD_FUNCTIONS or tensor_class is not _TENSOR_CLASS:
        raise _Corrupt("a tensor subclass is rebuilt from something other than a tensor")
    return function(*args)


def _device(kind, index=None):
    """`torch.device` as a string ('cpu', 'cuda:0')."""
    return str(kind) if index is None else f"{kind}:{index}"


def _latin1_bytes(text, encoding="latin1"):
    """`_codecs.encode`, which protocol-2 pickles use for bytes, limited to that use."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Corrupt(f"bytes encoded as {encoding!r}")
    return text.encode("latin1")


class _NumpyDType:
    """`numpy.dtype` as a pickle rebuilds it, limited to numbers and booleans: the state a
    pickle sets is read for its byte order only (numpy's own `__setstate__` would accept flags
    that make it read bytes as object pointers)."""

    def __init__(self, code, align=False, copy=False):
        dtype = np.dtype(str(code))
        if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
            raise _Refused(f"numpy.dtype {code}")
        self.dtype = dtype

    def __setstate__(self, state):
        order = state[1] if isinstance(state, tuple) and len(state) > 1 else "|"
        if order in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(order)


def _numpy_scalar(dtype, data):
    """`numpy.core.multiarray.scalar`: a numpy number from its dtype and bytes."""
    if not isinstance(dtype, _NumpyDType) or not isinstance(data, bytes):
        raise _Corrupt("a numpy scalar without a numeric dtype and bytes")
    if len(data) != dtype.dtype.itemsize:
        raise _Corrupt(f"a numpy {dtype.dtype} scalar of {len(data)} bytes")
    return np.frombuffer(data, dtype.dtype)[0]


def _storage_from_bytes(data):
    """`torch.storage._load_from_bytes`: a storage saved as a nested legacy checkpoint."""
    if not isinstance(data, bytes):
        raise _Corrupt("a nested storage is not bytes")
    storage = _read_legacy(data, plain_pickle=False)
    if not isinstance(storage, _Storage):
        raise _Corrupt("a nested storage file holds something else")
    return storage


def _allowed_globals():
    """{(module, name): object} of every global a checkpoint may name."""
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "complex"): complex,
        ("_codecs", "encode"): _latin1_bytes,
        ("argparse", "Namespace"): argparse.Namespace,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type"): _rebuild_from_type,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
        ("torch", "Tensor"): _TENSOR_CLASS,
        ("torch.nn.parameter", "Parameter"): _TENSOR_CLASS,
        ("torch", "Size"): tuple,
        ("torch", "device"): _device,
        ("torch", "UntypedStorage"): _StorageClass(None),
        ("torch.storage", "UntypedStorage"): _StorageClass(None),
        ("numpy", "dtype"): _NumpyDType,
        ("numpy.core.multiarray", "scalar"): _numpy_scalar,
        ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    }
    for name, element in _STORAGE_CLASSES.items():
        for module in ("torch", "torch.cuda"):
            allowed[module, name] = _StorageClass(_ELEMENTS[element])
    for name in (*_ELEMENTS, *_DTYPE_ALIASES):
        allowed["torch", name] = _ELEMENTS[_DTYPE_ALIASES.get(name, name)]
    return allowed


_GLOBALS = _allowed_globals()
# Storages pickled as nested files appear only in plain pickles (torch.save writes storages as
# persistent ids), and only one level deep.
_PLAIN_PICKLE_GLOBALS = {**_GLOBALS, ("torch.storage", "_load_from_bytes"): _storage_from_bytes}


class _Unpickler(pickle._Unpickler):
    """An unpickler that resolves globals only through `_GLOBALS` and sets object state only
    on the few types that have any (OrderedDict and Namespace attributes, numpy dtypes).

    It is pickle's pure-Python unpickler, whose opcode table can be changed: the C one would
    let a pickle set attributes on allowed classes themselves (BUILD with slot state).
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, stream, persistent_load=None, plain_pickle=False):
        # Python 2 pickles (torch <= 0.4 era) store text as byte strings: read them as UTF-8,
        # as torch.load does.
        super().__init__(stream, encoding="utf-8")
        self._resolve = persistent_load
        self._globals = _PLAIN_PICKLE_GLOBALS if plain_pickle else _GLOBALS

    def find_class(self, module, name):
        if self.proto < 3:  # Python 2 module names (__builtin__, copy_reg)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[module, name]
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return self._globals[module, name]
        except (KeyError, TypeError):
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid):
        if self._resolve is None:
            raise _Corrupt(f"unexpected persistent id {pid!r:.60}")
        return self._resolve(pid)

    def load_build(self):
        state = self.stack.pop()
        instance = self.stack[-1]
        if isinstance(instance, _NumpyDType):
            instance.__setstate__(state)
        elif (
            isinstance(instance, (collections.OrderedDict, argparse.Namespace))
            and isinstance(state, dict)
            and all(isinstance(key, str) for key in state)
        ):
            instance.__dict__.update(state)  # e.g. a state_dict's `_metadata`
        else:
            raise _Corrupt(f"a pickle sets the state of a {type(instance).__name__}")

    dispatch[pickle.BUILD[0]] = load_build

    def load_bytearray8(self):
        # pickle's own allocates the declared length before reading it.
        (length,) = struct.unpack("<Q", self.read(8))
        data = self.read(length)
        if len(data) != length:
            raise EOFError
        self.append(bytearray(data))

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def _unpickle(data, start=0, persistent_load=None, plain_pickle=False):
    """The object pickled in `data` (bytes) at offset `start`, and the offset after it."""
    stream = io.BytesIO(data)  # shares the bytes, no copy
    stream.seek(start)
    result = _Unpickler(stream, persistent_load, plain_pickle).load()
    return result, stream.tell()


def _storage_id(pid, fields):
    """(storage class, key, element count, rest) of a persistent id ('storage', class, key,
    location, count, ...); `fields` is its length in this format (5 zip, 6 legacy)."""
    if not isinstance(pid, tuple) or len(pid) != fields:
        raise _Corrupt(f"persistent id {pid!r:.80}")
    kind, storage_class, key, _location, count, *rest = pid
    kind = kind.decode("ascii") if isinstance(kind, bytes) else kind
    if kind != "storage" or not isinstance(storage_class, _StorageClass):
        raise _Corrupt(f"persistent id {pid!r:.80} is not a storage")
    if not isinstance(key, str) or not isinstance(count, int) or count < 0:
        raise _Corrupt(f"persistent id {pid!r:.80}")
    return storage_class.element, key, count, rest


def _read_zip(data):
    """The object of a zip-format checkpoint."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise _Corrupt(f"damaged zip archive: {error}") from None
    names = set(archive.namelist())
    pickles = sorted(n for n in names if n.endswith("/data.pkl") and n.count("/") == 1)
    if not pickles:
        raise _NotCheckpoint("a zip archive without data.pkl")
    prefix = pickles[0][: -len("data.pkl")]
    if prefix + "constants.pkl" in names:
        raise _Unsupported(
            "is a TorchScript archive (torch.jit.save); save the model's state_dict() with "
            "torch.save instead"
        )

    def read(name):
        info = archive.getinfo(name)
        # torch.save stores records as they are; a compressed one could expand without bound.
        if info.compress_type != zipfile.ZIP_STORED:
            raise _Corrupt(f"{name} is compressed, which torch.save never does")
        return archive.read(info)

    byte_order = "<"
    if prefix + "byteorder" in names:
        byte_order = {b"little": "<", b"big": ">"}.get(read(prefix + "byteorder"))
        if byte_order is None:
            raise _Corrupt("unknown byte order")
    storages = {}

    def load_storage(pid):
        element, key, count, _ = _storage_id(pid, 5)
        if key not in storages:  # tensors that share a storage share its record
            storages[key] = memoryview(read(f"{prefix}data/{key}"))
        nbytes = count * (element or _BYTE).itemsize
        if len(storages[key]) < nbytes:
            raise _Corrupt(f"storage {key} has {len(storages[key])} bytes, not {nbytes}")
        return _Storage(element, storages[key][:nbytes], byte_order)

    return _unpickle(read(prefix + "data.pkl"), 0, load_storage)[0]


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


def _read_legacy(data, plain_pickle=True):
    """The object of a legacy-format checkpoint (or, if `plain_pickle`, of a plain pickle of
    a dict, list or tuple)."""
    # torch.save pickles with protocol 2 or more, whose first opcode is PROTO (0x80); text and
    # other files are not unpickled at all.
    if data[:1] != b"\x80":
        raise _NotCheckpoint("neither a zip archive nor a pickle")
    magic, end = _unpickle(data, plain_pickle=plain_pickle)
    if magic != _LEGACY_MAGIC:
        if plain_pickle and isinstance(magic, (dict, list, tuple)):
            return magic
        raise _NotCheckpoint(f"a pickled {type(magic).__name__}, not a checkpoint")
    protocol, end = _unpickle(data, end)
    if protocol != _LEGACY_PROTOCOL:
        raise _Unsupported(
            f"has legacy protocol version {protocol!r}; this reader reads {_LEGACY_PROTOCOL}"
        )
    system, start = _unpickle(data, end)
    if not isinstance(system, dict) or not system.get("little_endian", True):
        raise _Unsupported("is a big-endian legacy file, which this reader does not read")

    # First pass: the element type and count of every storage, whose bytes follow the pickle.
    declared = {}

    def scan_storage(pid):
        element, key, count, _ = _storage_id(pid, 6)
        declared[key] = (element or _BYTE, count)
        return _Storage(element, None)

    _, end = _unpickle(data, start, scan_storage)
    keys, end = _unpickle(data, end)
    storages = {}
    for key in keys:
        if key not in declared:
            raise _Corrupt(f"storage {key!r} is not used by the pickle")
        element, count = declared[key]
        if end + 8 > len(data):
            raise _Corrupt(f"truncated before storage {key}")
        (stored_count,) = struct.unpack_from("<q", data, end)
        nbytes = count * element.itemsize
        if stored_count != count:
            raise _Corrupt(f"storage {key} holds {stored_count} elements, not {count}")
        if end + 8 + nbytes > len(data):
            raise _Corrupt(f"truncated in storage {key}")
        storages[key] = memoryview(data)[end + 8 : end + 8 + nbytes]
        end += 8 + nbytes

    # Second pass, with the bytes.
    def load_storage(pid):
        element, key, _, (view,) = _storage_id(pid, 6)
        if key not in storages:
            raise _Corrupt(f"storage {key!r} is missing")
        storage = storages[key]
        if view is not None:  # torch <= 0.3: a view (key, offset, size) of the root storage
            _, offset, count = view
            if not all(isinstance(n, int) and n >= 0 for n in (offset, count)):
                raise _Corrupt(f"storage view {view!r:.80}")
            itemsize = (element or _BYTE).itemsize
            storage = storage[offset * itemsize : (offset + count) * itemsize]
        return _Storage(element, storage)

    return _unpickle(data, start, load_storage)[0]


def _read(data):
    """The object saved in `data`, the bytes of a checkpoint file."""
    if not data:
        raise _NotCheckpoint("empty file")
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _read_zip(data)
    if data[257:262] == b"ustar":
        raise _Unsupported(
            "is in the tar format of PyTorch < 0.1.10, which this reader does not read"
        )
    return _read_legacy(data)


def load_checkpoint(path):
    """Reads a PyTorch checkpoint file into numpy arrays, without torch and without running
    any code from the file.

    Unlike `torch.load`, the pickle may only name the functions and classes that rebuild
    tensors and containers; anything else (a whole pickled model, `os.system`) is refused.
    The file is read into memory whole.

    Args:
        path: a file written by `torch.save` in either format (zip, torch >= 1.6, or legacy,
            torch <= 1.5), or a plain pickle of a dict of tensors.

    Returns:
        The saved object, usually a dict: a state dict (an OrderedDict of parameter name to
        array) or a dict that holds one (`{"epoch": 20, "state_dict": {...}}`). Tensors are
        contiguous numpy arrays of their dtype (bfloat16 as float32).

    Raises:
        CheckpointError: the file is not a checkpoint, is truncated or corrupt, or refers to
            a global that is not a tensor or container (the message names it).
        OSError: the file cannot be read.

    Example:
        >>> checkpoint = load_checkpoint("netG_streetview.pth")
        >>> checkpoint["state_dict"]["main.0.weight"].shape
        (64, 3, 4, 4)
    """
    with open(path, "rb") as file:
        data = file.read()
    try:
        return _read(data)
    except _Refused as refused:
        raise CheckpointError(
            f"{path}: checkpoint refers to '{refused}', which is not a tensor or container; "
            "refusing to load it"
        ) from None
    except _NotCheckpoint as reason:
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({reason})") from None
    except _Unsupported as reason:
        raise CheckpointError(f"{path}: checkpoint {reason}") from None
    except _Corrupt as reason:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({reason})") from None
    except EOFError:
        raise CheckpointError(f"{path}: truncated checkpoint (the file ends too early)") from None
    except Exception as error:  # anything the pickle or zip readers raise on damaged data
        detail = f"{type(error).__name__}: {error}".splitlines()[0][:200]
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({detail})") from None


def _state_dicts(value, path=()):
    """[(path, dict)] of the state dicts in a checkpoint: dicts of name -> array, searched
    through dicts with string keys (so not through an optimizer's {parameter index: state}),
    at most 8 levels deep (a pickle can make a dict that holds itself)."""
    if not isinstance(value, dict) or not value or len(path) > 8:
        return []
    if not all(isinstance(k, str) for k in value):
        return []
    if all(isinstance(v, np.ndarray) for v in value.values()):
        return [(path, value)]
    return [found for k, v in value.items() for found in _state_dicts(v, (*path, k))]


def state_dict(checkpoint, key=None):
    """The weights of a checkpoint as a flat dict of name -> numpy array.

    Finds the state dict whether the file is one or wraps one (`{"epoch": n, "state_dict":
    ...}`, `{"model": ...}`, `{"net": ..., "optimize": ...}`): the one dict of name -> array
    in it. Names are kept as saved (see `strip_prefix` for DataParallel's `module.`).

    Args:
        checkpoint: a checkpoint path, or an object `load_checkpoint` returned.
        key: where the state dict is, when the checkpoint holds several (`"netG"`); nested
            keys are joined by `/` (`"model/netG"`). Default None: the only one.

    Returns:
        A dict of parameter or buffer name to numpy array, in the saved order.

    Raises:
        CheckpointError: the checkpoint holds no state dict, several (and no `key`), or
            nothing at `key` (the message lists what it holds).

    Example:
        >>> weights = strip_prefix(state_dict("200_net_G_A.pth"))   # EnlightenGAN
    """
    name = checkpoint if isinstance(checkpoint, (str, os.PathLike)) else "checkpoint"
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = load_checkpoint(checkpoint)
    found = {"/".join(path): value for path, value in _state_dicts(checkpoint)}
    places = ", ".join(repr(p) for p in found) or "none"
    if key is not None:
        if key not in found:
            raise CheckpointError(f"{name}: no state dict at {key!r}; state dicts at: {places}")
        return dict(found[key])
    if not found:
        raise CheckpointError(f"{name}: holds no state dict (a dict of name -> tensor)")
    if len(found) > 1:
        raise CheckpointError(f"{name}: holds several state dicts ({places}); pass key=")
    return dict(*found.values())


def strip_prefix(weights, prefix="module."):
    """Removes `prefix` from the names that start with it (DataParallel's `module.`).

    Args:
        weights: a dict of name -> array.
        prefix: the prefix to remove. Default "module.".

    Returns:
        A new dict in the same order.

    Raises:
        ValueError: two names become equal.

    Example:
        >>> strip_prefix({"module.conv.weight": w})
        {'conv.weight': w}
    """
    stripped = {}
    for name, value in weights.items():
        new_name = name[len(prefix) :] if name.startswith(prefix) else name
        if new_name in stripped:
            raise ValueError(f"removing {prefix!r} from {name!r} gives a name already present")
        stripped[new_name] = value
    return stripped
