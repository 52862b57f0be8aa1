"""The chat window with the real default model: typing, streaming, saving, reopening, stopping."""

from __future__ import annotations

from PySide6.QtCore import Qt


def _answer_texts(window) -> list[str]:
    return [w.text() for w in window.chat.answers()]


def test_enter_streams_tokens_into_the_view_and_saves_the_exchange(make_window, driver, qtbot):
    window = make_window()
    tokens: list[str] = []
    window.composer.send.connect(lambda _t: window.worker.signals.token.connect(tokens.append))
    driver.type_and_send(window, "Say hello to me.")
    assert window.generating
    assert window.composer.input.toPlainText() == ""
    qtbot.waitUntil(lambda: len(tokens) >= 2, timeout=120_000)
    # Tokens show while the reply is still streaming, before the final markdown render.
    assert window.chat.answers()[-1].text().startswith(tokens[0])
    driver.wait_reply(window)

    core = window.session.core
    conversations = core.conversations.list()
    assert len(conversations) == 1
    messages = core.conversations.messages(conversations[0].id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].content == "Say hello to me."
    assert messages[1].content == "".join(tokens)
    assert messages[1].content.strip()
    assert _answer_texts(window) == [messages[1].content]
    assert messages[1].tokens == len(tokens)
    assert window.sidebar.ids() == [conversations[0].id]
    assert window.conversation_id == conversations[0].id
    assert "tok/s" in window.status.speed.text()
    assert "Ready" in window.status.model.text()


def test_a_new_window_on_the_same_home_shows_the_conversation(make_window, driver, qtbot):
    first = make_window()
    driver.type_and_send(first, "What is the capital of France?")
    driver.wait_reply(first)
    answer = _answer_texts(first)[0]
    shown_model = first.chat.answers()[0].figures.text().split(" · ")[0]
    conv_id = first.conversation_id
    first.close()
    assert first.session.core is None  # closed with the window

    second = make_window()
    qtbot.waitUntil(lambda: second.sidebar.ids() == [conv_id], timeout=30_000)
    second.sidebar.select(conv_id)
    qtbot.waitUntil(lambda: len(second.chat.message_widgets()) == 2, timeout=30_000)
    user, assistant = second.chat.message_widgets()
    assert user.text() == "What is the capital of France?"
    assert assistant.text() == answer
    assert assistant.footer.isVisibleTo(second)
    # the model's name as it was shown live, not the file's metadata name
    assert shown_model == "SmolLM2-135M-Instruct (Q4_1)"
    assert second.chat.answers()[0].figures.text().split(" · ")[0] == shown_model


def test_escape_stops_a_reply_and_the_next_one_works(make_window, driver, qtbot, settings_for_ui):
    settings_for_ui(max_tokens=400)
    window = make_window()
    tokens: list[str] = []
    done = []
    window.composer.send.connect(lambda _t: window.worker.signals.token.connect(tokens.append))
    window.composer.send.connect(lambda _t: window.worker.signals.done.connect(done.append))
    driver.type_and_send(window, "Write a very long story about a dragon and a knight.")
    qtbot.waitUntil(lambda: len(tokens) >= 3, timeout=120_000)
    qtbot.keyClick(window.composer.input, Qt.Key.Key_Escape)
    driver.wait_reply(window)
    assert done and done[0].cancelled
    assert done[0].tokens < 400
    stored = window.session.core.conversations.message(done[0].assistant_message_id)
    assert stored.meta.get("cancelled") is True
    assert "stopped" in window.chat.answers()[-1].figures.text()

    driver.type_and_send(window, "Thanks. Now say one word.")
    driver.wait_reply(window)
    answers = window.chat.answers()
    assert len(answers) == 2 and answers[1].text().strip()
    assert len(window.session.core.conversations.messages(window.conversation_id)) == 4


def test_shift_enter_adds_a_line_instead_of_sending(make_window, qtbot):
    window = make_window(open_core=False)
    box = window.composer.input
    qtbot.keyClicks(box, "first line")
    qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(box, "second line")
    assert box.toPlainText() == "first line\nsecond line"
    assert not window.generating
    assert window.chat.message_widgets() == []


def test_a_message_sent_before_the_model_is_ready_waits_for_it(make_window, driver, qtbot):
    window = make_window(open_core=False)
    assert window.session.core is None
    driver.type_and_send(window, "Hello there")
    assert window.generating
    answer = window.chat.answers()[0]
    assert "Waiting for the model" in answer.status.text()
    qtbot.wait(200)
    assert answer.text() == ""  # nothing can answer yet
    window.session.open()
    driver.wait_reply(window)
    assert answer.text().strip()
    stored = window.session.core.conversations.messages(window.conversation_id)
    assert stored[0].content == "Hello there"


def test_window_is_usable_while_the_core_opens(make_window, qtbot):
    """The window is up and responsive before the core exists (no heavy work on the GUI)."""
    window = make_window(open_core=False)
    assert window.isVisible()
    assert window.session.core is None
    assert window.session.state == "starting"
    assert window.status.model.text() == "Starting…"
    window.new_conversation()
    assert window.chat.welcome.isVisibleTo(window)
    qtbot.keyClicks(window.composer.input, "typing before the core is open")
    assert window.composer.input.toPlainText() == "typing before the core is open"


def test_privacy_is_one_click_from_the_window(make_window, qtbot):
    window = make_window()
    qtbot.waitUntil(lambda: window.session.core is not None, timeout=60_000)
    assert window.status.privacy.isVisible()
    window.status.privacy.click()
    page = window.tool_pages.get("privacy")
    assert page is not None and page.isVisible()
    assert "Privacy" in page.windowTitle()
