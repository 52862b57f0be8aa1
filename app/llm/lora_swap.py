"""Hot-swap GGUF LoRA adapters on a live llama_cpp.Llama, without reloading the model.

llama-cpp-python only takes one adapter at construction (and turns mmap off then), so Hearth
goes one layer down: `llama_adapter_lora_init` loads an adapter against the model,
`llama_set_adapters_lora` sets the context's adapters and scales. The KV cache is cleared after
a change: a prefix computed under the old adapters must not be reused.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from app.errors import AdapterError


class LoadedAdapter:
    """An adapter loaded against one model; freed with the model or by `free()`."""

    def __init__(self, handle: Any, path: Path) -> None:
        self.handle = handle
        self.path = path

    def free(self) -> None:
        import llama_cpp

        if self.handle is not None:
            llama_cpp.llama_adapter_lora_free(self.handle)
            self.handle = None


def load_adapter(llama: Any, path: Path) -> LoadedAdapter:
    import llama_cpp

    path = Path(path)
    if not path.is_file():
        raise AdapterError(f"{path}: adapter file not found")
    handle = llama_cpp.llama_adapter_lora_init(llama.model, str(path).encode("utf-8"))
    if not handle:
        raise AdapterError(
            f"{path.name}: llama.cpp refused this adapter (not a LoRA for this model, "
            "or a damaged file)"
        )
    return LoadedAdapter(handle, path)


def set_adapters(llama: Any, adapters: list[tuple[LoadedAdapter, float]]) -> None:
    """Make exactly these adapters (with scales) active on the context; [] clears them."""
    import llama_cpp

    n = len(adapters)
    if n:
        handles = (llama_cpp.llama_adapter_lora_p_ctypes * n)(*(a.handle for a, _ in adapters))
        scales = (ctypes.c_float * n)(*(float(s) for _, s in adapters))
        rc = llama_cpp.llama_set_adapters_lora(llama.ctx, handles, n, scales)
    else:
        rc = llama_cpp.llama_set_adapters_lora(llama.ctx, None, 0, None)
    if rc != 0:
        raise AdapterError(f"llama.cpp could not set the adapters (code {rc})")
    clear_cache(llama)


def clear_cache(llama: Any) -> None:
    """Forget every cached token so the next prompt is evaluated under the current adapters."""
    import llama_cpp

    mem = llama_cpp.llama_get_memory(llama.ctx)
    if mem is not None:
        llama_cpp.llama_memory_clear(mem, True)
    llama.reset()
