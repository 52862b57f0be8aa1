"""The settings a user can change, their defaults, and how older files are upgraded.

A file written by an older Hearth is migrated step by step (`_MIGRATIONS`); unknown keys are
kept aside rather than dropped, and a damaged file is moved out of the way, never overwritten.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import paths
from app.atomic import write_text

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
DEFAULT_SYSTEM_PROMPT = (
    "You are Hearth, a helpful assistant running privately on the user's computer."
)


@dataclass
class Settings:
    schema_version: int = SCHEMA_VERSION
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40  # 0: no limit
    repeat_penalty: float = 1.0  # 1: off (llama.cpp's chat default)
    context_tokens: int = 4096
    threads: int = 0  # 0: follow the free cores
    gpu_layers: int = 0  # layers offloaded to a GPU, where llama.cpp was built with one
    memory_enabled: bool = True
    memory_budget_tokens: int = 256
    adapter_rank: int = 8
    preference_rank: int = 8  # the one merged preference adapter never exceeds this rank
    adapter_scale: float = 1.0
    # Train by itself once enough new feedback has gathered and the machine is idle. New keys
    # with defaults need no migration: an older file takes the defaults, an older Hearth keeps
    # them aside as unknown keys.
    auto_train: bool = False
    auto_train_min_feedback: int = 20  # new trainable feedback items since the last training
    theme: str = "system"  # system, light or dark
    extra: dict[str, Any] = field(default_factory=dict)


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added sampling (top-p, top-k, repeat penalty) and the theme, with defaults."""
    return {**data, "schema_version": 2}


# version N -> function upgrading a dict from N to N+1
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


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
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        version = 1
    while version < SCHEMA_VERSION:
        data = _MIGRATIONS[version](data)
        version += 1
    from app.settings.fields import FIELDS, SettingError, checked

    known = {f.name for f in dataclasses.fields(Settings)}
    extra = {k: v for k, v in data.items() if k not in known}
    values = {k: v for k, v in data.items() if k in known}
    for name in [k for k in values if k in FIELDS]:
        try:
            values[name] = checked(name, values[name])
        except SettingError as exc:  # a hand-edited value the engine cannot take
            log.warning("settings: %s; using the default", exc)
            del values[name]
    if not isinstance(values.get("extra", {}), dict):
        del values["extra"]
    values.pop("schema_version", None)
    settings = Settings(**values)
    # A file from a newer Hearth keeps its version (and its unknown keys, in `extra`).
    settings.schema_version = max(SCHEMA_VERSION, version)
    settings.extra.update(extra)
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> None:
    data = dataclasses.asdict(settings)
    extra = data.pop("extra")
    # Unknown keys go back where they came from, at the top level.
    write_text(path or paths.settings_file(), json.dumps({**extra, **data}, indent=2))
