"""The settings a user may change from the window or `hearth settings`, each with its check.

A value is parsed from text (the command line) or taken as is (the window), then checked; a
value out of range is refused with the reason, never stored. Loading a file runs the same
checks, so a hand-edited file with a wrong type cannot reach the engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.errors import HearthError
from app.settings.model import Settings


class SettingError(HearthError):
    """A setting name that does not exist, or a value it cannot take."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: type
    label: str
    check: Callable[[Any], str | None]  # the reason a value is refused, or None
    reloads_model: bool = False  # applied by loading the model again (in the background)


def _between(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be between {low:g} and {high:g}"

    return check


def _threads(value: Any) -> str | None:
    cores = os.cpu_count() or 1
    if value == 0 or 1 <= value <= cores:
        return None
    return f"must be 0 (follow the free cores) or between 1 and {cores} (this computer's cores)"


def _theme(value: Any) -> str | None:
    return None if value in THEMES else "must be one of: " + ", ".join(THEMES)


def _prompt(value: Any) -> str | None:
    return None if len(value) <= 8000 else "must be at most 8000 characters"


THEMES = ("system", "light", "dark")

FIELDS: dict[str, Field] = {
    f.name: f
    for f in [
        Field("system_prompt", str, "System prompt", _prompt),
        Field("temperature", float, "Temperature", _between(0.0, 2.0)),
        Field("top_p", float, "Top-p", _between(0.01, 1.0)),
        Field("top_k", int, "Top-k (0: no limit)", _between(0, 1000)),
        Field("repeat_penalty", float, "Repeat penalty", _between(1.0, 2.0)),
        Field("max_tokens", int, "Longest answer (tokens)", _between(16, 32768)),
        Field("context_tokens", int, "Context size (tokens)", _between(512, 131072), True),
        Field("threads", int, "Threads (0: automatic)", _threads, True),
        Field("gpu_layers", int, "GPU layers", _between(0, 999), True),
        Field("memory_enabled", bool, "Memory", lambda _v: None),
        Field("theme", str, "Theme", _theme),
        Field("auto_train", bool, "Train by itself when idle", lambda _v: None),
        Field("auto_train_min_feedback", int, "New feedback before training", _between(1, 10000)),
    ]
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def field(name: str) -> Field:
    try:
        return FIELDS[name.replace("-", "_")]
    except KeyError:
        known = ", ".join(n.replace("_", "-") for n in FIELDS)
        raise SettingError(f"there is no setting {name!r}; settings: {known}") from None


def parse(name: str, text: str) -> Any:
    """A value typed on the command line, converted to the setting's type and checked."""
    spec = field(name)
    raw = text.strip()
    try:
        if spec.kind is bool:
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError
            value: Any = raw.lower() in _TRUE
        elif spec.kind is int:
            value = int(raw)
        elif spec.kind is float:
            value = float(raw)
        else:
            value = text
    except ValueError:
        kind = {bool: "on or off", int: "a whole number", float: "a number"}[spec.kind]
        raise SettingError(f"{name}: {text!r} is not {kind}") from None
    return checked(name, value)


def checked(name: str, value: Any) -> Any:
    """`value` if the setting can take it; SettingError with the reason otherwise."""
    spec = field(name)
    if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, spec.kind) or (spec.kind is int and isinstance(value, bool)):
        raise SettingError(f"{name}: {value!r} is not a {spec.kind.__name__}")
    if spec.kind is float and value != value:  # NaN
        raise SettingError(f"{name}: not a number")
    reason = spec.check(value)
    if reason:
        raise SettingError(f"{name.replace('_', '-')} {reason} (got {value!r})")
    return value


def apply(settings: Settings, changes: dict[str, Any]) -> list[str]:
    """Check every change first, then make them all; returns the names that changed."""
    values = {field(k).name: checked(k, v) for k, v in changes.items()}
    changed = [k for k, v in values.items() if getattr(settings, k) != v]
    for key, value in values.items():
        setattr(settings, key, value)
    return changed


def as_dict(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in FIELDS}
