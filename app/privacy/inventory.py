"""Everything Hearth holds, by category: paths, size on disk, item count, oldest and newest.

Computed from the database and the files each time it is asked, never from a cache that could
lie. Every file under Hearth's folders belongs to exactly one category (`claim`); the database
file itself is one entry, and each table's share of it (SQLite's `dbstat`) is counted in the
category that owns the table.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import paths

# key -> (title, tables it owns, what its count counts)
CATEGORIES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "conversations": ("Conversations and messages", ("conversations", "messages"), "messages"),
    "memories": ("Memories and their history", ("memories", "memory_history"), "memories"),
    "indexes": ("Embeddings and indexes", ("memories_fts",), "indexed memories"),
    "feedback": ("Feedback examples", ("feedback",), "examples"),
    "adapters": ("Adapters and manifests", ("adapters", "adapter_activations"), "adapters"),
    "jobs": ("Training jobs", (), "job folders"),
    "models": ("Models", ("models",), "models"),
    "settings": ("Settings", ("state", "engines"), "files"),
    "logs": ("Logs", (), "files"),
    "exports": ("Exports", (), "files"),
    "temp": ("Temporary files", (), "files"),
    "network": ("Network log", ("network_log",), "refused attempts"),
    "database": ("Database file (free space, log)", (), "files"),
}
# Folders under the data folder, each owned by one category.
_DATA_FOLDERS = {
    "models": "models",
    "adapters": "adapters",
    "index": "indexes",
    "exports": "exports",
    "jobs": "jobs",
    "tmp": "temp",
}
_DB_SUFFIXES = ("", "-wal", "-shm", "-journal")
# What each count reads: key -> (table, first date column, last date column, filter)
_COUNTS = {
    "conversations": ("conversations", "created_at", "created_at", ""),
    "messages": ("messages", "created_at", "created_at", ""),
    "memories": ("memories", "created_at", "updated_at", ""),
    "memory_history": ("memory_history", "changed_at", "changed_at", ""),
    "embedded": ("memories", "NULL", "NULL", "WHERE embedding IS NOT NULL"),
    "feedback": ("feedback", "created_at", "created_at", ""),
    "adapters": ("adapters", "created_at", "created_at", ""),
    "models": ("models", "added_at", "added_at", ""),
    "refused": ("network_log", "at", "at", "WHERE allowed = 0"),
    "network_log": ("network_log", "at", "at", ""),
    "engines": ("engines", "created_at", "created_at", ""),
}


@dataclass
class Category:
    key: str
    title: str
    paths: list[str] = field(default_factory=list)
    size_bytes: int = 0
    count: int = 0
    unit: str = ""
    oldest: str | None = None
    newest: str | None = None
    details: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Inventory:
    categories: list[Category]
    roots: list[str]
    total_bytes: int
    unclaimed: list[str]

    def get(self, key: str) -> Category:
        return next(c for c in self.categories if c.key == key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "roots": self.roots,
            "total_bytes": self.total_bytes,
            "unclaimed": self.unclaimed,
            "categories": [c.to_dict() for c in self.categories],
        }


def table_owner(table: str) -> str:
    """The category a database table (or its index, or an FTS shadow table) belongs to."""
    for key, (_title, tables, _unit) in CATEGORIES.items():
        for owned in tables:
            if table == owned or table.startswith(f"{owned}_"):
                # memories_fts_* is the full-text index, not the memories themselves
                if owned == "memories" and table.startswith("memories_fts"):
                    continue
                return key
    return "database"  # sqlite_schema, sqlite_stat1 and tables added after this was written


def claim(path: Path) -> str | None:
    """The one category that owns a file under Hearth's folders; None if nothing does."""
    path = Path(path)
    data, config, logs = paths.data_dir(), paths.config_dir(), paths.logs_dir()
    if path.parent == data and any(path.name == f"hearth.db{s}" for s in _DB_SUFFIXES):
        return "database"
    with contextlib.suppress(ValueError):
        first = path.relative_to(data).parts[0]
        if first in _DATA_FOLDERS:
            return _DATA_FOLDERS[first]
    for root, key in ((logs, "logs"), (config, "settings")):
        with contextlib.suppress(ValueError):
            path.relative_to(root)
            if root != data or path.parent == data:
                return key
    return None


def files() -> list[Path]:
    """Every plain file under Hearth's folders."""
    return [p for p in paths.walk_private() if p.is_file() and not p.is_symlink()]


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(values: Iterable[str | None]) -> tuple[str | None, str | None]:
    known = sorted(v for v in values if v)
    return (known[0], known[-1]) if known else (None, None)


