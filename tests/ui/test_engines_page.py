"""The Engines page and the window with a server of the user's own (llama-cpp-python's real
server on loopback): add, test, use, the status bar, and a server killed mid-reply with the
partial answer kept and a one-click switch back to the local model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.llm.servers import Servers
from app.privacy import guard
from app.ui.menus import open_tool_page
from tests.llm.remote_server import LlamaServer

ALIAS = "smollm2"


@pytest.fixture
def server(default_model: Path, tmp_path: Path) -> Iterator[LlamaServer]:
    srv = LlamaServer([{"model": str(default_model), "model_alias": ALIAS}], tmp_path)
    yield srv
    srv.stop()
    guard.disallow_all()


def test_add_test_use_and_a_server_killed_mid_reply(
    make_window, driver, qtbot, settings_for_ui, server: LlamaServer
) -> None:
    settings_for_ui(max_tokens=400)
    window = make_window()
    assert window.status.engine.text() == "Local model"
    page = open_tool_page(window, "engines")
    assert page is not None and page.list.count() == 1  # the local model only

    page.url.setText(server.url)
    assert "sent to 127.0.0.1" in page.consent.text()  # said before the user adds it
    page.name.setText("desk")
    page.add_button.click()
    assert page.list.count() == 2 and page.selected_name() == "desk"

    page.test_button.click()
    qtbot.waitUntil(lambda: "Connected" in page.result.text(), timeout=60_000)
    assert f"Its models: {ALIAS}" in page.result.text()

    page.use_button.click()
    qtbot.waitUntil(lambda: window.status.engine.text() == "Answers: desk (127.0.0.1)")
    core = window.session.core
    assert core.assistant.engine is core.answering.engine and core.answering.remote

    tokens: list[str] = []
    window.composer.send.connect(lambda _t: window.worker.signals.token.connect(tokens.append))
    driver.type_and_send(window, "Tell me a very long story about a lighthouse keeper.")
    qtbot.waitUntil(lambda: len(tokens) >= 3, timeout=60_000)
    server.kill()
    driver.wait_reply(window)
    box = window.findChild(QMessageBox, "engineFallback")
    assert box is not None and box.isVisible()
    assert "stopped answering mid-reply" in box.text()
    saved = core.conversations.messages(window.conversation_id)
    assert saved[-1].role == "assistant" and saved[-1].content == "".join(tokens)
    assert saved[-1].meta["cut_off"] is True

    local = next(b for b in box.buttons() if b.text() == "Use local model")
    local.click()
    assert window.status.engine.text() == "Local model"
    assert core.assistant.engine is core.engine and Servers(core.store).active() is None
    driver.wait_reply(window)  # the same question, answered by the local model
    saved = core.conversations.messages(window.conversation_id)
    assert [m.role for m in saved][-2:] == ["user", "assistant"]
    assert saved[-1].content.strip() and not saved[-1].meta.get("cut_off")
    page.close()


def test_bad_input_and_removing_the_engine_in_use(make_window, qtbot) -> None:
    window = make_window()
    page = open_tool_page(window, "engines")
    page.name.setText("desk")
    page.url.setText("192.0.2.10")
    page.add_button.click()
    assert page.result.property("error") and "not a server address" in page.result.text()
    assert page.list.count() == 1
    page.url.setText("http://192.0.2.10:8080")
    page.add_button.click()
    page.use_button.click()
    qtbot.waitUntil(lambda: window.status.engine.text() == "Answers: desk (192.0.2.10)")
    assert guard.decide("socket.connect", (None, ("192.0.2.10", 8080)))[0]
    page.remove_button.click()
    assert window.status.engine.text() == "Local model" and page.list.count() == 1
    assert not guard.decide("socket.connect", (None, ("192.0.2.10", 8080)))[0]
    page.close()


def test_a_server_that_is_down_offers_the_local_model_with_the_same_question(
    make_window, driver, qtbot
) -> None:
    from tests.llm.remote_server import free_port

    window = make_window()
    core = window.session.core
    Servers(core.store).add("desk", f"http://127.0.0.1:{free_port()}", options={"retries": 0})
    page = open_tool_page(window, "engines")
    page.list.setCurrentRow(1)
    page.use_button.click()
    qtbot.waitUntil(lambda: window.status.engine.text().startswith("Answers: desk"))
    driver.type_and_send(window, "What is the capital of France?")
    driver.wait_reply(window)
    box = window.findChild(QMessageBox, "engineFallback")
    assert box is not None and "cannot reach desk" in box.text()
    next(b for b in box.buttons() if b.text() == "Use local model").click()
    driver.wait_reply(window)
    conversation = window.conversation_id
    saved = [(m.role, m.content) for m in core.conversations.messages(conversation)]
    assert saved[-2] == ("user", "What is the capital of France?")
    assert saved[-1][0] == "assistant" and saved[-1][1].strip()
    assert window.status.engine.text() == "Local model"
    page.close()
