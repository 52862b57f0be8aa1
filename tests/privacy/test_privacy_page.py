"""The Privacy page (pytest-qt, offscreen): the figures of a real session, and every control."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QInputDialog, QLabel, QMessageBox

from app.privacy.export import verify
from app.privacy.inventory import CATEGORIES
from tests.privacy.conftest import SECRETS, Session
from tests.privacy.test_controls import count, scan

WAIT_MS = 60_000


def open_page(qtbot: Any, prepare: Callable[[Any], None] | None = None) -> Iterator[Any]:
    """The page over a fresh core (`prepare` sets the core up first), shown until its first
    figures are in; closed and torn down after the test (see `desk_page` for why)."""
    from app.core import Core
    from app.ui.privacy_page import PrivacyPage

    core = Core.open(load_model=False)
    if prepare is not None:
        prepare(core)
    widget = PrivacyPage(core)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: bool(widget.state), timeout=WAIT_MS)
    yield widget
    widget.close()
    widget.tasks.shutdown()
    core.close()


@pytest.fixture
def page(qtbot: Any, session: Session) -> Iterator[Any]:
    yield from open_page(qtbot)


def _idle(qtbot: Any, page: Any) -> None:
    qtbot.waitUntil(lambda: not page.tasks._live and page.cancel_token is None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not page.tasks._live, timeout=WAIT_MS)  # the refresh after it


def _cell(page: Any, key: str, column: int) -> str:
    for row in range(page.table.rowCount()):
        if page.table.item(row, 0).data(256) == key:  # Qt.UserRole
            return str(page.table.item(row, column).text())
    raise KeyError(key)


def test_the_page_shows_the_figures_and_the_proof(page: Any, session: Session) -> None:
    assert page.table.rowCount() == len(CATEGORIES)
    assert _cell(page, "feedback", 2) == f"{session.feedback} examples"
    assert _cell(page, "conversations", 2) == f"{session.messages} messages"
    assert "hearth.db" in _cell(page, "memories", 5)
    assert page.proof.text().startswith("0 attempts to reach the network")
    assert "Model hubs are set offline" in page.flags.text() and "guard is on" in page.flags.text()
    assert page.disk.text().startswith("Disk encryption: ")
    said = " ".join(label.text() for label in page.findChildren(QLabel))
    assert "no telemetry" in said and "not what native code does" in said
    assert "unshare --net" in said  # how to check for themselves
    assert {t for t, _s, _l in page.bars.rows} >= {"Models", "Conversations and messages"}
    assert page.total.text().startswith("Hearth holds ")
    assert not page.bars.grab().isNull()


def test_export_shows_progress_and_writes_a_checked_zip(qtbot: Any, page: Any, tmp_path: Path):
    steps: list[int] = []
    page._signals.progress.connect(lambda done, _total, _what: steps.append(done))
    target = tmp_path / "all.zip"
    page.export(str(target))
    assert page.progress.isVisible() and page.cancel_button.isEnabled()
    _idle(qtbot, page)
    assert page.message.text().startswith("Exported ") and not page.progress.isVisible()
    assert verify(target)["counts"]["feedback"] > 0
    assert len(steps) > 5 and steps == sorted(steps)


def test_cancel_stops_an_export_before_it_writes(qtbot: Any, page: Any, tmp_path: Path):
    gate = threading.Event()
    page.tasks.run(lambda: gate.wait(30))  # the page's one worker is busy for now
    page.export(str(tmp_path / "never.zip"))
    page.cancel()
    gate.set()
    _idle(qtbot, page)
    assert page.message.text() == "cancelled"
    assert [p.name for p in tmp_path.iterdir()] == ["hearth-home"]


@pytest.mark.parametrize("action", ["delete", "wipe"])
def test_cancel_stops_a_delete_or_a_wipe_before_it_starts(
    qtbot: Any, page: Any, session: Session, action: str
) -> None:
    gate = threading.Event()
    page.tasks.run(lambda: gate.wait(30))  # the page's one worker is busy for now
    if action == "delete":
        page.delete("feedback")
    else:
        page.wipe("delete everything")
    page.cancel()
    gate.set()
    _idle(qtbot, page)
    assert page.message.text() == "cancelled"
    assert count(page.core.store, "feedback") == session.feedback
    assert count(page.core.store, "messages") == session.messages


def test_delete_conversations_keeping_their_memories(
    qtbot: Any, page: Any, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def answer(_parent: Any, title: str, text: str, *_a: Any) -> Any:
        asked.append(text)
        return QMessageBox.StandardButton.No  # no: keep the memories

    monkeypatch.setattr(QMessageBox, "question", answer)
    page.category.setCurrentIndex(page.category.findData("conversations"))
    page.delete_button.click()
    assert page.progress.isVisible() and page.cancel_button.isEnabled()
    _idle(qtbot, page)
    assert not page.progress.isVisible() and page.message.text().startswith("Deleted ")
    assert "memories drawn from them" in asked[0]
    store = page.core.store
    assert count(store, "conversations") == 0
    assert count(store, "memories") == session.memories
    assert _cell(page, "conversations", 2) == "0 messages"


def test_wipe_needs_the_typed_words_then_leaves_no_trace(
    qtbot: Any, page: Any, session: Session, hearth_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = iter([("yes", True), ("delete everything", True)])
    monkeypatch.setattr(QInputDialog, "getText", lambda *_a, **_k: next(typed))
    page.wipe_button.click()
    _idle(qtbot, page)
    assert 'type "delete everything"' in page.message.text()
    assert count(page.core.store, "messages") == session.messages
    steps: list[str] = []
    page._signals.progress.connect(lambda _d, _t, what: steps.append(what))
    page.wipe_button.click()
    assert page.progress.isVisible() and page.cancel_button.isEnabled()
    _idle(qtbot, page)
    assert page.message.text() == "Everything Hearth held is deleted."
    assert "conversations" in steps and steps[-1] == "done"
    assert scan(hearth_home, SECRETS) == {}
    assert _cell(page, "memories", 2) == "0 memories"


def test_retention_rules_are_saved_and_applied(qtbot: Any, page: Any) -> None:
    from app.privacy import retention

    page.conversation_days.setValue(30)
    page.memory_days.setValue(0)
    page.save_rules_button.click()
    assert page.progress.isVisible()
    _idle(qtbot, page)
    assert retention.load_rules() == retention.Rules(conversation_days=30)
    assert "deleted 0 conversations" in page.message.text()
    assert page.memory_days.text() == "keep for ever"


def test_a_server_of_the_users_own_is_named_as_the_one_exception(qtbot: Any, page: Any) -> None:
    from app.privacy import guard

    assert "Allowed because" not in page.flags.text()
    try:
        guard.allow_host("192.0.2.10")
        page.refresh()
        qtbot.waitUntil(lambda: "192.0.2.10" in page.flags.text(), timeout=WAIT_MS)
    finally:
        guard.disallow_all()


@pytest.fixture
def desk_page(qtbot: Any, hearth_home: Path) -> Iterator[Any]:
    """The page over a core whose user chose a server of their own ("desk"). Held here and
    torn down here, as `page` is: a page dropped when the test returns was deleted under
    pytest-qt's event processing and crashed the run (segfault) in about half the runs."""
    from app.llm.servers import Servers

    def use_desk(core: Any) -> None:
        Servers(core.store).add("desk", "http://127.0.0.1:9")
        Servers(core.store).use("desk")

    yield from open_page(qtbot, use_desk)


def test_the_page_says_what_leaves_and_switches_back_to_fully_local(
    qtbot: Any, desk_page: Any
) -> None:
    """A server the user chose is named as what leaves; one click makes Hearth fully local
    again (the local model answers, the guard lets no server through)."""
    from app.llm.servers import Servers
    from app.privacy import guard

    widget, core = desk_page, desk_page.core
    assert "What leaves this computer:" in widget.leaves.text()
    assert "recalled memories and preferences, to desk" in widget.leaves.text()
    assert widget.local_button.isVisible()

    widget.local_button.click()
    qtbot.waitUntil(lambda: not widget.local_button.isVisible(), timeout=WAIT_MS)
    _idle(qtbot, widget)
    assert "Nothing leaves this computer" in widget.leaves.text()
    assert Servers(core.store).active() is None
    assert core.assistant.engine is core.engine
    assert guard.allowed_hosts() == set()
