"""A fast reader of a GGUF file's header: its metadata and tensor table, without the tensors.

gguf's own GGUFReader builds a numpy view for every metadata value (the tokenizer alone has
~100k), which takes seconds; checking a model before loading it must take milliseconds. This
reads the same bytes with struct, skips the big arrays, and checks the file holds every tensor.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# GGML type -> (elements per block, bytes per block) for the common types; others ask gguf.
_BLOCKS = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
    14: (256, 210), 15: (256, 292), 30: (1, 2),
}  # fmt: skip
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip
_STRING, _ARRAY = 8, 9
_LENGTH = struct.Struct("<Q")
_MAX_NESTING = 8


class GGUFFormatError(ValueError):
    """The bytes are not a whole GGUF file; the message says what is wrong."""


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order: the fastest-moving dimension first
    ggml_type: int
    offset: int
    n_bytes: int


@dataclass
class GGUFHeader:
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(default_factory=list)
    data_start: int = 0
    file_size: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)


class _Cursor:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise GGUFFormatError("the header ends early (truncated file)")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        length = self.take("<Q")
        if self.pos + length > len(self.buf):
            raise GGUFFormatError("the header ends early (truncated file)")
        raw = bytes(self.buf[self.pos : self.pos + length])
        self.pos += length
        return raw.decode("utf-8", "replace")

    def skip_strings(self, count: int) -> None:
        """Step over `count` strings unread: a vocabulary is ~100k of them (80 ms decoded)."""
        buf, pos, end, length = self.buf, self.pos, len(self.buf), _LENGTH.unpack_from
        for _ in range(count):
            if pos + 8 > end:
                raise GGUFFormatError("the header ends early (truncated file)")
            pos += 8 + length(buf, pos)[0]
        if pos > end:
            raise GGUFFormatError("the header ends early (truncated file)")
        self.pos = pos

    def value(self, kind: int, keep_arrays: bool, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, count = self.take("<I"), self.take("<Q")
            if depth >= _MAX_NESTING:  # arrays of arrays: a crafted file must not recurse away
                raise GGUFFormatError("the header is damaged (arrays nested too deeply)")
            if item in _SCALARS and not keep_arrays:
                self.pos += struct.calcsize(_SCALARS[item]) * count  # skipped, not read
                if self.pos > len(self.buf):
                    raise GGUFFormatError("the header ends early (truncated file)")
                return f"<array of {count}>"
            if item == _STRING and not keep_arrays:
                self.skip_strings(count)
                return f"<array of {count}>"
            values = [self.value(item, keep_arrays, depth + 1) for _ in range(count)]
            return values if keep_arrays else f"<array of {count}>"
        raise GGUFFormatError(f"unknown metadata type {kind}")


def read_header(path: Path, *, keep_arrays: bool = False) -> GGUFHeader:
    """Parse the header; raise GGUFFormatError if the file is not a whole GGUF."""
    with open(path, "rb") as handle:
        size = Path(path).stat().st_size
        if handle.read(4) != b"GGUF":
            raise GGUFFormatError("not a GGUF file (it does not start with 'GGUF')")
        if size < 24:
            raise GGUFFormatError("truncated: the file is too short to be a GGUF file")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            cur = _Cursor(buf)
            cur.pos = 4
            version = cur.take("<I")
            if version < 2:
                raise GGUFFormatError(f"GGUF version {version} is too old")
            n_tensors, n_kv = cur.take("<Q"), cur.take("<Q")
            if n_tensors > 1_000_000 or n_kv > 1_000_000:
                raise GGUFFormatError("the header is damaged (impossible counts)")
            metadata = {}
            for _ in range(n_kv):
                key = cur.string()
                metadata[key] = cur.value(cur.take("<I"), keep_arrays)
            header = GGUFHeader(version=version, metadata=metadata, file_size=size)
            for _ in range(n_tensors):
                name = cur.string()
                dims = tuple(cur.take("<Q") for _ in range(cur.take("<I")))
                kind, offset = cur.take("<I"), cur.take("<Q")
                header.tensors.append(TensorInfo(name, dims, kind, offset, _n_bytes(dims, kind)))
            align = metadata.get("general.alignment", 32)
            if not isinstance(align, int) or isinstance(align, bool) or not 0 < align <= 1 << 20:
                raise GGUFFormatError(f"the header is damaged (alignment {align!r})")
            header.data_start = (cur.pos + align - 1) // align * align
    end = max((header.data_start + t.offset + t.n_bytes for t in header.tensors), default=0)
    if end > size:
        raise GGUFFormatError(f"truncated: {size} bytes on disk, {end} needed")
    return header


def _n_bytes(shape: tuple[int, ...], kind: int) -> int:
    if kind in _BLOCKS:
        block, nbytes = _BLOCKS[kind]
    else:
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        try:
            block, nbytes = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
        except ValueError as exc:
            raise GGUFFormatError(f"unknown tensor type {kind}") from exc
    elements = 1
    for dim in shape:
        elements *= dim
    return elements // block * nbytes
