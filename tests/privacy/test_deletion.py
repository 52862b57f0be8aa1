"""Everyday deletions (a conversation from the sidebar, a memory, a feedback example) leave none
of their words on disk: not in the database's free pages, the write-ahead log or the full-text
index. Run on a copy of a real session's home, through the calls the window makes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.privacy.conftest import CHAT, Session, scan

TALKED = "Vorpalquintex"
RATED = "Gribbleshank"
NOTED = "Tumblequorn"


@pytest.fixture
def core(session: Session) -> Iterator[Any]:
    from app.core import Core

    opened = Core.open(load_model=False)
    try:
        yield opened
    finally:
        opened.close()


def _fts_terms(db: Path, index: str) -> set[str]:
    """Every term the full-text index holds, deleted rows' included until they are merged."""
    conn = sqlite3.connect(db)
    try:
        conn.execute(f"CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, {index}, 'row')")
        return {str(r[0]) for r in conn.execute("SELECT term FROM temp.v")}
    finally:
        conn.close()


def test_deleting_a_conversation_leaves_none_of_its_words_on_disk(
    core: Any, session: Session, hearth_home: Path
) -> None:
    chats = core.conversations
    cid = chats.create(f"Trip to {TALKED}")
    for i in range(4):
        chats.add_message(cid, "user", f"My secret word is {TALKED}, said {i} times.")
        chats.add_message(cid, "assistant", f"I will keep {TALKED} safe.")
    assert scan(hearth_home, (TALKED,))  # on disk now (the log at least)
    chats.delete(cid)  # what the sidebar's delete runs once its undo time is over
    assert scan(hearth_home, (TALKED,)) == {}
    wal = Path(f"{core.store.path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # folded back and truncated
    assert TALKED.lower() not in _fts_terms(core.store.path, "messages_fts")
    # The other conversations are all there, and still found by search.
    assert core.store.scalar("SELECT COUNT(*) FROM messages") == session.messages
    found = "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?"
    assert core.store.scalar(found, (CHAT,)) >= 2


def test_deleting_feedback_and_a_memory_leaves_none_of_their_words(
    core: Any, hearth_home: Path
) -> None:
    feedback = core.adapters.feedback
    fid = feedback.add(f"Greet {RATED}", "Hi.", correction=f"Hello {RATED}!")
    mid = core.memory.add(f"My boat is called {NOTED}.").memory_id
    core.memory.flush_index()
    on_disk = {word for words in scan(hearth_home, (RATED, NOTED)).values() for word in words}
    assert on_disk == {RATED.lower(), NOTED.lower()}
    assert feedback.delete(fid)  # the preferences box and `hearth feedback delete`
    assert scan(hearth_home, (RATED,)) == {}
    assert core.memory.forget(mid)  # the memories page and `hearth memory forget`
    assert scan(hearth_home, (RATED, NOTED)) == {}
    assert NOTED.lower() not in _fts_terms(core.store.path, "memories_fts")


@pytest.fixture
def window(qtbot: Any, session: Session) -> Iterator[Any]:
    """The main window on the session's home, held until teardown (as tests/ui does): a
    window dropped when the test returns is deleted under pytest-qt's event processing."""
    from app.ui.main_window import MainWindow

    opened = MainWindow(open_core=False)
    qtbot.addWidget(opened)
    yield opened
    opened.shutdown()


def test_deleting_from_the_sidebar_leaves_none_of_its_words(
    qtbot: Any, window: Any, hearth_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window's own path: Delete in the sidebar, the undo time runs out, the task deletes."""
    import app.ui.main_window as main_window
    from app.conversations import Conversations
    from app.store import open_store

    with open_store() as store:
        chats = Conversations(store)
        cid = chats.create(f"Trip to {TALKED}")
        for i in range(3):
            chats.add_message(cid, "user", f"My secret word is {TALKED}, said {i} times.")
    monkeypatch.setattr(main_window, "UNDO_DELETE_MS", 300)
    window.show()
    window.session.open()
    qtbot.waitUntil(lambda: window.session.state in ("ready", "error"), timeout=120_000)
    qtbot.waitUntil(lambda: cid in window.sidebar.ids(), timeout=10_000)
    window.sidebar.select(cid)
    assert scan(hearth_home, (TALKED,))
    window.sidebar.delete_current()
    qtbot.waitUntil(lambda: scan(hearth_home, (TALKED,)) == {}, timeout=30_000)
    assert window.session.core.conversations.get(cid) is None
