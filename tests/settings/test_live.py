"""Settings applied to a running core: the model reloads for a new context size, memory turns
on, the active model cannot be removed from the list."""

from __future__ import annotations

import pytest

from app.core import Core
from app.errors import ModelError
from app.settings import Settings, load_settings, save_settings
from app.settings.fields import SettingError
from app.settings.live import apply_to_core
from app.settings.model_choices import choices, remove


def test_context_size_and_memory_apply_without_a_restart() -> None:
    save_settings(Settings(memory_enabled=False, context_tokens=1024, threads=1))
    core = Core.open(load_model=True, n_threads=1)
    try:
        assert core.engine.wait_loaded().n_ctx == 1024 and core.assistant.memory is None
        with pytest.raises(SettingError):
            apply_to_core(core, {"context_tokens": 2048, "top_p": 7.0})
        assert core.settings.context_tokens == 1024  # all or nothing
        changed = apply_to_core(core, {"context_tokens": 2048, "memory_enabled": True})
        assert sorted(changed) == ["context_tokens", "memory_enabled"]
        core.engine.wait_loaded()
        assert core.engine.model_info is not None and core.engine.model_info.n_ctx == 2048
        assert core.assistant.memory is not None
        assert load_settings().context_tokens == 2048
        [model] = choices(core.store)
        assert model.active and model.quantization == "Q4_1" and model.context_length
        with pytest.raises(ModelError, match="in use"):
            remove(core.store, model.id)
    finally:
        core.close()
