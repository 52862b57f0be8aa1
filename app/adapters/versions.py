"""The adapter registry: every version with its manifest, and the active pointer with its scale.

Files live under `paths.adapters_dir()`; the database holds the rows, the activation history
(which makes rollback a walk back through it) and the pointer (`state` keys `adapter.active`,
`adapter.scale`). A missing or corrupt active file falls back to the last good version.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import AdapterError, HearthError
from app.store.database import Store

ACTIVE_KEY = "adapter.active"
SCALE_KEY = "adapter.scale"

Check = Callable[[Path], None]  # raises AdapterError when a file cannot be used
History = list[tuple[int, int | None, float]]  # (row id, adapter id or None, scale)


@dataclass(frozen=True)
class AdapterVersion:
    id: int
    name: str
    path: Path | None
    manifest: dict[str, Any]
    status: str
    parents: list[int]
    base_sha256: str | None
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "path": str(self.path) if self.path else None,
            "status": self.status,
            "parents": self.parents,
            "base_sha256": self.base_sha256,
            "created_at": self.created_at,
            "examples": self.manifest.get("dataset", {}).get("train_examples"),
            "evaluation": self.manifest.get("evaluation", {}),
            "gate": self.manifest.get("gate", {}),
        }


def _version(row: Any) -> AdapterVersion:
    return AdapterVersion(
        id=row["id"],
        name=row["name"],
        path=Path(row["path"]) if row["path"] else None,
        manifest=json.loads(row["manifest"] or "{}"),
        status=row["status"],
        parents=list(json.loads(row["parents"] or "[]")),
        base_sha256=row["base_sha256"],
        created_at=row["created_at"],
    )


class Versions:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self,
        name: str,
        path: Path | None,
        manifest: dict[str, Any],
        *,
        status: str = "ready",
        parents: list[int] | None = None,
    ) -> int:
        return self.store.execute(
            "INSERT INTO adapters (name, path, manifest, status, parents, base_sha256)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                name,
                str(path) if path else None,
                json.dumps(manifest),
                status,
                json.dumps(parents or manifest.get("parents", [])),
                manifest.get("base", {}).get("sha256"),
            ),
        )

    def list(self) -> list[AdapterVersion]:
        return [_version(r) for r in self.store.query("SELECT * FROM adapters ORDER BY id")]

    def get(self, adapter_id: int) -> AdapterVersion:
        row = self.store.query_one("SELECT * FROM adapters WHERE id = ?", (adapter_id,))
        if row is None:
            raise HearthError(f"no adapter with id {adapter_id}")
        return _version(row)

    def set_status(self, adapter_id: int, status: str) -> None:
        self.store.execute("UPDATE adapters SET status = ? WHERE id = ?", (status, adapter_id))

    def update_manifest(self, adapter_id: int, manifest: dict[str, Any]) -> None:
        self.store.execute(
            "UPDATE adapters SET manifest = ? WHERE id = ?", (json.dumps(manifest), adapter_id)
        )

    # -- the pointer -------------------------------------------------------------------------
    def active_id(self) -> int | None:
        value = self.store.scalar("SELECT value FROM state WHERE key = ?", (ACTIVE_KEY,))
        return int(value) if value not in (None, "") else None

    def scale(self) -> float:
        value = self.store.scalar("SELECT value FROM state WHERE key = ?", (SCALE_KEY,))
        return float(value) if value not in (None, "") else 1.0

    def active(self) -> AdapterVersion | None:
        active = self.active_id()
        return None if active is None else self.get(active)

    def _point(self, adapter_id: int | None, scale: float, *, record: bool = True) -> None:
        with self.store.transaction() as conn:
            for key, value in (
                (ACTIVE_KEY, "" if adapter_id is None else str(adapter_id)),
                (SCALE_KEY, repr(float(scale))),
            ):
                conn.execute(
                    "INSERT INTO state (key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
            if record:
                conn.execute(
                    "INSERT INTO adapter_activations (adapter_id, scale) VALUES (?, ?)",
                    (adapter_id, scale),
                )

    def activate(self, adapter_id: int, scale: float | None = None) -> AdapterVersion:
        version = self.get(adapter_id)
        if version.path is None or version.status in ("refused", "missing"):
            raise AdapterError(f"adapter {adapter_id} cannot be activated ({version.status})")
        self._point(adapter_id, self.scale() if scale is None else scale)
        return version

    def deactivate(self) -> None:
        self._point(None, self.scale())

    def set_scale(self, scale: float) -> None:
        if not 0.0 <= scale <= 2.0:
            raise HearthError(f"the strength must be between 0 and 2, not {scale}")
        # A strength change is not a version change: rollback steps over versions, not knobs.
        self._point(self.active_id(), scale, record=False)
        entries = self.history()
        if entries:
            self.store.execute(
                "UPDATE adapter_activations SET scale = ? WHERE id = ?", (scale, entries[-1][0])
            )

    def history(self) -> History:
        """(row id, adapter id or None for the base model, scale), oldest first, undone excluded."""
        rows = self.store.query(
            "SELECT id, adapter_id, scale FROM adapter_activations WHERE undone = 0 ORDER BY id"
        )
        return [(r["id"], r["adapter_id"], float(r["scale"])) for r in rows]

    def rollback(self, check: Check | None = None) -> AdapterVersion | None:
        """Undo the latest activation: back to what was active before (the base model if none).

        Entries whose file is gone or damaged are skipped (and undone) on the way back.
        """
        entries = self.history()
        with self.store.transaction() as conn:
            if entries:
                conn.execute(
                    "UPDATE adapter_activations SET undone = 1 WHERE id = ?", (entries[-1][0],)
                )
        for row_id, adapter_id, scale in reversed(entries[:-1]):
            if adapter_id is None or self._usable(adapter_id, check):
                self._point(adapter_id, scale, record=False)
                return None if adapter_id is None else self.get(adapter_id)
            self.store.execute("UPDATE adapter_activations SET undone = 1 WHERE id = ?", (row_id,))
        self._point(None, self.scale(), record=False)
        return None

    def _usable(self, adapter_id: int, check: Check | None) -> bool:
        try:
            version = self.get(adapter_id)
        except HearthError:
            return False
        if version.path is None or version.status in ("refused", "missing"):
            return False
        if not version.path.is_file():
            return False
        if check is not None:
            try:
                check(version.path)
            except AdapterError:
                return False
        return True

    def resolve_active(
        self, check: Check | None = None
    ) -> tuple[AdapterVersion | None, str | None]:
        """The active adapter if usable, else the last good one (pointer moved), with a message."""
        current = self.active_id()
        if current is None or self._usable(current, check):
            return (None if current is None else self.get(current)), None
        broken = self.get(current)
        self.set_status(current, "missing")
        message = f"adapter {current} ({broken.name}) is missing or damaged"
        for _row, adapter_id, scale in reversed(self.history()):
            if adapter_id is not None and adapter_id != current and self._usable(adapter_id, check):
                self._point(adapter_id, scale)
                version = self.get(adapter_id)
                return version, f"{message}; went back to adapter {adapter_id} ({version.name})"
        self._point(None, self.scale())
        return None, f"{message}; using the base model"
