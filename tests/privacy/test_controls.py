"""Export, delete one category, wipe, retention: on a copy of a real session's home."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import paths
from app.errors import HearthError
from app.privacy import controls, retention
from app.privacy.export import export_all, verify
from tests.privacy.conftest import (
    CHAT,
    FEEDBACK,
    LEFTOVER,
    REMEMBERED,
    SECRETS,
    Session,
    assert_private,
    scan,
)


@pytest.fixture
def store(session: Session) -> Iterator[Any]:
    from app.store import open_store

    opened = open_store()
    yield opened
    opened.close()


def count(store: Any, table: str, where: str = "") -> int:
    return int(store.scalar(f"SELECT COUNT(*) FROM {table} {where}"))


def test_the_session_really_left_its_text_in_the_files(session: Session, hearth_home: Path):
    # Without this, the wipe test below could pass on a home that never held the strings.
    found = scan(hearth_home, SECRETS)
    assert {h for hits in found.values() for h in hits} == {s.lower() for s in SECRETS}, found


def test_no_log_record_holds_the_users_text(session: Session) -> None:
    leaks = [line for line in session.logs if any(s.lower() in line.lower() for s in SECRETS)]
    assert leaks == []


def test_every_file_and_folder_of_a_session_is_private(session: Session) -> None:
    assert_private(session.template)


def test_export_holds_everything_and_reads_back(store: Any, session: Session, tmp_path: Path):
    (paths.config_dir() / "engine-keys.json").write_text('{"home-server": "sk-secret"}')
    seen: list[tuple[int, int, str]] = []
    result = export_all(store, tmp_path / "mine.zip", progress=lambda *a: seen.append(a))
    manifest = verify(result.path)
    assert manifest["counts"]["conversations"] == session.conversations
    assert manifest["counts"]["messages"] == session.messages
    assert manifest["counts"]["memories"] == session.memories
    assert manifest["counts"]["feedback"] == session.feedback
    assert seen[-1][0] == seen[-1][1] and len(seen) == len(manifest["files"]) + 1
    with zipfile.ZipFile(result.path) as archive:
        names = set(archive.namelist())
        chats = [json.loads(archive.read(n)) for n in names if n.endswith(".json")
                 and n.startswith("conversations/")]  # fmt: skip
        assert len(chats) == session.conversations
        assert sum(len(c["messages"]) for c in chats) == session.messages
        assert sum(1 for n in names if n.endswith(".md")) == session.conversations
        assert CHAT in archive.read(sorted(n for n in names if n.endswith(".md"))[0]).decode()
        memories = json.loads(archive.read("memories.json"))["memories"]
        assert len(memories) == session.memories
        assert any(REMEMBERED in m["text"] for m in memories)
        feedback = json.loads(archive.read("feedback.json"))
        assert len(feedback) == session.feedback
        assert {"adapters/personal-old.gguf", "adapters/personal-old.json"} <= names
        assert "settings/settings.json" in names
        assert "settings/engine-keys.json" not in names  # credentials are not exported
        data = {n: archive.read(n) for n in names}
    # A changed byte is caught by the checksums.
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as out:
        for name, content in data.items():
            out.writestr(name, content + b" " if name == "feedback.json" else content)
    with pytest.raises(HearthError, match="checksum"):
        verify(tampered)


def test_a_cancelled_export_leaves_no_file(store: Any, tmp_path: Path) -> None:
    from app.cancel import CancelToken
    from app.errors import Cancelled

    token = CancelToken()

    def stop(done: int, total: int, _what: str) -> None:
        if done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        export_all(store, tmp_path / "x.zip", progress=stop, cancel=token)
    assert [p.name for p in tmp_path.iterdir()] == ["hearth-home"]


@pytest.mark.parametrize("keep_memories", [True, False])
def test_deleting_conversations_keeps_or_removes_their_memories(
    store: Any, session: Session, keep_memories: bool
) -> None:
    from_chats = count(store, "memories", "WHERE source_type = 'message'")
    assert from_chats >= 1  # the turn's "Remember that ..." became a memory
    controls.delete_category(store, "conversations", keep_memories=keep_memories)
    assert count(store, "conversations") == count(store, "messages") == 0
    left = session.memories - (0 if keep_memories else from_chats)
    assert count(store, "memories") == left
    assert count(store, "memories", "WHERE conversation_id IS NOT NULL") == 0
    assert count(store, "feedback") == session.feedback  # another category: untouched
    hits = count(store, "memories_fts", f"WHERE memories_fts MATCH '{CHAT}'")
    assert hits == (1 if keep_memories else 0)


# What deleting a category may change besides itself, as DEPENDS says to the user.
ALSO_CHANGES = {"memories": {"indexes"}, "feedback": {"jobs"}}


@pytest.mark.parametrize("key", list(controls.DEPENDS))
def test_deleting_one_category_leaves_the_others_intact(store: Any, key: str) -> None:
    from app.privacy import inventory

    def counts() -> dict[str, tuple[int, int]]:
        found = inventory.build()
        return {c.key: (c.count, c.details.get("files", 0)) for c in found.categories}

    before = counts()
    controls.delete_category(store, key)  # conversations: their memories are kept
    after = counts()
    spared = set(before) - {key, "database"} - ALSO_CHANGES.get(key, set())
    assert {k: after[k] for k in spared} == {k: before[k] for k in spared}
    if before[key] != (0, 0):
        assert after[key][0] < before[key][0] or after[key][1] < before[key][1], after[key]


def test_deleting_feedback_removes_its_copies(store: Any, session: Session, hearth_home: Path):
    done = controls.delete_category(store, "feedback")
    assert count(store, "feedback") == 0 and done.rows == session.feedback
    assert not any((paths.data_dir() / "jobs").iterdir())  # the crashed job's split
    assert scan(hearth_home / "data" / "adapters", (LEFTOVER,)) == {}  # old manifest rewritten
    manifest = json.loads(store.scalar("SELECT manifest FROM adapters"))
    assert manifest["dataset"] == {"held_back_ids": [1]}
    assert count(store, "messages") == session.messages
    assert count(store, "memories") == session.memories


def test_deleting_memories_rewrites_the_indexes(store: Any, session: Session) -> None:
    index = paths.data_dir() / "index"
    assert any(index.rglob("*.npy"))
    controls.delete_category(store, "memories")
    assert count(store, "memories") == count(store, "memory_history") == 0
    assert count(store, "memories_fts", f"WHERE memories_fts MATCH '{REMEMBERED}'") == 0
    assert not any(index.rglob("*.npy"))
    assert count(store, "messages") == session.messages
    assert not Path(f"{store.path}-wal").exists() or Path(f"{store.path}-wal").stat().st_size == 0


def test_wipe_needs_the_typed_confirmation_then_leaves_no_trace(
    store: Any, session: Session, hearth_home: Path
) -> None:
    with pytest.raises(HearthError, match="type"):
        controls.wipe(store, "yes")
    assert count(store, "messages") == session.messages
    steps: list[str] = []
    controls.wipe(store, "Delete everything", progress=lambda d, t, what: steps.append(what))
    assert steps[-1] == "done" and "conversations" in steps
    # While the database is still open (as in the window), and after it is closed.
    assert scan(hearth_home, SECRETS) == {}
    for table in ("conversations", "messages", "memories", "feedback", "adapters"):
        assert count(store, table) == 0
    store.execute("INSERT INTO conversations(title) VALUES ('a fresh start')")
    store.close()
    assert scan(hearth_home, SECRETS) == {}


def test_retention_deletes_what_is_too_old_and_keeps_pinned(store: Any, session: Session):
    assert retention.load_rules() == retention.Rules()
    retention.save_rules(retention.Rules(conversation_days=30, memory_unused_days=90))
    rules = retention.load_rules()
    assert rules == retention.Rules(30, 90)
    assert retention.apply(store, rules) == retention.Applied(0, 0)  # all made today
    store.execute("UPDATE memories SET pinned = 1 WHERE text LIKE ?", (f"%{REMEMBERED}%",))
    later = retention.apply(store, rules, now="2099-01-01T00:00:00Z")
    assert later.conversations == session.conversations
    assert count(store, "conversations") == 0
    assert count(store, "memories") == 1  # the pinned one
    with pytest.raises(HearthError):
        retention.save_rules(retention.Rules(conversation_days=-3))


def test_command_line_export_delete_and_wipe(
    session: Session, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli import main

    assert main(["privacy", "export", str(tmp_path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("exported 0/") and err[-1].endswith(": done") and len(err) >= 10
    (zipped,) = tmp_path.glob("hearth-export-*.zip")
    assert verify(zipped)["counts"]["feedback"] == session.feedback
    with open(os.devnull) as nobody:  # not a terminal: nobody to ask
        monkeypatch.setattr("sys.stdin", nobody)
        assert main(["privacy", "wipe"]) == 2
    assert "not confirmed" in capsys.readouterr().err
    assert main(["privacy", "delete", "feedback", "--yes"]) == 0
    assert main(["privacy", "delete", "nonsense", "--yes"]) == 2
    assert "error: no category 'nonsense'" in capsys.readouterr().err
    assert main(["privacy", "wipe", "--yes"]) == 0
    assert "wiping 0/" in capsys.readouterr().err
    assert scan(paths.data_dir().parent, (FEEDBACK, CHAT)) == {}
