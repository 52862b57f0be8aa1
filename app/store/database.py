"""One SQLite file in WAL mode with numbered migrations; all writes go through one lock.

Readers borrow a connection from a small pool for the length of one query (WAL lets them read
while a write is in flight); writers share one connection behind a lock, so there is exactly one
writer at a time. A failure inside a write (a full disk, a read-only file, a lock held by another
program) ends in a `StoreError` that says what happened, and the transaction is rolled back.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from app import paths
from app.errors import StoreError
from app.store.migrations import apply_migrations

Params = Sequence[Any] | dict[str, Any]

# Idle reader connections kept for reuse. Readers are not tied to threads: a window open for
# days starts a thread per turn and Qt replaces its pool threads, and a connection per thread
# was never closed (three open files each) until the process hit its open-file limit.
MAX_IDLE_READERS = 4
# Rows of these tables are the user's words. Once a deletion from one commits, the full-text
# index it feeds is merged (FTS5 keeps deleted words in its old segments until then) and the
# write-ahead log, which holds old copies of whole pages, is folded back and truncated.
_SCRUB_ON_DELETE = {
    "conversations": None,
    "messages": "messages_fts",
    "memories": "memories_fts",
    "memory_history": None,
    "feedback": None,
}

_HINTS = (
    ("disk is full", "the disk is full"),
    ("readonly", "the database is read-only"),
    ("read-only", "the database is read-only"),
    ("locked", "another program is holding the database"),
    ("busy", "another program is holding the database"),
    ("malformed", "the database file is damaged"),
    ("not a database", "the database file is damaged"),
    ("disk i/o error", "the disk reported an error"),
)


def describe(exc: BaseException) -> str:
    """A SQLite error as a person reads it: the likely cause, then SQLite's own words."""
    text = str(exc)
    lowered = text.lower()
    for needle, hint in _HINTS:
        if needle in lowered:
            return f"{hint} ({text})"
    return text


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    # NORMAL is durable across application crashes in WAL mode; FULL adds power-loss safety.
    conn.execute("PRAGMA synchronous=FULL")
    # A deleted message or memory is zeroed in the file, not left in a free page.
    conn.execute("PRAGMA secure_delete=ON")
    return conn


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite may already have rolled back by itself (a full disk does that).
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


class Store:
    """The database. `query` reads; `execute` and `transaction` write."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data folder {self.path.parent}: {exc}") from exc
        self._write_lock = threading.RLock()
        try:
            self._writer = _connect(self.path)
        except sqlite3.Error as exc:
            reason = describe(exc)
            if not os.access(self.path.parent, os.W_OK):  # SQLite only says "unable to open"
                reason = f"the data folder {self.path.parent} is read-only ({exc})"
            raise StoreError(f"cannot open the database {self.path}: {reason}") from exc
        try:
            apply_migrations(self._writer)
        except BaseException as exc:
            self._writer.close()  # a refused file is not held open
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open the database {self.path}: {describe(exc)}") from exc
            raise
        self._deleted: set[str] = set()
        self._watch_deletes()
        self._idle: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._readers_open = 0
        self._closed = False

    def _watch_deletes(self) -> None:
        """Triggers of this connection only (TEMP) note which of the user's tables lost rows,
        cascades included, whichever code deleted them."""
        self._writer.create_function("hearth_deleted", 1, self._deleted.add)
        for table in _SCRUB_ON_DELETE:
            with contextlib.suppress(sqlite3.Error):  # a table a newer schema dropped
                self._writer.execute(
                    f"CREATE TEMP TRIGGER IF NOT EXISTS hearth_deleted_{table} "
                    f"AFTER DELETE ON main.{table} BEGIN SELECT hearth_deleted('{table}'); END"
                )

    def _fold_log(self) -> None:
        """Checkpoint and truncate the write-ahead log; a reader in the way only delays it to
        the next deletion or checkpoint (it never fails the deletion, nor waits long)."""
        conn = self._writer
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA busy_timeout=2000")
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.execute("PRAGMA busy_timeout=30000")

    # -- reading ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._readers_lock:
            if self._closed:
                raise StoreError("the database is closed")
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                self._readers_open += 1
        if conn is None:
            try:
                conn = _connect(self.path)
                conn.execute("PRAGMA query_only=ON")
            except BaseException:
                with self._readers_lock:
                    self._readers_open -= 1
                raise
        try:
            yield conn
        finally:
            with self._readers_lock:
                keep = not self._closed and len(self._idle) < MAX_IDLE_READERS
                if keep:
                    self._idle.append(conn)
                else:
                    self._readers_open -= 1
            if not keep:
                conn.close()

    @property
    def open_readers(self) -> int:
        """Reader connections open now (idle in the pool or in use)."""
        with self._readers_lock:
            return self._readers_open

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        with self._reading() as conn:
            return conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        with self._reading() as conn:
            cursor = conn.execute(sql, params)
            try:
                return cursor.fetchone()
            finally:
                cursor.close()  # ends the read, so the connection goes back to the pool idle

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.query_one(sql, params)
        return None if row is None else row[0]

    # -- writing ------------------------------------------------------------------------------
    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement in its own transaction; returns lastrowid."""
        with self.transaction() as conn:
            cur = conn.execute(sql, params)
            return int(cur.lastrowid or 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Several writes that land together or not at all; SQLite's failures are StoreErrors."""
        if self._closed:
            raise StoreError("the database is closed")
        with self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._failed(exc) from exc
            self._deleted.clear()
            try:
                yield conn
                for table in sorted(self._deleted):
                    index = _SCRUB_ON_DELETE.get(table)
                    if index is not None:
                        conn.execute(f"INSERT INTO {index}({index}) VALUES ('optimize')")
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise self._failed(exc) from exc
            except BaseException:
                _rollback(conn)
                raise
            if self._deleted:
                self._deleted.clear()
                self._fold_log()

    def _failed(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(
            f"could not save to {self.path}: {describe(exc)}; nothing of this change was saved"
        )

    def schema_version(self) -> int:
        return int(self.scalar("PRAGMA user_version") or 0)

    def close(self) -> None:
        with self._readers_lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            self._readers_open -= len(idle)
        for conn in idle:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        with self._write_lock:
            self._writer.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: Path | None = None) -> Store:
    """Open (and migrate) the user's database, or the one at `path`."""
    return Store(path or paths.db_path())
