"""From the Memories page, "Open conversation" shows the message a memory came from in the
main window (the page and the window are wired by the tool-page opener)."""

from __future__ import annotations

from app.ui.menus import open_tool_page


def test_open_conversation_shows_the_source_message_in_the_window(make_window, qtbot):
    window = make_window()
    core = window.session.core
    first = core.conversations.create()
    said = "My sister is called Ana."
    msg = core.conversations.add_message(first, "user", said)
    core.memory.add(said, conversation_id=first, source_message_id=msg)
    other = core.conversations.create()
    window.open_conversation(other)

    page = open_tool_page(window, "memories")
    qtbot.waitUntil(lambda: len(page.rows) == 1, timeout=60_000)
    page.table.selectRow(0)
    qtbot.waitUntil(page.open_source_button.isEnabled, timeout=60_000)
    page.open_source_button.click()
    qtbot.waitUntil(lambda: window.conversation_id == first, timeout=60_000)
