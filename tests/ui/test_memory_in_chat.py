"""Memory in the chat, with the real memory service: the "remembered" notice with undo, and an
answer in another conversation that lists the memory it used."""

from __future__ import annotations

from PySide6.QtCore import Qt

SLOW_MS = 240_000


def _memory_texts(core) -> list[str]:
    return [r["text"] for r in core.store.query("SELECT text FROM memories")]


def test_a_fact_told_in_one_chat_is_noticed_recalled_and_undoable(
    make_window, driver, qtbot, settings_for_ui
):
    settings_for_ui(memory_enabled=True)
    window = make_window()
    core = window.session.core
    assert core.assistant.memory is not None

    driver.type_and_send(window, "Remember that my sister Ana lives in Porto.")
    driver.wait_reply(window)
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=SLOW_MS)
    assert "Ana" in window.notice.text.text() and "Porto" in window.notice.text.text()
    assert any("Porto" in t for t in _memory_texts(core))

    window.new_conversation()
    driver.type_and_send(window, "Where does my sister Ana live?")
    driver.wait_reply(window)
    answer = window.chat.answers()[0]
    assert answer.memory_toggle.isVisibleTo(window)
    assert answer.memory_toggle.text().startswith("used ")
    qtbot.mouseClick(answer.memory_toggle, Qt.MouseButton.LeftButton)
    assert "Porto" in answer.memory_list.text()
    stored = core.conversations.message(answer.message_id)
    assert stored.meta["memories_used"] == [m.id for m in answer.memories]

    window.notice.hide()
    driver.type_and_send(window, "Remember that my cat is called Miso.")
    driver.wait_reply(window)
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=SLOW_MS)
    assert "Miso" in window.notice.text.text()
    assert any("Miso" in t for t in _memory_texts(core))
    qtbot.mouseClick(window.notice.undo_button, Qt.MouseButton.LeftButton)
    driver.wait_tasks(window)
    assert not window.notice.isVisible()
    assert not any("Miso" in t for t in _memory_texts(core))
    assert any("Porto" in t for t in _memory_texts(core))
