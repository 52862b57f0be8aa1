"""Delete one category, or wipe everything, so that the bytes are really gone.

Rows are deleted with SQLite's `secure_delete` (freed pages are zeroed), the full-text index is
rebuilt (its old segments go), derived files (the dense memory index) are removed to be rebuilt
from what is left, and the write-ahead log is checkpointed and truncated. `wipe` ends with a
VACUUM, so the database file itself is rewritten from nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import paths
from app.atomic import write_text
from app.cancel import CancelToken
from app.errors import HearthError
from app.privacy import hygiene
from app.store import Store

WIPE_CONFIRMATION = "delete everything"
Progress = Callable[[int, int, str], None]

# What each deletable category takes with it, said before the user confirms.
DEPENDS: dict[str, str] = {
    "conversations": "Every conversation and message. Memories drawn from them are kept "
    "unless you choose to remove them too. Feedback examples keep their own copy of the "
    "question and answer: delete Feedback to remove those.",
    "memories": "Every memory and its edit history; the full-text and vector indexes are "
    "rewritten without them.",
    "indexes": "The search indexes; they are rebuilt from the memories that remain.",
    "feedback": "Every rating, edit and preference statement, and every training job folder. "
    "Adapter manifests only name feedback by id; adapters already trained stay until you "
    "delete Adapters.",
    "adapters": "Every adapter file and manifest, and its history; the model answers "
    "without an adapter.",
    "jobs": "Training job folders (a running job is left alone).",
    "models": "The model files Hearth copied and the list of models you added (your own "
    "GGUF files elsewhere are not touched). The default model is copied again at next start.",
    "settings": "Your settings files and the servers you added; defaults are used.",
    "logs": "Log files.",
    "exports": "Exports saved inside Hearth's folder (exports you saved elsewhere stay).",
    "temp": "Temporary files of Hearth's processes (another Hearth process still running "
    "keeps its own).",
    "network": "The network guard's log (the proof of what was refused).",
}


@dataclass
class Deleted:
    category: str
    rows: int = 0
    files: int = 0
    notes: list[str] = field(default_factory=list)


def checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the database and truncate it to nothing."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:
        pass
    finally:
        conn.close()


def _remove_tree_contents(folder: Path, *, keep_running_jobs: bool = False) -> int:
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        if keep_running_jobs and path.is_dir() and hygiene.job_is_running(path):
            continue
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                removed += sum(1 for p in path.rglob("*") if p.is_file())
                shutil.rmtree(path)
            else:
                path.unlink()
                removed += 1
    return removed


def _remove_temp_files(folder: Path) -> int:
    """Stale folders go whole; this process's own folder is emptied (it stays in use);
    another live Hearth process keeps its folder, as a running job does."""
    removed = hygiene.clean_stale_temp(min_age_s=0.0)
    own = folder / str(os.getpid())
    if own.is_dir():
        removed += _remove_tree_contents(own)
    return removed


def _delete_rows(store: Store, statements: list[tuple[str, tuple[Any, ...]]]) -> int:
    rows = 0
    with store.transaction() as conn:
        conn.execute("PRAGMA secure_delete=ON")
        for sql, params in statements:
            rows += conn.execute(sql, params).rowcount
        # Deleting from an FTS5 index only marks the words deleted: the old segments keep
        # them until rewritten, so both indexes are rebuilt from what is left.
        conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')")
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    return max(rows, 0)


def with_replaced(condition: str) -> str:
    """DELETE the memories matching `condition` and the older versions they replaced (which
    hold the same fact, and would otherwise come back when their successor's id is nulled)."""
    return (
        "WITH RECURSIVE doomed(id) AS ("
        f"SELECT id FROM memories WHERE {condition} "
        "UNION SELECT m.id FROM memories m JOIN doomed ON m.superseded_by = doomed.id) "
        "DELETE FROM memories WHERE id IN (SELECT id FROM doomed)"
    )


def remove_derived_index() -> int:
    """The dense memory index is derived: removed, it is rebuilt from the rows that remain."""
    return _remove_tree_contents(paths.data_dir() / "index")


_MEMORIES_FROM_CHATS = with_replaced(
    "source_type = 'message' OR source_message_id IS NOT NULL OR conversation_id IS NOT NULL"
)


def delete_category(
    store: Store, key: str, *, keep_memories: bool = True, memory: Any = None
) -> Deleted:
    """Delete one category (see DEPENDS). `memory`: a live MemoryService to refresh, if any."""
    if key not in DEPENDS:
        raise HearthError(f"no category {key!r}; choose one of: {', '.join(DEPENDS)}")
    data = paths.data_dir()
    done = Deleted(key)
    sql: list[tuple[str, tuple[Any, ...]]] = []
    index_touched = False
    if key == "conversations":
        if not keep_memories:
            sql.append((_MEMORIES_FROM_CHATS, ()))
            index_touched = True
        sql.append(("DELETE FROM conversations", ()))
    elif key == "memories":
        sql += [("DELETE FROM memory_history", ()), ("DELETE FROM memories", ())]
        index_touched = True
    elif key == "indexes":
        index_touched = True
    elif key == "feedback":
        sql.append(("DELETE FROM feedback", ()))
        done.files += _remove_tree_contents(data / "jobs", keep_running_jobs=True)
        done.notes += scrub_manifests(store)
    elif key == "adapters":
        sql += [("DELETE FROM adapter_activations", ()), ("DELETE FROM adapters", ())]
        sql.append(("DELETE FROM state WHERE key LIKE 'adapter%' OR key LIKE '%adapter'", ()))
        done.files += _remove_tree_contents(data / "adapters")
    elif key == "jobs":
        done.files += _remove_tree_contents(data / "jobs", keep_running_jobs=True)
    elif key == "models":
        sql += [("DELETE FROM models", ()), ("DELETE FROM state WHERE key = 'active_model'", ())]
        done.files += _remove_tree_contents(data / "models")
    elif key == "settings":
        sql.append(("DELETE FROM engines", ()))
        done.files += _remove_tree_contents(paths.config_dir())
    elif key == "logs":
        done.files += _remove_tree_contents(paths.logs_dir())
    elif key == "exports":
        done.files += _remove_tree_contents(data / "exports")
    elif key == "temp":
        done.files += _remove_temp_files(data / "tmp")
    elif key == "network":
        sql.append(("DELETE FROM network_log", ()))
    done.rows = _delete_rows(store, sql)
    if index_touched:
        done.files += remove_derived_index()
        if memory is not None:
            with contextlib.suppress(Exception):
                memory.rebuild_index()
    checkpoint(store.path)
    return done


def scrub_manifests(store: Store) -> list[str]:
    """Manifests written before they kept only ids held the held-back text: rewrite them, in
    the database and in every manifest file of the adapters folder."""
    import json

    def scrubbed(manifest: dict[str, Any]) -> bool:
        dataset = manifest.get("dataset")
        if not isinstance(dataset, dict) or "held_back" not in dataset:
            return False
        rows = dataset.pop("held_back")
        rows = rows if isinstance(rows, list) else []
        ids = [r.get("feedback_id") for r in rows if isinstance(r, dict)]
        dataset["held_back_ids"] = [int(i) for i in ids if i]
        return True

    notes = []
    for row in store.query("SELECT id, manifest FROM adapters"):
        manifest = json.loads(row["manifest"] or "{}")
        if scrubbed(manifest):
            store.execute(
                "UPDATE adapters SET manifest = ? WHERE id = ?", (json.dumps(manifest), row["id"])
            )
            notes.append(f"removed held-back text from adapter {row['id']}'s manifest")
    folder = paths.data_dir() / "adapters"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            manifest = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and scrubbed(manifest):
            write_text(path, json.dumps(manifest, indent=2, sort_keys=True))
            notes.append(f"removed held-back text from {path.name}")
    return notes


def wipe(
    store: Store,
    confirmation: str,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    memory: Any = None,
) -> list[Deleted]:
    """Delete every category, then rewrite the database file from nothing (VACUUM)."""
    if confirmation.strip().lower() != WIPE_CONFIRMATION:
        raise HearthError(f'to wipe everything, type "{WIPE_CONFIRMATION}"')
    order = [k for k in DEPENDS if k not in ("logs", "network")] + ["logs", "network"]
    results = []
    for done, key in enumerate(order):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(done, len(order) + 1, key)
        results.append(delete_category(store, key, keep_memories=False, memory=memory))
    if progress is not None:
        progress(len(order), len(order) + 1, "database")
    vacuum(store.path)
    if progress is not None:
        progress(len(order) + 1, len(order) + 1, "done")
    return results


def vacuum(path: Path) -> None:
    """Rewrite the database file without free pages, then empty the write-ahead log."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
