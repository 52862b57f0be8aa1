"""A long conversation opens on its newest messages; older ones come on request, in order."""

from __future__ import annotations


def test_long_conversation_opens_at_the_end_and_loads_earlier(make_window, qtbot):
    from app.ui.main_window import RECENT_MESSAGES

    window = make_window()
    core = window.session.core
    conv = core.conversations.create("Long")
    for i in range(50):
        core.conversations.add_message(conv, "user", f"Question {i}")
        core.conversations.add_message(conv, "assistant", f"Answer {i}")
    window.refresh_conversations()
    qtbot.waitUntil(lambda: conv in window.sidebar.ids(), timeout=10_000)
    window.sidebar.select(conv)
    qtbot.waitUntil(lambda: len(window.chat.message_widgets()) == RECENT_MESSAGES, timeout=10_000)
    texts = [w.text() for w in window.chat.message_widgets()]
    assert texts[-1] == "Answer 49" and texts[0] == "Question 30"
    assert window.chat.earlier.isVisibleTo(window) and "60" in window.chat.earlier.text()
    window.chat.earlier.click()
    qtbot.waitUntil(lambda: len(window.chat.message_widgets()) == 80, timeout=10_000)
    window.chat.earlier.click()
    qtbot.waitUntil(lambda: len(window.chat.message_widgets()) == 100, timeout=10_000)
    texts = [w.text() for w in window.chat.message_widgets()]
    expected = [t for i in range(50) for t in (f"Question {i}", f"Answer {i}")]
    assert texts == expected
    assert not window.chat.earlier.isVisibleTo(window)
