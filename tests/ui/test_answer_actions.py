"""Per answer: thumbs, "edit answer" (stored as preference feedback) and the memories-used line."""

from __future__ import annotations

from PySide6.QtCore import Qt


def _feedback_rows(core):
    return [dict(r) for r in core.store.query("SELECT * FROM feedback ORDER BY id")]


def test_thumbs_and_edit_are_stored_and_shown_again(make_window, driver, qtbot):
    window = make_window()
    driver.type_and_send(window, "Greet me in French.")
    driver.wait_reply(window)
    answer = window.chat.answers()[0]
    original = answer.text()
    core = window.session.core
    assert answer.footer.isVisibleTo(window)

    qtbot.mouseClick(answer.up_button, Qt.MouseButton.LeftButton)
    driver.wait_tasks(window)
    assert len(_feedback_rows(core)) == 1
    row = _feedback_rows(core)[0]
    assert (row["kind"], row["rating"]) == ("rating", 1)
    assert row["prompt"] == "Greet me in French." and row["response"] == original
    assert row["source_message_id"] == answer.message_id

    qtbot.mouseClick(answer.edit_button, Qt.MouseButton.LeftButton)
    assert answer.editor is not None and not answer.view.isVisibleTo(window)
    answer.edit_box.setPlainText("Bonjour ! Comment allez-vous ?")
    answer.save_edit()
    driver.wait_tasks(window)
    assert len(_feedback_rows(core)) == 2
    edit = _feedback_rows(core)[1]
    assert edit["kind"] == "edit"
    assert edit["correction"] == "Bonjour ! Comment allez-vous ?"
    assert edit["response"] == original  # the model's answer, not the rewrite
    stored = core.conversations.message(answer.message_id)
    assert stored.content == "Bonjour ! Comment allez-vous ?"
    assert stored.meta["original"] == original and stored.meta["rating"] == 1
    assert answer.text() == "Bonjour ! Comment allez-vous ?"

    conv = window.conversation_id
    window.close()
    again = make_window()
    qtbot.waitUntil(lambda: again.sidebar.ids() == [conv], timeout=10_000)
    again.sidebar.select(conv)
    qtbot.waitUntil(lambda: len(again.chat.answers()) == 1, timeout=10_000)
    reloaded = again.chat.answers()[0]
    assert reloaded.text() == "Bonjour ! Comment allez-vous ?"
    assert reloaded.rating == 1


def test_an_answer_lists_the_memories_it_used(make_window, qtbot):
    window = make_window()
    core = window.session.core
    mem = core.store.execute(
        "INSERT INTO memories(text, kind, source_type) VALUES(?, 'fact', 'manual')",
        ("My sister is called Ana and lives in Porto.",),
    )
    gone = mem + 1000  # a memory deleted since: simply not listed
    conv = core.conversations.create("Family")
    core.conversations.add_message(conv, "user", "Where does my sister live?")
    core.conversations.add_message(
        conv, "assistant", "Ana lives in **Porto**.", meta={"memories_used": [mem, gone]}
    )
    window.refresh_conversations()
    qtbot.waitUntil(lambda: window.sidebar.ids() == [conv], timeout=10_000)
    window.sidebar.select(conv)
    qtbot.waitUntil(lambda: len(window.chat.answers()) == 1, timeout=10_000)
    answer = window.chat.answers()[0]
    assert answer.memory_toggle.isVisibleTo(window)
    assert answer.memory_toggle.text() == "used 1 memory"
    assert not answer.memory_list.isVisibleTo(window)
    qtbot.mouseClick(answer.memory_toggle, Qt.MouseButton.LeftButton)
    assert answer.memory_list.isVisibleTo(window)
    assert "Ana and lives in Porto" in answer.memory_list.text()
    # Markdown is rendered once the answer is complete: the bold marks are gone.
    assert answer.view.toPlainText() == "Ana lives in Porto."


def test_an_answer_without_memories_shows_no_memory_line(make_window, driver):
    window = make_window()
    driver.type_and_send(window, "hi")
    driver.wait_reply(window)
    assert not window.chat.answers()[0].memory_toggle.isVisibleTo(window)
