"""The store under long use and bad moments: readers do not pile up per thread, and a write that
fails (a full disk) is a StoreError with the transaction rolled back, never a raw sqlite3 error."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from app.errors import StoreError
from app.store import open_store
from app.store.database import MAX_IDLE_READERS


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
def test_short_lived_threads_leave_no_connections_open(tmp_path: Path) -> None:
    with open_store(tmp_path / "h.db") as store:
        store.execute("INSERT INTO conversations(title) VALUES ('kept')")
        store.query("SELECT 1")  # one reader, as any running app has
        before = _open_files()
        seen: list[int] = []
        for _ in range(200):  # a learn thread per turn, Qt pool threads replaced when idle
            thread = threading.Thread(
                target=lambda: seen.append(store.scalar("SELECT count(*) FROM conversations"))
            )
            thread.start()
            thread.join()
        # Concurrent readers get connections of their own, and give them back.
        barrier = threading.Barrier(8)

        def together() -> None:
            barrier.wait()
            seen.append(len(store.query("SELECT * FROM conversations")))

        threads = [threading.Thread(target=together) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = _open_files()
        assert seen == [1] * 208
        # Each SQLite connection in WAL mode holds up to three files (db, -wal, -shm).
        assert after - before <= 3 * MAX_IDLE_READERS, (before, after)
        assert store.open_readers <= MAX_IDLE_READERS
    assert _open_files() < before  # closing the store closes every reader


def _fill_limit(store) -> None:
    """Inject a full disk: SQLite may not grow the file past the pages it has now."""
    pages = store._writer.execute("PRAGMA page_count").fetchone()[0]
    store._writer.execute(f"PRAGMA max_page_count = {pages}")


def test_full_disk_in_a_transaction_is_a_store_error_and_rolls_back(tmp_path: Path) -> None:
    with open_store(tmp_path / "h.db") as store:
        store.execute("INSERT INTO conversations(title) VALUES ('before')")
        _fill_limit(store)
        big = "x" * 2_000_000
        with pytest.raises(StoreError, match="disk is full") as caught, store.transaction() as c:
            c.execute("INSERT INTO conversations(title) VALUES ('half')")
            c.execute("INSERT INTO conversations(title) VALUES (?)", (big,))
        assert not isinstance(caught.value, sqlite3.Error)
        assert "nothing of this change was saved" in str(caught.value)
        titles = [r[0] for r in store.query("SELECT title FROM conversations")]
        assert titles == ["before"]  # the whole transaction rolled back, nothing half-written
        store._writer.execute("PRAGMA max_page_count = 1073741823")  # space again
        store.execute("INSERT INTO conversations(title) VALUES ('after')")
        assert store.scalar("SELECT count(*) FROM conversations") == 2


def test_a_single_write_on_a_full_disk_is_a_store_error(tmp_path: Path) -> None:
    with open_store(tmp_path / "h.db") as store:
        _fill_limit(store)
        with pytest.raises(StoreError, match="could not save"):
            store.execute("INSERT INTO conversations(title) VALUES (?)", ("y" * 2_000_000,))
        assert store.scalar("SELECT count(*) FROM conversations") == 0


def test_constraint_errors_inside_a_transaction_are_store_errors(tmp_path: Path) -> None:
    with open_store(tmp_path / "h.db") as store:
        with pytest.raises(StoreError, match="FOREIGN KEY"):
            store.execute(
                "INSERT INTO messages(conversation_id, role, content) VALUES (999, 'user', 'x')"
            )
        assert store.scalar("SELECT count(*) FROM messages") == 0


def test_a_database_locked_by_another_program_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with open_store(path) as store:
        store._writer.execute("PRAGMA busy_timeout = 200")  # do not wait the usual 30 s
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
            with pytest.raises(StoreError, match="another program is holding the database"):
                store.execute("INSERT INTO conversations(title) VALUES ('x')")
            other.execute("ROLLBACK")
        finally:
            other.close()
        store.execute("INSERT INTO conversations(title) VALUES ('x')")
        assert store.scalar("SELECT count(*) FROM conversations") == 1
