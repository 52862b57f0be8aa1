"""The conversation list: new, rename and delete (with its confirm) reach the database."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox


def _titles(core) -> list[str]:
    return sorted(c.title for c in core.conversations.list())


def test_rename_and_delete_with_confirm(make_window, driver, qtbot, monkeypatch):
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

    asked = []

    def answer(result):
        def question(*args, **kwargs):
            asked.append(args[2])
            return result

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    window.sidebar.select(b)
    window.sidebar.delete_current()
    driver.wait_tasks(window)
    assert _titles(core) == ["Groceries", "Porto, May"]

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    window.sidebar.delete_current()
    qtbot.waitUntil(lambda: window.sidebar.ids() == [a], timeout=10_000)
    assert _titles(core) == ["Porto, May"]
    assert len(asked) == 2 and "Groceries" in asked[0]


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
