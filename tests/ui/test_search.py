"""Search across conversations in the window: Ctrl+F from the message box, hits in bold, a click
opens the conversation at the message (on its own branch)."""

from __future__ import annotations

from PySide6.QtCore import Qt


def test_search_finds_an_old_message_and_opens_it(make_window, qtbot):
    window = make_window()
    core = window.session.core
    conversations = core.conversations
    old = conversations.create("Garden")
    for i in range(15):
        conversations.add_message(old, "user", f"Filler question {i}")
        conversations.add_message(old, "assistant", f"Filler answer {i}")
    first = conversations.add_message(old, "user", "When do I plant tulip bulbs?")
    hit_id = conversations.add_message(old, "assistant", "Plant tulip bulbs in autumn.")
    # a later version of that answer is the one shown; the hit lives on the older branch
    conversations.add_message(old, "assistant", "In October.", parent_id=first)
    for i in range(15):
        conversations.add_message(old, "user", f"More filler {i}")
    other = conversations.create("Cooking")
    conversations.add_message(other, "user", "Lentil soup?")
    window.refresh_conversations()
    qtbot.waitUntil(lambda: {old, other} <= set(window.sidebar.ids()), timeout=10_000)

    box = window.composer.input
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    dialog = window.search_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.isVisible() and dialog.query.hasFocus(), timeout=5_000)
    qtbot.keyClicks(dialog.query, "tulip")
    qtbot.waitUntil(lambda: dialog.results.count() == 2, timeout=10_000)
    texts = [w.text() for w in dialog.hit_widgets()]
    assert all("<b>tulip</b>" in t.lower() and "Garden" in t for t in texts)
    row = next(
        i
        for i in range(dialog.results.count())
        if dialog.results.item(i).data(Qt.ItemDataRole.UserRole + 1) == (old, hit_id)
    )
    dialog._open(dialog.results.item(row))
    qtbot.waitUntil(lambda: window.chat.found is not None, timeout=10_000)
    assert window.conversation_id == old and not dialog.isVisible()
    found = window.chat.found
    assert found.text() == "Plant tulip bulbs in autumn." and found.property("found")
    viewport = window.chat.viewport()

    def in_view() -> bool:
        top = found.mapTo(viewport, found.rect().topLeft()).y()
        return 0 <= top < viewport.height()

    qtbot.waitUntil(in_view, timeout=5_000)  # scrolled to it
    assert conversations.messages(old)[-1].id == hit_id  # its branch is the one shown
