"""The Memories page as "what Hearth knows about you", with a real core: memories by person or
topic, the message each came from one click away, and a one-line summary the user corrects."""

from __future__ import annotations

from typing import Any

import pytest

TIMEOUT_MS = 60_000


@pytest.fixture
def page(qtbot: Any, core: Any) -> Any:
    from app.conversations import Conversations
    from app.ui.memory_manager import MemoryManager

    conversations = Conversations(core.store)
    conv = conversations.create()
    said = "Hello! My sister is called Ana and she lives in Lisbon."
    msg = conversations.add_message(conv, "user", said)
    core.memory.observe(conv, msg, said, "Nice!")
    core.memory.add("I work as a nurse", subject="occupation")
    core.memory.add("My sister has a cat")
    shown = MemoryManager(core)
    qtbot.addWidget(shown)
    qtbot.waitUntil(lambda: len(shown.rows) == 3, timeout=TIMEOUT_MS)
    shown.said = (conv, msg, said)
    yield shown
    shown.close()
    assert shown.tasks.pool.activeThreadCount() == 0


def _texts(page: Any) -> list[str]:
    return [page.table.item(r, 0).text() for r in range(page.table.rowCount())]


def test_memories_by_person_or_topic(qtbot: Any, page: Any) -> None:
    about = {page.table.item(r, 0).text(): page.table.item(r, 5).text() for r in range(3)}
    assert about["I work as a nurse"] == "Work"
    assert about["My sister has a cat"] == "Sister"
    topics = [page.topic_filter.itemText(i) for i in range(page.topic_filter.count())]
    assert topics[1:] == ["Sister", "Work"]
    with qtbot.waitSignal(page.refreshed, timeout=TIMEOUT_MS):
        page.topic_filter.setCurrentIndex(page.topic_filter.findData("Sister"))
    assert sorted(_texts(page)) == [
        "My sister has a cat",
        "My sister is called Ana and she lives in Lisbon",
    ]


def test_source_message_one_click_away(qtbot: Any, page: Any) -> None:
    conv, msg, said = page.said
    [row] = [r for r, m in enumerate(page.rows) if m.source_message_id == msg]
    with qtbot.waitSignal(page.source_shown, timeout=TIMEOUT_MS):
        page.table.selectRow(row)
    assert said in page.source_text.text()
    with qtbot.waitSignal(page.open_source, timeout=TIMEOUT_MS) as opened:
        page.open_source_button.click()
    assert opened.args == [conv, msg]
    # A memory the user added by hand has no message to show.
    [manual] = [r for r, m in enumerate(page.rows) if m.text == "I work as a nurse"]
    page.table.selectRow(manual)
    assert page.source_text.text() == "" and not page.open_source_button.isEnabled()


def test_summary_line_the_user_corrects(qtbot: Any, page: Any, core: Any) -> None:
    assert page.summary_edit.text() == (
        "You work as a nurse; your sister is called Ana and she lives in Lisbon."
    )
    page.summary_edit.setText("I'm Sam, a nurse in Rotterdam with a sister, Ana")
    with qtbot.waitSignal(page.refreshed, timeout=TIMEOUT_MS):
        page.summary_button.click()
    assert core.memory.summary() == "I'm Sam, a nurse in Rotterdam with a sister, Ana"
    assert page.summary_edit.text() == core.memory.summary()
    assert "About me: I'm Sam, a nurse in Rotterdam with a sister, Ana" in _texts(page)
