"""Read PyTorch ``.pth`` state dicts into NumPy without importing torch.

A ``.pth`` file written by ``torch.save`` comes in two layouts:

* the legacy stream (PyTorch < 1.6, e.g. torchvision's published ImageNet
  weights): five consecutive pickles (magic number, protocol version, system
  information, the object, the list of storage keys) followed by each
  storage's raw bytes behind an 8-byte little-endian element count;
* the zip archive (PyTorch >= 1.6): ``<root>/data.pkl`` plus one member
  ``<root>/data/<key>`` of raw bytes per storage.

Both are read by a *restricted* unpickler: only ``collections.OrderedDict``,
the tensor rebuild functions and the storage types are resolved; any other
global (the vector of arbitrary code execution in pickles) is refused with
:class:`PthError`. Tensors come back as C-contiguous NumPy arrays.

References
----------
.. [1] PyTorch, ``torch/serialization.py`` (the two formats written by
   ``torch.save``), https://github.com/pytorch/pytorch.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PthError", "read_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class PthError(ValueError):
    """A ``.pth`` file that is damaged or holds something other than tensors."""


@dataclass(frozen=True)
class _StorageType:
    dtype: Any


@dataclass
class _Storage:
    key: str
    dtype: Any
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _LazyTensor:
    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple

    def materialize(self, origin: str) -> np.ndarray:
        flat = self.storage.data
        if flat is None:
            raise PthError(f"{origin}: storage {self.storage.key!r} has no data")
        if not self.shape:
            return np.array(flat[self.offset], dtype=flat.dtype)
        extent = (
            self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=True)) + 1
        )
        if extent > flat.size or self.offset < 0:
            raise PthError(f"{origin}: a tensor reaches past the end of its storage (truncated?)")
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], shape=self.shape, strides=[s * item for s in self.stride]
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage, offset, size, stride, *_unused) -> _LazyTensor:
    return _LazyTensor(storage, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_unused) -> Any:
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, origin: str, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.origin = origin
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _DTYPES:
            return _StorageType(_DTYPES[name])
        raise PthError(
            f"{self.origin}: refusing to unpickle {module}.{name}: a weights file should hold "
            "tensors only"
        )

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise PthError(f"{self.origin}: unexpected persistent id {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise PthError(f"{self.origin}: unsupported storage type {storage_type!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(key, storage_type.dtype)
        return self.storages[key]


def _materialize(obj: Any, origin: str) -> dict[str, np.ndarray]:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise PthError(f"{origin}: expected a state dict, found {type(obj).__name__}")
    out: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if isinstance(value, _LazyTensor):
            out[str(name)] = value.materialize(origin)
    return out


def _read_legacy(data: bytes, origin: str) -> dict[str, np.ndarray]:
    f = io.BytesIO(data)
    storages: dict[str, _Storage] = {}

    def load() -> Any:
        return _Unpickler(f, origin, storages).load()

    if load() != _LEGACY_MAGIC:
        raise PthError(f"{origin}: not a PyTorch file (wrong magic number)")
    load()  # protocol version
    info = load()
    if isinstance(info, dict) and not info.get("little_endian", True):
        raise PthError(f"{origin}: big-endian files are not supported")
    obj = load()
    keys = load()
    for key in keys:
        storage = storages.get(str(key))
        header = f.read(8)
        if len(header) != 8:
            raise PthError(f"{origin}: truncated (storage {key!r} is missing)")
        (count,) = struct.unpack("<q", header)
        dtype = np.dtype(storage.dtype if storage else np.uint8)
        raw = f.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise PthError(f"{origin}: truncated (storage {key!r} is short)")
        if storage is not None:
            storage.data = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
    return _materialize(obj, origin)


def _read_zip(data: bytes, origin: str) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise PthError(f"{origin}: a zip without data.pkl is not a PyTorch file")
        root = pkl[0][: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        obj = _Unpickler(io.BytesIO(z.read(pkl[0])), origin, storages).load()
        for key, storage in storages.items():
            try:
                raw = z.read(f"{root}data/{key}")
            except KeyError:
                raise PthError(f"{origin}: storage {key!r} is missing from the archive") from None
            storage.data = np.frombuffer(raw, dtype=np.dtype(storage.dtype).newbyteorder("<"))
    return _materialize(obj, origin)


def read_state_dict(data: bytes, origin: str = "<bytes>") -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save``-d state dict, as NumPy arrays.

    Parameters
    ----------
    data : bytes
        Content of the ``.pth`` file (legacy or zip layout).
    origin : str
        Name used in error messages (the file's path).

    Returns
    -------
    dict of str to ndarray
        Parameter and buffer names, in file order, to arrays with PyTorch's
        shapes and dtypes. A checkpoint ``{"state_dict": {...}}`` is unwrapped.

    Raises
    ------
    PthError
        When the file is truncated, damaged, or pickles anything but tensors.
    """
    try:
        if data[:2] == b"PK":
            return _read_zip(data, origin)
        return _read_legacy(data, origin)
    except PthError:
        raise
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, TypeError) as exc:
        raise PthError(f"{origin}: not a readable PyTorch state dict ({exc})") from exc
