"""Turn a trained PEFT LoRA into llama.cpp's GGUF LoRA, and write its JSON manifest.

PEFT's `lora_A` (r x in) becomes `lora_a` and `lora_B` (out x r) `lora_b`, no transposes. For
the llama architecture llama.cpp's converter permutes the rows of the q and k weights (rotary
pairs interleaved, `LlamaModel.permute`); transformers undoes that when it loads a GGUF, so the
rows of `lora_b` for attn_q and attn_k must get the same permutation back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.adapters.lora_file import LoraAdapter, write_lora
from app.atomic import write_text
from app.errors import AdapterError

# HF module (under model.layers.N.) -> llama.cpp tensor (under blk.N.)
MODULE_TO_TENSOR = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Architectures whose q/k rows llama.cpp's converter permutes.
PERMUTED_ARCHITECTURES = {"llama"}
SUPPORTED_ARCHITECTURES = {"llama", "gemma3"}
_LAYER = re.compile(r"layers\.(\d+)\.(.+)$")


def permute_rows(weights: npt.NDArray[Any], n_head: int) -> npt.NDArray[Any]:
    """llama.cpp's `LlamaModel.permute` on the rows (output dimension) of a 2-D matrix."""
    rows = weights.shape[0]
    if rows % (n_head * 2):
        raise AdapterError(f"cannot permute {rows} rows over {n_head} heads")
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def unpermute_rows(weights: npt.NDArray[Any], n_head: int) -> npt.NDArray[Any]:
    """The inverse of `permute_rows`: llama.cpp's row order back to transformers'."""
    rows = weights.shape[0]
    if rows % (n_head * 2):
        raise AdapterError(f"cannot permute {rows} rows over {n_head} heads")
    return (
        weights.reshape(n_head, rows // n_head // 2, 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def tensor_name(module_name: str) -> str | None:
    """`base_model.model.model.layers.3.self_attn.q_proj` -> `blk.3.attn_q.weight`."""
    match = _LAYER.search(module_name)
    if not match or match.group(2) not in MODULE_TO_TENSOR:
        return None
    return f"blk.{match.group(1)}.{MODULE_TO_TENSOR[match.group(2)]}.weight"


def peft_factors(model: Any) -> dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
    """(A, B) per target module of a PEFT model, keyed by llama.cpp tensor name, HF row order."""
    out: dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = {}
    for name, module in model.named_modules():
        if not hasattr(module, "lora_A") or "default" not in getattr(module, "lora_A", {}):
            continue
        target = tensor_name(name)
        if target is None:
            continue
        a = module.lora_A["default"].weight.detach().float().cpu().numpy()
        b = module.lora_B["default"].weight.detach().float().cpu().numpy()
        out[target] = (np.array(a, dtype=np.float32), np.array(b, dtype=np.float32))
    return out


def to_llama_cpp(
    factors: dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
    *,
    architecture: str,
    n_head: int,
    n_kv_head: int,
    alpha: float,
    permute: bool = True,
    metadata: dict[str, Any] | None = None,
) -> LoraAdapter:
    """Build the adapter in llama.cpp layout (`permute=False` exists to test the check)."""
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise AdapterError(f"adapters for the '{architecture}' architecture are not supported")
    tensors = {}
    for name, (a, b) in factors.items():
        if permute and architecture in PERMUTED_ARCHITECTURES:
            if ".attn_q." in name:
                b = permute_rows(b, n_head)
            elif ".attn_k." in name:
                b = permute_rows(b, n_kv_head)
        tensors[name] = (np.ascontiguousarray(a), np.ascontiguousarray(b))
    rank = max(a.shape[0] for a, _ in tensors.values())
    return LoraAdapter(architecture, float(alpha), rank, tensors, dict(metadata or {}))


def into_peft(
    model: Any, adapter: LoraAdapter, *, scale: float, n_head: int, n_kv_head: int
) -> int:
    """Start a fresh PEFT LoRA from `adapter` (llama.cpp layout) applied at `scale`: its
    factors fill the first ranks of each module, the other ranks keep PEFT's start (B = 0), so
    the PEFT model computes what llama.cpp computes with the adapter at that strength.
    Returns the number of modules filled; raises AdapterError if a tensor has no module or
    more ranks than the module."""
    import torch

    filled = 0
    for name, module in model.named_modules():
        if not hasattr(module, "lora_A") or "default" not in getattr(module, "lora_A", {}):
            continue
        target = tensor_name(name)
        if target is None or target not in adapter.tensors:
            continue
        a, b = adapter.tensors[target]
        if adapter.architecture in PERMUTED_ARCHITECTURES:
            if ".attn_q." in target:
                b = unpermute_rows(b, n_head)
            elif ".attn_k." in target:
                b = unpermute_rows(b, n_kv_head)
        lora_a, lora_b = module.lora_A["default"].weight, module.lora_B["default"].weight
        rank = a.shape[0]
        if rank > lora_a.shape[0] or a.shape[1] != lora_a.shape[1] or b.shape[0] != lora_b.shape[0]:
            raise AdapterError(f"{target}: the adapter's shape does not fit the model's")
        # PEFT multiplies B @ A by its own alpha / r; llama.cpp by the file's alpha / rank.
        factor = adapter.tensor_scale(target) * scale / float(module.scaling["default"])
        with torch.no_grad():
            lora_a[:rank] = torch.from_numpy(np.array(a, dtype=np.float32))
            lora_b[:, :rank] = torch.from_numpy(np.array(b, dtype=np.float32) * factor)
            lora_b[:, rank:] = 0.0
        filled += 1
    if filled != len(adapter.tensors):
        raise AdapterError(
            f"{len(adapter.tensors) - filled} of the adapter's tensors have no module in the model"
        )
    return filled


def write_adapter(path: Path, adapter: LoraAdapter, manifest: dict[str, Any]) -> Path:
    """Write the GGUF and its manifest (`<name>.json` beside it), each atomically."""
    write_lora(path, adapter)
    return write_manifest(path, manifest)


def write_manifest(path: Path, manifest: dict[str, Any]) -> Path:
    manifest_path = manifest_path_for(path)
    write_text(manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
    return manifest_path


def manifest_path_for(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(manifest_path_for(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # ValueError: bad JSON or UTF-8
        return {}
    return data if isinstance(data, dict) else {}
