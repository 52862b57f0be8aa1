"""What the user sees when things go wrong: a clear message in the window, never a traceback."""

from __future__ import annotations

from app import paths


def test_a_damaged_database_is_reported_and_a_reply_fails_cleanly(make_window, driver, qtbot):
    paths.db_path().write_bytes(b"this is not a SQLite database" * 100)
    window = make_window(wait_ready=False)
    qtbot.waitUntil(lambda: window.session.state == "error", timeout=60_000)
    assert "Could not start" in window.status.model.text()
    assert window.status.dot.property("state") == "error"
    driver.type_and_send(window, "hello?")
    driver.wait_reply(window)
    answer = window.chat.answers()[0]
    assert answer.status.isVisibleTo(window)
    assert "database" in answer.status.text()
    assert "Traceback" not in answer.status.text()
    assert not window.composer.generating  # the user can try again


def test_leaving_a_conversation_mid_reply_stops_and_saves_it(
    make_window, driver, qtbot, settings_for_ui
):
    settings_for_ui(max_tokens=400)
    window = make_window()
    core = window.session.core
    other = core.conversations.create("Other")
    core.conversations.add_message(other, "user", "old question")
    core.conversations.add_message(other, "assistant", "old answer")
    tokens: list[str] = []
    window.composer.send.connect(lambda _t: window.worker.signals.token.connect(tokens.append))
    driver.type_and_send(window, "Tell me a very long story about a lighthouse keeper.")
    qtbot.waitUntil(lambda: len(tokens) >= 3, timeout=120_000)
    first = window.conversation_id
    qtbot.waitUntil(lambda: first in window.sidebar.ids(), timeout=10_000)
    window.sidebar.select(other)
    driver.wait_reply(window)
    qtbot.waitUntil(lambda: len(window.chat.message_widgets()) == 2, timeout=10_000)
    assert [w.text() for w in window.chat.message_widgets()] == ["old question", "old answer"]
    saved = core.conversations.messages(first)
    assert saved[-1].role == "assistant" and saved[-1].meta["cancelled"] is True
    assert saved[-1].content == "".join(tokens)


def test_a_message_longer_than_the_context_is_refused_in_the_window(
    make_window, driver, qtbot, settings_for_ui
):
    from PySide6.QtCore import Qt

    settings_for_ui(context_tokens=512)
    window = make_window()
    core = window.session.core
    long_text = "word " * 800
    window.composer.input.setPlainText(long_text)
    qtbot.keyClick(window.composer.input, Qt.Key.Key_Return)
    driver.wait_reply(window)
    answer = window.chat.answers()[0]
    qtbot.waitUntil(lambda: answer.status.isVisibleTo(window), timeout=10_000)
    assert "context" in answer.status.text() and "Traceback" not in answer.status.text()
    assert window.composer.input.toPlainText().strip() == long_text.strip()  # given back
    assert core.conversations.list() == []  # nothing stored, not even an empty conversation


def test_the_window_shows_where_the_context_starts(make_window, driver, qtbot, settings_for_ui):
    settings_for_ui(context_tokens=512)
    window = make_window()
    core = window.session.core
    conv = core.conversations.create("Long")
    for i in range(12):
        core.conversations.add_message(conv, "user", f"Question {i}: " + "tea " * 20)
        core.conversations.add_message(conv, "assistant", f"Answer {i}: " + "cake " * 20)
    window.refresh_conversations()
    qtbot.waitUntil(lambda: conv in window.sidebar.ids(), timeout=10_000)
    window.sidebar.select(conv)
    qtbot.waitUntil(lambda: len(window.chat.message_widgets()) == 24, timeout=10_000)
    assert not window.chat.divider.isVisibleTo(window)
    driver.type_and_send(window, "And now?")
    driver.wait_reply(window)
    start = window.chat.context_start
    assert start is not None
    widgets = window.chat.message_widgets()
    first = core.conversations.message(start)
    assert first is not None and first.role == "user"
    assert window.chat.divider.isVisibleTo(window)
    layout = window.chat.messages
    after = layout.itemAt(layout.indexOf(window.chat.divider) + 1).widget()
    assert after in widgets and after.text() == first.content
    assert widgets.index(after) > 0  # older messages stay in view, above the line
