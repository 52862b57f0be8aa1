"""The settings a user can change, their defaults, and how older files are upgraded.

A file written by an older Hearth is migrated step by step (`_MIGRATIONS`); unknown keys are
kept aside rather than dropped, and a damaged file is moved out of the way, never overwritten.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import paths
from app.atomic import write_text

SCHEMA_VERSION = 1
DEFAULT_SYSTEM_PROMPT = (
    "You are Hearth, a helpful assistant running privately on the user's computer."
)


@dataclass
class Settings:
    schema_version: int = SCHEMA_VERSION
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = 512
    temperature: float = 0.7
    context_tokens: int = 4096
    threads: int = 0  # 0: follow the free cores
    gpu_layers: int = 0  # layers offloaded to a GPU, where llama.cpp was built with one
    memory_enabled: bool = True
    memory_budget_tokens: int = 256
    adapter_rank: int = 8
    preference_rank: int = 8  # the one merged preference adapter never exceeds this rank
    adapter_scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)


# version N -> function upgrading a dict from N to N+1
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def load_settings(path: Path | None = None) -> Settings:
    path = path or paths.settings_file()
    if not path.is_file():
        return Settings()
    try:
        data = json.loads(path.read_text("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (ValueError, OSError):
        # Keep the damaged file for the user to inspect; start from defaults.
        path.replace(path.with_suffix(".damaged.json"))
        return Settings()
    version = int(data.get("schema_version", 1))
    while version < SCHEMA_VERSION:
        data = _MIGRATIONS[version](data)
        version += 1
    known = {f.name for f in dataclasses.fields(Settings)}
    extra = {k: v for k, v in data.items() if k not in known}
    values = {k: v for k, v in data.items() if k in known}
    settings = Settings(**values)
    settings.schema_version = SCHEMA_VERSION
    settings.extra.update(extra)
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> None:
    write_text(path or paths.settings_file(), json.dumps(dataclasses.asdict(settings), indent=2))
