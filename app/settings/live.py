"""Changing settings in a running Hearth: checked, saved, and in effect from the next answer.

Sampling, the system prompt, the answer length and memory are read at every turn; the context
size, threads and GPU layers need the model loaded again, which happens in the background (the
model in use keeps answering until the new one is ready).
"""

from __future__ import annotations

import copy
from typing import Any

from app.llm.llama_loader import free_cores
from app.settings.fields import FIELDS, apply
from app.settings.model import save_settings


def apply_to_core(core: Any, changes: dict[str, Any]) -> list[str]:
    """Check every change (SettingError with the reason, nothing changed), save the file, then
    put the changes into effect; returns the names that changed."""
    trial = copy.deepcopy(core.settings)
    changed = apply(trial, changes)  # raises before anything is touched
    if not changed:
        return []
    save_settings(trial)
    apply(core.settings, {name: getattr(trial, name) for name in changed})
    settings = core.settings
    if "memory_enabled" in changed and settings.memory_enabled and core.assistant.memory is None:
        core.assistant.memory = core.memory_hook()
    if any(FIELDS[name].reloads_model for name in changed):
        engine = core.engine
        engine.n_ctx = settings.context_tokens
        engine.n_threads = settings.threads or free_cores()
        engine.n_gpu_layers = settings.gpu_layers
        core.load_model()
    return changed
