"""Export everything Hearth holds about the user into one zip, with a manifest to check it by.

The zip holds conversations (JSON and Markdown), memories with their history, feedback, adapter
files with their manifests, settings and the network log; `manifest.json` lists every entry
with its size and sha256, and the counts. The zip is written beside its destination and renamed
into place, so a cancelled or failed export leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import paths
from app.cancel import CancelToken
from app.errors import HearthError
from app.store import Store

FORMAT = "hearth-export/1"
Progress = Callable[[int, int, str], None]  # (done, total, what)
SECRETS = {"engine-keys.json"}  # app/llm/server_keys.py


@dataclass(frozen=True)
class ExportResult:
    path: Path
    counts: dict[str, int]
    entries: int
    size_bytes: int


def _rows(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in store.query(sql, params)]


def _conversation_md(conv: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    lines = [f"# {conv['title']}", "", f"Started {conv['created_at']}", ""]
    for m in messages:
        lines += [f"## {m['role']} — {m['created_at']}", "", m["content"], ""]
    return "\n".join(lines)


def _entries(store: Store) -> Iterator[tuple[str, bytes | Path]]:
    """(name in the zip, bytes or a file to copy), in the order they are written."""
    for conv in _rows(store, "SELECT * FROM conversations ORDER BY id"):
        messages = _rows(
            store,
            "SELECT id, role, content, created_at, model, tokens, meta FROM messages "
            "WHERE conversation_id = ? ORDER BY id",
            (conv["id"],),
        )
        doc = {**conv, "messages": messages}
        yield f"conversations/{conv['id']:06d}.json", _json(doc)
        yield f"conversations/{conv['id']:06d}.md", _conversation_md(conv, messages).encode()
    memories = _rows(
        store,
        "SELECT id, text, kind, source_type, source_message_id, conversation_id, source_ref, "
        "subject, created_at, updated_at, last_used_at, use_count, pinned, superseded_by "
        "FROM memories ORDER BY id",
    )
    history = _rows(store, "SELECT * FROM memory_history ORDER BY id")
    yield "memories.json", _json({"memories": memories, "history": history})
    yield "feedback.json", _json(_rows(store, "SELECT * FROM feedback ORDER BY id"))
    yield "adapters.json", _json(_rows(store, "SELECT * FROM adapters ORDER BY id"))
    adapters = paths.data_dir() / "adapters"
    if adapters.is_dir():
        for path in sorted(adapters.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                yield f"adapters/{path.name}", path
    config = paths.config_dir()
    for path in sorted(config.rglob("*")):
        # Credentials for the user's own servers stay on this computer: an export gets shared.
        if path.is_file() and not path.name.startswith(".") and path.name not in SECRETS:
            yield f"settings/{path.relative_to(config).as_posix()}", path
    yield "network_log.json", _json(_rows(store, "SELECT * FROM network_log ORDER BY id"))


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=str).encode("utf-8")


def counts(store: Store) -> dict[str, int]:
    def n(table: str) -> int:
        return int(store.scalar(f"SELECT COUNT(*) FROM {table}") or 0)

    return {
        "conversations": n("conversations"),
        "messages": n("messages"),
        "memories": n("memories"),
        "memory_history": n("memory_history"),
        "feedback": n("feedback"),
        "adapters": n("adapters"),
        "network_log": n("network_log"),
    }


def export_all(
    store: Store,
    dest: Path,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Write the zip at `dest` (a folder: a dated file inside it)."""
    dest = Path(dest).expanduser()
    if dest.is_dir():
        dest = dest / f"hearth-export-{time.strftime('%Y%m%d-%H%M%S')}.zip"
    if dest.suffix.lower() != ".zip":
        dest = dest.with_name(dest.name + ".zip")
    if not dest.parent.is_dir():
        raise HearthError(f"{dest.parent}: no such folder")
    entries = list(_entries(store))
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    listed: dict[str, dict[str, Any]] = {}
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for done, (name, source) in enumerate(entries):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                if progress is not None:
                    progress(done, len(entries), name)
                data = source.read_bytes() if isinstance(source, Path) else source
                archive.writestr(name, data)
                listed[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            totals = counts(store)
            manifest = {
                "format": FORMAT,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "counts": totals,
                "files": listed,
            }
            archive.writestr("manifest.json", _json(manifest))
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if progress is not None:
        progress(len(entries), len(entries), "done")
    return ExportResult(dest, totals, len(listed), dest.stat().st_size)


def verify(path: Path) -> dict[str, Any]:
    """Read an export back: every listed entry present with its checksum; returns the manifest."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            for name, info in manifest["files"].items():
                digest = hashlib.sha256(archive.read(name)).hexdigest()
                if digest != info["sha256"]:
                    raise HearthError(f"{path}: {name} does not match its checksum")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise HearthError(f"{path} is not a complete Hearth export: {exc}") from exc
    return dict(manifest)
