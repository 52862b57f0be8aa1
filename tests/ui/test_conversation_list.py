"""The conversation list: new, rename and delete (with undo) reach the database."""

from __future__ import annotations

import app.ui.main_window as main_window


def _titles(core) -> list[str]:
    return sorted(c.title for c in core.conversations.list())


def test_rename_and_delete_with_undo(make_window, driver, qtbot, monkeypatch):
    window = make_window()
    core = window.session.core
    a = core.conversations.create("Trip to Porto")
    b = core.conversations.create("Groceries")
    window.refresh_conversations()
    qtbot.waitUntil(lambda: sorted(window.sidebar.ids()) == sorted([a, b]), timeout=10_000)

    window.sidebar.select(a)
    item = window.sidebar.list.currentItem()
    item.setText("Porto, May")  # what the inline editor does when the user presses Enter
    qtbot.waitUntil(lambda: "Porto, May" in _titles(core), timeout=10_000)
    assert _titles(core) == ["Groceries", "Porto, May"]

    monkeypatch.setattr(main_window, "UNDO_DELETE_MS", 300)
    window.sidebar.select(b)
    window.sidebar.delete_current()  # no question asked: Undo is offered instead
    qtbot.waitUntil(lambda: window.sidebar.ids() == [a], timeout=10_000)
    assert window.notice.undo_button.isVisible()
    qtbot.waitUntil(lambda: _titles(core) == ["Porto, May"], timeout=10_000)


def test_new_chat_clears_the_view_and_the_next_message_starts_a_conversation(
    make_window, driver, qtbot
):
    window = make_window()
    driver.type_and_send(window, "hi")
    driver.wait_reply(window)
    first = window.conversation_id
    window.sidebar.new_button.click()
    assert window.conversation_id is None
    assert window.chat.message_widgets() == []
    assert window.chat.welcome.isVisibleTo(window)
    driver.type_and_send(window, "hello again")
    driver.wait_reply(window)
    assert window.conversation_id not in (None, first)
    qtbot.waitUntil(lambda: len(window.sidebar.ids()) == 2, timeout=10_000)
    # Going back to the first conversation shows its own exchange only.
    window.sidebar.select(first)
    qtbot.waitUntil(lambda: len(window.chat.message_widgets()) == 2, timeout=10_000)
    assert window.chat.message_widgets()[0].text() == "hi"


def test_conversations_are_grouped_by_age_and_headers_cannot_be_opened(make_window, qtbot):
    from datetime import date

    from app.ui.sidebar import ID_ROLE, age_group

    today = date(2026, 11, 26)
    assert age_group("2026-11-26T08:00:00.000Z", today) == "Today"
    assert age_group("2026-11-25T23:59:00.000Z", today) == "Yesterday"
    assert age_group("2026-11-20T10:00:00.000Z", today) == "Previous 7 days"
    assert age_group("2026-11-01T10:00:00.000Z", today) == "Previous 30 days"
    assert age_group("2025-01-01T10:00:00.000Z", today) == "Older"
    assert age_group("garbage", today) == "Older"

    window = make_window()
    core = window.session.core
    new = core.conversations.create("Fresh")
    old = core.conversations.create("Ancient")
    core.store.execute(
        "UPDATE conversations SET updated_at = '2020-01-01T00:00:00.000Z' WHERE id = ?", (old,)
    )
    window.refresh_conversations()
    qtbot.waitUntil(lambda: window.sidebar.ids() == [new, old], timeout=10_000)
    rows = [window.sidebar.list.item(i) for i in range(window.sidebar.list.count())]
    assert [r.text() for r in rows] == ["TODAY", "Fresh", "OLDER", "Ancient"]
    header = rows[0]
    assert header.data(ID_ROLE) is None and not header.flags()
    window.sidebar.list.setCurrentItem(header)
    assert window.conversation_id is None  # a header opens nothing


def test_a_suggestion_fills_the_input_without_sending(make_window, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton

    window = make_window(open_core=False)
    chips = window.chat.welcome.findChildren(QPushButton, "suggestion")
    assert len(chips) == 4
    qtbot.mouseClick(chips[0], Qt.MouseButton.LeftButton)
    assert window.composer.input.toPlainText() == chips[0].text()
    assert not window.generating
