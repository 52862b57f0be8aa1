"""Regenerate, edit and resend, versions "‹ 1/2 ›", copy, delete with undo: in the real window."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.ui.message_widget import AssistantMessage, UserMessage
from app.ui.sidebar import ID_ROLE


def _widgets(window, kind):
    return [w for w in window.chat.message_widgets() if isinstance(w, kind)]


def _wait_versions(qtbot, widget, label: str) -> None:
    qtbot.waitUntil(
        lambda: (
            widget.versions.isVisibleTo(widget.window()) and widget.versions.label.text() == label
        ),
        timeout=10_000,
    )


def test_regenerate_then_switch_between_versions(make_window, driver, qtbot):
    window = make_window()
    core = window.session.core
    driver.type_and_send(window, "Name a colour.")
    driver.wait_reply(window)
    first = _widgets(window, AssistantMessage)[0]
    first_id, first_text = first.message_id, first.text()
    first.regenerate_button.click()
    qtbot.waitUntil(
        lambda: (
            window.generating is False
            and _widgets(window, AssistantMessage)[0].message_id not in (None, first_id)
        ),
        timeout=120_000,
    )
    second = _widgets(window, AssistantMessage)[0]
    assert len(window.chat.message_widgets()) == 2
    _wait_versions(qtbot, second, "2/2")
    conv = window.conversation_id
    assert [m.id for m in core.conversations.messages(conv)][-1] == second.message_id
    second.versions.back.click()
    qtbot.waitUntil(
        lambda: (
            _widgets(window, AssistantMessage)
            and _widgets(window, AssistantMessage)[0].message_id == first_id
        ),
        timeout=10_000,
    )
    shown = _widgets(window, AssistantMessage)[0]
    assert shown.text() == first_text
    _wait_versions(qtbot, shown, "1/2")
    shown.versions.forward.click()
    qtbot.waitUntil(
        lambda: (
            _widgets(window, AssistantMessage)
            and _widgets(window, AssistantMessage)[0].message_id == second.message_id
        ),
        timeout=10_000,
    )


def test_edit_and_resend_then_switch_back_and_forth(make_window, driver, qtbot):
    window = make_window()
    core = window.session.core
    driver.type_and_send(window, "Name a fruit.")
    driver.wait_reply(window)
    driver.type_and_send(window, "Name a city.")
    driver.wait_reply(window)
    old = [w.text() for w in window.chat.message_widgets()]
    question = _widgets(window, UserMessage)[0]
    qtbot.waitUntil(lambda: question.edit_button.isEnabled(), timeout=10_000)
    question.edit_button.click()
    question.edit_box.setPlainText("Name a river.")
    question.send_edit()
    qtbot.waitUntil(lambda: len(window.chat.message_widgets()) == 2, timeout=10_000)
    driver.wait_reply(window)
    edited = _widgets(window, UserMessage)[0]
    assert edited.text() == "Name a river."
    _wait_versions(qtbot, edited, "2/2")
    stored = core.conversations.messages(window.conversation_id)
    assert stored[0].content == "Name a river." and len(stored) == 2
    edited.versions.back.click()
    qtbot.waitUntil(
        lambda: [w.text() for w in window.chat.message_widgets()] == old, timeout=10_000
    )
    back = _widgets(window, UserMessage)[0]
    _wait_versions(qtbot, back, "1/2")
    back.versions.forward.click()
    qtbot.waitUntil(
        lambda: [w.text() for w in window.chat.message_widgets()][:1] == ["Name a river."],
        timeout=10_000,
    )


def test_copy_a_question_and_an_answer(make_window, driver, qtbot):
    from PySide6.QtGui import QGuiApplication

    window = make_window()
    driver.type_and_send(window, "Say hi.")
    driver.wait_reply(window)
    _widgets(window, UserMessage)[0].copy_button.click()
    assert QGuiApplication.clipboard().text() == "Say hi."
    answer = _widgets(window, AssistantMessage)[0]
    answer.copy_button.click()
    assert QGuiApplication.clipboard().text() == answer.text() != ""


def _click_in_sidebar(window, qtbot, conversation_id: int) -> None:
    """Click the conversation in the sidebar, as a person does: it is selected and has focus."""
    conversations = window.sidebar.list
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    row = next(
        i
        for i in range(conversations.count())
        if conversations.item(i).data(ID_ROLE) == conversation_id
    )
    rect = conversations.visualItemRect(conversations.item(row))
    qtbot.mouseClick(conversations.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.sidebar.current_id() == conversation_id, timeout=5_000)
    qtbot.waitUntil(conversations.hasFocus, timeout=5_000)


def test_delete_a_conversation_with_undo(make_window, qtbot, monkeypatch):
    import app.ui.main_window as main_window

    monkeypatch.setattr(main_window, "UNDO_DELETE_MS", 300)
    window = make_window()
    core = window.session.core
    keep = core.conversations.create("Keep me")
    gone = core.conversations.create("Delete me")
    window.refresh_conversations()
    qtbot.waitUntil(lambda: {keep, gone} <= set(window.sidebar.ids()), timeout=10_000)
    _click_in_sidebar(window, qtbot, keep)
    qtbot.keyClick(window.sidebar.list, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: keep not in window.sidebar.ids(), timeout=10_000)
    assert window.notice.isVisible() and window.notice.undo_button.isVisible()
    qtbot.mouseClick(window.notice.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: keep in window.sidebar.ids(), timeout=10_000)
    qtbot.wait(500)
    assert core.conversations.get(keep) is not None  # undone: never deleted
    _click_in_sidebar(window, qtbot, gone)
    qtbot.keyClick(window.sidebar.list, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: core.conversations.get(gone) is None, timeout=10_000)
    assert gone not in window.sidebar.ids()


def test_deleting_again_after_an_undo_waits_the_whole_undo_time(make_window, qtbot, monkeypatch):
    import time

    import app.ui.main_window as main_window

    undo_ms = 2000
    monkeypatch.setattr(main_window, "UNDO_DELETE_MS", undo_ms)
    window = make_window()
    core = window.session.core
    conv = core.conversations.create("Deleted twice")
    window.refresh_conversations()
    qtbot.waitUntil(lambda: conv in window.sidebar.ids(), timeout=10_000)
    _click_in_sidebar(window, qtbot, conv)
    qtbot.keyClick(window.sidebar.list, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: conv not in window.sidebar.ids(), timeout=10_000)
    qtbot.mouseClick(window.notice.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: conv in window.sidebar.ids(), timeout=10_000)
    qtbot.wait(undo_ms // 2)  # half of the first delete's undo time is over
    _click_in_sidebar(window, qtbot, conv)
    again = time.monotonic()
    qtbot.keyClick(window.sidebar.list, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: core.conversations.get(conv) is None, timeout=10_000)
    # The undone first delete must not end the second one's undo time early.
    assert (time.monotonic() - again) * 1000 >= undo_ms * 0.9


def test_a_failed_regenerate_shows_the_conversation_as_it_was(
    make_window, driver, qtbot, monkeypatch
):
    from app.errors import ModelError

    window = make_window()
    driver.type_and_send(window, "Name a colour.")
    driver.wait_reply(window)
    before = [w.text() for w in window.chat.message_widgets()]
    core = window.session.core

    def broken(*args, **kwargs):
        raise ModelError("the model stopped working")

    monkeypatch.setattr(core.engine, "chat", broken)
    _widgets(window, AssistantMessage)[0].regenerate_button.click()
    driver.wait_reply(window)
    qtbot.waitUntil(
        lambda: [w.text() for w in window.chat.message_widgets()] == before, timeout=10_000
    )
    assert "stopped working" in window.status.currentMessage()
    assert len(core.conversations.all_messages(window.conversation_id)) == 2
