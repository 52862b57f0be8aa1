"""GGUF LoRA files in llama.cpp's adapter format: write atomically, read with every check.

The layout is what llama.cpp's `convert_lora_to_gguf.py` writes: `general.type=adapter`,
`adapter.type=lora`, `adapter.lora.alpha`, `general.architecture`, and per base tensor
`<base>.lora_a` (r x in) and `<base>.lora_b` (out x r). llama.cpp applies
`delta = alpha / r * B @ A` (alpha 0 means scale 1), `r` being each tensor's own rank.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.atomic import fsync_dir
from app.errors import AdapterError, ModelError
from app.llm.gguf_header import GGUFFormatError, read_header
from app.llm.models import model_header

FloatArray = npt.NDArray[np.float32]
LORA_A, LORA_B = ".lora_a", ".lora_b"
_META_KEY = "hearth.metadata"
_GGUF_MAGIC = b"GGUF"
_BLOCK = re.compile(r"^blk\.(\d+)\.")


@dataclass
class LoraAdapter:
    """A LoRA adapter in llama.cpp layout; `tensors` maps a base tensor name to (A, B)."""

    architecture: str
    alpha: float
    rank: int
    tensors: dict[str, tuple[FloatArray, FloatArray]]
    metadata: dict[str, Any] = field(default_factory=dict)

    def tensor_scale(self, name: str) -> float:
        """The factor llama.cpp applies to B @ A for this tensor (alpha over its own rank)."""
        rank = self.tensors[name][0].shape[0]
        return self.alpha / rank if self.alpha and rank else 1.0

    def delta(self, name: str) -> FloatArray:
        """The dense weight change of one tensor (out x in), float32."""
        a, b = self.tensors[name]
        return (np.float32(self.tensor_scale(name)) * (b @ a)).astype(np.float32, copy=False)

    def scaled_factors(self, name: str) -> tuple[FloatArray, FloatArray]:
        """(A, B') with the alpha/r scale folded into B', so that delta = B' @ A."""
        a, b = self.tensors[name]
        return a, (b * np.float32(self.tensor_scale(name))).astype(np.float32, copy=False)

    def n_parameters(self) -> int:
        return sum(a.size + b.size for a, b in self.tensors.values())


@dataclass(frozen=True)
class BaseModelInfo:
    """What an adapter must agree with: the base's architecture and 2-D tensor shapes."""

    architecture: str
    tensor_shapes: dict[str, tuple[int, int]]  # name -> (out, in), numpy order
    path: Path | None = None


def base_model_info(gguf_path: Path) -> BaseModelInfo:
    """Read the architecture and the 2-D tensor shapes of a base model GGUF."""
    path = Path(gguf_path).resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelError(f"model file {path} cannot be read: {exc.strerror}") from exc
    return _base_model_info(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _base_model_info(path: Path, size: int, mtime_ns: int) -> BaseModelInfo:
    del size, mtime_ns  # part of the cache key only: a replaced file is read again
    # The fast header reader, not gguf's: gguf's builds a numpy view of each of the ~50k
    # vocabulary entries (seconds, the GIL held: the window froze when an adapter activated).
    header = model_header(path)
    arch = header.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelError(f"{path.name} has no architecture in its metadata")
    shapes = {t.name: (t.shape[1], t.shape[0]) for t in header.tensors if len(t.shape) == 2}
    return BaseModelInfo(arch, shapes, path)


def write_lora(path: Path, adapter: LoraAdapter) -> None:
    """Write `adapter` as a GGUF LoRA, atomically (temp file, fsync, rename)."""
    import gguf

    _check_consistent(adapter)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer = gguf.GGUFWriter(tmp, adapter.architecture)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_name(str(adapter.metadata.get("name", path.stem)))
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(adapter.alpha))
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        if adapter.metadata:
            writer.add_string(_META_KEY, json.dumps(adapter.metadata, sort_keys=True))
        for name in sorted(adapter.tensors, key=_tensor_order):
            a, b = adapter.tensors[name]
            writer.add_tensor(name + LORA_A, np.ascontiguousarray(a, dtype=np.float32))
            writer.add_tensor(name + LORA_B, np.ascontiguousarray(b, dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def read_lora(path: Path, base: BaseModelInfo | None = None) -> LoraAdapter:
    """Read and check a GGUF LoRA; with `base`, also check it fits that base model."""
    import gguf

    path = Path(path)
    reader = _open_reader(path, AdapterError, "adapter")
    kind = _field_str(reader, "general.type")
    if kind != "adapter" or _field_str(reader, "adapter.type") != "lora":
        what = "a model, not an adapter" if kind in ("", "model") else f"of type '{kind}'"
        raise AdapterError(f"{path.name} is a GGUF file but not a LoRA adapter (it is {what})")
    arch = _field_str(reader, "general.architecture")
    if base is not None and arch != base.architecture:
        raise AdapterError(
            f"{path.name} was made for the '{arch}' architecture; "
            f"the model is '{base.architecture}'"
        )
    alpha_field = reader.get_field("adapter.lora.alpha")
    try:
        alpha = float(alpha_field.contents()) if alpha_field is not None else 0.0
    except (TypeError, ValueError) as exc:  # a string or an array where a number belongs
        raise AdapterError(f"{path.name}: its LoRA alpha is not a number") from exc
    if not math.isfinite(alpha):
        raise AdapterError(f"{path.name}: its LoRA alpha is not a finite number")
    size = path.stat().st_size
    halves: dict[str, dict[str, FloatArray]] = {}
    for tensor in reader.tensors:
        if tensor.data_offset + tensor.n_bytes > size:
            raise AdapterError(f"{path.name} is truncated (tensor {tensor.name} is cut off)")
        if tensor.name.endswith("_norm.weight"):
            continue  # llama.cpp ignores these too
        for suffix in (LORA_A, LORA_B):
            if tensor.name.endswith(suffix):
                data = _as_float32(tensor, gguf)
                halves.setdefault(tensor.name[: -len(suffix)], {})[suffix] = data
                break
        else:
            raise AdapterError(f"{path.name} holds an unexpected tensor '{tensor.name}'")
    tensors = _pair_and_check(path.name, halves, base)
    if not tensors:
        raise AdapterError(f"{path.name} holds no LoRA tensors")
    metadata = _metadata(path.name, reader.get_field(_META_KEY))
    rank = max(a.shape[0] for a, _ in tensors.values())
    return LoraAdapter(arch, alpha, rank, tensors, metadata)


def _pair_and_check(
    file: str, halves: dict[str, dict[str, FloatArray]], base: BaseModelInfo | None
) -> dict[str, tuple[FloatArray, FloatArray]]:
    tensors: dict[str, tuple[FloatArray, FloatArray]] = {}
    for name, pair in halves.items():
        if LORA_A not in pair or LORA_B not in pair:
            raise AdapterError(f"{file}: tensor '{name}' lacks its lora_a or lora_b half")
        a, b = pair[LORA_A], pair[LORA_B]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise AdapterError(
                f"{file}: tensor '{name}' has mismatched halves {a.shape} and {b.shape}"
            )
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            raise AdapterError(f"{file}: tensor '{name}' contains NaN or infinite values")
        if base is not None:
            expected = base.tensor_shapes.get(name)
            if expected is None:
                raise AdapterError(f"{file}: tensor '{name}' does not exist in the base model")
            if (b.shape[0], a.shape[1]) != expected:
                raise AdapterError(
                    f"{file}: tensor '{name}' has shape {(b.shape[0], a.shape[1])}, "
                    f"the base model's is {expected} (made for another model?)"
                )
        tensors[name] = (a, b)
    return tensors


def _open_reader(path: Path, error: type[Exception], what: str) -> Any:
    import gguf

    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise error(f"{what} file {path} cannot be read: {exc.strerror}") from exc
    if magic != _GGUF_MAGIC:
        raise error(f"{path.name} is not a GGUF file")
    try:
        # The fast bounds-checked reader first: gguf's loops forever over an array whose
        # count runs past the end of the file.
        read_header(path)
    except GGUFFormatError as exc:
        raise error(f"{path.name} is truncated or corrupt: {exc}") from exc
    try:
        return gguf.GGUFReader(path, "r")
    # ValueError covers UnicodeDecodeError; RecursionError: arrays nested in arrays
    except (ValueError, IndexError, KeyError, OverflowError, RecursionError) as exc:
        raise error(f"{path.name} is truncated or corrupt: it cannot be read as GGUF") from exc


def _metadata(file: str, meta_field: Any) -> dict[str, Any]:
    """Hearth's own JSON metadata (name, lineage); a damaged one is a damaged file."""
    if meta_field is None:
        return {}
    try:
        metadata = json.loads(meta_field.contents())
    except (TypeError, ValueError, RecursionError) as exc:  # ValueError: bad UTF-8 or JSON
        raise AdapterError(f"{file}: its Hearth metadata is damaged") from exc
    if not isinstance(metadata, dict):
        raise AdapterError(f"{file}: its Hearth metadata is damaged")
    return metadata


def _field_str(reader: Any, key: str) -> str:
    value = reader.get_field(key)
    try:
        return str(value.contents()) if value is not None else ""
    except (ValueError, UnicodeDecodeError):
        return ""


def _as_float32(tensor: Any, gguf: Any) -> FloatArray:
    kind = gguf.GGMLQuantizationType
    try:
        if tensor.tensor_type in (kind.F32, kind.F16):
            data = np.asarray(tensor.data, dtype=np.float32)
        else:
            data = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
    except (ValueError, NotImplementedError) as exc:
        raise AdapterError(f"tensor '{tensor.name}' cannot be decoded ({exc})") from exc
    dims = tuple(reversed([int(d) for d in tensor.shape]))
    return np.array(data.reshape(dims), dtype=np.float32)


def _check_consistent(adapter: LoraAdapter) -> None:
    if not adapter.tensors:
        raise AdapterError("an adapter needs at least one tensor")
    if not math.isfinite(adapter.alpha):
        raise AdapterError("adapter alpha must be a finite number")
    for name, (a, b) in adapter.tensors.items():
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise AdapterError(f"tensor '{name}': A {a.shape} and B {b.shape} do not pair")


def _tensor_order(name: str) -> tuple[int, str]:
    match = _BLOCK.match(name)
    return (int(match.group(1)) if match else -1, name)