def table_sizes(conn: sqlite3.Connection) -> dict[str, int]:
    """Bytes of each table with its indexes, from SQLite's own page accounting."""
    owners = {
        str(r[0]): str(r[1]) for r in conn.execute("SELECT name, tbl_name FROM sqlite_schema")
    }
    sizes: dict[str, int] = {}
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.Error:
        return sizes  # a SQLite built without dbstat: sizes stay with the database file
    for name, size in rows:
        table = owners.get(str(name), str(name))
        sizes[table] = sizes.get(table, 0) + int(size or 0)
    return sizes


def _db_facts(db: Path) -> dict[str, Any]:
    """Counts, dates and table sizes, read in one read-only connection."""
    facts: dict[str, Any] = {"sizes": {}, "counts": {}, "spans": {}}
    if not db.is_file():
        return facts
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        tables = {
            str(r[0]) for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")
        }

        def one(sql: str, table: str) -> Any:
            return conn.execute(sql).fetchone() if table in tables else None

        facts["sizes"] = table_sizes(conn)
        for key, (table, first, last, where) in _COUNTS.items():
            row = one(f"SELECT COUNT(*), MIN({first}), MAX({last}) FROM {table} {where}", table)
            facts["counts"][key] = int(row[0]) if row else 0
            facts["spans"][key] = (row[1], row[2]) if row else (None, None)
    finally:
        conn.close()
    return facts


def build() -> Inventory:
    """The inventory, computed now."""
    categories = {
        key: Category(key, title, unit=unit) for key, (title, _t, unit) in CATEGORIES.items()
    }
    unclaimed: list[str] = []
    file_times: dict[str, list[str]] = {key: [] for key in categories}
    for path in files():
        key = claim(path)
        if key is None:
            unclaimed.append(str(path))
            continue
        with contextlib.suppress(OSError):
            info = path.stat()
            categories[key].size_bytes += info.st_size
            categories[key].details["files"] = categories[key].details.get("files", 0) + 1
            file_times[key].append(_iso(info.st_mtime))
    db = paths.db_path()
    facts = _db_facts(db)
    for table, size in facts["sizes"].items():
        owner = table_owner(table)
        if owner != "database":
            categories[owner].size_bytes += size
            categories["database"].size_bytes -= size  # counted once, with its owner
    counts, spans = facts["counts"], facts["spans"]
    _fill(categories, counts, spans, file_times)
    _paths(categories, db)
    total = sum(c.size_bytes for c in categories.values())
    return Inventory(
        list(categories.values()),
        [str(r) for r in paths.private_roots()],
        total,
        sorted(unclaimed),
    )


def _fill(
    cats: dict[str, Category],
    counts: dict[str, int],
    spans: dict[str, tuple[str | None, str | None]],
    file_times: dict[str, list[str]],
) -> None:
    def set_(key: str, count: int, span: tuple[str | None, str | None], **details: int) -> None:
        cats[key].count = count
        cats[key].oldest, cats[key].newest = span
        cats[key].details.update(details)

    set_(
        "conversations",
        counts.get("messages", 0),
        _span([*spans.get("messages", ()), *spans.get("conversations", ())]),
        conversations=counts.get("conversations", 0),
    )
    set_(
        "memories",
        counts.get("memories", 0),
        spans.get("memories", (None, None)),
        history=counts.get("memory_history", 0),
    )
    set_("indexes", counts.get("embedded", 0), _span(file_times["indexes"]))
    set_("feedback", counts.get("feedback", 0), spans.get("feedback", (None, None)))
    set_("adapters", counts.get("adapters", 0), spans.get("adapters", (None, None)))
    jobs = paths.data_dir() / "jobs"
    job_count = sum(1 for p in jobs.iterdir() if p.is_dir()) if jobs.is_dir() else 0
    set_("jobs", job_count, _span(file_times["jobs"]))
    set_("models", counts.get("models", 0), spans.get("models", (None, None)))
    for key in ("settings", "logs", "exports", "temp", "database"):
        set_(key, cats[key].details.get("files", 0), _span(file_times[key]))
    cats["settings"].details["servers"] = counts.get("engines", 0)
    set_(
        "network",
        counts.get("refused", 0),
        spans.get("refused", (None, None)),
        entries=counts.get("network_log", 0),
    )


def _paths(cats: dict[str, Category], db: Path) -> None:
    data = paths.data_dir()
    for folder, key in _DATA_FOLDERS.items():
        cats[key].paths.append(str(data / folder))
    for key, (_title, tables, _unit) in CATEGORIES.items():
        if tables:
            cats[key].paths.append(f"{db} (tables: {', '.join(tables)})")
    cats["settings"].paths.insert(0, str(paths.config_dir()))
    cats["logs"].paths.append(str(paths.logs_dir()))
    cats["database"].paths.extend(str(db.with_name(db.name + s)) for s in _DB_SUFFIXES[:3])


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
