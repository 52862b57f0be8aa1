"""The inventory: counts and sizes match what was put in; every file has exactly one owner."""

from __future__ import annotations

import json
import os
from pathlib import Path

from app import paths
from app.privacy import inventory
from tests.privacy.conftest import Session


def _file_bytes(home: Path) -> int:
    return sum(
        (Path(folder) / name).stat().st_size
        for folder, _d, files in os.walk(home)
        for name in files
    )


def test_counts_sizes_and_dates_match_what_was_put_in(hearth_home: Path) -> None:
    from app.adapters.feedback import FeedbackStore
    from app.conversations import Conversations
    from app.store import open_store

    with open_store() as store:
        chats = Conversations(store)
        for title, n in (("one", 2), ("two", 3)):
            conv = chats.create(title)
            for i in range(n):
                chats.add_message(conv, "user" if i % 2 == 0 else "assistant", f"{title} {i}")
        feedback = FeedbackStore(store)
        for i in range(3):
            feedback.add(f"q{i}", f"a{i}", rating=1)
        store.execute("INSERT INTO memories(text) VALUES ('tea'), ('coffee')")
        store.execute("INSERT INTO memory_history(memory_id, text, reason) VALUES (1, 't', 'e')")
        (paths.exports_dir() / "old.zip").write_bytes(b"z" * 12345)
        (paths.logs_dir() / "hearth.log").write_bytes(b"l" * 100)
        (paths.adapters_dir() / "a.gguf").write_bytes(b"g" * 1000)
        (paths.adapters_dir() / "a.json").write_text("{}")
        found = inventory.build()
        on_disk = _file_bytes(hearth_home)  # while open: the write-ahead log is there too
    conv = found.get("conversations")
    assert (conv.count, conv.details["conversations"]) == (5, 2)
    assert conv.oldest is not None and conv.newest is not None and conv.oldest <= conv.newest
    memories = found.get("memories")
    assert (memories.count, memories.details["history"]) == (2, 1)
    assert found.get("feedback").count == 3
    assert (found.get("exports").count, found.get("exports").size_bytes) == (1, 12345)
    assert (found.get("logs").count, found.get("logs").size_bytes) == (1, 100)
    adapters = found.get("adapters")
    table_bytes = adapters.size_bytes - 1002
    assert table_bytes > 0 and table_bytes % 4096 == 0  # its tables' pages, from dbstat
    assert found.get("network").count == 0
    # Table bytes move from the database file to their owners: the total is the files' total.
    assert found.total_bytes == on_disk
    assert found.unclaimed == []


def test_every_file_of_a_session_belongs_to_exactly_one_category(
    session: Session, hearth_home: Path
) -> None:
    files = [Path(f) / n for f, _d, names in os.walk(hearth_home) for n in names]
    assert len(files) > 10
    owners = {str(p.relative_to(hearth_home)): inventory.claim(p) for p in files}
    assert None not in owners.values(), [k for k, v in owners.items() if v is None]
    # Each kind of file the session wrote is where the report says it is.
    assert owners["data/hearth.db"] == "database"
    assert owners["config/settings.json"] == "settings"
    assert any(v == "indexes" for v in owners.values())
    assert any(v == "models" for v in owners.values())
    assert any(v == "exports" for v in owners.values())
    inventory.build()  # a first read of the closed database leaves SQLite's -shm file
    found = inventory.build()
    assert found.unclaimed == []
    assert found.get("conversations").count == session.messages
    assert found.get("memories").count == session.memories
    assert found.get("indexes").count == session.memories  # every memory has its embedding
    assert found.total_bytes == _file_bytes(hearth_home)
    stray = paths.data_dir() / "stray.bin"
    stray.write_bytes(b"?")
    assert inventory.build().unclaimed == [str(stray)]


def test_report_json_from_the_command_line(
    session: Session, capsys: object, hearth_home: Path
) -> None:
    from app.cli import main

    assert main(["privacy", "report", "--json"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    report = json.loads(out)
    by_key = {c["key"]: c for c in report["categories"]}
    assert set(by_key) == set(inventory.CATEGORIES)
    assert by_key["feedback"]["count"] == session.feedback
    assert report["network"]["refused"] == 0
    assert report["network"]["summary"].startswith("0 attempts")
    assert report["encryption"]["state"] in ("encrypted", "not encrypted", "unknown")
