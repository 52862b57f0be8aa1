"""The store: migrations from an empty file, idempotence, WAL, and durability across a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.errors import StoreError
from app.store import open_store
from app.store.migrations import discover


def test_migrations_from_empty_file_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with open_store(path) as store:
        assert store.schema_version() == len(discover())
        tables = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"conversations", "messages", "network_log", "models", "state"} <= tables
        assert store.scalar("PRAGMA journal_mode") == "wal"
        assert store.scalar("PRAGMA foreign_keys") == 1
    before = path.read_bytes()
    with open_store(path) as store:  # opening again changes nothing
        assert store.schema_version() == len(discover())
    with open_store(path) as store:
        assert store.query("SELECT count(*) FROM conversations")[0][0] == 0
    assert len(before) > 0


def test_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with open_store(path) as store, store.transaction() as conn:
        conn.execute(f"PRAGMA user_version={len(discover()) + 5}")
    with pytest.raises(StoreError, match="newer Hearth"):
        open_store(path)


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    with open_store(tmp_path / "h.db") as store:
        with pytest.raises(RuntimeError), store.transaction() as conn:
            conn.execute("INSERT INTO conversations(title) VALUES('a')")
            raise RuntimeError("boom")
        assert store.scalar("SELECT count(*) FROM conversations") == 0


def test_message_survives_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    script = textwrap.dedent(
        f"""
        import os, signal
        from app.store import open_store
        from app.conversations import Conversations
        store = open_store({str(path)!r})
        conv = Conversations(store)
        cid = conv.create("kept")
        conv.add_message(cid, "user", "written before the kill")
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    assert "written" in proc.stdout
    with open_store(path) as store:
        rows = store.query("SELECT content FROM messages")
        assert [r[0] for r in rows] == ["written before the kill"]
    assert os.path.exists(path)


def test_delete_conversation_cascades(tmp_path: Path) -> None:
    from app.conversations import Conversations

    with open_store(tmp_path / "h.db") as store:
        conv = Conversations(store)
        cid = conv.create()
        conv.add_message(cid, "user", "hello")
        conv.delete(cid)
        assert store.scalar("SELECT count(*) FROM messages") == 0


def test_delete_messages_from_a_point(tmp_path: Path) -> None:
    from app.conversations import Conversations

    with open_store(tmp_path / "h.db") as store:
        conv = Conversations(store)
        cid = conv.create()
        ids = [
            conv.add_message(cid, r, t)
            for r, t in [("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")]
        ]
        other = conv.create()
        conv.add_message(other, "user", "kept")
        assert conv.delete_messages_from(cid, ids[2]) == 2
        assert [m.content for m in conv.messages(cid)] == ["a", "b"]
        assert [m.content for m in conv.messages(other)] == ["kept"]
