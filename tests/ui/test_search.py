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
    rect = dialog.results.visualItemRect(dialog.results.item(row))
    qtbot.mouseClick(dialog.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
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


def test_search_leaves_out_a_conversation_waiting_to_be_deleted(make_window, qtbot):
    window = make_window()
    conversations = window.session.core.conversations
    kept = conversations.create("Spring garden")
    kept_hit = conversations.add_message(kept, "user", "Tulip bulbs go in before the frost.")
    gone = conversations.create("Old garden")
    conversations.add_message(gone, "user", "Tulip bulbs rot in wet soil.")
    window.refresh_conversations()
    qtbot.waitUntil(lambda: {kept, gone} <= set(window.sidebar.ids()), timeout=10_000)
    window.sidebar.select(gone)
    window.sidebar.list.setFocus()
    qtbot.keyClick(window.sidebar.list, Qt.Key.Key_Delete)  # still undoable for a while
    qtbot.waitUntil(lambda: gone not in window.sidebar.ids(), timeout=10_000)
    assert conversations.get(gone) is not None

    window.composer.input.setFocus()
    qtbot.keyClick(window.composer.input, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    dialog = window.search_dialog
    qtbot.waitUntil(lambda: dialog.isVisible() and dialog.query.hasFocus(), timeout=5_000)
    qtbot.keyClicks(dialog.query, "tulip")
    qtbot.waitUntil(lambda: dialog.status.text() != "", timeout=10_000)
    assert dialog.status.text() == "1 message"
    assert [dialog.results.item(0).data(Qt.ItemDataRole.UserRole + 1)] == [(kept, kept_hit)]
    dialog.results.setFocus()
    dialog.results.setCurrentRow(0)
    qtbot.keyClick(dialog.results, Qt.Key.Key_Return)  # Enter on the hit opens it
    qtbot.waitUntil(lambda: window.chat.found is not None, timeout=10_000)
    assert window.conversation_id == kept and not dialog.isVisible()
