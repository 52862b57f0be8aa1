"""Construct a llama_cpp.Llama with Hearth's defaults and turn its failures into clear messages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from app.errors import ModelError


def free_cores() -> int:
    """Cores this process may use, less one for the window and Python when there are few.

    llama.cpp's threads spin-wait: one more thread than free cores costs far more than it gives
    (measured: ~70 -> ~4 tokens/s on 2 cores with one busy). `HEARTH_THREADS` overrides.
    """
    override = os.environ.get("HEARTH_THREADS")
    if override:
        return max(1, int(override))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if cores <= 2:
        return 1
    return min(cores - 1, 8)


def load_llama(
    path: Path,
    *,
    n_ctx: int = 4096,
    n_threads: int | None = None,
    probe: bool = True,
    **extra: Any,
) -> Any:
    """Load a GGUF model; raise ModelError naming the file and the reason on failure.

    The first time a model file meets this llama.cpp build on this CPU it is loaded and run
    in a short-lived child process first (`app.llm.probe`): a model that crashes llama.cpp
    ends in a ModelError here instead of taking the whole app down.
    """
    from app.llm.models import inspect_gguf

    info = inspect_gguf(path)
    import llama_cpp

    from app.llm import backend

    try:
        loaded = backend.ensure_loaded()
    except RuntimeError as exc:
        raise ModelError(f"llama.cpp cannot run on this computer: {exc}") from exc
    if probe:
        from app.llm.probe import ensure_safe

        ensure_safe(Path(path))
    threads = n_threads or free_cores()
    params: dict[str, Any] = {}
    if not loaded.extra_bufts:
        params["use_extra_bufts"] = False  # llama.cpp issue #20824: see app/llm/backend.py
    try:
        with backend.model_params(**params):
            return llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=extra.pop("verbose", False),
                **extra,
            )
    except (ValueError, RuntimeError, OSError) as exc:
        arch = info.get("architecture") or "unknown"
        raise ModelError(
            f"{Path(path).name}: llama.cpp cannot load this model (architecture {arch!r}): {exc}"
        ) from exc
