"""Retention rules: delete conversations older than N days, forget memories unused for N days.

The rules live in their own small file (`privacy.json` in the config folder, written
atomically); `apply` runs them through the same real deletion as the dashboard's controls.
Pinned memories are never forgotten by a rule.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app import paths
from app.atomic import write_text
from app.errors import HearthError
from app.privacy.controls import checkpoint, remove_derived_index, with_replaced
from app.store import Store

RULES_FILE = "privacy.json"
DAY_S = 24 * 3600.0
_daily: threading.Thread | None = None


@dataclass(frozen=True)
class Rules:
    conversation_days: int | None = None  # None: keep for ever
    memory_unused_days: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rules_path() -> Path:
    return paths.config_dir() / RULES_FILE


def load_rules() -> Rules:
    try:
        data = json.loads(rules_path().read_text("utf-8"))
        return Rules(_days(data.get("conversation_days")), _days(data.get("memory_unused_days")))
    except (OSError, ValueError, AttributeError, HearthError):
        return Rules()  # no file, or a damaged one: keep everything


def save_rules(rules: Rules) -> None:
    checked = Rules(_days(rules.conversation_days), _days(rules.memory_unused_days))
    write_text(rules_path(), json.dumps(checked.to_dict(), indent=2))


def _days(value: Any) -> int | None:
    if value in (None, "", 0):
        return None
    try:
        days = int(value)
    except (TypeError, ValueError) as exc:
        raise HearthError(f"a number of days, not {value!r}") from exc
    if days < 1:
        raise HearthError(f"a number of days is at least 1, not {days}")
    return days


@dataclass(frozen=True)
class Applied:
    conversations: int
    memories: int


def apply(store: Store, rules: Rules | None = None, *, now: str | None = None) -> Applied:
    """Delete what the rules say is too old; `now` (ISO time) is for tests."""
    rules = rules or load_rules()
    clock = "strftime('%Y-%m-%dT%H:%M:%fZ', ?)" if now else "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
    base: tuple[Any, ...] = (now,) if now else ()
    conversations = memories = 0
    with store.transaction() as conn:
        conn.execute("PRAGMA secure_delete=ON")
        if rules.conversation_days:
            conversations = conn.execute(
                f"DELETE FROM conversations WHERE updated_at < "
                f"strftime('%Y-%m-%dT%H:%M:%fZ', {clock}, ?)",
                (*base, f"-{rules.conversation_days} days"),
            ).rowcount
        if rules.memory_unused_days:
            memories = conn.execute(
                with_replaced(
                    f"pinned = 0 AND superseded_by IS NULL AND "
                    f"COALESCE(last_used_at, updated_at, created_at) < "
                    f"strftime('%Y-%m-%dT%H:%M:%fZ', {clock}, ?)"
                ),
                (*base, f"-{rules.memory_unused_days} days"),
            ).rowcount
        if conversations or memories:
            conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')")
    if memories:
        remove_derived_index()
    if conversations or memories:
        checkpoint(store.path)
    return Applied(max(conversations, 0), max(memories, 0))


def apply_saved() -> Applied | None:
    """Apply the user's saved rules to their database; None when there are no rules."""
    rules = load_rules()
    if not (rules.conversation_days or rules.memory_unused_days):
        return None
    from app.store import open_store

    with open_store() as store:
        return apply(store, rules)


def start_daily(interval_s: float = DAY_S) -> None:
    """Re-apply the rules once a day in a process that stays open (the window, for weeks)."""
    global _daily
    if _daily is not None:
        return

    def loop() -> None:
        while not threading.Event().wait(interval_s):
            with contextlib.suppress(Exception):  # a locked or damaged database: next day
                apply_saved()

    _daily = threading.Thread(target=loop, name="hearth-retention", daemon=True)
    _daily.start()
