"""Shared helpers for the LoRA file and merge tests: random adapters for the real default model
and llama.cpp logits with any stack of adapters (no tests here)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.adapters.lora_file import BaseModelInfo, LoraAdapter
from app.llm import lora_swap

TARGETS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
PROMPT = "The quick brown fox jumps over the lazy dog. My favourite colour is"


def random_adapter(
    base: BaseModelInfo,
    *,
    rank: int = 4,
    alpha: float = 8.0,
    b_scale: float = 0.02,
    seed: int = 0,
    layers: Sequence[int] | None = None,
    targets: Sequence[str] = TARGETS,
) -> LoraAdapter:
    """A LoRA over the base's real tensor shapes; b_scale 0 gives a zero (no-op) adapter."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, (out_dim, in_dim) in sorted(base.tensor_shapes.items()):
        parts = name.split(".")
        if parts[0] != "blk" or parts[2] not in targets:
            continue
        if layers is not None and int(parts[1]) not in layers:
            continue
        a = rng.standard_normal((rank, in_dim), dtype=np.float32) / np.float32(in_dim**0.5)
        b = rng.standard_normal((out_dim, rank), dtype=np.float32) * np.float32(b_scale)
        tensors[name] = (a, b)
    return LoraAdapter(base.architecture, alpha, rank, tensors)


class Logits:
    """One llama.cpp model (one thread) scoring a fixed prompt under any stack of adapters."""

    def __init__(self, model: Path) -> None:
        from app.llm.llama_loader import load_llama

        self.llama: Any = load_llama(model, n_ctx=256, n_threads=1, logits_all=True)
        self.ids = self.llama.tokenize(PROMPT.encode(), add_bos=True)
        self._loaded: list[lora_swap.LoadedAdapter] = []

    def __call__(self, adapters: Sequence[tuple[Path, float]] = ()) -> np.ndarray:
        """Logits at every position of the prompt with these adapters (and scales) set."""
        handles = [lora_swap.load_adapter(self.llama, path) for path, _ in adapters]
        self._loaded.extend(handles)
        lora_swap.set_adapters(
            self.llama, [(h, s) for h, (_, s) in zip(handles, adapters, strict=True)]
        )
        self.llama.reset()
        self.llama.eval(self.ids)
        return np.array(self.llama.scores[: len(self.ids)], dtype=np.float32)

    def close(self) -> None:
        lora_swap.set_adapters(self.llama, [])
        for handle in self._loaded:
            handle.free()
        self.llama.close()


def import_two_skills(core: Any, folder: Path) -> list[int]:
    """Two small random adapters of the default model imported into `core`: their ids."""
    from app.adapters.lora_file import base_model_info, write_lora

    base = base_model_info(core.adapters.base_model().path)
    ids = []
    for seed in (1, 2):
        path = folder / f"skill{seed}.gguf"
        write_lora(path, random_adapter(base, b_scale=0.002, seed=seed, layers=[0, 1]))
        ids.append(core.adapters.import_file(path))
    return ids


def logits_session(model: Path) -> Iterator[Logits]:
    session = Logits(model)
    try:
        yield session
    finally:
        session.close()
