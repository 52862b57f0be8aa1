"""The models the Settings dialog lists: each GGUF file with what its own metadata says (size,
architecture, quantization, context length), and removing one from the list."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import ModelError
from app.llm.gguf_header import GGUFFormatError, read_header
from app.llm.models import ModelManager
from app.store import Store

# llama.cpp's `general.file_type` values (enum llama_ftype) for the common quantizations.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}


@dataclass(frozen=True)
class ModelChoice:
    id: int
    name: str
    path: str
    size_mb: float
    architecture: str | None
    quantization: str | None
    context_length: int | None
    active: bool
    readable: bool  # the file is still there and its header reads


def choices(store: Store) -> list[ModelChoice]:
    manager = ModelManager(store)
    try:
        active_id: int | None = manager.active().id
    except ModelError:
        active_id = None
    found = []
    for model in manager.list():
        quant, ctx, readable = None, None, True
        try:
            header = read_header(model.path)
            kind = header.get("general.file_type")
            quant = FILE_TYPES.get(kind, f"type {kind}") if isinstance(kind, int) else None
            length = header.get(f"{model.architecture}.context_length")
            ctx = int(length) if isinstance(length, int) else None
        except (GGUFFormatError, OSError):
            readable = False
        found.append(
            ModelChoice(
                id=model.id,
                name=model.name,
                path=str(model.path),
                size_mb=round(model.size_bytes / 1e6, 1),
                architecture=model.architecture,
                quantization=quant,
                context_length=ctx,
                active=model.id == active_id,
                readable=readable,
            )
        )
    return found


def remove(store: Store, model_id: int) -> None:
    """Forget a model (its file stays where it is); the one in use cannot be removed."""
    manager = ModelManager(store)
    model = manager.get(model_id)
    if model.id == manager.active().id:
        raise ModelError(f"{model.name} is the model in use; choose another one first")
    store.execute("DELETE FROM models WHERE id=?", (model.id,))
