"""Read what we need from a GGUF file without loading it: metadata, the tensor table, whether the
file is complete, and the base-model fingerprint of its embeddings.

Our own header walk (not `gguf.GGUFReader`): the reader turns every vocabulary entry into numpy
objects and takes seconds; we only skip over them. Used on the slow paths (a load that failed, an
adapter being attached), never on the way to a first token.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from tuichat.errors import ModelLoadError

_MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_KEEP_ARRAYS_UP_TO = 64  # longer arrays (vocabularies, merges) are skipped, not kept


@dataclass
class TensorInfo:
    shape: tuple[int, ...]  # GGUF order: the fastest-varying dimension first
    ggml_type: int
    offset: int  # from the start of the data section


@dataclass
class GGUFHeader:
    path: Path
    fields: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    data_start: int = 0
    file_size: int = 0

    @property
    def architecture(self) -> str:
        return str(self.fields.get("general.architecture", "?"))

    def arch_field(self, name: str, default: Any = None) -> Any:
        return self.fields.get(f"{self.architecture}.{name}", default)

    def missing_bytes(self) -> int:
        """How many bytes of tensor data the file lacks (0 for a complete file)."""
        from gguf import GGML_QUANT_SIZES

        end = self.data_start
        for info in self.tensors.values():
            block, size = GGML_QUANT_SIZES[info.ggml_type]
            count = 1
            for n in info.shape:
                count *= n
            end = max(end, self.data_start + info.offset + count // block * size)
        return max(0, end - self.file_size)


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise EOFError
    return struct.unpack(fmt, data)[0]


def _string(f: BinaryIO) -> str:
    n = _read(f, "<Q")
    data = f.read(n)
    if len(data) != n:
        raise EOFError
    return data.decode("utf-8", errors="replace")


def _value(f: BinaryIO, kind: int) -> Any:
    if kind == _STRING:
        return _string(f)
    if kind == _ARRAY:
        item_kind, count = _read(f, "<I"), _read(f, "<Q")
        if count <= _KEEP_ARRAYS_UP_TO:
            return [_value(f, item_kind) for _ in range(count)]
        if item_kind == _STRING:
            for _ in range(count):
                f.seek(_read(f, "<Q"), 1)
        else:
            f.seek(count * struct.calcsize(_SCALARS[item_kind]), 1)
        return None
    return _read(f, _SCALARS[kind])


def read_header(path: str | Path) -> GGUFHeader:
    """Parse the header; raise ModelLoadError (one line) for a file that is not a readable GGUF."""
    path = Path(path)
    header = GGUFHeader(path, file_size=path.stat().st_size)
    try:
        with path.open("rb") as f:
            if f.read(4) != _MAGIC:
                raise ModelLoadError(f"{path} is not a GGUF file (wrong magic bytes)")
            _version, n_tensors, n_fields = _read(f, "<I"), _read(f, "<Q"), _read(f, "<Q")
            for _ in range(n_fields):
                key = _string(f)
                header.fields[key] = _value(f, _read(f, "<I"))
            for _ in range(n_tensors):
                name = _string(f)
                dims = tuple(_read(f, "<Q") for _ in range(_read(f, "<I")))
                header.tensors[name] = TensorInfo(dims, _read(f, "<I"), _read(f, "<Q"))
            align = int(header.fields.get("general.alignment", 32))
            header.data_start = -(-f.tell() // align) * align
    except (EOFError, KeyError, struct.error, OverflowError, MemoryError):
        raise ModelLoadError(f"{path} is truncated or corrupt (its GGUF header cannot be read); download it again") from None
    return header


def check_complete(header: GGUFHeader) -> None:
    missing = header.missing_bytes()
    if missing:
        raise ModelLoadError(
            f"{header.path} is truncated: {missing:,} bytes of tensor data are missing; download it again"
        )


def tensor_array(header: GGUFHeader, name: str, rows: int | None = None) -> Any:
    """A tensor as float32 numpy (numpy order: rows first), de-quantised; only `rows` rows if given."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf.quants import dequantize

    info = header.tensors[name]
    block, size = GGML_QUANT_SIZES[info.ggml_type]
    width = info.shape[0]
    n_rows = 1
    for n in info.shape[1:]:
        n_rows *= n
    n_rows = min(n_rows, rows) if rows else n_rows
    row_bytes = width // block * size
    raw = np.memmap(header.path, dtype=np.uint8, mode="r", offset=header.data_start + info.offset,
                    shape=(n_rows, row_bytes))
    return dequantize(np.array(raw), GGMLQuantizationType(info.ggml_type)).reshape(n_rows, width).astype(np.float32)


def embedding_fingerprint(header: GGUFHeader) -> str:
    """The same id `adapter_files.base_fingerprint` computes on the transformers side for this file's
    weights: shape + a bf16-rounded 64x64 corner of the input embeddings."""
    import numpy as np

    info = header.tensors["token_embd.weight"]
    shape = tuple(reversed(info.shape))  # torch order: (vocab, hidden)
    corner = tensor_array(header, "token_embd.weight", rows=min(64, shape[0]))[:, : min(64, shape[1])]
    bits = np.ascontiguousarray(corner, dtype=np.float32).view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
    return hashlib.sha256(str(shape).encode() + rounded.tobytes()).hexdigest()[:16]
